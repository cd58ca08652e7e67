import { describe, expect, it } from 'vitest';
import { batch } from './batch.js';
import { createIndicator, type IndicatorSpecInput } from './factory.js';
import { close, closes, loadCandles } from './test-support/candles.js';
import type { Candle } from './types.js';

/** Streams `spec` over the candles; NaN where the indicator is warming up, like the batch output. */
function streamed(spec: IndicatorSpecInput, candles: readonly Candle[], key?: string): number[] {
  const indicator = createIndicator(spec);
  return candles.map((candle) => {
    const output = indicator.update(candle);
    if (output === undefined) return NaN;
    return typeof output === 'number' ? output : (output as Record<string, number>)[key!]!;
  });
}

function differences(actual: readonly number[], expected: readonly number[]): string[] {
  const found: string[] = [];
  if (actual.length !== expected.length) found.push(`length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length && found.length < 5; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const same = Number.isNaN(e) ? Number.isNaN(a) : close(a, e, 100);
    if (!same) found.push(`[${i}] batch ${a}, streaming ${e}`);
  }
  return found;
}

describe.each([
  ['binance-ETH-BTC-5m', 1500],
  ['nasdaq-GOOG-1d', 800],
] as const)('batch helpers on %s agree with the streaming indicators bar for bar', (name, bars) => {
  const candles = loadCandles(name).slice(0, bars);
  const values = closes(candles);

  it.each([
    ['sma', () => batch.sma(values, 10), { type: 'sma', period: 10 }],
    ['ema', () => batch.ema(values, 10), { type: 'ema', period: 10 }],
    ['wma', () => batch.wma(values, 10), { type: 'wma', period: 10 }],
    ['dema', () => batch.dema(values, 10), { type: 'dema', period: 10 }],
    ['tema', () => batch.tema(values, 10), { type: 'tema', period: 10 }],
    ['rsi', () => batch.rsi(values), { type: 'rsi' }],
    ['atr', () => batch.atr(candles), { type: 'atr' }],
    ['cci', () => batch.cci(candles), { type: 'cci' }],
    ['obv', () => batch.obv(candles), { type: 'obv' }],
    ['vwap', () => batch.vwap(candles), { type: 'vwap' }],
    ['mfi', () => batch.mfi(candles), { type: 'mfi' }],
    ['roc', () => batch.roc(values, 12), { type: 'roc', period: 12 }],
    ['williamsR', () => batch.williamsR(candles), { type: 'williamsR' }],
  ] as const)('%s', (_name, run, spec) => {
    expect(differences(run(), streamed(spec, candles))).toEqual([]);
  });

  it.each([
    ['macd', () => batch.macd(values), { type: 'macd' }],
    ['bollinger', () => batch.bollinger(values, { multiplier: 1.5 }), { type: 'bollinger', multiplier: 1.5 }],
    ['adx', () => batch.adx(candles), { type: 'adx' }],
    ['stochastic', () => batch.stochastic(candles), { type: 'stochastic' }],
    ['stochRsi', () => batch.stochRsi(values), { type: 'stochRsi' }],
    ['donchian', () => batch.donchian(values, 20), { type: 'donchian', period: 20 }],
    ['keltner', () => batch.keltner(candles, { multiplier: 3 }), { type: 'keltner', multiplier: 3 }],
    ['psar', () => batch.psar(candles), { type: 'psar' }],
    ['ichimoku', () => batch.ichimoku(candles), { type: 'ichimoku' }],
  ] as const)('%s (every output)', (_name, run, spec) => {
    const series = run() as unknown as Record<string, number[]>;
    const keys = Object.keys(series);
    expect(keys.length).toBeGreaterThan(1);
    for (const key of keys) {
      expect(differences(series[key]!, streamed(spec, candles, key)), key).toEqual([]);
    }
  });
});

describe('batch helpers on degenerate input', () => {
  const flat: Candle[] = Array.from({ length: 40 }, (_, i) => ({
    timestamp: i,
    open: 3,
    high: 3,
    low: 3,
    close: 3,
    volume: 0,
  }));

  it('report the same neutral values as the streaming indicators instead of NaN', () => {
    expect(batch.rsi(closes(flat)).at(-1)).toBe(50);
    expect(batch.stochastic(flat).k.at(-1)).toBe(50);
    expect(batch.stochastic(flat).d.at(-1)).toBe(50);
    expect(batch.williamsR(flat).at(-1)).toBe(-50);
    expect(batch.cci(flat).at(-1)).toBe(0);
    expect(batch.mfi(flat).at(-1)).toBe(50);
    expect(batch.vwap(flat).at(-1)).toBe(3);
    expect(differences(batch.rsi(closes(flat)), streamed({ type: 'rsi' }, flat))).toEqual([]);
    expect(differences(batch.stochastic(flat).d, streamed({ type: 'stochastic' }, flat, 'd'))).toEqual([]);
    expect(differences(batch.williamsR(flat), streamed({ type: 'williamsR' }, flat))).toEqual([]);
    expect(differences(batch.cci(flat), streamed({ type: 'cci' }, flat))).toEqual([]);
    expect(differences(batch.mfi(flat), streamed({ type: 'mfi' }, flat))).toEqual([]);
    expect(differences(batch.vwap(flat), streamed({ type: 'vwap' }, flat))).toEqual([]);
  });

  it('mark the warm-up with NaN', () => {
    const sma = batch.sma([1, 2, 3, 4], 3);
    expect(sma.slice(0, 2).every(Number.isNaN)).toBe(true);
    expect(sma.slice(2)).toEqual([2, 3]);
  });

  it('validate their parameters', () => {
    expect(() => batch.ema([1, 2, 3], 0)).toThrow(/period must be a whole number of bars >= 1/);
  });
});
