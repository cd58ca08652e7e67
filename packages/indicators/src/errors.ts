import { TradebusError } from '@tradebus/core';

/**
 * Errors thrown by this package. Each has a stable `code` so callers can branch on it without
 * parsing messages.
 */
export class IndicatorError extends TradebusError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** An indicator spec (config) is invalid. `field` names the offending key, e.g. `period`. */
export class IndicatorConfigError extends IndicatorError {
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('INDICATOR_CONFIG_INVALID', message, options);
    this.field = field;
  }
}

/** An input value was NaN or infinite. The indicator's state was left unchanged. */
export class IndicatorInputError extends IndicatorError {
  constructor(message: string) {
    super('INDICATOR_INPUT_INVALID', message);
  }
}
