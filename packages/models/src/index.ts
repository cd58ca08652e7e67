/**
 * Model signals: feature pipelines computed identically live and in a backtest, models served over
 * the Open Inference Protocol or run in-process with ONNX, ensembles and calibration.
 */
export const MODELS_PACKAGE = '@tradebus/models';

export * from './features/index.js';
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
export * from './ensemble/index.js';
export * from './sources/index.js';
export * from './registry/index.js';
