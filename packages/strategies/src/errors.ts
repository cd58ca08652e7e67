import { ConfigError, TradebusError, formatZodIssues, type ConfigIssue } from '@tradebus/core';
import type { z } from 'zod';

/**
 * A strategy, aggregation or track-record configuration is invalid. Extends core's
 * {@link ConfigError} (code `CONFIG_INVALID`) so a launcher that reports config errors handles it
 * like any other; `field` is the full path of the first bad key, e.g.
 * `strategies[0].params.fast`.
 */
export class StrategyConfigError extends ConfigError {
  readonly field: string;

  constructor(field: string, message: string, issues: ConfigIssue[] = [], options: { cause?: unknown } = {}) {
    super(message, issues.length > 0 ? issues : [{ path: field, message }], options);
    this.field = field;
  }

  /** Builds the error from a failed zod parse, naming every bad field under `path`. */
  static fromZod(what: string, path: string, error: z.ZodError, hint = 'Fix it in the configuration.'): StrategyConfigError {
    const issues = formatZodIssues(error.issues).map((issue) => ({
      path: joinPath(path, issue.path),
      message: issue.message,
    }));
    const first = issues[0] ?? { path, message: 'is invalid' };
    const list = issues.map((issue) => `${issue.path || '(root)'}: ${issue.message}`).join('; ');
    return new StrategyConfigError(first.path, `Invalid ${what}: ${list}. ${hint}`, issues, { cause: error });
  }
}

/**
 * A candle or tick given to a strategy cannot be used (non-finite price, high below low, a second
 * timeframe for one symbol). The strategy's state is unchanged: repair or skip the input.
 */
export class StrategyInputError extends TradebusError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('STRATEGY_INPUT_INVALID', message, details === undefined ? {} : { details });
  }
}

/**
 * A strategy produced a signal that must not reach the trade manager (confidence outside 0..1,
 * a stop on the wrong side of the price). This is a bug in the strategy; nothing is emitted.
 */
export class StrategySignalError extends TradebusError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('STRATEGY_SIGNAL_INVALID', message, details === undefined ? {} : { details });
  }
}

/** A persisted track record could not be read back. */
export class TrackRecordFormatError extends TradebusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TRACK_RECORD_INVALID', message, options);
  }
}

export function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path;
  if (path === '') return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}
