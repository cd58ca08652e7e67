import { cci, macd, roc, rsi, stoch, willr } from 'indicatorts';
import { describe, expect, it } from 'vitest';
import { IndicatorConfigError } from './errors.js';
import { CCI, MACD, ROC, RSI, Stochastic, StochasticRSI, WilliamsR } from './momentum.js';
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
 * StochRSI computed the plain way over whole arrays (indicatorts has no StochRSI): indicatorts'
 * RSI, then min/max windows and two SMAs by explicit loops.
 */
function referenceStochRsi(
  values: number[],
  rsiPeriod: number,
  stochPeriod: number,
  kPeriod: number,
  dPeriod: number,
): { k: number[]; d: number[]; firstIndex: number } {
  const rsiValues = rsi(values, { period: rsiPeriod });
  const firstRsi = rsiPeriod;
  const raw = values.map(() => NaN);
  for (let i = firstRsi + stochPeriod - 1; i < values.length; i++) {
    const window = rsiValues.slice(i - stochPeriod + 1, i + 1);
    const highest = Math.max(...window);
    const lowest = Math.min(...window);
    raw[i] = highest === lowest ? 50 : (100 * (rsiValues[i]! - lowest)) / (highest - lowest);
  }
  const mean = (series: number[], i: number, period: number) => {
    let sum = 0;
    for (let j = i - period + 1; j <= i; j++) sum += series[j]!;
    return sum / period;
  };
  const k = values.map(() => NaN);
  const firstK = firstRsi + stochPeriod - 1 + kPeriod - 1;
  for (let i = firstK; i < values.length; i++) k[i] = mean(raw, i, kPeriod);
  const d = values.map(() => NaN);
  const firstD = firstK + dPeriod - 1;
  for (let i = firstD; i < values.length; i++) d[i] = mean(k, i, dPeriod);
  return { k, d, firstIndex: firstD };
}

describe.each(seriesNames)('momentum indicators on %s match the reference', (name) => {
  const candles = loadCandles(name);
  const values = closes(candles);
  const h = highs(candles);
  const l = lows(candles);

  it.each([2, 14, 30])('RSI(%i) equals indicatorts rsi', (period) => {
    const streamed = streamAll(new RSI(period), values);
    expect(mismatches(streamed, rsi(values, { period }), period)).toEqual([]);
  });

  it.each([
    [12, 26, 9],
    [5, 35, 5],
  ])('MACD(%i,%i,%i) equals indicatorts macd, histogram = line - signal', (fast, slow, signal) => {
    const rows = streamAll(new MACD({ fast, slow, signal }), values);
    const reference = macd(values, { fast, slow, signal });
    const histogram = reference.macdLine.map((line, i) => line - reference.signalLine[i]!);
    const first = slow + signal - 2;
    expect(mismatches(field(rows, 'macd'), reference.macdLine, first)).toEqual([]);
    expect(mismatches(field(rows, 'signal'), reference.signalLine, first)).toEqual([]);
    expect(mismatches(field(rows, 'histogram'), histogram, first)).toEqual([]);
  });

  it.each([
    [14, 3],
    [5, 5],
  ])('Stochastic(%i,%i) equals indicatorts stoch', (kPeriod, dPeriod) => {
    const rows = streamAll(new Stochastic({ kPeriod, dPeriod }), candles);
    const reference = stoch(h, l, values, { kPeriod, dPeriod });
    const first = kPeriod + dPeriod - 2;
    expect(mismatches(field(rows, 'k'), reference.k, first)).toEqual([]);
    expect(mismatches(field(rows, 'd'), reference.d, first)).toEqual([]);
  });

  it.each([
    [14, 14, 3, 3],
    [7, 10, 1, 4],
  ])('StochasticRSI(%i,%i,%i,%i) equals a straightforward batch computation', (r, s, k, d) => {
    const rows = streamAll(new StochasticRSI({ rsiPeriod: r, stochPeriod: s, kPeriod: k, dPeriod: d }), values);
    const reference = referenceStochRsi(values, r, s, k, d);
    // 0..100 oscillator smoothed by running sums: near 0 the tolerance is 1e-9 of the scale.
    const options = { scale: 100 };
    expect(mismatches(field(rows, 'k'), reference.k, reference.firstIndex, options)).toEqual([]);
    expect(mismatches(field(rows, 'd'), reference.d, reference.firstIndex, options)).toEqual([]);
  });

  it.each([14, 20])('CCI(%i) equals indicatorts cci', (period) => {
    const streamed = streamAll(new CCI(period), candles);
    expect(mismatches(streamed, cci(h, l, values, { period }), 2 * period - 2)).toEqual([]);
  });

  it.each([1, 3, 12])('ROC(%i) equals indicatorts roc', (period) => {
    const streamed = streamAll(new ROC(period), values);
    expect(mismatches(streamed, roc(values, { period }), period)).toEqual([]);
  });

  it.each([5, 14])('WilliamsR(%i) equals indicatorts willr', (period) => {
    const streamed = streamAll(new WilliamsR(period), candles);
    expect(mismatches(streamed, willr(h, l, values, { period }), period - 1)).toEqual([]);
  });
});

describe('momentum edge cases', () => {
  const flat = Array.from({ length: 40 }, (_, i) => ({
    timestamp: i,
    open: 5,
    high: 5,
    low: 5,
    close: 5,
    volume: 0,
  }));

  it('reports neutral values for a market that does not move', () => {
    expect(new RSI(14).update(5)).toBeUndefined();
    expect(streamAll(new RSI(14), flat).at(-1)).toBe(50);
    expect(streamAll(new Stochastic(), flat).at(-1)).toEqual({ k: 50, d: 50 });
    expect(streamAll(new StochasticRSI(), flat).at(-1)).toEqual({ k: 50, d: 50 });
    expect(streamAll(new WilliamsR(), flat).at(-1)).toBe(-50);
    expect(streamAll(new CCI(10), flat).at(-1)).toBe(0);
  });

  it('RSI is 100 when prices only rise', () => {
    const rising = Array.from({ length: 30 }, (_, i) => 100 + i);
    expect(streamAll(new RSI(14), rising).at(-1)).toBe(100);
  });

  it('refuses a MACD whose fast period is not shorter than its slow period', () => {
    expect(() => new MACD({ fast: 26, slow: 12 })).toThrow(IndicatorConfigError);
    expect(() => new MACD({ fast: 26, slow: 12 })).toThrow(/fast \(26\) must be shorter than slow \(12\)/);
  });

  it('refuses a fractional or zero period', () => {
    expect(() => new RSI(0)).toThrow(/period must be a whole number of bars >= 1/);
    expect(() => new CCI(2.5)).toThrow(IndicatorConfigError);
  });
});
