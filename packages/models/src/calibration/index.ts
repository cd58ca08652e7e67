export {
  calibrationConfigSchema,
  calibratorStateSchema,
  fitCalibrator,
  identityCalibrator,
  restoreCalibrator,
  ScheduledCalibrator,
  type CalibrationConfig,
  type CalibrationConfigInput,
  type CalibrationMethod,
  type CalibrationSnapshot,
  type Calibrator,
  type CalibratorState,
} from './calibrator.js';
export { CalibrationError } from './errors.js';
export { fitIsotonic, fitPlatt, interpolateIsotonic, logit, LOGIT_EPSILON, sigmoid, type IsotonicFit, type Outcome, type PlattOptions, type PlattParams } from './fit.js';
