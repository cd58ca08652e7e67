import { TradebusError } from '@tradebus/core';

/** A calibration setting, sample or saved state is unusable. `field` names the bad key or argument. */
export class CalibrationError extends TradebusError {
  readonly field: string;

  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super('CALIBRATION_INVALID', message, options);
    this.field = field;
  }
}
