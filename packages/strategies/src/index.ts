export type {
  AnyStrategyDefinition,
  BarContext,
  DraftResult,
  HigherSpecMap,
  HigherTimeframeSpec,
  HigherTimeframeView,
  HigherViews,
  IndicatorSpecMap,
  IndicatorValue,
  IndicatorValues,
  LastSignal,
  NoHigher,
  SeriesStatus,
  Signal,
  SignalDraft,
  SignalSide,
  Strategy,
  StrategyCandle,
  StrategyDefinition,
  StrategyTick,
  TickContext,
  UniverseView,
} from './types.js';
export { StrategyConfigError, StrategyInputError, StrategySignalError, TrackRecordFormatError } from './errors.js';
export { barCloseTime, bucketStart, isTimeframe, timeframeMs, timeframeSchema } from './timeframe.js';
export { filterByTrend, readTrend, trendFilterSchema, type TrendFilterConfig, type TrendFilterInput, type TrendReading } from './trend-filter.js';
export { defineStrategy, StrategyInstance } from './strategy.js';
export { StrategyRegistry, strategyConfigSchema, type CreateStrategyOptions, type StrategyConfig } from './registry.js';
export { builtinRegistry, createStrategies, createStrategy } from './create.js';
export * from './builtins/index.js';
export {
  SignalAggregator,
  aggregateSignals,
  aggregatorConfigSchema,
  type AggregationContext,
  type AggregationResult,
  type AggregationRule,
  type AggregatorConfig,
  type AggregatorConfigInput,
  type ConfidenceAdjustment,
  type RejectionPatternSource,
  type RuleNote,
  type SignalDecision,
  type TrackRecordSource,
} from './aggregation/aggregator.js';
export {
  RegimeDetector,
  regimeDetectorConfigSchema,
  regimes,
  type Regime,
  type RegimeDetectorConfig,
  type RegimeSource,
} from './aggregation/regime.js';
export {
  TrackRecord,
  closedTradeSchema,
  trackRecordConfigSchema,
  type ClosedTrade,
  type StrategyStats,
  type TrackRecordConfig,
  type TrackRecordConfigInput,
  type TrackRecordSnapshot,
} from './aggregation/track-record.js';
