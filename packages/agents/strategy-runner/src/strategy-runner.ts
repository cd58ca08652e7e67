import { z } from 'zod';
import { BaseAgent, candleSchema, errorMessage, fastSafeParse, toError, type AgentContext, type BuiltinEvents, type CandleEvent, type Envelope, type ShardReport, type TimerHandle, refuseColdChanges } from '@tradebus/core';
import { createIndicator, type CandleIndicator } from '@tradebus/indicators';
import type { MarketDataProvider } from '@tradebus/providers';
import { barCloseTime, createStrategies, type Signal, type Strategy, type StrategyCandle, type StrategyRegistry } from '@tradebus/strategies';
import type { StrategyRunnerConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { canonicalSymbol, resolveMarketData, resolveSymbols } from '@tradebus/providers';
import { sleepUnlessAborted } from '@tradebus/core';
import { RunnerShards } from './sharding.js';

const HISTORY_MARGIN = 10;

/** Every bar is checked before it touches a strategy's state; valid ones skip zod's slow path. */
const parseCandle = fastSafeParse(candleSchema);

/** Store key of the side each strategy last entered per symbol (following the universe only). */
const LAST_ENTRIES_KEY = 'universe:last-entries';
const lastEntriesSchema = z.record(z.string(), z.enum(['long', 'short']));

interface Buffered {
  candle: StrategyCandle;
  envelope: Envelope | undefined;
}

interface Series {
  key: string;
  symbol: string;
  timeframe: string;
  strategies: Strategy[];
  indicators: Array<{ name: string; indicator: CandleIndicator }>;
  /** False until warm-up is done; live bars wait in `buffer` meanwhile. */
  ready: boolean;
  buffer: Buffered[];
  /** Open time of the newest closed bar consumed (history or live). */
  lastBar: number | undefined;
  /** Open time of the newest bar warm-up consumed: signals start after it. */
  warmedUpTo: number | undefined;
  historyBars: number;
  liveBars: number;
  signals: number;
  /** Entry signals not published because the symbol was outside the tradable universe. */
  heldBack: number;
  lastIndicatorsAt: number;
  indicatorTimer: TimerHandle | undefined;
  latestBar: StrategyCandle | undefined;
  /**
   * The last closed bars consumed (history, then live), as many as warm-up fetches: what a
   * strategy or indicator rebuilt by a live change is warmed on, so it starts where a fresh
   * start on the same bars would be.
   */
  recent: StrategyCandle[];
  /** Sharding: whether this instance owns the symbol, and the bars kept while it does not (see RunnerShards). */
  owned: boolean;
  silentUpTo: number | undefined;
  kept: Buffered[];
  keptDropped: number;
}

/** What `series()` reports for one symbol and timeframe. */
export interface SeriesReport {
  key: string;
  symbol: string;
  timeframe: string;
  ready: boolean;
  historyBars: number;
  liveBars: number;
  signals: number;
  /** Entry signals not published because the symbol was outside the tradable universe. */
  heldBack: number;
  lastBar: number | undefined;
  warmedUpTo: number | undefined;
  strategies: string[];
}

/**
 * Runs strategies on closed candles from the bus. Per symbol and timeframe it keeps streaming
 * indicators and the configured strategies, warms them up from the provider's history before
 * anything is published (live bars arriving meanwhile wait, then go through in order), and
 * publishes `signal.generated` exactly as the strategies produce them, plus `indicator.updated`
 * at the configured rate.
 */
export class StrategyRunnerAgent extends BaseAgent<StrategyRunnerConfig> {
  private provider!: MarketDataProvider;
  private readonly seriesList: Series[] = [];
  /** The same series by symbol, then timeframe: looked up on every bar without building a key string. */
  private readonly seriesBySymbol = new Map<string, Map<string, Series>>();
  private readonly failingStrategies = new Set<string>();
  /** Canonical symbols of the latest followed market.snapshot's universe; undefined before the first. */
  private tradable: Set<string> | undefined;
  /** This runner's symbols outside the universe: each is logged when it leaves, not on every signal. */
  private readonly outside = new Set<string>();
  /**
   * Side of the last entry each strategy published per symbol (`strategyId|symbol`). While the
   * symbol is outside the universe, a signal against it is that position's exit: the manager
   * would close on it (exitOnOppositeSignal), so it goes out as a flat signal, not held back.
   */
  private readonly lastEntries = new Map<string, 'long' | 'short'>();
  private saving: Promise<void> = Promise.resolve();
  private shards: RunnerShards<StrategyCandle> | undefined;

  constructor(
    context: AgentContext<StrategyRunnerConfig>,
    private readonly registry?: StrategyRegistry,
  ) {
    super(context);
  }

  series(): SeriesReport[] {
    return this.seriesList.map((s) => ({
      key: s.key,
      symbol: s.symbol,
      timeframe: s.timeframe,
      ready: s.ready,
      historyBars: s.historyBars,
      liveBars: s.liveBars,
      signals: s.signals,
      heldBack: s.heldBack,
      lastBar: s.lastBar,
      warmedUpTo: s.warmedUpTo,
      strategies: s.strategies.map((x) => x.id),
    }));
  }

  protected override async cleanup(): Promise<void> {
    // Sharded: the symbols are handed over with their checkpoints before the runner goes.
    await this.shards?.stop();
    this.shards = undefined;
    await this.saving;
  }

  protected override shardStatus(): { instance: string; shard?: ShardReport } | undefined {
    return this.shards === undefined ? undefined : { instance: this.shards.instance, shard: this.shards.report() };
  }

  protected override async initialize(): Promise<void> {
    this.provider = resolveMarketData(this.services, this.config.provider);
    const symbols = await resolveSymbols(this.provider, this.config.symbols, (err) =>
      this.logger.warn({ err: toError(err) }, 'market list unavailable; using the configured symbols in canonical form'),
    );
    this.seriesList.length = 0;
    this.seriesBySymbol.clear();
    this.failingStrategies.clear();
    this.tradable = undefined;
    this.outside.clear();
    this.lastEntries.clear();
    if (this.config.universe.follow) await this.loadLastEntries();
    // Fresh strategy instances on every start: their state is rebuilt from history, never half-kept.
    const options = this.registry === undefined ? { path: 'strategies' } : { path: 'strategies', registry: this.registry };
    const strategies = createStrategies(this.config.strategies, options);
    const timeframes = [...new Set(this.config.timeframes)];
    for (const symbol of symbols) {
      for (const timeframe of timeframes) {
        const key = `${symbol}|${timeframe}`;
        const series: Series = {
          key,
          symbol,
          timeframe,
          strategies: strategies.filter((s) => s.timeframe === timeframe || (s.timeframe === undefined && timeframes.length === 1)),
          indicators: Object.entries(this.config.indicators).map(([name, spec]) => ({ name, indicator: createIndicator(spec, { path: `indicators.${name}` }) })),
          ready: false,
          buffer: [],
          lastBar: undefined,
          warmedUpTo: undefined,
          historyBars: 0,
          liveBars: 0,
          signals: 0,
          heldBack: 0,
          lastIndicatorsAt: Number.NEGATIVE_INFINITY,
          indicatorTimer: undefined,
          latestBar: undefined,
          recent: [],
          owned: true,
          silentUpTo: undefined,
          kept: [],
          keptDropped: 0,
        };
        this.seriesList.push(series);
        let byTimeframe = this.seriesBySymbol.get(symbol);
        if (byTimeframe === undefined) this.seriesBySymbol.set(symbol, (byTimeframe = new Map()));
        byTimeframe.set(timeframe, series);
      }
    }
  }

  protected run(): void {
    // Subscribe before fetching history, so no bar can fall between the two.
    if (this.config.sharding === undefined) this.subscribe('candle.closed', (envelope) => this.onClosed(envelope.payload, envelope));
    else this.startSharding(this.config.sharding);
    if (this.config.formingSignals) this.subscribe('candle.updated', (envelope) => this.onForming(envelope.payload, envelope));
    if (this.config.ticks) this.subscribe('price.tick', (envelope) => this.onTick(envelope.payload, envelope));
    if (this.config.universe.follow) this.subscribe('market.snapshot', (envelope) => this.onSnapshot(envelope.payload));
    for (const series of this.seriesList) {
      this.background(`warmup ${series.key}`, (signal) => this.warmUp(series, signal));
    }
  }

  /** Several runner processes share the symbols: candles come from the stream, owned symbols are processed. */
  private startSharding(config: NonNullable<StrategyRunnerConfig['sharding']>): void {
    const shards = new RunnerShards<StrategyCandle>({
      config,
      agentId: this.id,
      transport: this.bus.transport,
      series: this.seriesList,
      logger: this.logger,
      onCandle: (payload, envelope) => this.onClosed(payload as CandleEvent, envelope),
      consume: (series, candle, envelope) => this.consume(series as Series, candle, envelope),
      alert: (code, message, details) => this.alert('warning', code, message, details),
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

  private onClosed(payload: CandleEvent, envelope: Envelope | undefined): void {
    const series = this.seriesBySymbol.get(payload.symbol)?.get(payload.timeframe);
    if (series === undefined) return;
    const candle = this.checkCandle(payload, series);
    if (candle === undefined) return;
    if (!series.ready) {
      series.buffer.push({ candle, envelope });
      return;
    }
    this.consume(series, candle, envelope);
  }

  private consume(series: Series, candle: StrategyCandle, envelope: Envelope | undefined): void {
    if (this.shards?.keep(series, candle, envelope)) return;
    // The runner's own indicators need the same guard the strategies have: a repeated bar would
    // be counted twice.
    if (series.lastBar !== undefined && candle.timestamp <= series.lastBar) return;
    series.lastBar = candle.timestamp;
    series.liveBars++;
    this.remember(series, candle);
    for (const { indicator } of series.indicators) indicator.update(candle);
    // A symbol taken over from another runner: bars it already processed only bring the state up.
    const silent = series.silentUpTo !== undefined && candle.timestamp <= series.silentUpTo;
    for (const strategy of series.strategies) {
      if (silent) this.publishSignals(strategy, () => (strategy.onCandle(candle), []), envelope, series);
      else this.publishSignals(strategy, () => strategy.onCandle(candle), envelope, series);
    }
    series.latestBar = candle;
    if (!silent) this.publishIndicators(series);
    void this.shards?.processed(series.symbol);
  }

  private onForming(payload: CandleEvent, envelope: Envelope): void {
    const series = this.seriesBySymbol.get(payload.symbol)?.get(payload.timeframe);
    if (series === undefined || !series.ready || !series.owned) return;
    const candle = this.checkCandle(payload, series);
    if (candle === undefined) return;
    const asOf = this.clock.now();
    for (const strategy of series.strategies) {
      this.publishSignals(strategy, () => strategy.onCandleUpdate(candle, asOf), envelope, series);
    }
  }

  private onTick(tick: BuiltinEvents['price.tick'], envelope: Envelope): void {
    if (!Number.isFinite(tick.price) || !Number.isFinite(tick.timestamp)) return;
    for (const series of this.seriesList) {
      if (series.symbol !== tick.symbol || !series.ready || !series.owned) continue;
      for (const strategy of series.strategies) this.publishSignals(strategy, () => strategy.onTick(tick), envelope, series);
    }
  }

  /** Runs one strategy step; a strategy that throws is reported and skipped, the others go on. */
  private publishSignals(strategy: Strategy, step: () => Signal[], envelope: Envelope | undefined, series: Series): void {
    let signals: Signal[];
    try {
      signals = step();
    } catch (err) {
      this.recordError(err);
      this.logger.error({ err: toError(err), strategy: strategy.id, series: series.key }, 'strategy failed on a bar; no signal from it');
      if (!this.failingStrategies.has(strategy.id)) {
        this.failingStrategies.add(strategy.id);
        this.alert('error', 'STRATEGY_FAILED', `Strategy '${strategy.id}' threw on ${series.key}: ${errorMessage(err)}. Its signals for that bar are skipped.`, {
          strategyId: strategy.id,
          symbol: series.symbol,
          timeframe: series.timeframe,
        });
      }
      return;
    }
    for (const raw of signals) {
      const signal = this.throughUniverse(raw, series);
      if (signal === undefined) {
        series.heldBack++;
        continue;
      }
      this.publish('signal.generated', signal, envelope === undefined ? undefined : { cause: envelope });
      series.signals++;
    }
  }

  /**
   * The signal as it may go out under the tradable universe, or undefined when it is held back.
   * Only entries are held back: indicators and strategies keep running on every bar, so a symbol
   * that comes back is warm, and exits always go out.
   */
  private throughUniverse(signal: Signal, series: Series): Signal | undefined {
    if (!this.config.universe.follow) return signal;
    const key = `${signal.strategyId}|${series.symbol}`;
    if (this.tradable === undefined || signal.side === 'flat' || this.tradable.has(canonicalSymbol(series.symbol))) {
      this.noteEntry(key, signal.side);
      return signal;
    }
    const entered = this.lastEntries.get(key);
    if (entered === undefined || entered === signal.side) return undefined;
    this.noteEntry(key, 'flat');
    return {
      ...signal,
      id: `${signal.id}:exit`,
      side: 'flat',
      reason: `${signal.reason}; sent as an exit only: ${series.symbol} is outside the tradable universe`,
      metadata: { ...signal.metadata, outsideUniverse: true, originalSide: signal.side },
    };
  }

  private noteEntry(key: string, side: Signal['side']): void {
    const before = this.lastEntries.get(key);
    if (side === 'flat') this.lastEntries.delete(key);
    else this.lastEntries.set(key, side);
    if (before === this.lastEntries.get(key)) return;
    // Kept across restarts: strategies are rebuilt from history, but which position a strategy
    // holds is only known from what it published. Writes are chained so the last one wins.
    const entries = Object.fromEntries(this.lastEntries);
    this.saving = this.saving
      .then(() => this.store.set(LAST_ENTRIES_KEY, entries))
      .catch((err: unknown) => {
        this.recordError(err);
        this.logger.warn({ err: toError(err) }, 'could not persist the last entry per strategy');
      });
  }

  private async loadLastEntries(): Promise<void> {
    const stored = lastEntriesSchema.safeParse(await this.store.get<unknown>(LAST_ENTRIES_KEY));
    if (stored.success) for (const [key, side] of Object.entries(stored.data)) this.lastEntries.set(key, side);
  }

  private onSnapshot(snapshot: BuiltinEvents['market.snapshot']): void {
    const { venue } = this.config.universe;
    if (venue !== undefined && snapshot.venue !== venue) return;
    const tradable = new Set(snapshot.universe.map(canonicalSymbol));
    this.tradable = tradable;
    let described: Map<string, string[]> | undefined;
    for (const symbol of this.seriesBySymbol.keys()) {
      if (tradable.has(canonicalSymbol(symbol))) {
        if (this.outside.delete(symbol)) this.logger.info({ symbol, venue: snapshot.venue }, 'symbol back in the tradable universe: its entry signals go out again');
        continue;
      }
      if (this.outside.has(symbol)) continue;
      this.outside.add(symbol);
      described ??= new Map(snapshot.markets.map((m) => [canonicalSymbol(m.symbol), m.reasons]));
      const reasons = described.get(canonicalSymbol(symbol));
      if (reasons === undefined) {
        this.logger.warn(
          { symbol, venue: snapshot.venue },
          "symbol not among the markets the market watchdog describes, so never in its universe: its entry signals are held back. Add it to the watchdog's symbols (or widen its quotes/types/maxMarkets)",
        );
      } else {
        this.logger.info({ symbol, venue: snapshot.venue, reasons }, 'symbol left the tradable universe: its entry signals are held back, exits still go out');
      }
    }
  }

  private async warmUp(series: Series, signal: AbortSignal): Promise<void> {
    const history = await this.fetchHistory(series, signal);
    if (signal.aborted) return;
    // The history and the buffered live bars overlap: sort them into one series without repeats.
    const firstLive = series.buffer[0]?.candle.timestamp ?? Number.POSITIVE_INFINITY;
    const warm = history.filter((c) => c.timestamp < firstLive).slice(-this.historyLength(series));
    for (const candle of warm) {
      for (const { indicator } of series.indicators) indicator.update(candle);
      for (const strategy of series.strategies) {
        try {
          strategy.warmUp([candle]);
        } catch (err) {
          this.recordError(err);
          this.logger.warn({ err: toError(err), strategy: strategy.id, series: series.key }, 'warm-up bar rejected');
        }
      }
      series.lastBar = candle.timestamp;
      this.remember(series, candle);
    }
    series.historyBars = warm.length;
    series.warmedUpTo = series.lastBar;
    series.latestBar = warm.at(-1);
    series.ready = true;
    this.logger.info(
      { series: series.key, bars: warm.length, ready: series.strategies.map((s) => ({ id: s.id, ready: s.isReady(series.symbol) })) },
      'warmed up from history',
    );
    const buffered = series.buffer;
    series.buffer = [];
    if (series.latestBar !== undefined && buffered.length === 0) this.publishIndicators(series);
    for (const { candle, envelope } of buffered) this.consume(series, candle, envelope);
  }

  /**
   * Closed bars before now, oldest first. A provider that cannot answer is retried a few times;
   * after that the strategies warm up on live bars instead (they emit nothing until they have
   * seen enough), so a history outage delays signals rather than stopping the runner.
   */
  private async fetchHistory(series: Series, signal: AbortSignal): Promise<StrategyCandle[]> {
    const { retries, retryDelayMs } = this.config.warmup;
    const wanted = this.historyLength(series);
    if (wanted === 0) return [];
    for (let attempt = 0; ; attempt++) {
      try {
        // A few bars more than needed: bars that close while the request is out reach the runner
        // live as well and are cut from the history, which must still hold `wanted` before them.
        const raw = await this.provider.fetchOHLCV(series.symbol, series.timeframe, undefined, wanted + HISTORY_MARGIN);
        const now = this.clock.now();
        const bars: StrategyCandle[] = [];
        for (const c of [...raw].sort((a, b) => a.timestamp - b.timestamp)) {
          // Only finished bars, and none from the future of a replay whose provider knows more than the clock.
          if (!c.closed || (barCloseTime(c.timestamp, series.timeframe) ?? Number.POSITIVE_INFINITY) > now) continue;
          const candle = this.checkCandle({ ...c, symbol: series.symbol, timeframe: series.timeframe }, series);
          if (candle !== undefined && (bars.length === 0 || candle.timestamp > bars[bars.length - 1]!.timestamp)) bars.push(candle);
        }
        return bars;
      } catch (err) {
        this.recordError(err);
        if (signal.aborted) return [];
        if (attempt >= retries) {
          this.alert('warning', 'WARMUP_HISTORY_UNAVAILABLE', `No history for ${series.key} from '${this.config.provider}' (${errorMessage(err)}): strategies warm up on live bars, so their first signals come later.`, {
            symbol: series.symbol,
            timeframe: series.timeframe,
          });
          return [];
        }
        this.logger.warn({ err: toError(err), series: series.key, attempt: attempt + 1 }, 'history fetch failed, retrying');
        if (!(await sleepUnlessAborted(this.clock, retryDelayMs * (attempt + 1), signal))) return [];
      }
    }
  }

  /** Keeps the bar in the series' window of recent bars, trimmed to the warm-up length in batches. */
  private remember(series: Series, candle: StrategyCandle): void {
    series.recent.push(candle);
    const keep = this.historyLength(series);
    if (series.recent.length > keep + 64) series.recent.splice(0, series.recent.length - keep);
  }

  /** The bars a rebuilt strategy or indicator warms on: the last warm-up length of them. */
  private window(series: Series, keep = this.historyLength(series)): StrategyCandle[] {
    return keep === 0 ? [] : series.recent.slice(-keep);
  }

  /**
   * Applies changed strategy params and indicators while running. Each changed strategy is built
   * again with its new params and warmed on the series' recent bars (the same number of bars a
   * start would fetch), then takes the old instance's place: from the next bar on it signals as
   * a strategy started fresh with those params on the same history would. Unchanged strategies
   * keep their state. Anything else (provider, symbols, timeframes, strategy ids or types, the
   * list of strategies) is read at start and refused here.
   */
  protected override onReconfigure(next: StrategyRunnerConfig, previous: StrategyRunnerConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    const options = this.registry === undefined ? { path: 'strategies' } : { path: 'strategies', registry: this.registry };
    const built = createStrategies(next.strategies, options);
    const changed = next.strategies.flatMap((s, i) => (JSON.stringify(s) === JSON.stringify(previous.strategies[i]) ? [] : [i]));
    const indicatorsChanged = JSON.stringify(next.indicators) !== JSON.stringify(previous.indicators);
    // Everything is built before anything is swapped: a strategy that refuses its bars leaves
    // the running ones as they were. One instance per changed strategy serves all its series, as
    // at start, so a strategy that reads across symbols (breadth, relative strength) still sees
    // every symbol; it is warmed on their recent bars in time order. The windows are measured
    // before the swap: the bars the running strategies were warmed with.
    const rebuilt = new Map<number, Strategy>();
    for (const i of changed) {
      if (previous.strategies[i] === undefined) continue;
      const id = built[i]!.id;
      const fresh = createStrategies([next.strategies[i]!], options)[0]!;
      const bars = this.seriesList
        .filter((series) => series.ready && series.strategies.some((s) => s.id === id))
        .flatMap((series) => this.window(series))
        .sort((a, b) => a.timestamp - b.timestamp);
      // Bar by bar, as a start warms it: the same arithmetic, so the same values to the last digit.
      for (const bar of bars) fresh.warmUp([bar]);
      rebuilt.set(i, fresh);
    }
    const plans = this.seriesList.map((series) => {
      const bars = this.window(series);
      const strategies = series.strategies.map((current) => {
        const i = changed.find((k) => previous.strategies[k] !== undefined && current.id === built[k]!.id);
        return i === undefined ? current : rebuilt.get(i)!;
      });
      const indicators = indicatorsChanged
        ? Object.entries(next.indicators).map(([name, spec]) => {
            const indicator = createIndicator(spec, { path: `indicators.${name}` });
            if (series.ready) for (const bar of bars) indicator.update(bar);
            return { name, indicator };
          })
        : series.indicators;
      return { series, strategies, indicators, bars: bars.length };
    });
    for (const plan of plans) {
      plan.series.strategies = plan.strategies;
      plan.series.indicators = plan.indicators;
    }
    for (const i of changed) this.failingStrategies.delete(built[i]!.id);
    this.logger.info(
      { strategies: changed.map((i) => ({ id: built[i]!.id, params: next.strategies[i]!.params })), indicators: indicatorsChanged, warmedOn: plans.map((p) => ({ series: p.series.key, bars: p.bars })) },
      'live settings changed: strategies rebuilt and warmed on the recent bars',
    );
  }

  private historyLength(series: Series): number {
    if (this.config.warmup.bars !== undefined) return this.config.warmup.bars;
    let needed = 0;
    for (const s of series.strategies) needed = Math.max(needed, s.warmupBars);
    for (const { indicator } of series.indicators) needed = Math.max(needed, indicator.warmupPeriod);
    if (needed === 0) return 0;
    // Exponential averages keep a trace of their seed: more history brings them closer to the
    // values a chart shows. A strategy reading a higher timeframe may need more than the cap: it
    // never gets less than it needs.
    return Math.max(needed, Math.min(1_000, Math.max(100, needed * 3)));
  }

  private publishIndicators(series: Series): void {
    const { mode, minIntervalMs } = this.config.indicatorUpdates;
    if (mode === 'off' || series.latestBar === undefined) return;
    if (series.indicators.length === 0 && !this.config.indicatorUpdates.includeStrategies) return;
    if (mode === 'every-bar') {
      this.emitIndicators(series);
      return;
    }
    const now = this.clock.now();
    if (now - series.lastIndicatorsAt >= minIntervalMs) {
      series.indicatorTimer?.cancel();
      series.indicatorTimer = undefined;
      this.emitIndicators(series);
      return;
    }
    // Throttled, but the latest values still go out once the interval is over.
    series.indicatorTimer ??= this.after(series.lastIndicatorsAt + minIntervalMs - now, () => {
      series.indicatorTimer = undefined;
      this.emitIndicators(series);
    });
  }

  private emitIndicators(series: Series): void {
    const bar = series.latestBar;
    if (bar === undefined) return;
    series.lastIndicatorsAt = this.clock.now();
    const values: Record<string, number | null> = {};
    for (const { name, indicator } of series.indicators) {
      const value = indicator.value;
      if (value === undefined) values[name] = null;
      else if (typeof value === 'number') values[name] = Number.isFinite(value) ? value : null;
      else for (const [field, x] of Object.entries(value)) values[`${name}.${field}`] = Number.isFinite(x) ? x : null;
    }
    if (this.config.indicatorUpdates.includeStrategies) {
      for (const strategy of series.strategies) {
        for (const [name, value] of Object.entries(strategy.indicatorValues(series.symbol))) values[`${strategy.id}.${name}`] = value;
      }
    }
    this.publish('indicator.updated', { symbol: series.symbol, timeframe: series.timeframe, timestamp: bar.timestamp, values });
  }

  private checkCandle(payload: unknown, series: Series): StrategyCandle | undefined {
    const parsed = parseCandle(payload);
    if (!parsed.success || parsed.data.high < parsed.data.low) {
      const why = parsed.success ? 'high is below low' : parsed.error.message;
      this.recordError(new Error(`invalid candle on ${series.key}: ${why}`));
      this.logger.warn({ series: series.key, why }, 'invalid candle dropped');
      return undefined;
    }
    return parsed.data;
  }
}

