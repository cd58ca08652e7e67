import { createIndicator, type Candle as Bar, type IndicatorOutput, type IndicatorSpec } from '@tradebus/indicators';
import { barCloseTime, createStrategies, StrategyInstance, type LastSignal, type Signal, type SignalDraft, type SignalSide, type Strategy, type StrategyCandle } from '@tradebus/strategies';
import { canonicalSymbol } from '@tradebus/providers';
import type { PreparedAgent } from '../../prepare.js';
import { seriesKey, type ScreenMarket } from './data.js';
import { ScreenUnsupportedError } from './errors.js';

/**
 * The strategies' signals over whole series at once. Each indicator a strategy declares is
 * computed once per series as a column (the streaming indicator of @tradebus/indicators run over
 * the bars, exactly what the strategy would compute) and shared by every parameter combination
 * that declares the same indicator over the same bars; then the strategy's own `evaluate` runs
 * over the columns with the warm-up, context and signal checks of `StrategyInstance.onCandle`.
 */

/** What a strategy runner agent's config says, as far as signals go. */
interface RunnerSettings {
  symbols: string[];
  timeframes: string[];
  strategies: unknown[];
  indicators: Record<string, unknown>;
  warmup: { bars?: number | undefined };
  formingSignals: boolean;
  ticks: boolean;
}

/** Signals per moment (clock time), in the order the trade manager would receive them. */
export type SignalsByMoment = Map<number, Signal[]>;

type Values = Record<string, IndicatorOutput>;
type Column = Array<IndicatorOutput | undefined>;

/**
 * What parameter combinations of one market share: each series' bars and the indicator columns
 * computed over them. Use one cache per market.
 */
export class ColumnCache {
  private readonly columns = new Map<string, Column>();
  private readonly series = new Map<string, SeriesBars>();
  private played: Map<string, StrategyCandle[]> | undefined;
  private readonly maxEntries: number;

  constructor(maxEntries = 512) {
    this.maxEntries = maxEntries;
  }

  column(key: string, spec: IndicatorSpec, bars: readonly Bar[]): Column {
    const id = `${key}|${JSON.stringify(spec)}`;
    let column = this.columns.get(id);
    if (column !== undefined) return column;
    const indicator = createIndicator(spec);
    column = new Array<IndicatorOutput | undefined>(bars.length);
    for (let i = 0; i < bars.length; i++) {
      indicator.update(bars[i]!);
      const value = indicator.value;
      // Multi-output indicators reuse one result object: keep a copy per bar.
      column[i] = value === undefined || typeof value === 'number' ? value : { ...value };
    }
    // Columns of combinations long gone are dropped first (a map iterates in insertion order).
    if (this.columns.size >= this.maxEntries) this.columns.delete(this.columns.keys().next().value!);
    this.columns.set(id, column);
    return column;
  }

  /** The bars a runner would feed a series: the last `wanted` bars of history, then the played ones. */
  seriesBars(market: ScreenMarket, symbol: string, timeframe: string, wanted: number): SeriesBars {
    const id = `${seriesKey(symbol, timeframe)}|${wanted}`;
    let series = this.series.get(id);
    if (series === undefined) {
      this.played ??= playedBySeries(market);
      series = seriesBars(market, this.played, symbol, timeframe, wanted);
      this.series.set(id, series);
    }
    return series;
  }
}

interface SeriesBars {
  symbol: string;
  timeframe: string;
  /** Warm-up history then played bars. */
  bars: StrategyCandle[];
  /** How many of `bars` are warm-up history: their signals are dropped, as a runner's warm-up does. */
  warm: number;
  /** Index of the first bar in `bars` as loaded, so equal slices share columns. */
  historyStart: number;
}

/** The signals of every strategy runner of the config, per moment. */
export function computeSignals(agents: readonly PreparedAgent[], market: ScreenMarket, cache: ColumnCache, warnings: string[]): SignalsByMoment {
  const out: SignalsByMoment = new Map();
  for (const agent of agents) {
    if (agent.definition.kind !== 'strategy-runner') continue;
    const config = agent.config as RunnerSettings;
    if (config.formingSignals) warnings.push(`${agent.path}.config.formingSignals: signals on forming bars are not modelled; the screen evaluates closed bars only.`);
    if (config.ticks) warnings.push(`${agent.path}.config.ticks: strategies' tick handlers are not modelled.`);
    let strategies: Strategy[];
    try {
      strategies = createStrategies(config.strategies, { path: `${agent.path}.config.strategies` });
    } catch (err) {
      throw new ScreenUnsupportedError(`${agent.path}.config.strategies`, `only built-in strategy types can be screened (${(err as Error).message})`);
    }
    const timeframes = [...new Set(config.timeframes)];
    for (const symbol of config.symbols.map(canonicalSymbol)) {
      for (const timeframe of timeframes) {
        const own = strategies.filter((s) => s.timeframe === timeframe || (s.timeframe === undefined && timeframes.length === 1));
        if (own.length === 0) continue;
        if (!(market.timeframes.get(symbol)?.has(timeframe) ?? false)) {
          throw new ScreenUnsupportedError(`${agent.path}.config`, `${symbol} on ${timeframe} bars is not in the market data; the screen does not build bars of other lengths`);
        }
        const series = cache.seriesBars(market, symbol, timeframe, historyLength(config, own));
        own.forEach((strategy) => {
          if (!(strategy instanceof StrategyInstance)) throw new ScreenUnsupportedError(`${agent.path}.config.strategies`, `strategy '${strategy.id}' is not a StrategyInstance`);
          evaluateSeries(strategy, series, cache, (signal) => {
            const list = out.get(signal.timestamp);
            if (list === undefined) out.set(signal.timestamp, [signal]);
            else list.push(signal);
          });
        });
      }
    }
  }
  // Within a moment the manager hears the symbols in the order the replay plays their bars.
  const order = new Map<string, number>();
  for (const m of market.moments) for (const b of m.bars) if (!order.has(b.symbol)) order.set(b.symbol, order.size);
  for (const list of out.values()) if (list.length > 1) stableSortBy(list, (s) => order.get(s.symbol) ?? 0);
  return out;
}

function stableSortBy<T>(list: T[], key: (item: T) => number): void {
  const indexed = list.map((item, i) => ({ item, i, k: key(item) }));
  indexed.sort((a, b) => a.k - b.k || a.i - b.i);
  for (let i = 0; i < list.length; i++) list[i] = indexed[i]!.item;
}

/** Bars of history the runner warms a series up on (its `historyLength`). */
function historyLength(config: RunnerSettings, strategies: readonly Strategy[]): number {
  if (config.warmup.bars !== undefined) return config.warmup.bars;
  let needed = 0;
  for (const s of strategies) needed = Math.max(needed, s.warmupBars);
  for (const spec of Object.values(config.indicators)) needed = Math.max(needed, createIndicator(spec).warmupPeriod);
  if (needed === 0) return 0;
  return Math.min(1_000, Math.max(100, needed * 3));
}

function playedBySeries(market: ScreenMarket): Map<string, StrategyCandle[]> {
  const out = new Map<string, StrategyCandle[]>();
  for (const m of market.moments) {
    for (const bar of m.bars) {
      const key = seriesKey(bar.symbol, bar.timeframe);
      const list = out.get(key);
      if (list === undefined) out.set(key, [bar]);
      else list.push(bar);
    }
  }
  return out;
}

function seriesBars(market: ScreenMarket, played: Map<string, StrategyCandle[]>, symbol: string, timeframe: string, wanted: number): SeriesBars {
  const key = seriesKey(symbol, timeframe);
  const live = played.get(key) ?? [];
  const history = market.history.get(key) ?? [];
  const firstLive = live[0]?.timestamp ?? Number.POSITIVE_INFINITY;
  let end = history.length;
  while (end > 0 && history[end - 1]!.timestamp >= firstLive) end--;
  const start = Math.max(0, end - wanted);
  const warm = history.slice(start, end);
  return { symbol, timeframe, bars: [...warm, ...live], warm: warm.length, historyStart: start };
}

/** `StrategyInstance.onCandle` over a whole series, with indicator values read from columns. */
function evaluateSeries(strategy: StrategyInstance<object, Record<string, never>, unknown>, series: SeriesBars, cache: ColumnCache, emit: (signal: Signal) => void): void {
  const definition = strategy.definition;
  const names = Object.keys(strategy.indicators);
  const key = `${series.symbol}|${series.timeframe}|${series.historyStart}`;
  const columns = names.map((name) => cache.column(key, strategy.indicators[name]!, series.bars));
  const memory = definition.memory?.(strategy.params);
  let lastSignal: LastSignal | undefined;
  const { bars, symbol, timeframe } = series;
  const valuesAt = (i: number): Values => {
    const values: Values = {};
    for (let k = 0; k < columns.length; k++) {
      const v = columns[k]![i];
      if (v !== undefined) values[names[k]!] = v;
    }
    return values;
  };
  // Bars before the warm-up is over are only counted; the first evaluated one needs the values
  // of the bar before it.
  const start = Math.max(1, strategy.warmupBars - 1);
  let current: Values | undefined = start - 1 < bars.length ? valuesAt(start - 1) : undefined;
  for (let i = start; i < bars.length; i++) {
    const candle = bars[i]!;
    const previous = current!;
    const values = valuesAt(i);
    current = values;
    const ctx = {
      strategyId: strategy.id,
      symbol,
      timeframe,
      params: strategy.params,
      candle,
      previousCandle: bars[i - 1]!,
      values,
      previous,
      memory,
      closed: true,
      bar: i,
      lastSignal,
    };
    let signals: readonly Signal[];
    try {
      const drafts = toDrafts(definition.evaluate(ctx as never));
      signals = drafts.length === 0 ? NO_SIGNALS : toSignals(strategy, symbol, timeframe, candle, drafts);
      const lastDraft = drafts[drafts.length - 1];
      if (lastDraft !== undefined) lastSignal = { side: lastDraft.side, price: signals[signals.length - 1]!.price, bar: i, barTime: candle.timestamp };
      definition.commit?.(ctx as never, drafts as SignalDraft[]);
    } catch {
      // A strategy that throws emits nothing for the bar; the runner logs it and goes on.
      continue;
    }
    if (i >= series.warm) for (const s of signals) emit(s);
  }
}

const NO_SIGNALS: readonly Signal[] = Object.freeze([]);
const NO_DRAFTS: readonly SignalDraft[] = Object.freeze([]);

function toDrafts(result: unknown): readonly SignalDraft[] {
  if (result === undefined || result === null) return NO_DRAFTS;
  return Array.isArray(result) ? (result as SignalDraft[]) : [result as SignalDraft];
}

/** The checks and shape of `StrategyInstance.toSignals`: a bad draft throws and nothing is emitted. */
function toSignals(strategy: Strategy, symbol: string, timeframe: string, candle: StrategyCandle, drafts: readonly SignalDraft[]): Signal[] {
  if (drafts.length === 0) return [];
  const timestamp = barCloseTime(candle.timestamp, timeframe)!;
  const seen: SignalSide[] = [];
  const out: Signal[] = [];
  for (const draft of drafts) {
    if (seen.includes(draft.side)) throw new Error('two signals of one side on one bar');
    seen.push(draft.side);
    const price = draft.price ?? candle.close;
    checkDraft(draft, price);
    const signal: Signal = {
      id: `${strategy.id}:${symbol}:${timeframe}:${candle.timestamp}:${draft.side}`,
      strategyId: strategy.id,
      symbol,
      timeframe,
      side: draft.side,
      confidence: draft.confidence,
      price,
      reason: draft.reason,
      metadata: { ...draft.metadata, barTime: candle.timestamp },
      timestamp,
    };
    if (draft.stopLoss !== undefined) signal.stopLoss = draft.stopLoss;
    if (draft.takeProfit !== undefined) signal.takeProfit = draft.takeProfit;
    out.push(signal);
  }
  return out;
}

function checkDraft(draft: SignalDraft, price: number): void {
  const bad = (): never => {
    throw new Error('invalid signal');
  };
  if (draft.side !== 'long' && draft.side !== 'short' && draft.side !== 'flat') bad();
  if (!(draft.confidence >= 0 && draft.confidence <= 1)) bad();
  if (!(Number.isFinite(price) && price >= 0)) bad();
  const { stopLoss, takeProfit } = draft;
  if (draft.side === 'flat') {
    if (stopLoss !== undefined || takeProfit !== undefined) bad();
    return;
  }
  if (stopLoss !== undefined && (!(Number.isFinite(stopLoss) && stopLoss >= 0) || (draft.side === 'long' ? !(stopLoss < price) : !(stopLoss > price)))) bad();
  if (takeProfit !== undefined && (!(Number.isFinite(takeProfit) && takeProfit >= 0) || (draft.side === 'long' ? !(takeProfit > price) : !(takeProfit < price)))) bad();
}
