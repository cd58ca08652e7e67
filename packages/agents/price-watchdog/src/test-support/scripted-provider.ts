import { readFileSync } from 'node:fs';
import type { Candle, Market, MarketDataProvider, OrderBookTop, Tick, Ticker } from '@tradebus/providers';

/** Closed candles from a CSV of the shared market data (`timestamp,open,high,low,close,volume`). */
export function readCandles(url: URL, symbol: string, timeframe: string): Candle[] {
  const lines = readFileSync(url, 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number) as [number, number, number, number, number, number];
    return { symbol, timeframe, timestamp, open, high, low, close, volume, closed: true };
  });
}

class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  private done = false;

  constructor(signal: AbortSignal) {
    signal.addEventListener('abort', () => this.end(), { once: true });
  }

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  get open(): boolean {
    return !this.done;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.failure !== undefined) {
          const err = this.failure;
          this.failure = undefined;
          return Promise.reject(err);
        }
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/**
 * A MarketDataProvider whose streams the test drives by hand: push candles and ticks, break a
 * stream with an error, make the next `fetchOHLCV` calls fail. History for `fetchOHLCV` is a
 * list of closed bars the test controls.
 */
export class ScriptedProvider implements MarketDataProvider {
  readonly id = 'scripted';
  /** Closed bars `fetchOHLCV` answers from, per `symbol|timeframe`. */
  readonly history = new Map<string, Candle[]>();
  readonly fetchCalls: Array<{ symbol: string; timeframe: string; since: number | undefined; limit: number | undefined }> = [];
  readonly candleStreams: Array<{ symbol: string; timeframe: string; channel: Channel<Candle> }> = [];
  readonly tickStreams: Array<{ symbol: string; channel: Channel<Tick> }> = [];
  fetchFailures = 0;
  /** Streams opened while this is above zero fail on their first read (the venue is still unreachable). */
  streamFailures = 0;

  /** What `loadMarkets` answers. */
  markets: Market[] = [];

  async loadMarkets(): Promise<Market[]> {
    return this.markets;
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    return { symbol, timestamp: 0, last: 1 };
  }

  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    return { symbol, timestamp: 0 };
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    this.fetchCalls.push({ symbol, timeframe, since, limit });
    if (this.fetchFailures > 0) {
      this.fetchFailures--;
      throw new Error('fetchOHLCV: connection reset');
    }
    const bars = (this.history.get(`${symbol}|${timeframe}`) ?? []).filter((c) => since === undefined || c.timestamp >= since);
    return bars.slice(0, limit ?? bars.length).map((c) => ({ ...c }));
  }

  watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    const channel = new Channel<Candle>(signal);
    if (this.streamFailures > 0) {
      this.streamFailures--;
      channel.fail(new Error('watchCandles: connection refused'));
    }
    this.candleStreams.push({ symbol, timeframe, channel });
    return channel;
  }

  watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    const channel = new Channel<Tick>(signal);
    this.tickStreams.push({ symbol, channel });
    return channel;
  }

  /** The newest open candle stream of this symbol and timeframe. */
  candleStream(symbol: string, timeframe: string): Channel<Candle> {
    const found = [...this.candleStreams].reverse().find((s) => s.symbol === symbol && s.timeframe === timeframe && s.channel.open);
    if (found === undefined) throw new Error(`no open candle stream for ${symbol} ${timeframe}`);
    return found.channel;
  }

  tickStream(symbol: string): Channel<Tick> {
    const found = [...this.tickStreams].reverse().find((s) => s.symbol === symbol && s.channel.open);
    if (found === undefined) throw new Error(`no open tick stream for ${symbol}`);
    return found.channel;
  }
}

/** Lets pending promise chains (stream reads, awaited fetches) run to completion. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
