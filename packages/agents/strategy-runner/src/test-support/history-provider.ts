import { readFileSync } from 'node:fs';
import type { Clock } from '@tradebus/core';
import type { Candle, Market, MarketDataProvider, OrderBookTop, Tick, Ticker } from '@tradebus/providers';
import type { StrategyCandle } from '@tradebus/strategies';

export const SYMBOL = 'XRP/USDT:USDT';
export const TF = '5m';
export const BAR = 300_000;

/** Real 5-minute candles from this package's test-data (see SOURCE.md there). */
export function loadCandles(): StrategyCandle[] {
  const lines = readFileSync(new URL('../../test-data/binance-futures-XRP-USDT-5m.csv', import.meta.url), 'utf8').trim().split(/\r?\n/);
  if (lines.shift() !== 'timestamp,open,high,low,close,volume') throw new Error('unexpected CSV header');
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number) as [number, number, number, number, number, number];
    return { symbol: SYMBOL, timeframe: TF, timestamp, open, high, low, close, volume };
  });
}

/**
 * Serves `fetchOHLCV` from a list of candles as a venue would at the clock's time: the newest
 * `limit` finished bars, then the forming one. `leakFuture` adds bars from after the clock marked
 * closed, as a careless replay might; `failures` makes that many calls fail first; `hold` keeps
 * calls pending until `release()`.
 */
export class HistoryProvider implements MarketDataProvider {
  readonly id = 'history';
  calls: Array<{ symbol: string; timeframe: string; since: number | undefined; limit: number | undefined }> = [];
  failures = 0;
  leakFuture = 0;
  private held: Array<() => void> | undefined;

  constructor(
    private readonly candles: StrategyCandle[],
    private readonly clock: Clock,
  ) {}

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    this.calls.push({ symbol, timeframe, since, limit });
    if (this.held !== undefined) await new Promise<void>((resolve) => this.held!.push(resolve));
    if (this.failures > 0) {
      this.failures--;
      throw new Error('history: 503 Service Unavailable');
    }
    const now = this.clock.now();
    const finished = this.candles.filter((c) => c.timestamp + BAR <= now);
    const newest = finished.slice(-(limit ?? finished.length)).map((c) => ({ ...c, closed: true }));
    const rest = this.candles.filter((c) => c.timestamp + BAR > now);
    const forming = rest[0] === undefined ? [] : [{ ...rest[0], closed: false }];
    const leaked = rest.slice(1, 1 + this.leakFuture).map((c) => ({ ...c, closed: true }));
    return [...newest, ...forming, ...leaked];
  }

  async loadMarkets(): Promise<Market[]> {
    return [];
  }
  async fetchTicker(symbol: string): Promise<Ticker> {
    return { symbol, timestamp: 0, last: 1 };
  }
  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    return { symbol, timestamp: 0 };
  }
  watchTicks(): AsyncIterable<Tick> {
    throw new Error('not used');
  }
  watchCandles(): AsyncIterable<Candle> {
    throw new Error('not used');
  }
}

export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
