import {
  atr as atrSeries,
  cci as cciSeries,
  dc as donchianSeries,
  dema as demaSeries,
  ema as emaSeries,
  macd as macdSeries,
  mfi as mfiSeries,
  mstd as mstdSeries,
  obv as obvSeries,
  psar as psarSeries,
  roc as rocSeries,
  rsi as rsiSeries,
  sma as smaSeries,
  stoch as stochSeries,
  tema as temaSeries,
  vwap as vwapSeries,
  willr as willrSeries,
} from 'indicatorts';
import { requirePeriod, requirePositive } from './internal/input.js';
import { StochasticRSI, type MacdOptions, type StochasticOptions, type StochasticRsiOptions } from './momentum.js';
import { WMA } from './moving-averages.js';
import { ADX, Ichimoku, type IchimokuOptions, type ParabolicSarOptions } from './trend.js';
import type { BollingerOptions, KeltnerOptions } from './volatility.js';
import type { CloseVolume, HLC, HLCV, Indicator } from './types.js';

/*
 * Whole-series versions of the streaming indicators, for backtests, research and charts. Each
 * returns arrays aligned with the input: entry `i` is exactly what the streaming indicator returns
 * after bar `i`, with NaN where the streaming indicator is still warming up (undefined). The
 * computation is delegated to indicatorts wherever it has the indicator; WMA, ADX, StochRSI and
 * Ichimoku (indicatorts' version is quadratic in the series length) run the streaming classes.
 */

export interface BandsSeries {
  upper: number[];
  middle: number[];
  lower: number[];
}

export interface MacdSeries {
  macd: number[];
  signal: number[];
  histogram: number[];
}

export interface AdxSeries {
  adx: number[];
  plusDI: number[];
  minusDI: number[];
}

export interface StochasticSeries {
  k: number[];
  d: number[];
}

export interface ParabolicSarSeries {
  sar: number[];
  trend: number[];
}

export interface IchimokuSeries {
  conversionLine: number[];
  baseLine: number[];
  leadingSpanA: number[];
  leadingSpanB: number[];
  cloudA: number[];
  cloudB: number[];
  laggingSpan: number[];
}

// indicatorts never mutates its inputs; its signatures just are not readonly.
const mutable = (values: readonly number[]): number[] => values as number[];

function warmup(values: number[], warmupPeriod: number): number[] {
  const end = Math.min(warmupPeriod - 1, values.length);
  for (let i = 0; i < end; i++) values[i] = NaN;
  return values;
}

/** Replaces the 0/0 results of a zero range with the value the streaming indicator reports. */
function neutral(values: number[], fallback: number): number[] {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) values[i] = fallback;
  }
  return values;
}

function highs(candles: readonly HLC[]): number[] {
  return candles.map((candle) => candle.high);
}
function lows(candles: readonly HLC[]): number[] {
  return candles.map((candle) => candle.low);
}
function closes(candles: readonly Pick<HLC, 'close'>[]): number[] {
  return candles.map((candle) => candle.close);
}
function volumes(candles: readonly CloseVolume[]): number[] {
  return candles.map((candle) => candle.volume);
}

function stream<In, Out>(indicator: Indicator<In, Out>, inputs: readonly In[]): (Out | undefined)[] {
  return inputs.map((input) => {
    const output = indicator.update(input);
    return typeof output === 'object' && output !== null ? ({ ...output } as Out) : output;
  });
}

function column<T>(rows: readonly (T | undefined)[], pick: (row: T) => number): number[] {
  return rows.map((row) => (row === undefined ? NaN : pick(row)));
}

function period(label: string, value: number): number {
  return requirePeriod(label, 'period', value);
}

export const batch = {
  sma(values: readonly number[], length: number): number[] {
    return warmup(smaSeries(mutable(values), { period: period('sma', length) }), length);
  },

  ema(values: readonly number[], length: number): number[] {
    return warmup(emaSeries(mutable(values), { period: period('ema', length) }), length);
  },

  wma(values: readonly number[], length: number): number[] {
    return column(stream(new WMA(length), values), (value) => value);
  },

  dema(values: readonly number[], length: number): number[] {
    return warmup(demaSeries(mutable(values), { period: period('dema', length) }), 2 * length - 1);
  },

  tema(values: readonly number[], length: number): number[] {
    return warmup(temaSeries(mutable(values), { period: period('tema', length) }), 3 * length - 2);
  },

  rsi(values: readonly number[], length = 14): number[] {
    const result = rsiSeries(mutable(values), { period: period('rsi', length) });
    return warmup(neutral(result, 50), length + 1);
  },

  macd(values: readonly number[], options: Omit<MacdOptions, 'source'> = {}): MacdSeries {
    const { fast = 12, slow = 26, signal = 9 } = options;
    const { macdLine, signalLine } = macdSeries(mutable(values), {
      fast: requirePeriod('macd', 'fast', fast),
      slow: requirePeriod('macd', 'slow', slow),
      signal: requirePeriod('macd', 'signal', signal),
    });
    const histogram = macdLine.map((line, i) => line - signalLine[i]!);
    const warm = slow + signal - 1;
    return { macd: warmup(macdLine, warm), signal: warmup(signalLine, warm), histogram: warmup(histogram, warm) };
  },

  bollinger(values: readonly number[], options: Omit<BollingerOptions, 'source'> = {}): BandsSeries {
    const length = period('bollinger', options.period ?? 20);
    const multiplier = requirePositive('bollinger', 'multiplier', options.multiplier ?? 2);
    const middle = smaSeries(mutable(values), { period: length });
    const deviation = mstdSeries(mutable(values), { period: length });
    const upper = middle.map((mid, i) => mid + multiplier * deviation[i]!);
    const lower = middle.map((mid, i) => mid - multiplier * deviation[i]!);
    return { upper: warmup(upper, length), middle: warmup(middle, length), lower: warmup(lower, length) };
  },

  atr(candles: readonly HLC[], length = 14): number[] {
    const { atrLine } = atrSeries(highs(candles), lows(candles), closes(candles), {
      period: period('atr', length),
    });
    return warmup(atrLine, length);
  },

  adx(candles: readonly HLC[], length = 14): AdxSeries {
    const rows = stream(new ADX(length), candles);
    return {
      adx: column(rows, (row) => row.adx),
      plusDI: column(rows, (row) => row.plusDI),
      minusDI: column(rows, (row) => row.minusDI),
    };
  },

  stochastic(candles: readonly HLC[], options: StochasticOptions = {}): StochasticSeries {
    const { kPeriod = 14, dPeriod = 3 } = options;
    const { k } = stochSeries(highs(candles), lows(candles), closes(candles), {
      kPeriod: requirePeriod('stochastic', 'kPeriod', kPeriod),
      dPeriod: requirePeriod('stochastic', 'dPeriod', dPeriod),
    });
    // %D is recomputed from the repaired %K so a flat stretch does not leave NaN in %D.
    const repaired = neutral(k, 50);
    const d = smaSeries(repaired, { period: dPeriod });
    const warm = kPeriod + dPeriod - 1;
    return { k: warmup(repaired, warm), d: warmup(d, warm) };
  },

  stochRsi(values: readonly number[], options: Omit<StochasticRsiOptions, 'source'> = {}): StochasticSeries {
    const rows = stream(new StochasticRSI(options), values);
    return { k: column(rows, (row) => row.k), d: column(rows, (row) => row.d) };
  },

  cci(candles: readonly HLC[], length = 20): number[] {
    const result = cciSeries(highs(candles), lows(candles), closes(candles), {
      period: period('cci', length),
    });
    return warmup(neutral(result, 0), 2 * length - 1);
  },

  obv(candles: readonly CloseVolume[]): number[] {
    return obvSeries(closes(candles), volumes(candles));
  },

  vwap(candles: readonly CloseVolume[], length = 14): number[] {
    const closings = closes(candles);
    const result = vwapSeries(closings, volumes(candles), { period: period('vwap', length) });
    for (let i = 0; i < result.length; i++) {
      if (!Number.isFinite(result[i])) result[i] = closings[i]!;
    }
    return warmup(result, length);
  },

  mfi(candles: readonly HLCV[], length = 14): number[] {
    const result = mfiSeries(highs(candles), lows(candles), closes(candles), volumes(candles), {
      period: period('mfi', length),
    });
    return warmup(neutral(result, 50), length + 1);
  },

  donchian(values: readonly number[], length = 4): BandsSeries {
    const { upper, middle, lower } = donchianSeries(mutable(values), { period: period('donchian', length) });
    return { upper: warmup(upper, length), middle: warmup(middle, length), lower: warmup(lower, length) };
  },

  keltner(candles: readonly HLC[], options: KeltnerOptions = {}): BandsSeries {
    const length = period('keltner', options.period ?? 20);
    const multiplier = requirePositive('keltner', 'multiplier', options.multiplier ?? 2);
    const closings = closes(candles);
    const middle = emaSeries(closings, { period: length });
    const { atrLine } = atrSeries(highs(candles), lows(candles), closings, { period: length });
    const upper = middle.map((mid, i) => mid + atrLine[i]! * multiplier);
    const lower = middle.map((mid, i) => mid - atrLine[i]! * multiplier);
    return { upper: warmup(upper, length), middle: warmup(middle, length), lower: warmup(lower, length) };
  },

  roc(values: readonly number[], length = 3): number[] {
    return warmup(rocSeries(mutable(values), { period: period('roc', length) }), length + 1);
  },

  williamsR(candles: readonly HLC[], length = 14): number[] {
    const result = willrSeries(highs(candles), lows(candles), closes(candles), {
      period: period('williamsR', length),
    });
    return warmup(neutral(result, -50), length);
  },

  psar(candles: readonly HLC[], options: ParabolicSarOptions = {}): ParabolicSarSeries {
    const { step = 0.02, max = 0.2 } = options;
    const { psarResult, trends } = psarSeries(highs(candles), lows(candles), closes(candles), {
      step: requirePositive('psar', 'step', step),
      max: requirePositive('psar', 'max', max),
    });
    return { sar: warmup(psarResult, 2), trend: warmup(trends.map(Number), 2) };
  },

  ichimoku(candles: readonly HLC[], options: IchimokuOptions = {}): IchimokuSeries {
    const rows = stream(new Ichimoku(options), candles);
    return {
      conversionLine: column(rows, (row) => row.conversionLine),
      baseLine: column(rows, (row) => row.baseLine),
      leadingSpanA: column(rows, (row) => row.leadingSpanA),
      leadingSpanB: column(rows, (row) => row.leadingSpanB),
      cloudA: column(rows, (row) => row.cloudA),
      cloudB: column(rows, (row) => row.cloudB),
      laggingSpan: column(rows, (row) => row.laggingSpan),
    };
  },
};
