import { scrubSecrets } from './config/secrets.js';

/**
 * Every error Tradebus throws on purpose is a TradebusError with a stable `code` that callers can
 * branch on, and a message that says what to do about it. The original error stays in `cause`.
 */
export class TradebusError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    // Messages quote what went wrong (a server address, a library's own message): never a secret.
    super(scrubSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }
}

export interface ConfigIssue {
  /** Path of the offending key, e.g. `agents[2].config.symbols`. */
  path: string;
  message: string;
}

export class ConfigError extends TradebusError {
  readonly issues: ConfigIssue[];
  /** The config as it was checked (after `${VAR}` substitution and overrides), when it could be read: lets a caller check its parts too. */
  readonly document: unknown;
  constructor(message: string, issues: ConfigIssue[] = [], options: { cause?: unknown; document?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
    this.issues = issues;
    this.document = options.document;
  }
}

export class ValidationError extends TradebusError {
  readonly issues: ConfigIssue[];
  constructor(message: string, issues: ConfigIssue[] = [], options: { cause?: unknown } = {}) {
    super('VALIDATION_FAILED', message, options);
    this.issues = issues;
  }
}

export class UnknownEventError extends TradebusError {
  constructor(type: string, suggestions: string[]) {
    const hint = suggestions.length > 0 ? ` Did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
    super(
      'EVENT_UNKNOWN',
      `Unknown event type '${type}'.${hint} Register custom events with defineEvents() and pass them to the system before publishing or subscribing.`,
      { details: { type, suggestions } },
    );
  }
}

export class TimeoutError extends TradebusError {
  constructor(what: string, timeoutMs: number) {
    super('TIMEOUT', `${what} timed out after ${timeoutMs} ms. Check that a responder/publisher is running, or raise the timeout.`, {
      details: { timeoutMs },
    });
  }
}

export class NoResponderError extends TradebusError {
  constructor(type: string) {
    super('NO_RESPONDER', `No responder is registered for '${type}'. Start the agent that answers it, or check the event name.`, {
      details: { type },
    });
  }
}

export class AgentStateError extends TradebusError {
  constructor(agentId: string, from: string, to: string) {
    super('AGENT_STATE', `Agent '${agentId}' cannot go from '${from}' to '${to}'.`, { details: { agentId, from, to } });
  }
}

export class TransportError extends TradebusError {}

/** Keeps the message of whatever was thrown, without assuming it was an Error. */
export function errorMessage(err: unknown): string {
  return scrubSecrets(rawMessage(err));
}

function rawMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(errorMessage(err));
}
