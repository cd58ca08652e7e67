/**
 * Model signals: feature pipelines computed identically live and in a backtest, models served over
 * the Open Inference Protocol or run in-process with ONNX, ensembles and calibration.
 */
export const MODELS_PACKAGE = '@tradebus/models';

export {
  checkHorizons,
  createFeaturePipeline,
  csvHeader,
  csvLine,
  datasetColumns,
  datasetRows,
  jsonLine,
  labelName,
  type DatasetRow,
  type DatasetSeries,
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
export {
  calibrationConfigSchema,
  CalibrationError,
  calibratorStateSchema,
  fitCalibrator,
  fitIsotonic,
  fitPlatt,
  identityCalibrator,
  interpolateIsotonic,
  restoreCalibrator,
  ScheduledCalibrator,
  type CalibrationConfig,
  type CalibrationConfigInput,
  type CalibrationMethod,
  type CalibrationSnapshot,
  type Calibrator,
  type CalibratorState,
  type IsotonicFit,
  type Outcome,
  type PlattOptions,
  type PlattParams,
} from './calibration/index.js';
export {
  BayesianModelAveraging,
  createEnsemble,
  ensembleConfigSchema,
  EnsembleError,
  PROBABILITY_FLOOR,
  probabilityUp,
  WeightedVoteEnsemble,
  type BmaConfig,
  type Ensemble,
  type EnsembleConfig,
  type EnsembleConfigInput,
  type EnsembleDecision,
  type EnsembleState,
  type MemberVote,
  type ModelPrediction,
  type Side,
  type WeightedVoteConfig,
} from './ensemble/index.js';
export * from './sources/index.js';
export * from './registry/index.js';
