import { TradebusError, type ConfigIssue } from '@tradebus/core';

/** A feature configuration is invalid. `field` is the full path of the first bad key. */
export class FeatureConfigError extends TradebusError {
  readonly field: string;
  readonly issues: ConfigIssue[];

  constructor(field: string, message: string, options: { cause?: unknown; issues?: ConfigIssue[] } = {}) {
    super('FEATURE_CONFIG_INVALID', message, { cause: options.cause });
    this.field = field;
    this.issues = options.issues ?? [{ path: field, message }];
  }
}

/** A bar could not be used (a non-finite or non-positive price). The pipeline's state is unchanged. */
export class FeatureInputError extends TradebusError {
  constructor(message: string) {
    super('FEATURE_INPUT_INVALID', message);
  }
}
