export {
  candleSchema,
  priceSourceSchema,
  type AdxResult,
  type BandsResult,
  type Candle,
  type CloseVolume,
  type HLC,
  type HLCV,
  type IchimokuResult,
  type Indicator,
  type MacdResult,
  type OHLC,
  type ParabolicSarResult,
  type PriceInput,
  type PriceSource,
  type StochasticResult,
} from './types.js';
export { IndicatorConfigError, IndicatorError, IndicatorInputError } from './errors.js';
export { DEMA, EMA, SMA, TEMA, WMA, type PriceOptions } from './moving-averages.js';
export {
  CCI,
  MACD,
  ROC,
  RSI,
  Stochastic,
  StochasticRSI,
  WilliamsR,
  type MacdOptions,
  type StochasticOptions,
  type StochasticRsiOptions,
} from './momentum.js';
export {
  ATR,
  BollingerBands,
  DonchianChannel,
  KeltnerChannel,
  type BollingerOptions,
  type KeltnerOptions,
} from './volatility.js';
export { MFI, OBV, VWAP } from './volume.js';
export {
  ADX,
  Ichimoku,
  ParabolicSAR,
  type IchimokuOptions,
  type ParabolicSarOptions,
} from './trend.js';
export {
  createIndicator,
  indicatorSpecSchema,
  indicatorTypes,
  parseIndicatorSpec,
  type CandleIndicator,
  type CreateIndicatorOptions,
  type IndicatorByType,
  type IndicatorOutput,
  type IndicatorSpec,
  type IndicatorSpecInput,
  type IndicatorType,
} from './factory.js';
export { SmartMoneyConcepts, type SmcOptions } from './smc/engine.js';
export type {
  SmcDirection,
  SmcEvent,
  SmcFairValueGap,
  SmcFibLevels,
  SmcLiquidity,
  SmcOrderBlock,
  SmcState,
  SmcStructureBreak,
  SmcSwing,
  SmcZoneStatus,
} from './smc/types.js';
export {
  batch,
  type AdxSeries,
  type BandsSeries,
  type IchimokuSeries,
  type MacdSeries,
  type ParabolicSarSeries,
  type StochasticSeries,
} from './batch.js';
