import {
  checkHLC,
  nonFiniteInput,
  pricePicker,
  requirePeriod,
  requirePositive,
  type PricePicker,
} from './internal/input.js';
import { EmaState, WindowMax, WindowStats, WindowSum } from './internal/window.js';
import type { PriceOptions } from './moving-averages.js';
import type { BandsResult, HLC, Indicator, PriceInput } from './types.js';

export interface BollingerOptions extends PriceOptions {
  /** Window length. Default 20. */
  period?: number;
  /** Band width in standard deviations. Default 2 (indicatorts has it fixed at 2). */
  multiplier?: number;
}

/**
 * Bollinger bands: middle = SMA(period), upper/lower = middle ± multiplier × the population
 * standard deviation of the window (divides by `period`, as indicatorts). Reported after `period`
 * values.
 */
export class BollingerBands implements Indicator<PriceInput, BandsResult> {
  readonly period: number;
  readonly multiplier: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly window: WindowStats;
  private readonly result: BandsResult = { upper: 0, middle: 0, lower: 0 };

  constructor(options: BollingerOptions = {}) {
    const { period = 20, multiplier = 2 } = options;
    this.label = `BollingerBands(${period},${multiplier})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.multiplier = requirePositive(this.label, 'multiplier', multiplier);
    this.warmupPeriod = period;
    this.pick = pricePicker(options.source);
    this.window = new WindowStats(period);
  }

  get count(): number {
    return this.window.count;
  }

  get isReady(): boolean {
    return this.window.count >= this.period;
  }

  get value(): BandsResult | undefined {
    return this.window.count >= this.period ? this.result : undefined;
  }

  /** Standard deviation of the current window (the band half-width divided by the multiplier). */
  get standardDeviation(): number | undefined {
    return this.window.count >= this.period ? this.window.std : undefined;
  }

  update(input: PriceInput): BandsResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.window.save();
    return this.step(x);
  }

  replaceLast(input: PriceInput): BandsResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.window.count === 0) this.window.save();
    else this.window.rollback();
    return this.step(x);
  }

  reset(): void {
    this.window.reset();
  }

  private step(x: number): BandsResult | undefined {
    const window = this.window;
    window.push(x);
    if (window.count < this.period) return undefined;
    const middle = window.sum / this.period;
    const width = this.multiplier * window.std;
    const result = this.result;
    result.middle = middle;
    result.upper = middle + width;
    result.lower = middle - width;
    return result;
  }
}

/** True range against the previous close; the first bar uses its own close, as indicatorts. */
class TrueRangeState {
  count = 0;
  private previousClose = 0;
  private savedPreviousClose = 0;
  private savedCount = 0;

  next(bar: HLC): number {
    const previous = this.count === 0 ? bar.close : this.previousClose;
    this.previousClose = bar.close;
    this.count++;
    return Math.max(bar.high - bar.low, Math.abs(bar.high - previous), Math.abs(bar.low - previous));
  }

  save(): void {
    this.savedPreviousClose = this.previousClose;
    this.savedCount = this.count;
  }

  rollback(): void {
    this.previousClose = this.savedPreviousClose;
    this.count = this.savedCount;
  }

  reset(): void {
    this.previousClose = 0;
    this.count = 0;
  }
}

/**
 * Average true range as indicatorts defines it: the **simple** moving average of the true range
 * over `period` bars (Wilder's original uses his recursive smoothing). Reported after `period` bars.
 */
export class ATR implements Indicator<HLC, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly trueRange = new TrueRangeState();
  private readonly window: WindowSum;

  constructor(period = 14) {
    this.label = `ATR(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.window = new WindowSum(period);
  }

  get count(): number {
    return this.window.count;
  }

  get isReady(): boolean {
    return this.window.count >= this.period;
  }

  get value(): number | undefined {
    return this.window.count >= this.period ? this.window.sum / this.period : undefined;
  }

  update(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    this.trueRange.save();
    this.window.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    if (this.window.count === 0) {
      this.trueRange.save();
      this.window.save();
    } else {
      this.trueRange.rollback();
      this.window.rollback();
    }
    return this.step(bar);
  }

  reset(): void {
    this.trueRange.reset();
    this.window.reset();
  }

  private step(bar: HLC): number | undefined {
    this.window.push(this.trueRange.next(bar));
    return this.window.count >= this.period ? this.window.sum / this.period : undefined;
  }
}

export interface KeltnerOptions {
  /** EMA and ATR period. Default 20. */
  period?: number;
  /** Band width in ATRs. Default 2 (indicatorts has it fixed at 2). */
  multiplier?: number;
}

/**
 * Keltner channel as indicatorts: middle = EMA(close, period) (seeded with the first close),
 * upper/lower = middle ± multiplier × ATR(period) (the SMA-based ATR above). Reported after
 * `period` bars.
 */
export class KeltnerChannel implements Indicator<HLC, BandsResult> {
  readonly period: number;
  readonly multiplier: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly ema: EmaState;
  private readonly trueRange = new TrueRangeState();
  private readonly window: WindowSum;
  private readonly result: BandsResult = { upper: 0, middle: 0, lower: 0 };

  constructor(options: KeltnerOptions = {}) {
    const { period = 20, multiplier = 2 } = options;
    this.label = `KeltnerChannel(${period},${multiplier})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.multiplier = requirePositive(this.label, 'multiplier', multiplier);
    this.warmupPeriod = period;
    this.ema = new EmaState(period);
    this.window = new WindowSum(period);
  }

  get count(): number {
    return this.window.count;
  }

  get isReady(): boolean {
    return this.window.count >= this.period;
  }

  get value(): BandsResult | undefined {
    return this.window.count >= this.period ? this.result : undefined;
  }

  update(bar: HLC): BandsResult | undefined {
    checkHLC(this.label, bar);
    this.ema.save();
    this.trueRange.save();
    this.window.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): BandsResult | undefined {
    checkHLC(this.label, bar);
    if (this.window.count === 0) {
      this.ema.save();
      this.trueRange.save();
      this.window.save();
    } else {
      this.ema.rollback();
      this.trueRange.rollback();
      this.window.rollback();
    }
    return this.step(bar);
  }

  reset(): void {
    this.ema.reset();
    this.trueRange.reset();
    this.window.reset();
  }

  private step(bar: HLC): BandsResult | undefined {
    const middle = this.ema.push(bar.close);
    this.window.push(this.trueRange.next(bar));
    if (this.window.count < this.period) return undefined;
    const width = (this.window.sum / this.period) * this.multiplier;
    const result = this.result;
    result.middle = middle;
    result.upper = middle + width;
    result.lower = middle - width;
    return result;
  }
}

/**
 * Donchian channel as indicatorts defines it: the highest and lowest **close** of the last
 * `period` bars (the textbook channel uses highs and lows) and their midpoint. Accepts numbers or
 * candles (reduced through `source`). Reported after `period` values.
 */
export class DonchianChannel implements Indicator<PriceInput, BandsResult> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly highs: WindowMax;
  private readonly negatedLows: WindowMax;
  private seen = 0;
  private savedSeen = 0;
  private readonly result: BandsResult = { upper: 0, middle: 0, lower: 0 };

  constructor(period = 4, options: PriceOptions = {}) {
    this.label = `DonchianChannel(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.pick = pricePicker(options.source);
    this.highs = new WindowMax(period);
    this.negatedLows = new WindowMax(period);
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.period;
  }

  get value(): BandsResult | undefined {
    return this.seen >= this.period ? this.result : undefined;
  }

  update(input: PriceInput): BandsResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.highs.save();
    this.negatedLows.save();
    this.savedSeen = this.seen;
    return this.step(x);
  }

  replaceLast(input: PriceInput): BandsResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.seen === 0) {
      this.highs.save();
      this.negatedLows.save();
      this.savedSeen = this.seen;
    } else {
      this.highs.rollback();
      this.negatedLows.rollback();
      this.seen = this.savedSeen;
    }
    return this.step(x);
  }

  reset(): void {
    this.highs.reset();
    this.negatedLows.reset();
    this.seen = 0;
  }

  private step(x: number): BandsResult | undefined {
    this.highs.push(x);
    this.negatedLows.push(-x);
    if (++this.seen < this.period) return undefined;
    const result = this.result;
    result.upper = this.highs.max;
    result.lower = -this.negatedLows.max;
    result.middle = (result.upper + result.lower) / 2;
    return result;
  }
}
