import { nonFiniteInput, pricePicker, requirePeriod, type PricePicker } from './internal/input.js';
import { EmaState, WindowSum } from './internal/window.js';
import type { Indicator, PriceInput, PriceSource } from './types.js';

export interface PriceOptions {
  /** Which price of a candle to use when a candle (not a number) is passed. Default `close`. */
  source?: PriceSource;
}

/** Simple moving average: mean of the last `period` values. Same values as indicatorts' `sma`. */
export class SMA implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly window: WindowSum;

  constructor(period: number, options: PriceOptions = {}) {
    this.label = `SMA(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.pick = pricePicker(options.source);
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

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.window.save();
    this.window.push(x);
    return this.window.count >= this.period ? this.window.sum / this.period : undefined;
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.window.count === 0) this.window.save();
    else this.window.rollback();
    this.window.push(x);
    return this.window.count >= this.period ? this.window.sum / this.period : undefined;
  }

  reset(): void {
    this.window.reset();
  }
}

/**
 * Exponential moving average with `k = 2 / (period + 1)`, seeded with the first value (as
 * indicatorts does; the textbook seeds with the SMA of the first `period` values). Reported once
 * `period` values have been seen.
 */
export class EMA implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly k: number;
  private readonly m: number;
  private current = 0;
  private seen = 0;
  // Only the value needs saving for replaceLast: `seen` always moved by exactly one.
  private savedCurrent = 0;

  constructor(period: number, options: PriceOptions = {}) {
    this.label = `EMA(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.pick = pricePicker(options.source);
    this.k = 2 / (1 + period);
    this.m = 1 - this.k;
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.period;
  }

  get value(): number | undefined {
    return this.seen >= this.period ? this.current : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    const previous = this.current;
    this.savedCurrent = previous;
    const next = this.seen === 0 ? x : x * this.k + previous * this.m;
    this.current = next;
    return ++this.seen >= this.period ? next : undefined;
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.seen > 0) {
      this.current = this.savedCurrent;
      this.seen--;
    } else {
      this.savedCurrent = this.current;
    }
    const next = this.seen === 0 ? x : x * this.k + this.current * this.m;
    this.current = next;
    return ++this.seen >= this.period ? next : undefined;
  }

  reset(): void {
    this.current = 0;
    this.seen = 0;
  }
}

/**
 * Linearly weighted moving average: weights 1..period, newest heaviest. indicatorts has no WMA;
 * this is the textbook definition, kept O(1) with a running sum and a running weighted sum.
 */
export class WMA implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly window: WindowSum;
  private readonly divisor: number;
  private weightedSum = 0;
  private savedWeightedSum = 0;

  constructor(period: number, options: PriceOptions = {}) {
    this.label = `WMA(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.pick = pricePicker(options.source);
    this.window = new WindowSum(period);
    this.divisor = (period * (period + 1)) / 2;
  }

  get count(): number {
    return this.window.count;
  }

  get isReady(): boolean {
    return this.window.count >= this.period;
  }

  get value(): number | undefined {
    return this.window.count >= this.period ? this.weightedSum / this.divisor : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.window.save();
    this.savedWeightedSum = this.weightedSum;
    return this.step(x);
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.window.count === 0) {
      this.window.save();
      this.savedWeightedSum = this.weightedSum;
    } else {
      this.window.rollback();
      this.weightedSum = this.savedWeightedSum;
    }
    return this.step(x);
  }

  reset(): void {
    this.window.reset();
    this.weightedSum = 0;
  }

  private step(x: number): number | undefined {
    const window = this.window;
    // A full window shifts every weight down by one (minus the previous plain sum) and the oldest
    // value's weight reaches zero on its own; the new value enters with the top weight.
    if (window.count >= this.period) this.weightedSum += this.period * x - window.sum;
    else this.weightedSum += (window.count + 1) * x;
    window.push(x);
    return window.count >= this.period ? this.weightedSum / this.divisor : undefined;
  }
}

/**
 * Double EMA: `2 * EMA - EMA(EMA)`, both EMAs seeded with the first value as in indicatorts.
 * Reported after `2 * period - 1` values, the textbook warm-up of the second EMA.
 */
export class DEMA implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly ema1: EmaState;
  private readonly ema2: EmaState;
  private current = 0;

  constructor(period: number, options: PriceOptions = {}) {
    this.label = `DEMA(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = 2 * period - 1;
    this.pick = pricePicker(options.source);
    this.ema1 = new EmaState(period);
    this.ema2 = new EmaState(period);
  }

  get count(): number {
    return this.ema1.count;
  }

  get isReady(): boolean {
    return this.ema1.count >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.ema1.count >= this.warmupPeriod ? this.current : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.ema1.save();
    this.ema2.save();
    return this.step(x);
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.ema1.count === 0) {
      this.ema1.save();
      this.ema2.save();
    } else {
      this.ema1.rollback();
      this.ema2.rollback();
    }
    return this.step(x);
  }

  reset(): void {
    this.ema1.reset();
    this.ema2.reset();
    this.current = 0;
  }

  private step(x: number): number | undefined {
    const e1 = this.ema1.push(x);
    const e2 = this.ema2.push(e1);
    this.current = e1 * 2 - e2;
    return this.ema1.count >= this.warmupPeriod ? this.current : undefined;
  }
}

/**
 * Triple EMA: `3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))`, seeded with the first value as in
 * indicatorts. Reported after `3 * period - 2` values, the textbook warm-up of the third EMA.
 */
export class TEMA implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly ema1: EmaState;
  private readonly ema2: EmaState;
  private readonly ema3: EmaState;
  private current = 0;

  constructor(period: number, options: PriceOptions = {}) {
    this.label = `TEMA(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = 3 * period - 2;
    this.pick = pricePicker(options.source);
    this.ema1 = new EmaState(period);
    this.ema2 = new EmaState(period);
    this.ema3 = new EmaState(period);
  }

  get count(): number {
    return this.ema1.count;
  }

  get isReady(): boolean {
    return this.ema1.count >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.ema1.count >= this.warmupPeriod ? this.current : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.ema1.save();
    this.ema2.save();
    this.ema3.save();
    return this.step(x);
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.ema1.count === 0) {
      this.ema1.save();
      this.ema2.save();
      this.ema3.save();
    } else {
      this.ema1.rollback();
      this.ema2.rollback();
      this.ema3.rollback();
    }
    return this.step(x);
  }

  reset(): void {
    this.ema1.reset();
    this.ema2.reset();
    this.ema3.reset();
    this.current = 0;
  }

  private step(x: number): number | undefined {
    const e1 = this.ema1.push(x);
    const e2 = this.ema2.push(e1);
    const e3 = this.ema3.push(e2);
    this.current = e1 * 3 - e2 * 3 + e3;
    return this.ema1.count >= this.warmupPeriod ? this.current : undefined;
  }
}
