import { readFileSync } from 'node:fs';
import type { StrategyCandle } from '@tradebus/strategies';

export const SYMBOL = 'ETH/BTC';
export const TF = '5m';
export const BAR = 300_000;

/** Real 5-minute candles from this package's test-data (see SOURCE.md there). */
export function loadCandles(): StrategyCandle[] {
  const lines = readFileSync(new URL('../../test-data/binance-ETH-BTC-5m.csv', import.meta.url), 'utf8').trim().split(/\r?\n/);
  if (lines.shift() !== 'timestamp,open,high,low,close,volume') throw new Error('unexpected CSV header');
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number) as [number, number, number, number, number, number];
    return { symbol: SYMBOL, timeframe: TF, timestamp, open, high, low, close, volume };
  });
}
