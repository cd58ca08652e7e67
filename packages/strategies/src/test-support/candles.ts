import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StrategyCandle } from '../types.js';

const dataDir = fileURLToPath(new URL('../../test-data/', import.meta.url));

export type SeriesName = 'binance-ETH-BTC-5m' | 'binance-ADA-BTC-5m' | 'binance-futures-XRP-USDT-5m';

export const symbolOf: Record<SeriesName, string> = {
  'binance-ETH-BTC-5m': 'ETH/BTC',
  'binance-ADA-BTC-5m': 'ADA/BTC',
  'binance-futures-XRP-USDT-5m': 'XRP/USDT:USDT',
};

const cache = new Map<SeriesName, StrategyCandle[]>();

/** Real 5-minute candles from `packages/strategies/test-data` (see SOURCE.md there). */
export function loadCandles(name: SeriesName): StrategyCandle[] {
  const cached = cache.get(name);
  if (cached) return cached;
  const lines = readFileSync(`${dataDir}${name}.csv`, 'utf8').trim().split(/\r?\n/);
  const header = lines.shift();
  if (header !== 'timestamp,open,high,low,close,volume') throw new Error(`unexpected header in ${name}: ${header}`);
  const symbol = symbolOf[name];
  const candles = lines.map((line): StrategyCandle => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { symbol, timeframe: '5m', timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
  cache.set(name, candles);
  return candles;
}

export const closes = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.close);
export const highs = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.high);
export const lows = (candles: readonly StrategyCandle[]): number[] => candles.map((c) => c.low);
