import { ichimokuCloud, psar } from 'indicatorts';
import { describe, expect, it } from 'vitest';
import { IndicatorConfigError } from './errors.js';
import { ADX, Ichimoku, ParabolicSAR } from './trend.js';
import type { Candle } from './types.js';
import {
  closes,
  field,
  highs,
  loadCandles,
  lows,
  mismatches,
  seriesNames,
  streamAll,
} from './test-support/candles.js';

/**
 * Wilder's ADX over whole arrays (indicatorts has no ADX), written with running averages rather
 * than the running sums the streaming class keeps: same definition, independent arithmetic.
 */
function referenceAdx(candles: readonly Candle[], period: number) {
  const n = candles.length;
  const plusDI = new Array<number>(n).fill(NaN);
  const minusDI = new Array<number>(n).fill(NaN);
  const adx = new Array<number>(n).fill(NaN);
  const dx = new Array<number>(n).fill(NaN);
  let averageTr = 0;
  let averagePlus = 0;
  let averageMinus = 0;
  for (let i = 1; i < n; i++) {
    const bar = candles[i]!;
    const previous = candles[i - 1]!;
    const up = bar.high - previous.high;
    const down = previous.low - bar.low;
    const plus = up > down && up > 0 ? up : 0;
    const minus = down > up && down > 0 ? down : 0;
    const tr = Math.max(bar.high - bar.low, Math.abs(bar.high - previous.close), Math.abs(bar.low - previous.close));
    if (i <= period) {
      averageTr += tr / period;
      averagePlus += plus / period;
      averageMinus += minus / period;
    } else {
      averageTr = (averageTr * (period - 1) + tr) / period;
      averagePlus = (averagePlus * (period - 1) + plus) / period;
      averageMinus = (averageMinus * (period - 1) + minus) / period;
    }
    if (i < period) continue;
    plusDI[i] = (100 * averagePlus) / averageTr;
    minusDI[i] = (100 * averageMinus) / averageTr;
    dx[i] = (100 * Math.abs(plusDI[i]! - minusDI[i]!)) / (plusDI[i]! + minusDI[i]!);
    if (i === 2 * period - 1) {
      adx[i] = dx.slice(period, 2 * period).reduce((a, b) => a + b, 0) / period;
    } else if (i > 2 * period - 1) {
      adx[i] = (adx[i - 1]! * (period - 1) + dx[i]!) / period;
    }
  }
  return { adx, plusDI, minusDI };
}

describe.each(seriesNames)('trend indicators on %s match the reference', (name) => {
  const candles = loadCandles(name);
  const values = closes(candles);
  const h = highs(candles);
  const l = lows(candles);

  it.each([5, 14])('ADX(%i) equals a straightforward Wilder computation', (period) => {
    const rows = streamAll(new ADX(period), candles);
    const reference = referenceAdx(candles, period);
    const first = 2 * period - 1;
    expect(mismatches(field(rows, 'adx'), reference.adx, first)).toEqual([]);
    expect(mismatches(field(rows, 'plusDI'), reference.plusDI, first)).toEqual([]);
    expect(mismatches(field(rows, 'minusDI'), reference.minusDI, first)).toEqual([]);
  });

  it.each([
    [0.02, 0.2],
    [0.01, 0.1],
  ])('ParabolicSAR(%f,%f) equals indicatorts psar', (step, max) => {
    const rows = streamAll(new ParabolicSAR({ step, max }), candles);
    const reference = psar(h, l, values, { step, max });
    expect(mismatches(field(rows, 'sar'), reference.psarResult, 1)).toEqual([]);
    expect(mismatches(field(rows, 'trend'), reference.trends.map(Number), 1)).toEqual([]);
  });

  it('Ichimoku equals indicatorts ichimokuCloud', () => {
    // indicatorts' ichimokuCloud is quadratic in the series length; 2,000 bars keep it quick.
    const bars = candles.slice(0, 2000);
    const rows = streamAll(new Ichimoku(), bars);
    const reference = ichimokuCloud(highs(bars), lows(bars), closes(bars));
    const shift = 26;
    const ahead = (series: number[]) => bars.map((_, t) => series[t + shift]!);
    const first = 52 + 26 - 1;
    expect(mismatches(field(rows, 'conversionLine'), reference.tenkan, first)).toEqual([]);
    expect(mismatches(field(rows, 'baseLine'), reference.kijun, first)).toEqual([]);
    expect(mismatches(field(rows, 'leadingSpanA'), ahead(reference.ssa), first)).toEqual([]);
    expect(mismatches(field(rows, 'leadingSpanB'), ahead(reference.ssb), first)).toEqual([]);
    expect(mismatches(field(rows, 'cloudA'), reference.ssa.slice(0, bars.length), first)).toEqual([]);
    expect(mismatches(field(rows, 'cloudB'), reference.ssb.slice(0, bars.length), first)).toEqual([]);
    const lagging = bars.map((_, t) => (t >= shift ? reference.laggingSpan[t - shift]! : NaN));
    expect(mismatches(field(rows, 'laggingSpan'), lagging, first)).toEqual([]);
  });
});

describe('trend indicator configuration', () => {
  it('refuses inconsistent parameters', () => {
    expect(() => new ParabolicSAR({ step: 0.5, max: 0.2 })).toThrow(IndicatorConfigError);
    expect(() => new Ichimoku({ conversionPeriod: 30, basePeriod: 26 })).toThrow(/conversionPeriod <= basePeriod/);
    expect(() => new ADX(0)).toThrow(/period must be a whole number/);
  });

  it('ADX of a market without directional movement is 0', () => {
    const flat = Array.from({ length: 40 }, () => ({ high: 2, low: 1, close: 1.5 }));
    expect(streamAll(new ADX(5), flat).at(-1)).toEqual({ adx: 0, plusDI: 0, minusDI: 0 });
  });
});
