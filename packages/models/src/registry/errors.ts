import { TradebusError } from '@tradebus/core';

/** The model registry refused a change or could not read its file. */
export class ModelRegistryError extends TradebusError {
  constructor(code: 'MODEL_REGISTRY_CONFLICT' | 'MODEL_REGISTRY_UNKNOWN' | 'MODEL_REGISTRY_INVALID', message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
