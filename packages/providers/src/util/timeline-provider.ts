import type { Candle, DataGap, Market, MarketDataFeed, MarketDataListener, MarketDataProvider, OrderBookTop, Tick, Ticker } from '../types.js';
import type { MarketTimeline, TimelineSummary } from './timeline.js';

/**
 * What the replay and synthetic providers share: a market played by a MarketTimeline, served to
 * agents as a market data provider and a feed. A subclass builds the timeline and starts the run.
 */
export abstract class TimelineProvider implements MarketDataProvider, MarketDataFeed {
  abstract readonly id: string;
  protected abstract readonly timeline: MarketTimeline;
  protected running: Promise<TimelineSummary> | undefined;

  /** Work the queries wait for first (a replay reads its files); nothing by default. */
  protected ready(): Promise<void> {
    return Promise.resolve();
  }

  get marketData(): MarketDataProvider {
    return this;
  }
  get feed(): MarketDataFeed {
    return this;
  }

  /** Resolves with the summary when the run has finished; undefined before `start()`. */
  get done(): Promise<TimelineSummary> | undefined {
    return this.running;
  }

  /** True once the run has played all its data or was stopped: streams ended for good. */
  get exhausted(): boolean {
    return this.timeline.isFinished;
  }

  /** Holds the run before its next moment (the records of the current one all go out). */
  pause(): void {
    this.timeline.pause();
  }
  resume(): void {
    this.timeline.resume();
  }
  stop(): void {
    this.timeline.stop();
  }

  /** Missing bars found so far. */
  gaps(): DataGap[] {
    return this.timeline.gaps();
  }

  get symbols(): readonly string[] {
    return this.timeline.registeredSymbols;
  }

  addListener(listener: MarketDataListener): () => void {
    return this.timeline.addListener(listener);
  }

  async loadMarkets(): Promise<Market[]> {
    return this.timeline.markets();
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    await this.ready();
    return this.timeline.fetchTicker(symbol);
  }

  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    await this.ready();
    return this.timeline.fetchOrderBookTop(symbol);
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    await this.ready();
    return this.timeline.fetchOHLCV(symbol, timeframe, since, limit);
  }

  watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    return this.timeline.watchTicks(symbol, signal);
  }

  watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    return this.timeline.watchCandles(symbol, timeframe, signal);
  }

  pushTicks(symbol: string, onTick: (tick: Tick) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    return this.timeline.pushTicks(symbol, onTick, signal);
  }

  pushCandles(symbol: string, timeframe: string, onCandle: (candle: Candle) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    return this.timeline.pushCandles(symbol, timeframe, onCandle, signal);
  }

  async close(): Promise<void> {
    this.stop();
  }
}
