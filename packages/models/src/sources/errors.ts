import { TradebusError } from '@tradebus/core';

/**
 * A model could not answer. `code` says why, so a caller can tell a slow server
 * (MODEL_TIMEOUT) from a broken one (MODEL_HTTP, MODEL_RESPONSE_INVALID) or one it stopped
 * asking for a while (MODEL_CIRCUIT_OPEN). `model` names the model as configured.
 */
export class ModelSourceError extends TradebusError {
  readonly model: string;

  constructor(
    code: 'MODEL_TIMEOUT' | 'MODEL_HTTP' | 'MODEL_RESPONSE_INVALID' | 'MODEL_CIRCUIT_OPEN' | 'MODEL_INPUT_INVALID' | 'MODEL_LOAD_FAILED' | 'MODEL_UNREACHABLE',
    model: string,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.model = model;
  }
}
