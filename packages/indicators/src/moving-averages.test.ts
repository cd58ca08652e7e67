import { dema, ema, sma, tema } from 'indicatorts';
import { describe, expect, it } from 'vitest';
import { IndicatorInputError } from './errors.js';
import { DEMA, EMA, SMA, TEMA, WMA } from './moving-averages.js';
import { closes, loadCandles, mismatches, seriesNames, streamAll } from './test-support/candles.js';

/** Textbook WMA written the slow, obvious way: weights 1..period over each full window. */
function referenceWma(values: readonly number[], period: number): number[] {
  const divisor = (period * (period + 1)) / 2;
  return values.map((_, i) => {
    if (i < period - 1) return NaN;
    let weighted = 0;
    for (let j = 0; j < period; j++) weighted += (j + 1) * values[i - period + 1 + j]!;
    return weighted / divisor;
  });
}

describe.each(seriesNames)('moving averages on %s match the reference', (name) => {
  const candles = loadCandles(name);
  const values = closes(candles);

  it.each([2, 20, 50])('SMA(%i) equals indicatorts sma', (period) => {
    const streamed = streamAll(new SMA(period), values);
    expect(mismatches(streamed, sma(values, { period }), period - 1)).toEqual([]);
  });

  it.each([3, 12, 26])('EMA(%i) equals indicatorts ema', (period) => {
    const streamed = streamAll(new EMA(period), values);
    expect(mismatches(streamed, ema(values, { period }), period - 1)).toEqual([]);
  });

  it.each([5, 20])('WMA(%i) equals a straightforward weighted mean (indicatorts has no WMA)', (period) => {
    const streamed = streamAll(new WMA(period), values);
    expect(mismatches(streamed, referenceWma(values, period), period - 1)).toEqual([]);
  });

  it.each([5, 12])('DEMA(%i) equals indicatorts dema', (period) => {
    const streamed = streamAll(new DEMA(period), values);
    expect(mismatches(streamed, dema(values, { period }), 2 * period - 2)).toEqual([]);
  });

  it.each([5, 12])('TEMA(%i) equals indicatorts tema', (period) => {
    const streamed = streamAll(new TEMA(period), values);
    expect(mismatches(streamed, tema(values, { period }), 3 * period - 3)).toEqual([]);
  });
});

describe('price sources and inputs', () => {
  const candles = loadCandles('binance-ETH-BTC-5m').slice(0, 300);

  it('reduces candles through the configured source', () => {
    const typical = candles.map((c) => (c.high + c.low + c.close) / 3);
    const fromCandles = streamAll(new EMA(10, { source: 'hlc3' }), candles);
    const fromNumbers = streamAll(new EMA(10), typical);
    expect(fromCandles).toEqual(fromNumbers);
    expect(fromCandles.at(-1)).not.toBe(new EMA(10).update(candles.at(-1)!.close));
  });

  it('rejects a non-finite input without touching the state', () => {
    const sma = new SMA(5);
    for (const c of candles.slice(0, 10)) sma.update(c);
    const before = sma.value;
    expect(() => sma.update(NaN)).toThrow(IndicatorInputError);
    expect(() => sma.replaceLast({ ...candles[10]!, close: Infinity })).toThrow(/non-finite/);
    expect(sma.value).toBe(before);
    expect(sma.count).toBe(10);
    const reference = new SMA(5);
    for (const c of candles.slice(0, 11)) reference.update(c);
    expect(sma.update(candles[10]!)).toBe(reference.value);
  });

  it('reports readiness and warm-up consistently', () => {
    const tema = new TEMA(4);
    expect(tema.warmupPeriod).toBe(10);
    const outputs = streamAll(tema, candles.slice(0, 12));
    expect(outputs.slice(0, 9).every((v) => v === undefined)).toBe(true);
    expect(typeof outputs[9]).toBe('number');
    expect(tema.isReady).toBe(true);
    tema.reset();
    expect(tema.isReady).toBe(false);
    expect(tema.value).toBeUndefined();
    expect(streamAll(tema, candles.slice(0, 12))).toEqual(outputs);
  });
});
