/**
 * Model signals: feature pipelines computed identically live and in a backtest, models served over
 * the Open Inference Protocol or run in-process with ONNX, ensembles and calibration.
 */
export const MODELS_PACKAGE = '@tradebus/models';

export {
  createFeaturePipeline,
  FeatureConfigError,
  featureConfigSchema,
  FeatureInputError,
  featureNames,
  FeaturePipeline,
  INDICATOR_FIELDS,
  parseFeatureConfig,
  type FeatureBar,
  type FeatureConfig,
  type FeatureConfigInput,
  type ParseFeatureOptions,
} from './features/index.js';
