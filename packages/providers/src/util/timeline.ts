import { TradebusError, VirtualClock, silentLogger, type Clock, type Logger } from '@tradebus/core';
import type { Candle, DataGap, Market, MarketDataListener, OrderBookTop, Tick, Ticker } from '../types.js';
import { AsyncQueue, PushConsumer, type Consumer } from './async.js';
import { SymbolResolver, splitSymbol } from './symbols.js';
import { barOpenTime, timeframeToMs } from './timeframes.js';

/** One market data event at the moment it becomes known: a bar at its close time, a trade at its own time. */
export type TimelineRecord =
  | { kind: 'candle'; time: number; candle: Candle }
  | { kind: 'trade'; time: number; tick: Tick };

export interface TimelineOptions {
  id: string;
  clock: Clock;
  logger?: Logger | undefined;
  /** `max`: as fast as consumers keep up; a number: that many times real time (1 = real time, 60 = a minute per second). */
  speed?: number | 'max';
  /** Longest wall-clock pause between two records when pacing at a speed factor (data gaps, weekends). */
  maxPauseMs?: number;
  /** Wall-clock sleep used for pacing; replaceable for tests. */
  wallSleep?: (ms: number) => Promise<void>;
  /** Wall-clock time source used for pacing; replaceable for tests. */
  wallNow?: () => number;
  /** Called as a moment starts: the clock is at its time, none of its records has gone out yet. */
  onMoment?: (time: number) => void;
  /**
   * Bars (and trades) kept per series for history queries; the oldest go first. Unlimited by
   * default: a replay holds its whole data set anyway. A market without an end sets one.
   */
  historyLimit?: number;
}

export interface TimelineSummary {
  records: number;
  candles: number;
  ticks: number;
  gaps: DataGap[];
  firstTime: number | undefined;
  lastTime: number | undefined;
  /** True when the run was stopped before the data ended. */
  stopped: boolean;
}

interface CandleWatchers {
  timeframe: string;
  builder: BarBuilder | undefined;
  queues: Set<Consumer<Candle>>;
}

interface CandleSeries {
  timeframe: string;
  timeframeMs: number;
  bars: Candle[];
}

/** Builds bars of one timeframe from finer pieces (trades or smaller bars). */
class BarBuilder {
  private forming: Candle | undefined;
  /** The first bar, when its first bar piece started after the bar's open: part of it lies before the data. */
  private partial = false;
  private first = true;
  constructor(
    readonly symbol: string,
    readonly timeframe: string,
    readonly timeframeMs: number,
  ) {}

  /** End time of the forming bar, when one is open. */
  get formingEnd(): number | undefined {
    return this.forming === undefined ? undefined : this.forming.timestamp + this.timeframeMs;
  }

  /** Adds a piece that starts at `start` and ends at `end`; returns bars completed by it. */
  add(start: number, end: number, open: number, high: number, low: number, close: number, volume: number): Candle[] {
    const out: Candle[] = [];
    const bucket = barOpenTime(start, this.timeframeMs);
    if (this.forming !== undefined && this.forming.timestamp !== bucket) out.push(...this.close());
    if (this.forming === undefined) {
      this.partial = this.first && end > start && start > bucket;
      this.first = false;
      this.forming = { symbol: this.symbol, timeframe: this.timeframe, timestamp: bucket, open, high, low, close, volume, closed: false };
    } else {
      const f = this.forming;
      f.high = Math.max(f.high, high);
      f.low = Math.min(f.low, low);
      f.close = close;
      f.volume += volume;
    }
    if (end >= bucket + this.timeframeMs) out.push(...this.close());
    return out;
  }

  peek(): Candle | undefined {
    return this.forming === undefined || this.partial ? undefined : { ...this.forming };
  }

  close(): Candle[] {
    const f = this.forming;
    this.forming = undefined;
    if (this.partial) {
      this.partial = false;
      return [];
    }
    return f === undefined ? [] : [{ ...f, closed: true }];
  }
}

/**
 * The engine behind the replay and synthetic providers: keeps what has happened so far (for
 * `fetchOHLCV`, tickers, warm-up), drives a virtual clock record by record, and hands each record
 * first to synchronous listeners (a paper exchange), then to `watch*` consumers. The next record
 * goes out only once every consumer asked for more, so a backtest is deterministic and no consumer
 * falls behind the clock.
 */
export class MarketTimeline {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly candles = new Map<string, CandleSeries[]>();
  private readonly trades = new Map<string, Tick[]>();
  private readonly symbols: string[] = [];
  private readonly declared = new Map<string, Array<{ timeframe: string; timeframeMs: number }>>();
  private resolver: SymbolResolver | undefined;
  private readonly listeners = new Set<MarketDataListener>();
  private readonly tickWatchers = new Map<string, Set<Consumer<Tick>>>();
  private readonly candleWatchers = new Map<string, CandleWatchers>();
  private readonly watchersBySymbol = new Map<string, CandleWatchers[]>();
  /** The records of the moment being played (reused: no array per moment). */
  private readonly moment: TimelineRecord[] = [];
  /** Watched timeframes that are built from finer data rather than read from it. */
  private builders = 0;
  private readonly stepListeners: MarketDataListener[] = [];
  /** Listeners with a candle method, as an array: called for every bar. */
  private readonly candleListeners: MarketDataListener[] = [];
  /** Consumers handed something in the moment being played. */
  private stepQueues: Array<Consumer<unknown>> = [];
  private readonly gapList: DataGap[] = [];
  private stopRequested = false;
  private paused: { promise: Promise<void>; resume: () => void } | undefined;
  private lastTime: number | undefined;
  private finished = false;

  constructor(private readonly options: TimelineOptions) {
    this.clock = options.clock;
    this.logger = (options.logger ?? silentLogger()).child({ provider: options.id });
  }

  // ---------------------------------------------------------------- data

  /** Declares a symbol and, for bar data, the timeframe its data comes in. */
  /** Every symbol registered so far. */
  get registeredSymbols(): readonly string[] {
    return this.symbols;
  }

  registerSymbol(symbol: string, timeframe?: string): void {
    if (timeframe !== undefined) {
      let list = this.declared.get(symbol);
      if (list === undefined) this.declared.set(symbol, (list = []));
      if (!list.some((x) => x.timeframe === timeframe)) list.push({ timeframe, timeframeMs: timeframeToMs(timeframe) });
      list.sort((a, b) => a.timeframeMs - b.timeframeMs);
    }
    if (this.symbols.includes(symbol)) return;
    this.symbols.push(symbol);
    this.resolver = undefined;
  }

  resolve(input: string): string {
    this.resolver ??= new SymbolResolver(this.symbols, this.options.id);
    return this.resolver.resolve(input);
  }

  markets(): Market[] {
    return this.symbols.map((symbol) => {
      const { base, quote, settle } = splitSymbol(symbol);
      return {
        symbol,
        base,
        quote,
        settle: settle ?? quote,
        type: settle === undefined ? 'spot' : 'swap',
        linear: settle === undefined ? undefined : settle === quote,
        contractSize: 1,
        active: true,
        precision: {},
        limits: { amount: {}, price: {}, cost: {} },
      };
    });
  }

  /** Records something that has already happened (history before the replay position). */
  addHistory(record: TimelineRecord): void {
    if (record.kind === 'candle') this.appendCandle(record.candle);
    else this.appendTrade(record.tick);
  }

  reportGap(gap: DataGap): void {
    this.gapList.push(gap);
    this.logger.warn(gap, 'missing bars in the data: reported, not filled in');
    for (const l of this.listeners) l.gap?.(gap);
  }

  gaps(): DataGap[] {
    return [...this.gapList];
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // ---------------------------------------------------------------- consumers

  addListener(listener: MarketDataListener): () => void {
    this.listeners.add(listener);
    if (listener.step !== undefined) this.stepListeners.push(listener);
    if (listener.candle !== undefined) this.candleListeners.push(listener);
    return () => {
      this.listeners.delete(listener);
      for (const list of [this.stepListeners, this.candleListeners]) {
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      }
    };
  }

  watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    const queue = new AsyncQueue<Tick>(signal);
    this.addTickConsumer(symbol, queue, signal);
    return queue;
  }

  /** `watchTicks`, pushed: see MarketDataProvider.pushTicks. */
  pushTicks(symbol: string, onTick: (tick: Tick) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    const consumer = new PushConsumer<Tick>(onTick, signal);
    return untilEnded(consumer, this.addTickConsumer(symbol, consumer, signal));
  }

  watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    const queue = new AsyncQueue<Candle>(signal);
    this.addCandleConsumer(symbol, timeframe, queue, signal);
    return queue;
  }

  /** `watchCandles`, pushed: see MarketDataProvider.pushCandles. */
  pushCandles(symbol: string, timeframe: string, onCandle: (candle: Candle) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    const consumer = new PushConsumer<Candle>(onCandle, signal);
    return untilEnded(consumer, this.addCandleConsumer(symbol, timeframe, consumer, signal));
  }

  private addTickConsumer(symbol: string, consumer: Consumer<Tick>, signal: AbortSignal): Set<Consumer<Tick>> {
    const s = this.resolve(symbol);
    if (this.finished) consumer.close();
    let set = this.tickWatchers.get(s);
    if (set === undefined) this.tickWatchers.set(s, (set = new Set()));
    set.add(consumer);
    signal.addEventListener('abort', () => set.delete(consumer), { once: true });
    return set;
  }

  private addCandleConsumer(symbol: string, timeframe: string, consumer: Consumer<Candle>, signal: AbortSignal): Set<Consumer<Candle>> {
    const s = this.resolve(symbol);
    const tfMs = timeframeToMs(timeframe);
    const key = `${s}|${timeframe}`;
    let entry = this.candleWatchers.get(key);
    if (entry === undefined) {
      const native = this.isNative(s, timeframe);
      if (!native) this.assertDerivable(s, timeframe, tfMs);
      entry = { timeframe, builder: native ? undefined : new BarBuilder(s, timeframe, tfMs), queues: new Set() };
      this.candleWatchers.set(key, entry);
      let list = this.watchersBySymbol.get(s);
      if (list === undefined) this.watchersBySymbol.set(s, (list = []));
      list.push(entry);
      if (entry.builder !== undefined) this.builders++;
    }
    if (this.finished) consumer.close();
    entry.queues.add(consumer);
    const queues = entry.queues;
    signal.addEventListener('abort', () => queues.delete(consumer), { once: true });
    return queues;
  }

  // ---------------------------------------------------------------- driving

  /** Holds the replay before its next moment (the records of the current one all go out). */
  pause(): void {
    if (this.paused !== undefined) return;
    let resume!: () => void;
    const promise = new Promise<void>((r) => (resume = r));
    this.paused = { promise, resume };
  }

  resume(): void {
    const p = this.paused;
    this.paused = undefined;
    p?.resume();
  }

  stop(): void {
    this.stopRequested = true;
    this.resume();
  }

  /**
   * Plays `records` (ascending by time) to the end, or until `stop()`. Consumers' streams end afterwards.
   *
   * Records are played one moment at a time: every record of one timestamp goes out (listeners
   * first, then `watch*` consumers), then the replay waits until each consumer has taken what it
   * was given and every `step` listener has settled, and only then moves the clock on. Waiting
   * once per moment rather than once per record keeps a many-symbol replay fast without letting
   * any consumer see the next moment before it finished with this one.
   */
  async run(records: AsyncIterable<TimelineRecord> | Iterable<TimelineRecord>): Promise<TimelineSummary> {
    const summary: TimelineSummary = { records: 0, candles: 0, ticks: 0, gaps: [], firstTime: undefined, lastTime: undefined, stopped: false };
    const speed = this.options.speed ?? 'max';
    const wallSleep = this.options.wallSleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const wallNow = this.options.wallNow ?? (() => performance.now());
    const maxPause = this.options.maxPauseMs ?? 2_000;
    let wallAnchor: number | undefined;
    let simAnchor = 0;
    const sync = Symbol.iterator in records ? (records as Iterable<TimelineRecord>)[Symbol.iterator]() : undefined;
    const async = sync === undefined ? (records as AsyncIterable<TimelineRecord>)[Symbol.asyncIterator]() : undefined;
    // A plain iterable (the replay's own) is read without an await per record.
    const pullAsync = async (): Promise<TimelineRecord | undefined> => {
      const r = await async!.next();
      return r.done === true ? undefined : r.value;
    };
    try {
      let record = sync !== undefined ? pullSync(sync) : await pullAsync();
      while (record !== undefined) {
        if (this.stopRequested) {
          summary.stopped = true;
          break;
        }
        if (this.paused) await this.paused.promise;
        if (this.stopRequested) {
          summary.stopped = true;
          break;
        }
        const time = record.time;
        if (typeof speed === 'number') {
          if (wallAnchor === undefined) {
            wallAnchor = wallNow();
            simAnchor = time;
          }
          let wait = wallAnchor + (time - simAnchor) / speed - wallNow();
          if (wait > maxPause) {
            // Long pauses in the data are shortened: shift the anchor so pacing resumes from here.
            wallAnchor -= wait - maxPause;
            wait = maxPause;
          }
          if (wait > 0) await wallSleep(wait);
        }
        if (this.builders > 0) await this.closeBuiltBarsUntil(time);
        const moving = this.moveClockTo(time);
        if (moving !== undefined) await moving;
        // Stopped while waiting for a wall clock to get there: the moment never came.
        if (this.stopRequested) {
          summary.stopped = true;
          break;
        }
        this.options.onMoment?.(time);
        summary.firstTime ??= time;
        summary.lastTime = time;
        // Every record of this moment goes to the listeners (a paper venue first of all), then,
        // once they are done with them, to the consumers; only then is anyone waited for.
        const moment = this.moment;
        moment.length = 0;
        do {
          summary.records++;
          if (record.kind === 'candle') summary.candles++;
          else summary.ticks++;
          moment.push(record);
          this.toListeners(record);
          record = sync !== undefined ? pullSync(sync) : await pullAsync();
        } while (record !== undefined && record.time === time && !this.stopRequested);
        for (const l of this.listeners) if (l.isIdle !== undefined && !l.isIdle()) await l.whenIdle?.();
        for (let i = 0; i < moment.length; i++) this.toConsumers(moment[i]!);
        await this.settle(time);
      }
      if (record !== undefined && this.stopRequested) summary.stopped = true;
    } finally {
      this.finished = true;
      for (const set of this.tickWatchers.values()) for (const q of set) q.close();
      for (const entry of this.candleWatchers.values()) for (const q of entry.queues) q.close();
    }
    summary.gaps = this.gaps();
    return summary;
  }

  /**
   * Waits until the moment just played has been taken in: every consumer that was handed
   * something asked for more, then every `step` listener settled, or, without step listeners,
   * one event-loop turn (every microtask the records set off has run).
   */
  private async settle(time: number): Promise<void> {
    const queues = this.stepQueues;
    if (queues.length > 0) {
      this.stepQueues = [];
      for (const q of queues) if (!q.isDrained) await q.drained();
    }
    if (this.stepListeners.length === 0) {
      // Nobody can say when the reactions are over: give them one whole turn of the event loop.
      await new Promise<void>((r) => setImmediate(r));
      return;
    }
    // A step listener decides how long to wait (a backtest: until every agent is idle).
    for (const l of this.stepListeners) {
      const waiting = l.step!(time);
      if (waiting !== undefined) await waiting;
    }
  }

  /** Moves a virtual clock at once; waits for a wall clock to get there. */
  private moveClockTo(time: number): Promise<void> | undefined {
    if (this.clock instanceof VirtualClock) {
      this.clock.advanceTo(time);
      return undefined;
    }
    const wait = time - this.clock.now();
    return wait > 0 ? this.clock.sleep(wait) : undefined;
  }


  /** Bars built from finer data close at their end time, before anything later is emitted. */
  private async closeBuiltBarsUntil(time: number): Promise<void> {
    for (;;) {
      let next: { end: number; key: string; builder: BarBuilder } | undefined;
      for (const [key, entry] of this.candleWatchers) {
        const end = entry.builder?.formingEnd;
        // A record at exactly the bar's end may still complete it (the bar's last piece): strictly before.
        if (end === undefined || end >= time) continue;
        if (next === undefined || end < next.end || (end === next.end && key < next.key)) next = { end, key, builder: entry.builder! };
      }
      if (next === undefined) return;
      await this.moveClockTo(next.end);
      const queues = this.candleWatchers.get(next.key)!.queues;
      for (const bar of next.builder.close()) await this.deliver(queues, bar);
    }
  }

  /** A record to the listeners (history first: a listener may ask for it). */
  private toListeners(record: TimelineRecord): void {
    if (record.kind === 'candle') {
      const c = record.candle;
      this.appendCandle(c);
      const listeners = this.candleListeners;
      for (let i = 0; i < listeners.length; i++) listeners[i]!.candle!(c);
    } else {
      const t = record.tick;
      this.appendTrade(t);
      for (const l of this.listeners) l.tick?.(t);
    }
  }

  /** A record to the consumers (`watch*`, `push*`). */
  private toConsumers(record: TimelineRecord): void {
    if (record.kind === 'candle') {
      const c = record.candle;
      const ticks = this.tickWatchers.get(c.symbol);
      if (ticks !== undefined && ticks.size > 0) {
        const tick: Tick = { symbol: c.symbol, price: c.close, volume: c.volume, timestamp: record.time };
        for (const q of ticks) this.push(q, tick);
      }
      this.pushCandle(c.symbol, c.timestamp, record.time, c, c.timeframe);
    } else {
      const t = record.tick;
      for (const q of this.tickWatchers.get(t.symbol) ?? []) this.push(q, t);
      this.pushCandle(t.symbol, t.timestamp, t.timestamp, { open: t.price, high: t.price, low: t.price, close: t.price, volume: t.volume ?? 0 }, undefined);
    }
  }


  private push<T>(queue: Consumer<T>, item: T): void {
    queue.push(item);
    if (!queue.isDrained) this.stepQueues.push(queue as Consumer<unknown>);
  }

  private pushCandle(
    symbol: string,
    start: number,
    end: number,
    piece: { open: number; high: number; low: number; close: number; volume: number },
    nativeTimeframe: string | undefined,
  ): void {
    const entries = this.watchersBySymbol.get(symbol);
    if (entries === undefined) return;
    for (const entry of entries) {
      if (entry.builder === undefined) {
        if (entry.timeframe === nativeTimeframe) for (const q of entry.queues) this.push(q, piece as Candle);
        continue;
      }
      // Derived bars come from the finest native source only, so nothing is counted twice.
      if (nativeTimeframe !== undefined && nativeTimeframe !== this.finestTimeframe(symbol)) continue;
      if (nativeTimeframe === undefined && this.finestTimeframe(symbol) !== undefined) continue;
      for (const bar of entry.builder.add(start, end, piece.open, piece.high, piece.low, piece.close, piece.volume)) {
        for (const q of entry.queues) this.push(q, bar);
      }
    }
  }

  private async deliver(queues: Set<Consumer<Candle>>, bar: Candle): Promise<void> {
    for (const q of queues) q.push(bar);
    await Promise.all([...queues].map((q) => q.drained()));
  }

  // ---------------------------------------------------------------- history queries

  /** Bars that have closed by now, ascending; built from finer data when the timeframe is not in the data. */
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Candle[] {
    const s = this.resolve(symbol);
    const tfMs = timeframeToMs(timeframe);
    const now = this.clock.now();
    let bars: Candle[];
    const native = this.series(s, timeframe);
    if (native !== undefined) {
      bars = native.bars.filter((b) => b.timestamp + tfMs <= now);
    } else {
      this.assertDerivable(s, timeframe, tfMs);
      const builder = new BarBuilder(s, timeframe, tfMs);
      bars = [];
      const finest = this.finestSeries(s);
      if (finest !== undefined) {
        for (const b of finest.bars) {
          if (b.timestamp + finest.timeframeMs > now) break;
          bars.push(...builder.add(b.timestamp, b.timestamp + finest.timeframeMs, b.open, b.high, b.low, b.close, b.volume));
        }
      } else {
        for (const t of this.trades.get(s) ?? []) {
          if (t.timestamp > now) break;
          bars.push(...builder.add(t.timestamp, t.timestamp, t.price, t.price, t.price, t.price, t.volume ?? 0));
        }
      }
      const forming = builder.peek();
      if (forming !== undefined) bars.push(forming);
    }
    if (since !== undefined) {
      bars = bars.filter((b) => b.timestamp >= since);
      return limit === undefined ? bars : bars.slice(0, limit);
    }
    return limit === undefined ? bars : bars.slice(-limit);
  }

  fetchTicker(symbol: string): Ticker {
    const s = this.resolve(symbol);
    const now = this.clock.now();
    const points = this.pricePoints(s, now);
    const last = points.at(-1);
    if (last === undefined) throw new NoDataYetError(this.options.id, s);
    const dayAgo = now - 86_400_000;
    let quoteVolume = 0;
    let baseVolume = 0;
    let high = Number.NEGATIVE_INFINITY;
    let low = Number.POSITIVE_INFINITY;
    let open: number | undefined;
    for (const p of points) {
      if (p.time <= dayAgo) continue;
      open ??= p.open;
      quoteVolume += p.volume * p.price;
      baseVolume += p.volume;
      high = Math.max(high, p.high);
      low = Math.min(low, p.low);
    }
    return {
      symbol: s,
      timestamp: last.time,
      last: last.price,
      bid: last.price,
      ask: last.price,
      high24h: Number.isFinite(high) ? high : undefined,
      low24h: Number.isFinite(low) ? low : undefined,
      baseVolume24h: baseVolume,
      quoteVolume24h: quoteVolume,
      change24hPct: open !== undefined && open > 0 ? ((last.price - open) / open) * 100 : undefined,
    };
  }

  /** Recorded data has no order book: bid and ask are the last price. */
  fetchOrderBookTop(symbol: string): OrderBookTop {
    const t = this.fetchTicker(symbol);
    return { symbol: t.symbol, timestamp: t.timestamp, bid: t.last, ask: t.last };
  }

  private pricePoints(symbol: string, now: number): Array<{ time: number; price: number; open: number; high: number; low: number; volume: number }> {
    const finest = this.finestSeries(symbol);
    if (finest !== undefined) {
      return finest.bars
        .filter((b) => b.timestamp + finest.timeframeMs <= now)
        .map((b) => ({ time: b.timestamp + finest.timeframeMs, price: b.close, open: b.open, high: b.high, low: b.low, volume: b.volume }));
    }
    return (this.trades.get(symbol) ?? [])
      .filter((t) => t.timestamp <= now)
      .map((t) => ({ time: t.timestamp, price: t.price, open: t.price, high: t.price, low: t.price, volume: t.volume ?? 0 }));
  }

  private appendCandle(c: Candle): void {
    let list = this.candles.get(c.symbol);
    if (list === undefined) this.candles.set(c.symbol, (list = []));
    let series: CandleSeries | undefined;
    // Runs for every bar played: a loop over the (one or two) timeframes, no closure.
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.timeframe === c.timeframe) {
        series = list[i];
        break;
      }
    }
    if (series === undefined) {
      series = { timeframe: c.timeframe, timeframeMs: timeframeToMs(c.timeframe), bars: [] };
      list.push(series);
      list.sort((a, b) => a.timeframeMs - b.timeframeMs);
    }
    series.bars.push(c);
    trimHistory(series.bars, this.options.historyLimit);
  }

  private appendTrade(t: Tick): void {
    let list = this.trades.get(t.symbol);
    if (list === undefined) this.trades.set(t.symbol, (list = []));
    list.push(t);
    trimHistory(list, this.options.historyLimit);
  }

  private series(symbol: string, timeframe: string): CandleSeries | undefined {
    return this.candles.get(symbol)?.find((x) => x.timeframe === timeframe);
  }

  private finestSeries(symbol: string): CandleSeries | undefined {
    return this.candles.get(symbol)?.[0];
  }

  private finestTimeframe(symbol: string): string | undefined {
    return this.declared.get(symbol)?.[0]?.timeframe ?? this.finestSeries(symbol)?.timeframe;
  }

  private isNative(symbol: string, timeframe: string): boolean {
    return this.declared.get(symbol)?.some((x) => x.timeframe === timeframe) === true || this.series(symbol, timeframe) !== undefined;
  }

  private assertDerivable(symbol: string, timeframe: string, tfMs: number): void {
    const finest = this.declared.get(symbol)?.[0] ?? this.finestSeries(symbol);
    if (finest === undefined || tfMs % finest.timeframeMs === 0) return;
    throw new UnsupportedTimeframeError(this.options.id, symbol, timeframe, finest.timeframe);
  }
}

export class UnsupportedTimeframeError extends TradebusError {
  constructor(provider: string, symbol: string, timeframe: string, dataTimeframe: string | undefined) {
    super(
      'PROVIDER_TIMEFRAME_UNAVAILABLE',
      `${provider}: ${symbol} has ${dataTimeframe ?? 'no'} bars in its data, which cannot make ${timeframe} bars. Ask for ${dataTimeframe ?? 'the data timeframe'} or a multiple of it.`,
      { details: { provider, symbol, timeframe, dataTimeframe } },
    );
  }
}

export class NoDataYetError extends TradebusError {
  constructor(provider: string, symbol: string) {
    super('PROVIDER_NO_DATA_YET', `${provider}: no ${symbol} data has been played yet. Start the replay (or give it a warm-up) before asking for prices.`, {
      details: { provider, symbol },
    });
  }
}

function pullSync(iterator: Iterator<TimelineRecord>): TimelineRecord | undefined {
  const r = iterator.next();
  return r.done === true ? undefined : r.value;
}

/** A pushed stream leaves its consumer set when it ends (a failed listener included); resolves then. */
function untilEnded<T>(consumer: PushConsumer<T>, set: Set<Consumer<T>>): Promise<void> {
  const remove = (): void => void set.delete(consumer);
  consumer.ended.then(remove, remove);
  return consumer.ended;
}

/** Drops the oldest items beyond `limit`, a chunk at a time so that trimming stays cheap per item. */
function trimHistory(list: unknown[], limit: number | undefined): void {
  if (limit === undefined || list.length <= limit + Math.max(64, limit >> 4)) return;
  list.splice(0, list.length - limit);
}
