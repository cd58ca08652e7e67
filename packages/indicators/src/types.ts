import { z } from 'zod';

/** One OHLCV bar. `timestamp` is the bar's open time in epoch milliseconds (UTC). */
export interface Candle {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** zod schema of {@link Candle}, for validating candles that arrive from outside the process. */
export const candleSchema = z.object({
  timestamp: z.number().int().nonnegative(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number().nonnegative(),
});

/** The parts of a candle that price-based indicators may read (see {@link PriceSource}). */
export type OHLC = Pick<Candle, 'open' | 'high' | 'low' | 'close'>;
/** The parts of a candle that range-based indicators read. */
export type HLC = Pick<Candle, 'high' | 'low' | 'close'>;
/** The parts of a candle that volume-based indicators read. */
export type HLCV = Pick<Candle, 'high' | 'low' | 'close' | 'volume'>;
/** The parts of a candle that close/volume indicators (OBV, VWAP) read. */
export type CloseVolume = Pick<Candle, 'close' | 'volume'>;

/** A price indicator accepts either a plain number or a candle (reduced through its `source`). */
export type PriceInput = number | OHLC;

/** Which price of a candle a price indicator uses. `hlc3` is the typical price. */
export type PriceSource = 'open' | 'high' | 'low' | 'close' | 'hl2' | 'hlc3' | 'ohlc4';

export const priceSourceSchema = z.enum(['open', 'high', 'low', 'close', 'hl2', 'hlc3', 'ohlc4'], {
  error: 'must be one of open, high, low, close, hl2, hlc3, ohlc4',
});

/**
 * The contract of every streaming indicator.
 *
 * - `update(x)` appends one closed bar (or value) and returns the current value, or `undefined`
 *   while the indicator is still warming up. O(1) per call.
 * - `replaceLast(x)` replaces the most recent input (the still-forming candle) instead of appending;
 *   feeding a bar through any number of `replaceLast` calls ends in exactly the state a single
 *   `update` with the final bar would have produced. O(1) per call. On an empty indicator it acts
 *   as `update`.
 * - Non-finite input (NaN, ±Infinity) throws {@link IndicatorInputError} and leaves the state
 *   untouched, so one bad tick cannot poison the running sums.
 * - Multi-output indicators return the same result object on every call (no allocation per
 *   update); copy it (`{ ...result }`) if you need to keep a snapshot. Result types are plain
 *   object types of numbers, so they are assignable to `Record<string, number>`.
 */
export interface Indicator<In, Out> {
  /** Number of inputs needed before the first value. */
  readonly warmupPeriod: number;
  /** Number of inputs consumed so far (replaced inputs count once). */
  readonly count: number;
  readonly isReady: boolean;
  /** The current value, or `undefined` while warming up. */
  readonly value: Out | undefined;
  update(input: In): Out | undefined;
  replaceLast(input: In): Out | undefined;
  reset(): void;
}

export type MacdResult = {
  /** Fast EMA minus slow EMA. */
  macd: number;
  /** EMA of the MACD line. */
  signal: number;
  /** MACD line minus signal line. */
  histogram: number;
};

export type BandsResult = {
  upper: number;
  middle: number;
  lower: number;
};

export type AdxResult = {
  adx: number;
  plusDI: number;
  minusDI: number;
};

export type StochasticResult = {
  k: number;
  d: number;
};

export type ParabolicSarResult = {
  sar: number;
  /** 1 while the trend is rising (SAR below price), -1 while falling. */
  trend: 1 | -1;
};

export type IchimokuResult = {
  /** Tenkan-sen: midpoint of the conversion-period high/low. */
  conversionLine: number;
  /** Kijun-sen: midpoint of the base-period high/low. */
  baseLine: number;
  /** Senkou span A computed at this bar; it is plotted `basePeriod` bars ahead. */
  leadingSpanA: number;
  /** Senkou span B computed at this bar; it is plotted `basePeriod` bars ahead. */
  leadingSpanB: number;
  /** The cloud's span A at this bar (span A computed `basePeriod` bars ago). */
  cloudA: number;
  /** The cloud's span B at this bar (span B computed `basePeriod` bars ago). */
  cloudB: number;
  /** Chikou span: this bar's close, plotted 26 bars back by convention. */
  laggingSpan: number;
};
