import { TradebusError } from '@tradebus/core';

/** An ensemble setting, prediction or saved state is unusable. `field` names the bad key. */
export class EnsembleError extends TradebusError {
  readonly field: string;

  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super('ENSEMBLE_INVALID', message, options);
    this.field = field;
  }
}
