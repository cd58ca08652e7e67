import { z } from 'zod';
import { BaseAgent, TradebusError, errorMessage, fastSafeParse, toError, type AgentContext, refuseColdChanges } from '@tradebus/core';
import { ProviderError, RateLimitError, type Candle, type MarketDataProvider, type Tick } from '@tradebus/providers';
import { Backoff } from './backoff.js';
import type { PriceWatchdogConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { resolveMarketData, resolveSymbols } from '@tradebus/providers';
import { sleepUnlessAborted, untilAborted } from '@tradebus/core';
import { timeframeMs } from './timeframe.js';
import { WatchdogShards } from './sharding.js';
import type { ShardReport } from '@tradebus/core';

// Providers can be third-party code: what they hand over is checked before it reaches the bus.
const price = z.number().finite().nonnegative();
const providerCandleSchema = z.object({
  timestamp: z.number().int().nonnegative(),
  open: price,
  high: price,
  low: price,
  close: price,
  volume: price,
  closed: z.boolean(),
});
const providerTickSchema = z.object({
  price,
  bid: price.optional(),
  ask: price.optional(),
  volume: price.optional(),
  tradeId: z.string().optional(),
  timestamp: z.number().int().nonnegative(),
});
// Every bar and trade of every stream is checked: valid ones skip zod's slow path. The agent reads
// only these fields from what it gets back (the provider's symbol and timeframe are checked apart).
const parseProviderCandle = fastSafeParse(providerCandleSchema, { ignoreExtraKeys: true });
const parseProviderTick = fastSafeParse(providerTickSchema, { ignoreExtraKeys: true });

/** A stream ended although nobody asked it to: treated like a dropped connection. */
export class FeedEndedError extends TradebusError {
  constructor(feed: string) {
    super('FEED_ENDED', `The provider ended the ${feed} stream without being asked to; reconnecting.`, { details: { feed } });
  }
}

interface FeedBase {
  key: string;
  symbol: string;
  staleAfterMs: number;
  lastDataAt: number;
  stale: boolean;
  /** Why the stream is down, while it is. */
  disconnected: string | undefined;
  reconnects: number;
  rejected: number;
}

interface CandleFeed extends FeedBase {
  kind: 'candles';
  timeframe: string;
  intervalMs: number;
  /** Open time of the newest `candle.closed` published: nothing at or before it is published again. */
  lastClosed: number | undefined;
  /** Where lastClosed is saved, so a restart resumes after it. */
  stateKey: string;
  /** Newest stream bar up to which a gap was already filled, so one gap is fetched once. */
  filledThrough: number;
  closedPublished: number;
  backfilled: number;
  duplicatesDropped: number;
}

interface TickFeed extends FeedBase {
  kind: 'ticks';
  lastTickAt: number;
  recentTradeIds: Set<string>;
}

type Feed = CandleFeed | TickFeed;

/** What `feeds()` reports for one stream. */
export interface FeedStatus {
  key: string;
  kind: 'candles' | 'ticks';
  symbol: string;
  timeframe?: string;
  connected: boolean;
  stale: boolean;
  lastDataAt: number;
  reconnects: number;
  /** Items the provider sent that failed validation and were dropped. */
  rejected: number;
  lastClosed?: number | undefined;
  closedPublished?: number;
  backfilled?: number;
  duplicatesDropped?: number;
}

const RECENT_TRADE_IDS = 512;

/** Shortest default silence before a tick feed counts as stale: a quiet market may not trade for a while. */
const DEFAULT_TICK_STALE_MS = 60_000;

/**
 * Keeps price feeds alive: one background stream per symbol (ticks) and per symbol × timeframe
 * (candles), republished on the bus. A failing stream is retried with backoff on the agent's
 * clock and never fails the agent; bars missed while it was down are fetched with `fetchOHLCV`
 * so `candle.closed` has no gaps and no duplicates. A feed silent for too long degrades the agent
 * and raises `system.alert` until data flows again.
 */
export class PriceWatchdogAgent extends BaseAgent<PriceWatchdogConfig> {
  private provider!: MarketDataProvider;
  private readonly feedList: Feed[] = [];

  private readonly unsaved = new Set<CandleFeed>();
  private saveScheduled = false;

  constructor(context: AgentContext<PriceWatchdogConfig>) {
    super(context);
  }

  /** State of every stream, for tests, dashboards and the health API. */
  feeds(): FeedStatus[] {
    return this.feedList.map((f) => {
      const base = {
        key: f.key,
        kind: f.kind,
        symbol: f.symbol,
        connected: f.disconnected === undefined,
        stale: f.stale,
        lastDataAt: f.lastDataAt,
        reconnects: f.reconnects,
        rejected: f.rejected,
      };
      if (f.kind === 'ticks') return base;
      return {
        ...base,
        timeframe: f.timeframe,
        lastClosed: f.lastClosed,
        closedPublished: f.closedPublished,
        backfilled: f.backfilled,
        duplicatesDropped: f.duplicatesDropped,
      };
    });
  }

  protected override async initialize(): Promise<void> {
    this.provider = resolveMarketData(this.services, this.config.provider);
    const { stale } = this.config;
    const tickStaleMs = this.tickStaleMs();
    this.feedList.length = 0;
    const symbols = await resolveSymbols(this.provider, this.config.symbols, (err) =>
      this.logger.warn({ err: toError(err) }, 'market list unavailable; using the configured symbols in canonical form'),
    );
    const now = this.clock.now();
    for (const symbol of symbols) {
      if (this.config.candles) {
        for (const timeframe of [...new Set(this.config.timeframes)]) {
          const intervalMs = timeframeMs(timeframe);
          const key = `candles:${symbol}:${timeframe}`;
          const stored = this.config.resume ? await this.store.get<unknown>(stateKey(key)) : undefined;
          const lastClosed = typeof stored === 'number' && Number.isInteger(stored) ? stored : undefined;
          this.feedList.push({
            kind: 'candles',
            key,
            symbol,
            timeframe,
            intervalMs,
            staleAfterMs: Math.round(stale.candleIntervals * intervalMs),
            lastDataAt: now,
            stale: false,
            disconnected: undefined,
            reconnects: 0,
            rejected: 0,
            lastClosed,
            stateKey: stateKey(key),
            filledThrough: Number.NEGATIVE_INFINITY,
            closedPublished: 0,
            backfilled: 0,
            duplicatesDropped: 0,
          });
        }
      }
      if (this.config.ticks) {
        this.feedList.push({
          kind: 'ticks',
          key: `ticks:${symbol}`,
          symbol,
          staleAfterMs: tickStaleMs,
          lastDataAt: now,
          stale: false,
          disconnected: undefined,
          reconnects: 0,
          rejected: 0,
          lastTickAt: Number.NEGATIVE_INFINITY,
          recentTradeIds: new Set(),
        });
      }
    }
  }

  /**
   * How long a tick feed may be silent. Bar-driven sources (a replay of candles, a synthetic
   * market) trade once per bar, so a threshold of one bar or less would turn the feed stale
   * between every two bars: by default it is as long as a candle feed's, counted in bars of the
   * shortest timeframe, and never under a minute.
   */
  private tickStaleMs(config: PriceWatchdogConfig = this.config): number {
    const { stale, timeframes } = config;
    const barMs = Math.min(...timeframes.map(timeframeMs));
    if (stale.tickMs === undefined) return Math.max(DEFAULT_TICK_STALE_MS, Math.round(stale.candleIntervals * barMs));
    if (config.ticks && stale.tickMs <= barMs) {
      this.logger.warn(
        { tickMs: stale.tickMs, barMs },
        `stale.tickMs (${stale.tickMs} ms) is not longer than a ${timeframes.find((t) => timeframeMs(t) === barMs)} bar: a market that trades once per bar (a replay, a synthetic market) will look stale between bars. Leave it out for ${stale.candleIntervals} bars, or raise it.`,
      );
    }
    return stale.tickMs;
  }

  /**
   * Applies new stale thresholds while running: each feed's threshold is recomputed and the next
   * staleness check uses it. Everything else (provider, symbols, timeframes, the check interval)
   * is read at start and refused here.
   */
  protected override onReconfigure(next: PriceWatchdogConfig, previous: PriceWatchdogConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    const tickStaleMs = this.tickStaleMs(next);
    for (const feed of this.feedList) {
      feed.staleAfterMs = feed.kind === 'candles' ? Math.round(next.stale.candleIntervals * feed.intervalMs) : tickStaleMs;
    }
    this.logger.info({ stale: next.stale }, 'live settings changed: stale thresholds');
  }

  protected run(): void {
    if (this.config.sharding !== undefined) this.startSharding(this.config.sharding);
    else for (const feed of this.feedList) this.background(feed.key, (signal) => this.runFeed(feed, signal));
    if (this.feedList.length === 0) return;
    const shortest = Math.min(...this.feedList.map((f) => f.staleAfterMs));
    const checkEveryMs = this.config.stale.checkEveryMs ?? Math.max(1_000, Math.floor(shortest / 10));
    this.every(checkEveryMs, () => this.checkStale(), { skipMissed: true });
  }

  private async runFeed(feed: Feed, signal: AbortSignal): Promise<void> {
    const provider = this.provider;
    const backoff = new Backoff(this.config.reconnect, `${this.id}:${feed.key}`);
    // After a restart with a remembered last bar, the bars closed while the agent was down are due first.
    let catchUp = feed.kind === 'candles' && feed.lastClosed !== undefined;
    while (!signal.aborted) {
      try {
        if (feed.kind === 'candles') {
          if (catchUp) await this.backfill(feed, undefined, signal);
          catchUp = false;
          await follow(
            provider.pushCandles && ((on) => provider.pushCandles!(feed.symbol, feed.timeframe, on, signal)),
            () => provider.watchCandles(feed.symbol, feed.timeframe, signal),
            (candle) => {
              if (signal.aborted) return undefined;
              backoff.reset();
              return this.onCandle(feed, candle, signal);
            },
            signal,
          );
        } else {
          await follow(
            provider.pushTicks && ((on) => provider.pushTicks!(feed.symbol, on, signal)),
            () => provider.watchTicks(feed.symbol, signal),
            (tick) => {
              if (signal.aborted) return;
              backoff.reset();
              this.onTick(feed, tick);
            },
            signal,
          );
        }
        if (signal.aborted) return;
        if (provider.exhausted === true) {
          // A replay that played all its data: nothing more will come, and nothing went wrong.
          this.logger.info({ feed: feed.key }, 'market data source has played all its data; feed closed');
          return;
        }
        throw new FeedEndedError(feed.key);
      } catch (err) {
        if (signal.aborted) return;
        const retryAfterMs = err instanceof RateLimitError ? (err.retryAfterMs ?? 0) : 0;
        const delayMs = backoff.next(retryAfterMs);
        this.onDisconnect(feed, err, backoff.attempts, delayMs);
        catchUp = true;
        if (!(await sleepUnlessAborted(this.clock, delayMs, signal))) return;
      }
    }
  }

  /** Returns a promise only when the bar waits for a backfill: the common bar costs no await. */
  private onCandle(feed: CandleFeed, raw: Candle, signal: AbortSignal): Promise<void> | undefined {
    const parsed = parseProviderCandle(raw);
    if (!parsed.success || raw.symbol !== feed.symbol || raw.timeframe !== feed.timeframe) {
      this.reject(feed, raw, parsed.success ? `expected ${feed.symbol} ${feed.timeframe}, got ${String(raw.symbol)} ${String(raw.timeframe)}` : parsed.error.message);
      return undefined;
    }
    const candle = parsed.data;
    this.onData(feed);
    // A bar more than one interval after the last closed one means bars were missed (a reconnect, or
    // a stream that starts at the current bar): fetch them before this one goes out.
    if (feed.lastClosed !== undefined && candle.timestamp - feed.lastClosed > feed.intervalMs && candle.timestamp > feed.filledThrough) {
      return this.backfillBefore(feed, candle, signal);
    }
    this.emitCandle(feed, candle);
    return undefined;
  }

  private async backfillBefore(feed: CandleFeed, candle: z.output<typeof providerCandleSchema>, signal: AbortSignal): Promise<void> {
    await this.backfill(feed, candle.timestamp, signal);
    feed.filledThrough = candle.timestamp;
    if (signal.aborted) return;
    this.emitCandle(feed, candle);
  }

  private emitCandle(feed: CandleFeed, candle: z.output<typeof providerCandleSchema>): void {
    if (feed.lastClosed !== undefined && candle.timestamp <= feed.lastClosed) {
      feed.duplicatesDropped++;
      return;
    }
    if (candle.closed) this.publishClosed(feed, candle);
    else if (this.config.publishForming) this.publish('candle.updated', toPayload(feed, candle));
  }

  /**
   * Publishes the closed bars after `lastClosed` that the provider's history has, up to (not
   * including) `before`, the first bar the stream delivered. Without `before` (catching up after a
   * restart or reconnect) only bars whose period is over on the agent's clock go out, so a replay
   * never sees a bar from its future.
   */
  private async backfill(feed: CandleFeed, before: number | undefined, signal: AbortSignal): Promise<void> {
    if (feed.lastClosed === undefined) return;
    const { pageLimit, maxPages } = this.config.backfill;
    const limit = before ?? this.clock.now() - feed.intervalMs + 1;
    let cursor = feed.lastClosed + feed.intervalMs;
    let published = 0;
    for (let page = 0; page < maxPages; page++) {
      if (cursor >= limit) break;
      const bars = (await untilAborted(this.provider.fetchOHLCV(feed.symbol, feed.timeframe, cursor, pageLimit), signal))?.value;
      if (bars === undefined) return;
      let newest = Number.NEGATIVE_INFINITY;
      for (const raw of [...bars].sort((a, b) => a.timestamp - b.timestamp)) {
        const parsed = parseProviderCandle(raw);
        if (!parsed.success) {
          this.reject(feed, raw, parsed.error.message);
          continue;
        }
        const bar = parsed.data;
        newest = Math.max(newest, bar.timestamp);
        // A bar older than one the stream already delivered is finished even if the provider's
        // snapshot still called it forming.
        const finished = before !== undefined || bar.closed;
        if (finished && bar.timestamp < limit && this.publishClosed(feed, bar)) published++;
      }
      if (newest < cursor || bars.length < pageLimit) {
        cursor = limit;
        break;
      }
      cursor = newest + feed.intervalMs;
    }
    feed.backfilled += published;
    if (published > 0) this.logger.info({ feed: feed.key, bars: published }, 'backfilled missed candles');
    if (cursor < limit) {
      this.alert('warning', 'BACKFILL_INCOMPLETE', `Backfill of ${feed.key} stopped after ${maxPages} pages; older missed bars were skipped. Raise backfill.maxPages or backfill.pageLimit to fetch longer gaps.`, {
        feed: feed.key,
        from: cursor,
        until: limit,
      });
    }
  }

  /** The one gate every `candle.closed` passes: strictly increasing bar times per feed. */
  private publishClosed(feed: CandleFeed, bar: z.output<typeof providerCandleSchema>): boolean {
    if (feed.lastClosed !== undefined && bar.timestamp <= feed.lastClosed) {
      feed.duplicatesDropped++;
      return false;
    }
    this.publish('candle.closed', toPayload(feed, bar));
    feed.lastClosed = bar.timestamp;
    feed.closedPublished++;
    if (this.shards !== undefined) void this.shards.save(feed.symbol, this.lastClosedOf(feed.symbol));
    if (this.config.resume) this.saveResumePointLater(feed);
    return true;
  }

  /**
   * The last closed bar of each feed is saved once the bars that arrived together (one moment of
   * a replay, one burst of a backfill) are all out: one change for every feed of the burst.
   */
  private saveResumePointLater(feed: CandleFeed): void {
    this.unsaved.add(feed);
    if (this.saveScheduled) return;
    this.saveScheduled = true;
    queueMicrotask(() => void this.saveResumePoints());
  }

  private saveResumePoints(): Promise<void> {
    this.saveScheduled = false;
    if (this.unsaved.size === 0) return Promise.resolve();
    const change: Array<[string, unknown]> = [];
    for (const feed of this.unsaved) if (feed.lastClosed !== undefined) change.push([feed.stateKey, feed.lastClosed]);
    this.unsaved.clear();
    // Nobody waits for a resume point: it goes to disk with the next write that syncs.
    return this.store.setMany(change, { background: true }).then(undefined, (err: unknown) => {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'could not persist the last closed bar');
    });
  }

  private shards: WatchdogShards | undefined;
  private readonly shardFeeds = new Map<string, AbortController>();

  /** Several watchdog processes share the symbols: only the feeds of owned symbols run here. */
  private startSharding(config: NonNullable<PriceWatchdogConfig['sharding']>): void {
    const shards = new WatchdogShards({
      config,
      agentId: this.id,
      transport: this.bus.transport,
      symbols: [...new Set(this.feedList.map((f) => f.symbol))],
      logger: this.logger,
      start: (symbol, lastClosed) => {
        const controller = new AbortController();
        this.shardFeeds.set(symbol, controller);
        for (const feed of this.feedList) {
          if (feed.symbol !== symbol) continue;
          // The previous owner's last closed bar is the resume point: the gap comes from history.
          if (feed.kind === 'candles' && lastClosed[feed.timeframe] !== undefined) feed.lastClosed = Math.max(feed.lastClosed ?? Number.NEGATIVE_INFINITY, lastClosed[feed.timeframe]!);
          feed.lastDataAt = this.clock.now();
          feed.stale = false;
          this.background(`${feed.key} (owned)`, (signal) => this.runFeed(feed, AbortSignal.any([signal, controller.signal])));
        }
      },
      stop: async (symbol) => {
        this.shardFeeds.get(symbol)?.abort();
        this.shardFeeds.delete(symbol);
        return this.lastClosedOf(symbol);
      },
    });
    this.shards = shards;
    this.background('sharding', async () => {
      try {
        await shards.start();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  private lastClosedOf(symbol: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const feed of this.feedList) if (feed.symbol === symbol && feed.kind === 'candles' && feed.lastClosed !== undefined) out[feed.timeframe] = feed.lastClosed;
    return out;
  }

  protected override shardStatus(): { instance: string; shard?: ShardReport } | undefined {
    return this.shards === undefined ? undefined : { instance: this.shards.instance, shard: this.shards.report() };
  }

  protected override async cleanup(): Promise<void> {
    await this.shards?.stop();
    this.shards = undefined;
    await this.saveResumePoints();
  }

  private onTick(feed: TickFeed, raw: Tick): void {
    const parsed = parseProviderTick(raw);
    if (!parsed.success || raw.symbol !== feed.symbol) {
      this.reject(feed, raw, parsed.success ? `expected ${feed.symbol}, got ${String(raw.symbol)}` : parsed.error.message);
      return;
    }
    const tick = parsed.data;
    this.onData(feed);
    // A reconnected trade stream may hand back trades it already delivered.
    if (tick.timestamp < feed.lastTickAt) return;
    if (tick.tradeId !== undefined) {
      if (feed.recentTradeIds.has(tick.tradeId)) return;
      feed.recentTradeIds.add(tick.tradeId);
      if (feed.recentTradeIds.size > RECENT_TRADE_IDS) feed.recentTradeIds.delete(feed.recentTradeIds.values().next().value!);
    }
    feed.lastTickAt = tick.timestamp;
    this.publish('price.tick', {
      symbol: feed.symbol,
      price: tick.price,
      bid: tick.bid,
      ask: tick.ask,
      volume: tick.volume,
      timestamp: tick.timestamp,
    });
  }

  private onData(feed: Feed): void {
    const now = this.clock.now();
    const silentForMs = now - feed.lastDataAt;
    feed.lastDataAt = now;
    let changed = false;
    if (feed.disconnected !== undefined) {
      feed.disconnected = undefined;
      changed = true;
      this.logger.info({ feed: feed.key }, 'feed reconnected');
      this.alert('info', 'FEED_RECONNECTED', `The ${feed.key} feed is delivering data again.`, { feed: feed.key });
    }
    if (feed.stale) {
      feed.stale = false;
      changed = true;
      this.alert('info', 'FEED_RECOVERED', `The ${feed.key} feed is no longer stale (silent for ${silentForMs} ms).`, {
        feed: feed.key,
        silentForMs,
      });
    }
    if (changed) this.updateHealth();
  }

  private onDisconnect(feed: Feed, err: unknown, attempt: number, delayMs: number): void {
    feed.reconnects++;
    const message = errorMessage(err);
    const permanent = err instanceof ProviderError && !err.retryable;
    this.logger.warn({ err: toError(err), feed: feed.key, attempt, delayMs }, 'feed stream failed, retrying');
    if (feed.disconnected === undefined) {
      this.alert(
        permanent ? 'error' : 'warning',
        'FEED_DISCONNECTED',
        permanent
          ? `The ${feed.key} feed failed in a way retrying will not fix (${message}). Check the symbol, timeframe and provider settings; retrying with backoff meanwhile.`
          : `The ${feed.key} feed failed (${message}); reconnecting with backoff.`,
        { feed: feed.key, attempt, retryInMs: delayMs, code: err instanceof TradebusError ? err.code : undefined },
      );
    }
    feed.disconnected = message;
    this.updateHealth();
  }

  private checkStale(): void {
    const now = this.clock.now();
    for (const feed of this.feedList) {
      // Another instance runs the feeds of the symbols this one does not own.
      if (this.shards !== undefined && !this.shards.owns(feed.symbol)) continue;
      const silentForMs = now - feed.lastDataAt;
      if (feed.stale || silentForMs < feed.staleAfterMs) continue;
      feed.stale = true;
      this.logger.warn({ feed: feed.key, silentForMs }, 'feed is stale');
      this.alert('warning', 'FEED_STALE', `No data on the ${feed.key} feed for ${silentForMs} ms (threshold ${feed.staleAfterMs} ms).`, {
        feed: feed.key,
        silentForMs,
        thresholdMs: feed.staleAfterMs,
      });
    }
    this.updateHealth();
  }

  private updateHealth(): void {
    const problems: string[] = [];
    for (const feed of this.feedList) {
      if (feed.disconnected !== undefined) problems.push(`${feed.key} disconnected (${feed.disconnected})`);
      else if (feed.stale) problems.push(`${feed.key} stale`);
    }
    if (problems.length > 0) this.degrade(problems.join('; '));
    else this.recover();
  }

  private reject(feed: Feed, raw: unknown, why: string): void {
    feed.rejected++;
    this.recordError(new Error(`invalid data on ${feed.key}: ${why}`));
    this.logger.warn({ feed: feed.key, why, raw }, 'provider sent invalid data; dropped');
    if (feed.rejected === 1) {
      this.alert('warning', 'FEED_BAD_DATA', `The ${feed.key} feed sent data that failed validation (${why}); such items are dropped.`, { feed: feed.key });
    }
  }
}

function toPayload(feed: CandleFeed, bar: z.output<typeof providerCandleSchema>) {
  return {
    symbol: feed.symbol,
    timeframe: feed.timeframe,
    timestamp: bar.timestamp,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
  };
}

/**
 * Hands every item of a stream to `handle`: pushed by the provider when it can (an in-process
 * source calls back as it plays, no await per item), else read from its async iterator. A promise
 * `handle` returns (a backfill) is waited for before the next item. Resolves when the stream ends.
 */
async function follow<T>(
  push: ((handle: (item: T) => void | Promise<void>) => Promise<void>) | undefined,
  watch: () => AsyncIterable<T>,
  handle: (item: T) => void | Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  if (push !== undefined) return push(handle);
  for await (const item of watch()) {
    if (signal.aborted) return;
    const pending = handle(item);
    if (pending !== undefined) await pending;
  }
}

function stateKey(feedKey: string): string {
  return `lastClosed:${feedKey}`;
}


