import { createIndicator, type Candle, type CandleIndicator } from '@tradebus/indicators';
import { featureNames, INDICATOR_FIELDS, parseFeatureConfig, type FeatureConfig, type ParseFeatureOptions } from './config.js';
import { FeatureInputError } from './errors.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The bar a feature pipeline reads: a closed (or forming) OHLCV candle; `timestamp` is its open time. */
export type FeatureBar = Pick<Candle, 'timestamp' | 'open' | 'high' | 'low' | 'close' | 'volume'>;

/**
 * A streaming feature pipeline for one series (one symbol, one timeframe). It is a pure function
 * of the bars fed to it: no clock, no I/O, so a backtest, a replay and a live runner that feed the
 * same bars get the same vectors, and a value at bar t never depends on a later bar.
 *
 * - `update(bar)` appends a closed bar and returns the feature vector (in {@link names} order),
 *   or `undefined` until {@link warmupPeriod} bars have been fed.
 * - `replaceLast(bar)` replaces the most recent bar (the still-forming candle); any number of
 *   replacements followed by the final bar end in exactly the state one `update` would leave.
 * - A bar with a non-finite number, or a non-positive close when returns or volatility are
 *   computed, throws {@link FeatureInputError} and changes nothing.
 *
 * Returns, volatility and volume z-scores are recomputed from the last bars of a small ring buffer
 * on every bar (O(window)): no running sums, so replacing a bar cannot leave rounding residue and
 * the value equals a direct computation over the same bars. Indicators are the streaming ones of
 * @tradebus/indicators. Note that recursive indicators (EMA, RSI, MACD...) depend on where the
 * series started: to compare two runs bar for bar, feed both from the same first bar.
 */
export class FeaturePipeline {
  readonly config: FeatureConfig;
  /** Feature names in vector order (see `featureNames`). */
  readonly names: readonly string[];
  /** Bars needed before the first full vector. */
  readonly warmupPeriod: number;
  private readonly capacity: number;
  private readonly closes: Float64Array;
  /** One-bar log return ending at each stored bar, computed once when the bar is stored. */
  private readonly logReturns: Float64Array;
  private readonly volumes: Float64Array;
  private readonly timestamps: Float64Array;
  private readonly indicators: CandleIndicator[];
  private readonly fields: (readonly string[] | undefined)[];
  private readonly needsPositiveClose: boolean;
  private head = -1;
  private stored = 0;
  private fed = 0;
  private current: number[] | undefined;

  constructor(config: FeatureConfig) {
    this.config = config;
    this.names = Object.freeze(featureNames(config));
    const specs = Object.values(config.indicators);
    this.indicators = specs.map((spec) => createIndicator(spec));
    this.fields = specs.map((spec) => INDICATOR_FIELDS[spec.type]);
    const longestReturn = Math.max(0, ...config.returns, ...config.volatility);
    const longestVolume = Math.max(0, ...config.volumeZScore);
    this.capacity = Math.max(1, longestReturn + 1, longestVolume);
    this.warmupPeriod = Math.max(1, this.capacity, ...this.indicators.map((i) => i.warmupPeriod));
    this.closes = new Float64Array(this.capacity);
    this.logReturns = new Float64Array(this.capacity);
    this.volumes = new Float64Array(this.capacity);
    this.timestamps = new Float64Array(this.capacity);
    this.needsPositiveClose = config.returns.length + config.volatility.length > 0;
  }

  /** Bars consumed so far (replaced bars count once). */
  get count(): number {
    return this.fed;
  }

  get isReady(): boolean {
    return this.current !== undefined;
  }

  /** The vector after the last bar, or `undefined` while warming up. */
  get value(): readonly number[] | undefined {
    return this.current;
  }

  update(bar: FeatureBar): readonly number[] | undefined {
    this.check(bar);
    this.head = (this.head + 1) % this.capacity;
    if (this.stored < this.capacity) this.stored++;
    this.fed++;
    for (const indicator of this.indicators) indicator.update(bar as Candle);
    return this.store(bar);
  }

  replaceLast(bar: FeatureBar): readonly number[] | undefined {
    if (this.fed === 0) return this.update(bar);
    this.check(bar);
    for (const indicator of this.indicators) indicator.replaceLast(bar as Candle);
    return this.store(bar);
  }

  /** The current vector as `{ name: value }`, or `undefined` while warming up. */
  record(): Record<string, number> | undefined {
    const vector = this.current;
    if (vector === undefined) return undefined;
    const out: Record<string, number> = {};
    for (let i = 0; i < vector.length; i++) out[this.names[i]!] = vector[i]!;
    return out;
  }

  reset(): void {
    this.head = -1;
    this.stored = 0;
    this.fed = 0;
    this.current = undefined;
    for (const indicator of this.indicators) indicator.reset();
  }

  private check(bar: FeatureBar): void {
    for (const key of ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const) {
      if (!Number.isFinite(bar[key])) throw new FeatureInputError(`Bar ${key} is ${String(bar[key])}; every field of a bar must be a finite number. The bar was not used.`);
    }
    if (this.needsPositiveClose && !(bar.close > 0)) {
      throw new FeatureInputError(`Bar close is ${bar.close}; log returns need a positive close. The bar was not used.`);
    }
  }

  private store(bar: FeatureBar): readonly number[] | undefined {
    this.closes[this.head] = bar.close;
    // The previous bar's close is never replaced by this one, so the slot is exact after replaceLast too.
    this.logReturns[this.head] = this.fed > 1 ? Math.log(bar.close / this.at(this.closes, 1)) : Number.NaN;
    this.volumes[this.head] = bar.volume;
    this.timestamps[this.head] = bar.timestamp;
    this.current = this.fed >= this.warmupPeriod ? this.compute() : undefined;
    return this.current;
  }

  /** The value `back` bars before the newest (0 = newest). */
  private at(buffer: Float64Array, back: number): number {
    return buffer[(this.head - back + this.capacity) % this.capacity]!;
  }

  private compute(): number[] | undefined {
    const out: number[] = [];
    const { config } = this;
    for (const h of config.returns) out.push(Math.log(this.at(this.closes, 0) / this.at(this.closes, h)));
    for (const w of config.volatility) {
      let mean = 0;
      for (let k = 0; k < w; k++) mean += this.at(this.logReturns, k);
      mean /= w;
      let squares = 0;
      for (let k = 0; k < w; k++) {
        const d = this.at(this.logReturns, k) - mean;
        squares += d * d;
      }
      out.push(Math.sqrt(squares / (w - 1)));
    }
    for (const w of config.volumeZScore) {
      let mean = 0;
      for (let k = 0; k < w; k++) mean += this.at(this.volumes, k);
      mean /= w;
      let squares = 0;
      for (let k = 0; k < w; k++) {
        const d = this.at(this.volumes, k) - mean;
        squares += d * d;
      }
      const sd = Math.sqrt(squares / (w - 1));
      // A window of equal volumes has no spread: the bar is exactly average, not infinitely unusual.
      out.push(sd === 0 ? 0 : (this.at(this.volumes, 0) - mean) / sd);
    }
    const time = this.at(this.timestamps, 0);
    if (config.calendar.hourOfDay) out.push(mod(Math.floor(time / HOUR_MS), 24));
    // 1970-01-01 (day 0) was a Thursday: day 0 of the week is Sunday, as in Date#getUTCDay.
    if (config.calendar.dayOfWeek) out.push(mod(Math.floor(time / DAY_MS) + 4, 7));
    for (let i = 0; i < this.indicators.length; i++) {
      const value = this.indicators[i]!.value;
      if (value === undefined) return undefined;
      const fields = this.fields[i];
      if (fields === undefined) out.push(value as number);
      else for (const field of fields) out.push((value as Record<string, number>)[field]!);
    }
    return out;
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Validates `config` (see `parseFeatureConfig`) and builds a pipeline for one series. */
export function createFeaturePipeline(config: unknown, options?: ParseFeatureOptions): FeaturePipeline {
  return new FeaturePipeline(parseFeatureConfig(config, options));
}
