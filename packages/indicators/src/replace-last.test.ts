import { describe, expect, it } from 'vitest';
import { createIndicator, type IndicatorOutput, type IndicatorSpecInput } from './factory.js';
import { loadCandles } from './test-support/candles.js';
import type { Candle } from './types.js';

/** Small periods so every window wraps many times and the deques pop often. */
const specs: IndicatorSpecInput[] = [
  { type: 'sma', period: 5 },
  { type: 'ema', period: 5 },
  { type: 'wma', period: 5 },
  { type: 'dema', period: 4 },
  { type: 'tema', period: 3 },
  { type: 'rsi', period: 5 },
  { type: 'macd', fast: 3, slow: 7, signal: 4 },
  { type: 'bollinger', period: 5 },
  { type: 'atr', period: 5 },
  { type: 'adx', period: 4 },
  { type: 'stochastic', kPeriod: 5, dPeriod: 3 },
  { type: 'stochRsi', rsiPeriod: 5, stochPeriod: 5, kPeriod: 2, dPeriod: 2 },
  { type: 'cci', period: 5 },
  { type: 'obv' },
  { type: 'vwap', period: 5 },
  { type: 'mfi', period: 5 },
  { type: 'donchian', period: 5 },
  { type: 'keltner', period: 5 },
  { type: 'roc', period: 3 },
  { type: 'williamsR', period: 5 },
  { type: 'psar' },
  { type: 'ichimoku', conversionPeriod: 3, basePeriod: 5, spanPeriod: 8 },
];

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Intermediate states of a forming candle: a spike far outside the final range (empties the
 * min/max deques), a bar that has not moved yet, and a partial bar.
 */
function formingStates(bar: Candle, next: () => number): Candle[] {
  const spikeHigh = bar.high * (1.05 + 0.2 * next());
  const spikeLow = bar.low * (0.95 - 0.2 * next());
  return [
    { ...bar, high: spikeHigh, low: spikeLow, close: spikeLow + (spikeHigh - spikeLow) * next(), volume: bar.volume * 3 * next() },
    { ...bar, high: bar.open, low: bar.open, close: bar.open, volume: 0 },
    { ...bar, high: Math.max(bar.open, bar.close), low: Math.min(bar.open, bar.close), volume: bar.volume / 2 },
  ];
}

const snapshot = (output: IndicatorOutput | undefined) =>
  typeof output === 'object' ? { ...output } : output;

describe.each([
  ['binance-ETH-BTC-5m', 1500],
  ['nasdaq-GOOG-1d', 500],
] as const)('replaceLast on %s', (name, bars) => {
  const candles = loadCandles(name).slice(0, bars);

  it.each(specs.map((spec) => [spec.type, spec] as const))(
    '%s: a forming bar replaced several times ends exactly where the final bar alone would',
    (_type, spec) => {
      const clean = createIndicator(spec);
      const forming = createIndicator(spec);
      const next = random(candles.length);
      const expected: unknown[] = [];
      const actual: unknown[] = [];
      candles.forEach((bar, i) => {
        expected.push(snapshot(clean.update(bar)));
        if (i % 7 === 0) {
          // Now and then the candle closes without intermediate ticks.
          actual.push(snapshot(forming.update(bar)));
          return;
        }
        const [first, ...rest] = formingStates(bar, next);
        forming.update(first!);
        for (const state of rest) forming.replaceLast(state);
        actual.push(snapshot(forming.replaceLast(bar)));
      });
      expect(actual).toEqual(expected);
      expect(forming.count).toBe(clean.count);
      expect(snapshot(forming.value)).toEqual(snapshot(clean.value));
      // The state after replacing keeps evolving identically.
      const last = candles.at(-1)!;
      const extra = { ...last, close: last.close * 1.01, high: last.high * 1.02 };
      expect(snapshot(forming.update(extra))).toEqual(snapshot(clean.update(extra)));
    },
  );
});

describe('replaceLast edge cases', () => {
  const candles = loadCandles('binance-ETH-BTC-5m').slice(0, 60);

  it.each(specs.map((spec) => [spec.type, spec] as const))(
    '%s: replaceLast on an empty or reset indicator acts as update',
    (_type, spec) => {
      const viaReplace = createIndicator(spec);
      const viaUpdate = createIndicator(spec);
      for (const bar of candles) viaUpdate.update(bar);
      for (const bar of candles) viaReplace.update(bar);
      viaReplace.reset();
      viaUpdate.reset();
      expect(viaReplace.count).toBe(0);
      expect(viaReplace.value).toBeUndefined();
      viaReplace.replaceLast(candles[1]!);
      viaReplace.replaceLast(candles[0]!);
      viaUpdate.update(candles[0]!);
      for (const bar of candles.slice(1)) {
        expect(snapshot(viaReplace.update(bar))).toEqual(snapshot(viaUpdate.update(bar)));
      }
      expect(viaReplace.isReady).toBe(true);
    },
  );
});
