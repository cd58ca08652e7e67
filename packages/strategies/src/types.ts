import type { EventPayload } from '@tradebus/core';
import type { Candle, IndicatorByType, IndicatorSpec, IndicatorSpecInput, IndicatorType } from '@tradebus/indicators';
import type { z } from 'zod';

export type SignalSide = 'long' | 'short' | 'flat';

/**
 * One bar of one market: exactly the payload of `candle.closed` / `candle.updated`, so a runner
 * passes event payloads straight through. `timestamp` is the bar's open time (epoch ms).
 */
export interface StrategyCandle extends Candle {
  symbol: string;
  timeframe: string;
}

/** A trade price, shaped like the `price.tick` payload. */
export interface StrategyTick {
  symbol: string;
  price: number;
  timestamp: number;
  bid?: number;
  ask?: number;
  volume?: number;
}

/** What a strategy emits: exactly the `signal.generated` payload, ready to publish. */
export type Signal = EventPayload<'signal.generated'>;

/**
 * What a strategy's `evaluate` returns. The framework turns it into a {@link Signal}: it adds the
 * deterministic id, symbol, timeframe, timestamp and strategy id, defaults `price` to the bar's
 * close, and rejects confidences outside 0..1 and stops on the wrong side of the price.
 */
export interface SignalDraft {
  side: SignalSide;
  /** 0..1. */
  confidence: number;
  /** One sentence a human reads in the dashboard and in `signal.decided`. */
  reason: string;
  /** Defaults to the close of the bar (or the tick price). */
  price?: number;
  /** Long: below price. Short: above price. Not allowed on `flat`. */
  stopLoss?: number;
  /** Long: above price. Short: below price. Not allowed on `flat`. */
  takeProfit?: number;
  metadata?: Record<string, unknown>;
}

/** The most recent signal a strategy emitted on a closed bar (or tick) for one symbol. */
export interface LastSignal {
  side: SignalSide;
  price: number;
  /** Index of the bar it was emitted on (see {@link BarContext.bar}). */
  bar: number;
  /** Open time of that bar. */
  barTime: number;
}

/** A map from indicator name (chosen by the strategy) to indicator spec. */
export type IndicatorSpecMap = Record<string, IndicatorSpecInput>;

/** The value type of one indicator type: a number, or a result object such as `MacdResult`. */
export type IndicatorValue<T extends IndicatorType> = NonNullable<IndicatorByType[T]['value']>;

/** The current values of a strategy's indicators, typed by their specs. */
export type IndicatorValues<I extends IndicatorSpecMap> = {
  readonly [K in keyof I]: IndicatorValue<I[K]['type']>;
};

/**
 * A higher timeframe a strategy reads beside its own (see {@link StrategyDefinition.higher}). Its
 * bars are resampled from the strategy's own closed bars, so backtest, paper and live see the same.
 */
export interface HigherTimeframeSpec<I extends IndicatorSpecMap = IndicatorSpecMap> {
  /** A whole multiple of the strategy's timeframe, e.g. `1h` or `1d` over `5m` bars. */
  readonly timeframe: string;
  /** Indicators computed on the higher bars, by name. */
  readonly indicators: I;
  /** Completed higher bars kept in {@link HigherTimeframeView.closed} (at least 1, default 10); warm-up covers them. */
  readonly keep?: number;
}

/** The higher timeframes of a strategy, by a name the strategy chooses (`trend`, `daily`, ...). */
export type HigherSpecMap = Record<string, HigherTimeframeSpec>;

/**
 * One higher timeframe as the data showed it when the base bar being evaluated closed: the higher
 * bar holding that base bar is built from it and the base bars before it, never from later ones.
 */
export interface HigherTimeframeView<I extends IndicatorSpecMap> {
  readonly timeframe: string;
  /** The higher bar holding the base bar evaluated, aggregated from its base bars up to and including it. */
  readonly candle: StrategyCandle;
  /** True when the base bar evaluated is the last one of `candle`: the higher bar has closed with it. */
  readonly complete: boolean;
  /** Indicator values including `candle` as it stands. */
  readonly values: IndicatorValues<I>;
  /** Completed higher bars before `candle`, oldest first (the last `keep` of them; never empty). */
  readonly closed: readonly StrategyCandle[];
  /** Indicator values as of the last bar of `closed` (nothing of `candle` in them). */
  readonly closedValues: IndicatorValues<I>;
  /** Indicator values as of the bar before the last of `closed`. */
  readonly previousClosedValues: IndicatorValues<I>;
}

/** No higher timeframes: the default of a definition that declares none. */
export type NoHigher = Record<never, HigherTimeframeSpec>;

export type HigherViews<H extends HigherSpecMap> = {
  readonly [K in keyof H]: HigherTimeframeView<H[K]['indicators']>;
};

/**
 * The recent closed bars of every symbol the strategy instance runs on (see
 * {@link StrategyDefinition.universe}). Read it only up to the bar being evaluated (`before:
 * ctx.candle.timestamp`): bars of the same moment from other symbols may or may not have arrived
 * yet, so reading them would make the result depend on arrival order.
 */
export interface UniverseView {
  /** Symbols that have delivered a closed bar, sorted. */
  symbols(): readonly string[];
  /** Up to `count` closed bars of `symbol` opening before `before`, oldest first. */
  bars(symbol: string, before: number, count: number): readonly StrategyCandle[];
  /**
   * `compute()`, or its result from an earlier call with the same `key` and `before` when no bar
   * opening before `before` has arrived since: every symbol of one moment reads the same
   * cross-symbol figure, so it is worked out once. `compute` must read only bars before `before`.
   */
  memo<T>(key: string, before: number, compute: () => T): T;
}

/**
 * Everything `evaluate` and `commit` see for one bar of one symbol. Every indicator value in
 * `values` and `previous` is defined: the framework calls them only once the series has warmed up.
 */
export interface BarContext<P, I extends IndicatorSpecMap, M, H extends HigherSpecMap = NoHigher> {
  readonly strategyId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly params: P;
  /** The bar being evaluated: closed, or still forming when `closed` is false. */
  readonly candle: StrategyCandle;
  /** The closed bar before `candle`. */
  readonly previousCandle: StrategyCandle;
  /** Indicator values including `candle`. */
  readonly values: IndicatorValues<I>;
  /** Indicator values as of `previousCandle` (excluding `candle`). */
  readonly previous: IndicatorValues<I>;
  /**
   * The strategy's own per-symbol memory. `evaluate` must only read it (it also runs on forming
   * bars, which may never close); change it in `commit`, which runs once per closed bar.
   */
  readonly memory: M;
  /** False while the bar is still forming (`onCandleUpdate`). */
  readonly closed: boolean;
  /** 0-based index of `candle` in this symbol's series of closed bars. */
  readonly bar: number;
  /** The strategy's last signal for this symbol, from closed bars and ticks only. */
  readonly lastSignal: LastSignal | undefined;
  /**
   * The higher timeframes the definition declares, by name, every value defined. They change on
   * closed bars only: on a forming bar they are as the last closed bar left them.
   */
  readonly higher: HigherViews<H>;
  /** Every symbol's recent bars, when the definition declares `universe`; otherwise empty. */
  readonly universe: UniverseView;
}

/** What `onTick` sees: the indicator values of the last closed bar and the new price. */
export interface TickContext<P, I extends IndicatorSpecMap, M> {
  readonly strategyId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly params: P;
  readonly tick: StrategyTick;
  readonly lastCandle: StrategyCandle;
  readonly values: IndicatorValues<I>;
  /** Ticks are final facts, so `onTick` may update memory. */
  readonly memory: M;
  readonly bar: number;
  readonly lastSignal: LastSignal | undefined;
}

export type DraftResult = SignalDraft | readonly SignalDraft[] | undefined | void;

/**
 * A strategy type: its parameters (a zod schema with defaults), the indicators it needs per
 * symbol, and a pure decision function. Build one with `defineStrategy`, register it in a
 * `StrategyRegistry`, and create instances from config with `createStrategy`.
 */
export interface StrategyDefinition<P extends object, I extends IndicatorSpecMap, M, H extends HigherSpecMap = NoHigher> {
  /** The `type` used in config, e.g. `ema-cross`. */
  readonly type: string;
  readonly description: string;
  /** Parameters with their defaults. Use a strict object so a misspelt key is an error. */
  readonly params: z.ZodType<P>;
  /** The indicators this strategy reads, by name. */
  indicators(params: P): I;
  /**
   * Closed bars needed before the first evaluation. The framework uses at least the longest
   * indicator warm-up plus one (so `previous` is always defined).
   */
  warmup?(params: P): number;
  /**
   * Higher timeframes read beside the strategy's own, by name. A strategy with any needs its
   * `timeframe` set in config; warm-up then covers the higher bars' indicators and `keep`.
   */
  higher?(params: P): H;
  /**
   * Keep the last `bars` closed bars of every symbol this instance runs on, readable through
   * `ctx.universe` (breadth, relative strength). One instance must then get every symbol's bars:
   * the strategy runner gives one instance all the symbols it runs.
   */
  universe?(params: P): { bars: number };
  /** Initial per-symbol memory. */
  memory?(params: P): M;
  /** Decides on one bar. Pure: no clock, no I/O, no randomness, no writes to `memory`. */
  evaluate(ctx: BarContext<P, I, M, H>): DraftResult;
  /** Runs after `evaluate` on closed bars only, with what was emitted: update `memory` here. */
  commit?(ctx: BarContext<P, I, M, H>, emitted: readonly SignalDraft[]): void;
  /** Optional reaction to ticks between bar closes. */
  onTick?(ctx: TickContext<P, I, M>): DraftResult;
}

export type AnyStrategyDefinition = StrategyDefinition<any, any, any, any>;

/** Where one symbol's series stands. */
export interface SeriesStatus {
  symbol: string;
  timeframe: string;
  /** Closed bars consumed. */
  bars: number;
  ready: boolean;
  /** Open time of the last closed bar. */
  lastBarTime: number | undefined;
  /** Candles ignored because they repeated or preceded an already processed bar. */
  ignored: number;
}

/**
 * A running strategy instance. It keeps separate state per symbol (one series per symbol, on one
 * timeframe) and is a deterministic function of the candles and ticks fed to it: the same inputs
 * give the same signals, with the same ids, in a backtest, in paper trading and live.
 */
export interface Strategy {
  readonly id: string;
  readonly type: string;
  /** When set, candles of any other timeframe are ignored. */
  readonly timeframe: string | undefined;
  readonly params: Readonly<Record<string, unknown>>;
  /** The indicators computed per symbol, with defaults filled in. */
  readonly indicators: Readonly<Record<string, IndicatorSpec>>;
  /** Closed bars per symbol before the first signal is possible. Feed at least this much history. */
  readonly warmupBars: number;
  /** The higher timeframes read beside `timeframe` (declared by the strategy or its trend filter). */
  readonly higherTimeframes: readonly string[];
  /** Feeds history (oldest first); no signals are produced. The state afterwards equals live running. */
  warmUp(candles: Iterable<StrategyCandle>): void;
  /** Feeds one closed bar; returns the signals it triggers (usually none). */
  onCandle(candle: StrategyCandle): Signal[];
  /**
   * Feeds the still-forming bar. Returns provisional signals (`metadata.forming: true`, id ending in
   * `:forming`), each side at most once per bar; the closed bar decides for real.
   * `asOf` is the signal timestamp to use (the caller's clock); defaults to the bar's open time.
   */
  onCandleUpdate(candle: StrategyCandle, asOf?: number): Signal[];
  /** Feeds a tick. Built-in strategies ignore ticks and return []. */
  onTick(tick: StrategyTick): Signal[];
  isReady(symbol: string): boolean;
  status(symbol: string): SeriesStatus | undefined;
  symbols(): string[];
  /**
   * Indicator values after the last closed bar, flattened for `indicator.updated`: `rsi`,
   * `macd.histogram`, ...; null while warming up.
   */
  indicatorValues(symbol: string): Record<string, number | null>;
  /** Forgets one symbol (or all). */
  reset(symbol?: string): void;
}
