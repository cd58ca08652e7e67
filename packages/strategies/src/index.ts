export type {
  AnyStrategyDefinition,
  BarContext,
  DraftResult,
  IndicatorSpecMap,
  IndicatorValue,
  IndicatorValues,
  LastSignal,
  SeriesStatus,
  Signal,
  SignalDraft,
  SignalSide,
  Strategy,
  StrategyCandle,
  StrategyDefinition,
  StrategyTick,
  TickContext,
} from './types.js';
export { StrategyConfigError, StrategyInputError, StrategySignalError, TrackRecordFormatError } from './errors.js';
export { barCloseTime, isTimeframe, timeframeSchema } from './timeframe.js';
export { defineStrategy, StrategyInstance } from './strategy.js';
export { StrategyRegistry, strategyConfigSchema, type CreateStrategyOptions, type StrategyConfig } from './registry.js';
export { builtinRegistry, createStrategies, createStrategy } from './create.js';
export * from './builtins/index.js';
