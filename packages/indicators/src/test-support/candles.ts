import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Candle, Indicator } from '../types.js';

const dataDir = fileURLToPath(new URL('../../test-data/', import.meta.url));

export type SeriesName = 'binance-ETH-BTC-5m' | 'nasdaq-GOOG-1d';

const cache = new Map<SeriesName, Candle[]>();

/** Real candles from `packages/indicators/test-data` (see SOURCE.md there). */
export function loadCandles(name: SeriesName): Candle[] {
  const cached = cache.get(name);
  if (cached) return cached;
  const lines = readFileSync(`${dataDir}${name}.csv`, 'utf8').trim().split(/\r?\n/);
  const header = lines.shift();
  if (header !== 'timestamp,open,high,low,close,volume') throw new Error(`unexpected header in ${name}: ${header}`);
  const candles = lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
  cache.set(name, candles);
  return candles;
}

export const seriesNames: SeriesName[] = ['binance-ETH-BTC-5m', 'nasdaq-GOOG-1d'];

export const RELATIVE_TOLERANCE = 1e-9;

/**
 * Equal to 1e-9 relative. `scale` is the indicator's full range for bounded oscillators (100 for
 * 0..100): a running window sum that should be exactly 0 comes out as ±1e-14, which no relative
 * tolerance accepts, so near zero the tolerance is taken relative to the scale instead.
 */
export function close(actual: number, expected: number, scale = 0): boolean {
  if (actual === expected) return true;
  return (
    Math.abs(actual - expected) <=
    RELATIVE_TOLERANCE * Math.max(Math.abs(actual), Math.abs(expected), scale)
  );
}

/**
 * Compares a streamed series with a reference: `undefined` exactly where the reference says the
 * indicator is warming up (before `firstIndex`), and {@link close} to it from there on.
 * Returns human-readable mismatches (empty when everything matches), at most `limit` of them.
 */
export function mismatches(
  actual: readonly (number | undefined)[],
  expected: readonly number[],
  firstIndex: number,
  options: { scale?: number; limit?: number } = {},
): string[] {
  const { scale = 0, limit = 5 } = options;
  const found: string[] = [];
  if (actual.length !== expected.length) found.push(`length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length && found.length < limit; i++) {
    const value = actual[i];
    if (i < firstIndex) {
      if (value !== undefined) found.push(`[${i}] expected undefined during warm-up, got ${value}`);
    } else if (value === undefined || !close(value, expected[i]!, scale)) {
      found.push(`[${i}] got ${value}, expected ${expected[i]}`);
    }
  }
  return found;
}

/** Feeds every input through `update`, copying multi-output results. */
export function streamAll<In, Out>(indicator: Indicator<In, Out>, inputs: readonly In[]): (Out | undefined)[] {
  return inputs.map((input) => {
    const output = indicator.update(input);
    return typeof output === 'object' && output !== null ? ({ ...output } as Out) : output;
  });
}

/** One field of streamed multi-output results, `undefined` where the indicator was warming up. */
export function field<T extends object, K extends keyof T>(rows: readonly (T | undefined)[], key: K): (T[K] | undefined)[] {
  return rows.map((row) => (row === undefined ? undefined : row[key]));
}

export const highs = (candles: readonly Candle[]): number[] => candles.map((c) => c.high);
export const lows = (candles: readonly Candle[]): number[] => candles.map((c) => c.low);
export const closes = (candles: readonly Candle[]): number[] => candles.map((c) => c.close);
export const volumes = (candles: readonly Candle[]): number[] => candles.map((c) => c.volume);
