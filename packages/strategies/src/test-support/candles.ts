import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StrategyCandle } from '../types.js';

const dataDir = fileURLToPath(new URL('../../test-data/', import.meta.url));

/** The ten Binance spot pairs quoted in BTC, 2018-01-10 → 2018-01-30: a universe for breadth and relative strength. */
export const btcPairs = ['ADA', 'DASH', 'ETC', 'ETH', 'LTC', 'TRX', 'XLM', 'XMR', 'ZEC'] as const;

export type SeriesName =
  | `binance-${(typeof btcPairs)[number]}-BTC-5m`
  | 'binance-futures-XRP-USDT-5m'
  | 'nasdaq-GOOG-1d';

export const symbolOf = (name: SeriesName): string =>
  name === 'binance-futures-XRP-USDT-5m' ? 'XRP/USDT:USDT' : name === 'nasdaq-GOOG-1d' ? 'GOOG' : `${name.split('-')[1]}/BTC`;

const cache = new Map<SeriesName, StrategyCandle[]>();

/** Real candles (5-minute Binance, daily GOOG) from `packages/strategies/test-data` (see SOURCE.md there). */
export function loadCandles(name: SeriesName): StrategyCandle[] {
  const cached = cache.get(name);
  if (cached) return cached;
  const lines = readFileSync(`${dataDir}${name}.csv`, 'utf8').trim().split(/\r?\n/);
  const header = lines.shift();
  if (header !== 'timestamp,open,high,low,close,volume') throw new Error(`unexpected header in ${name}: ${header}`);
  const symbol = symbolOf(name);
  const timeframe = name.slice(name.lastIndexOf('-') + 1);
  const candles = lines.map((line): StrategyCandle => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { symbol, timeframe, timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
  cache.set(name, candles);
  return candles;
}

export const closes = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.close);
export const highs = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.high);
export const lows = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.low);
