import { ConfigError, libraryLogger, VirtualClock, type Clock, type IntervalOptions, type Logger, type TimerHandle } from '@tradebus/core';
import type { Candle, Provider, Tick } from '../types.js';
import { canonicalSymbol } from '../util/symbols.js';
import { MarketTimeline, type TimelineRecord, type TimelineSummary } from '../util/timeline.js';
import { TimelineProvider } from '../util/timeline-provider.js';
import { barOpenTime, timeframeToMs } from '../util/timeframes.js';

export interface SyntheticSymbol {
  symbol: string;
  startPrice: number;
  /** Annual drift μ of the log price (0.1 = +10 %/year before the volatility correction). */
  drift?: number;
  /** Annual volatility σ (0.8 = 80 %). */
  volatility?: number;
  /** Expected jumps per year (Merton jump diffusion); 0 for none. */
  jumpIntensity?: number;
  /** Mean and standard deviation of a jump's log size. */
  jumpMean?: number;
  jumpStd?: number;
  /** Mean base volume per bar. */
  volume?: number;
}

export interface SyntheticSeriesOptions {
  seed: number | string;
  symbols: SyntheticSymbol[];
  /** Bar length, default 1m. */
  timeframe?: string;
  /** Price steps inside a bar; open, high, low and close come from that path. */
  stepsPerBar?: number;
  /** Open time of the first generated bar (history included). */
  start: number;
}

const YEAR_MS = 365 * 86_400_000;

/** 128-bit string hash (cyrb128), to seed independent streams per symbol from one seed. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/** sfc32: small, fast, and good enough for simulation; the same seed gives the same stream on every platform. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(seed: number | string) {
    [this.a, this.b, this.c, this.d] = hash128(String(seed));
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Poisson-distributed count (Knuth; fine for the small means of per-step jump counts). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

/** Bars per symbol a synthetic market keeps for history queries. */
const SYNTHETIC_HISTORY_LIMIT = 10_000;

/** One symbol's price process, bar after bar. */
class PricePath {
  private price: number;
  private readonly random: SeededRandom;
  private readonly stepYears: number;
  private readonly mu: number;
  private readonly sigma: number;
  private readonly lambda: number;

  constructor(
    private readonly spec: SyntheticSymbol,
    seed: number | string,
    private readonly timeframe: string,
    private readonly timeframeMs: number,
    private readonly steps: number,
  ) {
    this.price = spec.startPrice;
    this.random = new SeededRandom(`${seed}|${canonicalSymbol(spec.symbol)}`);
    this.stepYears = timeframeMs / steps / YEAR_MS;
    this.mu = spec.drift ?? 0;
    this.sigma = spec.volatility ?? 0.5;
    this.lambda = spec.jumpIntensity ?? 0;
  }

  bar(timestamp: number, symbol: string): Candle {
    const open = this.price;
    let high = open;
    let low = open;
    const drift = (this.mu - (this.sigma * this.sigma) / 2) * this.stepYears;
    const diffusion = this.sigma * Math.sqrt(this.stepYears);
    for (let i = 0; i < this.steps; i++) {
      let logReturn = drift + diffusion * this.random.normal();
      const jumps = this.lambda > 0 ? this.random.poisson(this.lambda * this.stepYears) : 0;
      for (let j = 0; j < jumps; j++) logReturn += (this.spec.jumpMean ?? 0) + (this.spec.jumpStd ?? 0.05) * this.random.normal();
      this.price *= Math.exp(logReturn);
      high = Math.max(high, this.price);
      low = Math.min(low, this.price);
    }
    // Log-normal with mean 1 around the configured volume.
    const volume = (this.spec.volume ?? 1_000) * Math.exp(0.5 * this.random.normal() - 0.125);
    return { symbol, timeframe: this.timeframe, timestamp, open, high, low, close: this.price, volume, closed: true };
  }
}

/**
 * Deterministic candles: geometric Brownian motion with drift and volatility plus Poisson jumps,
 * independent per symbol, bar after bar from `start` (the same seed gives the same series).
 */
export function* syntheticCandles(options: SyntheticSeriesOptions): Generator<Candle[]> {
  const timeframe = options.timeframe ?? '1m';
  const tfMs = timeframeToMs(timeframe);
  const paths = options.symbols.map((s) => ({ symbol: canonicalSymbol(s.symbol), path: new PricePath(s, options.seed, timeframe, tfMs, options.stepsPerBar ?? 12) }));
  for (let time = options.start; ; time += tfMs) yield paths.map(({ symbol, path }) => path.bar(time, symbol));
}

export interface SyntheticProviderOptions {
  id?: string;
  venue?: string;
  /**
   * A virtual clock: the market plays when `start()` is called, as fast as `speed` allows. The
   * wall clock (or any other): bars close in real time, and the market starts by itself when the
   * first stream is watched.
   */
  clock: Clock;
  /** Default: warnings and errors on stderr (see `libraryLogger`). */
  logger?: Logger;
  seed: number | string;
  symbols: SyntheticSymbol[];
  timeframe?: string;
  stepsPerBar?: number;
  /** Open time of the first played bar; default: the clock's current bar. */
  start?: number;
  /** Bars generated before `start`, served by fetchOHLCV for warm-up. */
  historyBars?: number;
  /** Bars to play; endless when left out (stop it with `stop()`). */
  bars?: number;
  /**
   * On a virtual clock: `max` (default, as fast as consumers keep up) or a multiple of real time.
   * On the wall clock bars close in real time, so only 1 (or nothing) is accepted.
   */
  speed?: number | 'max';
  maxPauseMs?: number;
  /** On a virtual clock, how long streams may wait for `start()` before a warning says so (wall time). */
  notStartedWarningMs?: number;
}

/** A speed the clock cannot give: on the wall clock a synthetic market plays in real time. */
export class SyntheticSpeedError extends ConfigError {
  constructor(id: string, speed: number | 'max') {
    const message = `speed ${String(speed)} needs market time: on the wall clock a synthetic market plays in real time. Run on a virtual clock (system.clock: market; in code, a VirtualClock for the system and the provider), or leave speed out.`;
    super(`Invalid configuration:\n  - providers.${id}.speed: ${message}`, [{ path: `providers.${id}.speed`, message }]);
  }
}

/**
 * Made-up but plausible market data for demos and load tests, on the same engine as the replay:
 * bars are played at their close time on the injected clock. On a virtual clock the market plays
 * once `start()` is called (after every consumer has subscribed, so a run is reproducible), as
 * fast as consumers keep up or at `speed`; until then a warning says that nothing plays. On the
 * wall clock it plays in real time like a live venue, starting by itself when the first stream
 * is watched; `stop()` ends it at once, even while it waits for the next bar.
 */
export class SyntheticProvider extends TimelineProvider implements Provider {
  readonly kind = 'synthetic' as const;
  readonly id: string;
  readonly venue: string;
  private readonly options: SyntheticProviderOptions;
  protected readonly timeline: MarketTimeline;
  private readonly tfMs: number;
  private readonly start_: number;
  private readonly generator: Generator<Candle[]>;
  private readonly logger: Logger;
  /** Not on a virtual clock: bars close in real time. */
  private readonly live: boolean;
  private stopped = false;
  /** What the timeline waits on for the next bar on the wall clock: `stop()` cuts the wait short. */
  private readonly waits: StoppableClock | undefined;
  private notStartedWarning: ReturnType<typeof setTimeout> | undefined;

  constructor(options: SyntheticProviderOptions) {
    super();
    this.options = options;
    this.id = options.id ?? 'synthetic';
    this.venue = options.venue ?? this.id;
    this.logger = options.logger ?? libraryLogger();
    this.live = !(options.clock instanceof VirtualClock);
    if (this.live && options.speed !== undefined && options.speed !== 1) throw new SyntheticSpeedError(this.id, options.speed);
    const timeframe = options.timeframe ?? '1m';
    this.tfMs = timeframeToMs(timeframe);
    const history = options.historyBars ?? 200;
    // A fresh virtual clock sits at 0; history before the epoch would make no sense, so such a
    // clock starts the series on 2024-01-01 and is moved there.
    const now = options.clock.now();
    this.start_ = options.start ?? (now - history * this.tfMs < 0 ? Date.UTC(2024, 0, 1) : barOpenTime(now, this.tfMs));
    if (options.clock instanceof VirtualClock && options.clock.now() < this.start_) options.clock.advanceTo(this.start_);
    this.waits = this.live ? new StoppableClock(options.clock) : undefined;
    this.timeline = new MarketTimeline({
      id: this.id,
      clock: this.waits ?? options.clock,
      logger: this.logger,
      // On the wall clock bars wait for their close time, nothing else paces them.
      speed: this.live ? 'max' : (options.speed ?? 'max'),
      maxPauseMs: options.maxPauseMs,
      // A synthetic market never ends: it serves a venue's worth of history, not everything it made.
      historyLimit: Math.max(history, SYNTHETIC_HISTORY_LIMIT),
    });
    for (const s of options.symbols) this.timeline.registerSymbol(canonicalSymbol(s.symbol), timeframe);
    this.generator = syntheticCandles({ seed: options.seed, symbols: options.symbols, timeframe, stepsPerBar: options.stepsPerBar, start: this.start_ - history * this.tfMs });
    for (let i = 0; i < history; i++) {
      for (const candle of this.generator.next().value as Candle[]) this.timeline.addHistory({ kind: 'candle', time: candle.timestamp + this.tfMs, candle });
    }
  }

  /** Open time of the first played bar. */
  get startTime(): number {
    return this.start_;
  }

  /** Bars the run will play, when `bars` is set: for progress bars. */
  get recordsToPlay(): number | undefined {
    return this.options.bars === undefined ? undefined : this.options.bars * this.options.symbols.length;
  }

  /** Plays bars until `bars` are done or `stop()` is called; the same run when called again. */
  start(): Promise<TimelineSummary> {
    if (this.notStartedWarning !== undefined) clearTimeout(this.notStartedWarning);
    this.notStartedWarning = undefined;
    const total = this.options.bars ?? Number.POSITIVE_INFINITY;
    const generator = this.generator;
    const tfMs = this.tfMs;
    this.running ??= this.timeline.run(
      (function* (): Generator<TimelineRecord> {
        for (let i = 0; i < total; i++) {
          for (const candle of generator.next().value as Candle[]) yield { kind: 'candle', time: candle.timestamp + tfMs, candle };
        }
      })(),
    );
    return this.running;
  }

  override stop(): void {
    this.stopped = true;
    // The timeline stops before the bar it was waiting for; no timer is left to keep a process alive.
    super.stop();
    this.waits?.stop();
    if (this.notStartedWarning !== undefined) clearTimeout(this.notStartedWarning);
    this.notStartedWarning = undefined;
  }

  override watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    const stream = super.watchTicks(symbol, signal);
    this.consumerArrived();
    return stream;
  }

  override watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    const stream = super.watchCandles(symbol, timeframe, signal);
    this.consumerArrived();
    return stream;
  }

  override pushTicks(symbol: string, onTick: (tick: Tick) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    const ended = super.pushTicks(symbol, onTick, signal);
    this.consumerArrived();
    return ended;
  }

  override pushCandles(symbol: string, timeframe: string, onCandle: (candle: Candle) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    const ended = super.pushCandles(symbol, timeframe, onCandle, signal);
    this.consumerArrived();
    return ended;
  }

  /**
   * A stream is being watched. A live market starts playing; on a virtual clock the caller starts
   * it once everything has subscribed, and is told when that seems forgotten.
   */
  private consumerArrived(): void {
    if (this.running !== undefined || this.stopped) return;
    if (this.live) {
      this.start().catch((err: unknown) => this.logger.error({ err, provider: this.id }, 'synthetic market stopped playing'));
      return;
    }
    if (this.notStartedWarning !== undefined) return;
    const waitMs = this.options.notStartedWarningMs ?? 3_000;
    this.notStartedWarning = setTimeout(() => {
      this.notStartedWarning = undefined;
      if (this.running !== undefined || this.stopped) return;
      this.logger.warn(
        { provider: this.id, waitedMs: waitMs },
        `synthetic market '${this.id}' is being watched but plays nothing until its start() is called: on a virtual clock, call start() once every agent has subscribed (after system.start())`,
      );
    }, waitMs);
    // A reminder only: it must not keep a process alive that has nothing else to do.
    this.notStartedWarning.unref();
  }
}

/**
 * A clock whose `sleep` ends early when the market stops: the timeline of a live market sleeps
 * until each bar's close, up to a whole bar, and that timer must not outlive the market.
 */
class StoppableClock implements Clock {
  readonly kind: Clock['kind'];
  private readonly sleeping = new Set<() => void>();
  private stopped = false;

  constructor(private readonly inner: Clock) {
    this.kind = inner.kind;
  }

  now(): number {
    return this.inner.now();
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.inner.setTimeout(fn, delayMs);
  }

  setInterval(fn: () => void, intervalMs: number, options?: IntervalOptions): TimerHandle {
    return this.inner.setInterval(fn, intervalMs, options);
  }

  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleeping.delete(wake);
        handle.cancel();
        resolve();
      };
      const handle = this.inner.setTimeout(wake, ms);
      this.sleeping.add(wake);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const wake of [...this.sleeping]) wake();
  }
}
