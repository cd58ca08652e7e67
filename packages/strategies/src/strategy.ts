import {
  createIndicator,
  parseIndicatorSpec,
  type CandleIndicator,
  type IndicatorOutput,
  type IndicatorSpec,
} from '@tradebus/indicators';
import { StrategyInputError, StrategySignalError } from './errors.js';
import { HigherSeries, planHigher, type HigherPlan } from './higher.js';
import { barCloseTime, isTimeframe } from './timeframe.js';
import { filterByTrend, readTrend, type TrendFilterConfig } from './trend-filter.js';
import { UniverseTable } from './universe.js';
import type {
  BarContext,
  DraftResult,
  HigherSpecMap,
  HigherTimeframeView,
  HigherViews,
  NoHigher,
  IndicatorSpecMap,
  IndicatorValues,
  LastSignal,
  SeriesStatus,
  Signal,
  SignalDraft,
  SignalSide,
  Strategy,
  StrategyCandle,
  StrategyDefinition,
  StrategyTick,
  TickContext,
} from './types.js';

/**
 * Declares a strategy type. Only a typing aid: it returns the definition unchanged, with the
 * parameter, indicator and memory types inferred so `evaluate` sees `ctx.values.fast` as a number
 * and `ctx.values.macd` as a `MacdResult`.
 */
export function defineStrategy<P extends object, I extends IndicatorSpecMap, M = undefined, H extends HigherSpecMap = NoHigher>(
  definition: StrategyDefinition<P, I, M, H>,
): StrategyDefinition<P, I, M, H> {
  return definition;
}

type Values = Record<string, IndicatorOutput>;

interface Series<M> {
  readonly symbol: string;
  readonly timeframe: string;
  readonly indicators: CandleIndicator[];
  /** Values after the last closed bar, and after the one before it. */
  current: Values | undefined;
  previous: Values | undefined;
  lastClosed: StrategyCandle | undefined;
  bars: number;
  ignored: number;
  /** Open time of the forming bar sitting on top of the indicators, if any. */
  formingTime: number | undefined;
  formingEmitted: SignalSide[];
  memory: M;
  lastSignal: LastSignal | undefined;
  /** The declared higher timeframes, in declaration order. */
  higher: HigherSeries[];
  /** The trend filter's timeframe, when the config sets one. */
  trend: HigherSeries | undefined;
  /** Closed bars before the first evaluation: the base warm-up, or the higher timeframes' if longer. */
  warmupBars: number;
}

/** The higher timeframes of one base timeframe: the declared ones, then the trend filter's. */
interface Plans {
  higher: HigherPlan[];
  trend: HigherPlan | undefined;
  warmupBars: number;
}

const noSignals: Signal[] = [];

/**
 * The running form of a {@link StrategyDefinition}: per-symbol indicators and memory, warm-up,
 * duplicate and out-of-order bar handling, forming bars, and the checks that keep a bad signal
 * from leaving the strategy. Create it with `createStrategy` (from config) or directly.
 */
export class StrategyInstance<P extends object, I extends IndicatorSpecMap, M, H extends HigherSpecMap = NoHigher> implements Strategy {
  readonly id: string;
  readonly type: string;
  readonly timeframe: string | undefined;
  readonly params: Readonly<P & Record<string, unknown>>;
  readonly indicators: Readonly<Record<string, IndicatorSpec>>;
  readonly higherTimeframes: readonly string[];
  readonly trendFilter: TrendFilterConfig | undefined;
  readonly definition: StrategyDefinition<P, I, M, H>;
  private readonly declaredHigher: HigherSpecMap;
  private readonly baseWarmup: number;
  /** Planned once when `timeframe` is configured; otherwise per series, from its first bar's timeframe. */
  private readonly fixedPlans: Plans | undefined;
  private readonly names: string[];
  private readonly specs: IndicatorSpec[];
  private readonly series = new Map<string, Series<M>>();
  private readonly universe: UniverseTable;

  /**
   * `params` must already be validated (createStrategy does it); indicator specs are validated
   * here and a bad one throws IndicatorConfigError naming it. Higher timeframes (declared, or
   * the trend filter's) need `timeframe`; a bad one throws StrategyConfigError.
   */
  constructor(
    definition: StrategyDefinition<P, I, M, H>,
    options: { id: string; params: P; timeframe?: string | undefined; trendFilter?: TrendFilterConfig | undefined },
  ) {
    this.definition = definition;
    this.id = options.id;
    this.type = definition.type;
    this.timeframe = options.timeframe;
    this.params = Object.freeze({ ...options.params }) as Readonly<P & Record<string, unknown>>;
    const declared = definition.indicators(options.params);
    this.names = Object.keys(declared);
    this.specs = this.names.map((name) => parseIndicatorSpec(declared[name], { path: `indicators.${name}` }));
    this.indicators = Object.freeze(Object.fromEntries(this.names.map((name, i) => [name, this.specs[i]!])));
    let longest = 0;
    for (const spec of this.specs) longest = Math.max(longest, createIndicator(spec).warmupPeriod);
    this.declaredHigher = definition.higher?.(options.params) ?? {};
    this.trendFilter = options.trendFilter;
    this.baseWarmup = Math.max(longest + 1, 2, Math.ceil(definition.warmup?.(options.params) ?? 0));
    const timeframes = Object.values(this.declaredHigher).map((spec) => spec.timeframe);
    if (options.trendFilter !== undefined) timeframes.push(options.trendFilter.timeframe);
    this.higherTimeframes = Object.freeze([...new Set(timeframes)]);
    this.fixedPlans = options.timeframe === undefined ? undefined : this.plan(options.timeframe);
    this.universe = new UniverseTable(Math.max(0, Math.ceil(definition.universe?.(options.params).bars ?? 0)));
  }

  /**
   * With `timeframe` configured this covers the higher timeframes from the start. Without it, the
   * base timeframe is only known from the first bar, so until then it is the strategy's own
   * warm-up (set `timeframe` for a strategy with higher timeframes: a runner reads this before).
   */
  get warmupBars(): number {
    if (this.fixedPlans !== undefined) return this.fixedPlans.warmupBars;
    let warmup = this.baseWarmup;
    for (const series of this.series.values()) warmup = Math.max(warmup, series.warmupBars);
    return warmup;
  }

  private plan(base: string | undefined): Plans {
    const higher = planHigher(this.declaredHigher, base, this.id);
    const filter = this.trendFilter;
    const trend =
      filter === undefined
        ? undefined
        : planHigher({ trend: { timeframe: filter.timeframe, indicators: { ema: { type: 'ema', period: filter.ema } }, keep: 1 } }, base, this.id, 'trendFilter.timeframe')[0];
    let warmupBars = this.baseWarmup;
    for (const plan of higher) warmupBars = Math.max(warmupBars, plan.warmupBars);
    if (trend !== undefined) warmupBars = Math.max(warmupBars, trend.warmupBars);
    return { higher, trend, warmupBars };
  }

  warmUp(candles: Iterable<StrategyCandle>): void {
    for (const candle of candles) this.onCandle(candle);
  }

  onCandle(candle: StrategyCandle): Signal[] {
    checkCandle(candle, 'candle');
    if (this.timeframe !== undefined && candle.timeframe !== this.timeframe) return noSignals;
    const series = this.seriesFor(candle);
    const last = series.lastClosed;
    if (last !== undefined && candle.timestamp <= last.timestamp) {
      // A redelivered or late bar must not be counted twice: the indicators would drift.
      series.ignored++;
      return noSignals;
    }
    // A forming bar on top is replaced by the closed one. If the forming bar was a later bar, it
    // comes back with its next update; if an earlier bar never closed, it is dropped like a gap.
    const replace = series.formingTime !== undefined;
    for (const indicator of series.indicators) {
      if (replace) indicator.replaceLast(candle);
      else indicator.update(candle);
    }
    series.formingTime = undefined;
    series.formingEmitted.length = 0;
    const previousCandle = series.lastClosed;
    series.previous = series.current;
    series.current = this.snapshot(series);
    series.lastClosed = candle;
    for (const higher of series.higher) higher.onClosed(candle);
    series.trend?.onClosed(candle);
    this.universe.add(candle);
    const bar = series.bars++;
    if (series.bars < series.warmupBars || previousCandle === undefined) return noSignals;
    const views = this.higherViews(series);
    if (views === undefined) return noSignals;

    const ctx = this.barContext(series, candle, previousCandle, series.current, series.previous!, true, bar, views);
    const drafts = this.filter(series, toDrafts(this.definition.evaluate(ctx)));
    const signals = this.toSignals(series, candle, drafts, false, undefined);
    const lastDraft = drafts[drafts.length - 1];
    if (lastDraft !== undefined) {
      series.lastSignal = { side: lastDraft.side, price: signals[signals.length - 1]!.price, bar, barTime: candle.timestamp };
    }
    this.definition.commit?.(ctx, drafts);
    return signals;
  }

  onCandleUpdate(candle: StrategyCandle, asOf?: number): Signal[] {
    checkCandle(candle, 'forming candle');
    if (this.timeframe !== undefined && candle.timeframe !== this.timeframe) return noSignals;
    const series = this.seriesFor(candle);
    const last = series.lastClosed;
    if (last !== undefined && candle.timestamp <= last.timestamp) return noSignals;
    if (series.formingTime !== undefined && candle.timestamp < series.formingTime) return noSignals;
    const replace = series.formingTime !== undefined;
    for (const indicator of series.indicators) {
      if (replace) indicator.replaceLast(candle);
      else indicator.update(candle);
    }
    if (series.formingTime !== candle.timestamp) series.formingEmitted.length = 0;
    series.formingTime = candle.timestamp;
    if (series.bars + 1 < series.warmupBars || last === undefined || series.current === undefined) return noSignals;
    // Higher timeframes move on closed bars only: a forming bar sees them as the last closed one left them.
    const views = this.higherViews(series);
    if (views === undefined) return noSignals;

    const values = this.snapshot(series);
    const ctx = this.barContext(series, candle, last, values, series.current, false, series.bars, views);
    const drafts = this.filter(series, toDrafts(this.definition.evaluate(ctx))).filter((draft) => !series.formingEmitted.includes(draft.side));
    const signals = this.toSignals(series, candle, drafts, true, asOf);
    for (const draft of drafts) series.formingEmitted.push(draft.side);
    return signals;
  }

  onTick(tick: StrategyTick): Signal[] {
    if (this.definition.onTick === undefined) return noSignals;
    if (!Number.isFinite(tick.price) || tick.price < 0 || !Number.isFinite(tick.timestamp)) {
      throw new StrategyInputError(
        `Strategy '${this.id}' received a tick for ${tick.symbol} with price ${tick.price} at ${tick.timestamp}: ` +
          'price must be a finite number >= 0 and timestamp finite. Skip the tick.',
      );
    }
    const series = this.series.get(tick.symbol);
    if (series === undefined || series.bars < series.warmupBars || series.current === undefined || series.lastClosed === undefined) {
      return noSignals;
    }
    const ctx: TickContext<P, I, M> = {
      strategyId: this.id,
      symbol: series.symbol,
      timeframe: series.timeframe,
      params: this.params,
      tick,
      lastCandle: series.lastClosed,
      values: series.current as unknown as IndicatorValues<I>,
      memory: series.memory,
      bar: series.bars - 1,
      lastSignal: series.lastSignal,
    };
    const drafts = toDrafts(this.definition.onTick(ctx));
    const signals: Signal[] = [];
    const seen: SignalSide[] = [];
    for (const draft of drafts) {
      const id = `${this.id}:${series.symbol}:${series.timeframe}:tick:${tick.timestamp}:${draft.side}`;
      if (seen.includes(draft.side)) throw this.duplicateSide(draft.side, series.symbol);
      seen.push(draft.side);
      signals.push(this.toSignal(series, draft, id, tick.price, tick.timestamp, { tickTime: tick.timestamp }));
    }
    const lastDraft = drafts[drafts.length - 1];
    if (lastDraft !== undefined) {
      series.lastSignal = {
        side: lastDraft.side,
        price: signals[signals.length - 1]!.price,
        bar: series.bars - 1,
        barTime: series.lastClosed.timestamp,
      };
    }
    return signals;
  }

  isReady(symbol: string): boolean {
    const series = this.series.get(symbol);
    return series !== undefined && series.bars >= series.warmupBars;
  }

  status(symbol: string): SeriesStatus | undefined {
    const series = this.series.get(symbol);
    if (series === undefined) return undefined;
    return {
      symbol,
      timeframe: series.timeframe,
      bars: series.bars,
      ready: series.bars >= series.warmupBars,
      lastBarTime: series.lastClosed?.timestamp,
      ignored: series.ignored,
    };
  }

  symbols(): string[] {
    return [...this.series.keys()];
  }

  indicatorValues(symbol: string): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    const current = this.series.get(symbol)?.current;
    for (const name of this.names) {
      const value = current?.[name];
      if (value === undefined) out[name] = null;
      else if (typeof value === 'number') out[name] = Number.isFinite(value) ? value : null;
      else for (const [field, x] of Object.entries(value)) out[`${name}.${field}`] = Number.isFinite(x) ? x : null;
    }
    return out;
  }

  reset(symbol?: string): void {
    if (symbol === undefined) this.series.clear();
    else this.series.delete(symbol);
    this.universe.delete(symbol);
  }

  private seriesFor(candle: StrategyCandle): Series<M> {
    const existing = this.series.get(candle.symbol);
    if (existing !== undefined) {
      if (existing.timeframe !== candle.timeframe) {
        throw new StrategyInputError(
          `Strategy '${this.id}' runs ${candle.symbol} on ${existing.timeframe} bars and received a ${candle.timeframe} bar. ` +
            `Set 'timeframe' in the strategy config so other timeframes are ignored, or run one strategy instance per timeframe.`,
          { symbol: candle.symbol, expected: existing.timeframe, received: candle.timeframe },
        );
      }
      return existing;
    }
    if (!isTimeframe(candle.timeframe)) {
      throw new StrategyInputError(
        `Strategy '${this.id}' received a ${candle.symbol} bar with timeframe '${candle.timeframe}': ` +
          "use a bar length such as '1m', '5m', '1h', '1d' (needed to time the signals).",
        { symbol: candle.symbol, timeframe: candle.timeframe },
      );
    }
    let plans = this.fixedPlans;
    if (plans === undefined) {
      try {
        plans = this.plan(candle.timeframe);
      } catch (err) {
        throw new StrategyInputError(
          `Strategy '${this.id}' cannot run ${candle.symbol} on ${candle.timeframe} bars: ${err instanceof Error ? err.message : String(err)} ` +
            "Set 'timeframe' in the strategy config to a bar length the higher timeframes are whole multiples of.",
          { symbol: candle.symbol, timeframe: candle.timeframe },
        );
      }
    }
    const created: Series<M> = {
      symbol: candle.symbol,
      timeframe: candle.timeframe,
      indicators: this.specs.map((spec) => createIndicator(spec)),
      current: undefined,
      previous: undefined,
      lastClosed: undefined,
      bars: 0,
      ignored: 0,
      formingTime: undefined,
      formingEmitted: [],
      memory: this.definition.memory?.(this.params) as M,
      lastSignal: undefined,
      higher: plans.higher.map((plan) => new HigherSeries(plan, candle.symbol, candle.timeframe)),
      trend: plans.trend === undefined ? undefined : new HigherSeries(plans.trend, candle.symbol, candle.timeframe),
      warmupBars: plans.warmupBars,
    };
    this.series.set(candle.symbol, created);
    return created;
  }

  /** Copies the indicator outputs: multi-output indicators reuse one result object. */
  private snapshot(series: Series<M>): Values {
    const values: Values = {};
    const { indicators } = series;
    for (let i = 0; i < indicators.length; i++) {
      const value = indicators[i]!.value;
      if (value !== undefined) values[this.names[i]!] = typeof value === 'number' ? value : { ...value };
    }
    return values;
  }

  /** The declared higher timeframes' views, or undefined while any of them (or the trend filter's) is still warming up. */
  private higherViews(series: Series<M>): HigherViews<H> | undefined {
    if (series.trend !== undefined && series.trend.view() === undefined) return undefined;
    const views: Record<string, HigherTimeframeView<IndicatorSpecMap>> = {};
    for (const higher of series.higher) {
      const view = higher.view();
      if (view === undefined) return undefined;
      views[higher.plan.name] = view;
    }
    return views as HigherViews<H>;
  }

  private filter(series: Series<M>, drafts: readonly SignalDraft[]): readonly SignalDraft[] {
    if (series.trend === undefined || drafts.length === 0) return drafts;
    return filterByTrend(drafts, readTrend(series.trend.view() as never, this.trendFilter!.rule), this.trendFilter!);
  }

  private barContext(
    series: Series<M>,
    candle: StrategyCandle,
    previousCandle: StrategyCandle,
    values: Values,
    previous: Values,
    closed: boolean,
    bar: number,
    higher: HigherViews<H>,
  ): BarContext<P, I, M, H> {
    return {
      strategyId: this.id,
      symbol: series.symbol,
      timeframe: series.timeframe,
      params: this.params,
      candle,
      previousCandle,
      values: values as unknown as IndicatorValues<I>,
      previous: previous as unknown as IndicatorValues<I>,
      memory: series.memory,
      closed,
      bar,
      lastSignal: series.lastSignal,
      higher,
      universe: this.universe,
    };
  }

  private toSignals(
    series: Series<M>,
    candle: StrategyCandle,
    drafts: readonly SignalDraft[],
    forming: boolean,
    asOf: number | undefined,
  ): Signal[] {
    if (drafts.length === 0) return noSignals;
    const timestamp = forming ? (asOf ?? candle.timestamp) : barCloseTime(candle.timestamp, series.timeframe)!;
    const signals: Signal[] = [];
    const seen: SignalSide[] = [];
    for (const draft of drafts) {
      if (seen.includes(draft.side)) throw this.duplicateSide(draft.side, series.symbol);
      seen.push(draft.side);
      const id = `${this.id}:${series.symbol}:${series.timeframe}:${candle.timestamp}:${draft.side}${forming ? ':forming' : ''}`;
      const extra: Record<string, unknown> = { barTime: candle.timestamp };
      if (forming) extra.forming = true;
      signals.push(this.toSignal(series, draft, id, candle.close, timestamp, extra));
    }
    return signals;
  }

  private toSignal(
    series: Series<M>,
    draft: SignalDraft,
    id: string,
    defaultPrice: number,
    timestamp: number,
    extra: Record<string, unknown>,
  ): Signal {
    const price = draft.price ?? defaultPrice;
    this.checkDraft(draft, price, series.symbol);
    const signal: Signal = {
      id,
      strategyId: this.id,
      symbol: series.symbol,
      timeframe: series.timeframe,
      side: draft.side,
      confidence: draft.confidence,
      price,
      reason: draft.reason,
      metadata: { ...draft.metadata, ...extra },
      timestamp,
    };
    if (draft.stopLoss !== undefined) signal.stopLoss = draft.stopLoss;
    if (draft.takeProfit !== undefined) signal.takeProfit = draft.takeProfit;
    return signal;
  }

  private checkDraft(draft: SignalDraft, price: number, symbol: string): void {
    const fail = (what: string): never => {
      throw new StrategySignalError(
        `Strategy '${this.id}' (${this.type}) produced an invalid ${draft.side} signal for ${symbol}: ${what}. ` +
          'Nothing was emitted; fix the strategy.',
        { strategyId: this.id, symbol, draft },
      );
    };
    if (draft.side !== 'long' && draft.side !== 'short' && draft.side !== 'flat') fail(`side ${String(draft.side)} is not long, short or flat`);
    if (!(draft.confidence >= 0 && draft.confidence <= 1)) fail(`confidence ${draft.confidence} is outside 0..1`);
    if (!(Number.isFinite(price) && price >= 0)) fail(`price ${price} is not a finite number >= 0`);
    const { stopLoss, takeProfit } = draft;
    if (draft.side === 'flat') {
      if (stopLoss !== undefined || takeProfit !== undefined) fail('a flat (exit) signal carries no stop-loss or take-profit');
      return;
    }
    if (stopLoss !== undefined) {
      if (!(Number.isFinite(stopLoss) && stopLoss >= 0)) fail(`stopLoss ${stopLoss} is not a finite number >= 0`);
      if (draft.side === 'long' ? !(stopLoss < price) : !(stopLoss > price)) {
        fail(`stopLoss ${stopLoss} is on the wrong side of price ${price}`);
      }
    }
    if (takeProfit !== undefined) {
      if (!(Number.isFinite(takeProfit) && takeProfit >= 0)) fail(`takeProfit ${takeProfit} is not a finite number >= 0`);
      if (draft.side === 'long' ? !(takeProfit > price) : !(takeProfit < price)) {
        fail(`takeProfit ${takeProfit} is on the wrong side of price ${price}`);
      }
    }
  }

  private duplicateSide(side: SignalSide, symbol: string): StrategySignalError {
    return new StrategySignalError(
      `Strategy '${this.id}' (${this.type}) produced two ${side} signals for ${symbol} on one bar. ` +
        'Emit at most one signal per side per bar; nothing was emitted.',
      { strategyId: this.id, symbol, side },
    );
  }
}

const NO_DRAFTS: readonly SignalDraft[] = Object.freeze([]);

function toDrafts(result: DraftResult): readonly SignalDraft[] {
  if (result === undefined || result === null) return NO_DRAFTS;
  return Array.isArray(result) ? result : [result as SignalDraft];
}

function isPrice(x: number): boolean {
  return Number.isFinite(x) && x >= 0;
}

/** Runs on every bar, so it allocates nothing unless the bar is bad. */
function checkCandle(candle: StrategyCandle, what: string): void {
  const { open, high, low, close, volume, timestamp } = candle;
  let problem: string | undefined;
  if (typeof candle.symbol !== 'string' || candle.symbol === '') problem = 'symbol is missing';
  else if (typeof candle.timeframe !== 'string' || candle.timeframe === '') problem = 'timeframe is missing';
  else if (!Number.isSafeInteger(timestamp) || timestamp < 0) problem = `timestamp ${timestamp} is not epoch milliseconds`;
  else if (!(isPrice(open) && isPrice(high) && isPrice(low) && isPrice(close))) {
    problem = `prices ${open}/${high}/${low}/${close} (open/high/low/close) must be finite numbers >= 0`;
  } else if (!(Number.isFinite(volume) && volume >= 0)) problem = `volume ${volume} must be a finite number >= 0`;
  else if (high < low) problem = `high ${high} is below low ${low}`;
  if (problem !== undefined) {
    throw new StrategyInputError(
      `Invalid ${what} for ${String(candle.symbol)} at ${String(timestamp)}: ${problem}. The strategy state is unchanged; skip or repair the bar.`,
      { symbol: candle.symbol, timestamp },
    );
  }
}
