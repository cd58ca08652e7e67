import { IndicatorConfigError } from './errors.js';
import {
  checkHLC,
  nonFiniteInput,
  pricePicker,
  requirePeriod,
  type PricePicker,
} from './internal/input.js';
import { EmaState, RmaState, WindowMax, WindowSum } from './internal/window.js';
import type { PriceOptions } from './moving-averages.js';
import type { HLC, Indicator, MacdResult, PriceInput, StochasticResult } from './types.js';

/** Value an oscillator reports when its range is zero (a flat market); see docs. */
const NEUTRAL = 50;

/**
 * Running window sums of values in 0..100 can drift a few ulps outside the range (-1e-14 where the
 * exact mean is 0); clamping keeps `k <= 0`-style rules meaningful.
 */
function clampPercent(value: number): number {
  return value < 0 ? 0 : value > 100 ? 100 : value;
}

/**
 * Relative strength index with indicatorts' smoothing: gains and losses go through its rolling
 * moving average (plain mean for the first `period` values, then Wilder's recursion), and the very
 * first bar contributes a zero gain and a zero loss. Reported after `period + 1` values (once
 * `period` real price changes are in). A market that has not moved at all reports 50.
 */
export class RSI implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly gains: RmaState;
  private readonly losses: RmaState;
  private previous = 0;
  private savedPrevious = 0;
  private current = 0;

  constructor(period = 14, options: PriceOptions = {}) {
    this.label = `RSI(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period + 1;
    this.pick = pricePicker(options.source);
    this.gains = new RmaState(period);
    this.losses = new RmaState(period);
  }

  get count(): number {
    return this.gains.count;
  }

  get isReady(): boolean {
    return this.gains.count >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.gains.count >= this.warmupPeriod ? this.current : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.gains.save();
    this.losses.save();
    this.savedPrevious = this.previous;
    return this.step(x);
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.gains.count === 0) {
      this.gains.save();
      this.losses.save();
      this.savedPrevious = this.previous;
    } else {
      this.gains.rollback();
      this.losses.rollback();
      this.previous = this.savedPrevious;
    }
    return this.step(x);
  }

  reset(): void {
    this.gains.reset();
    this.losses.reset();
    this.previous = 0;
    this.current = 0;
  }

  private step(x: number): number | undefined {
    let gain = 0;
    let loss = 0;
    if (this.gains.count > 0) {
      const difference = x - this.previous;
      if (difference > 0) gain = difference;
      else loss = -difference;
    }
    this.previous = x;
    const meanGain = this.gains.push(gain);
    const meanLoss = this.losses.push(loss);
    if (this.gains.count < this.warmupPeriod) return undefined;
    this.current =
      meanLoss === 0 && meanGain === 0 ? NEUTRAL : 100 - 100 / (1 + meanGain / meanLoss);
    return this.current;
  }
}

export interface MacdOptions extends PriceOptions {
  /** Fast EMA period. Default 12. */
  fast?: number;
  /** Slow EMA period. Default 26. */
  slow?: number;
  /** Signal EMA period. Default 9. */
  signal?: number;
}

/**
 * MACD line (fast EMA - slow EMA), signal line (EMA of the MACD line) and histogram (line -
 * signal). All EMAs are seeded with their first input, as in indicatorts. Reported after
 * `slow + signal - 1` values.
 */
export class MACD implements Indicator<PriceInput, MacdResult> {
  readonly fast: number;
  readonly slow: number;
  readonly signal: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly fastEma: EmaState;
  private readonly slowEma: EmaState;
  private readonly signalEma: EmaState;
  private readonly result: MacdResult = { macd: 0, signal: 0, histogram: 0 };

  constructor(options: MacdOptions = {}) {
    const { fast = 12, slow = 26, signal = 9 } = options;
    this.label = `MACD(${fast},${slow},${signal})`;
    this.fast = requirePeriod(this.label, 'fast', fast);
    this.slow = requirePeriod(this.label, 'slow', slow);
    this.signal = requirePeriod(this.label, 'signal', signal);
    if (fast >= slow) {
      throw new IndicatorConfigError(
        'fast',
        `${this.label}: fast (${fast}) must be shorter than slow (${slow}); swap them`,
      );
    }
    this.warmupPeriod = slow + signal - 1;
    this.pick = pricePicker(options.source);
    this.fastEma = new EmaState(fast);
    this.slowEma = new EmaState(slow);
    this.signalEma = new EmaState(signal);
  }

  get count(): number {
    return this.fastEma.count;
  }

  get isReady(): boolean {
    return this.fastEma.count >= this.warmupPeriod;
  }

  get value(): MacdResult | undefined {
    return this.fastEma.count >= this.warmupPeriod ? this.result : undefined;
  }

  update(input: PriceInput): MacdResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.fastEma.save();
    this.slowEma.save();
    this.signalEma.save();
    return this.step(x);
  }

  replaceLast(input: PriceInput): MacdResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.fastEma.count === 0) {
      this.fastEma.save();
      this.slowEma.save();
      this.signalEma.save();
    } else {
      this.fastEma.rollback();
      this.slowEma.rollback();
      this.signalEma.rollback();
    }
    return this.step(x);
  }

  reset(): void {
    this.fastEma.reset();
    this.slowEma.reset();
    this.signalEma.reset();
  }

  private step(x: number): MacdResult | undefined {
    const line = this.fastEma.push(x) - this.slowEma.push(x);
    const signal = this.signalEma.push(line);
    if (this.fastEma.count < this.warmupPeriod) return undefined;
    const result = this.result;
    result.macd = line;
    result.signal = signal;
    result.histogram = line - signal;
    return result;
  }
}

export interface StochasticOptions {
  /** Look-back of the high/low range for %K. Default 14. */
  kPeriod?: number;
  /** SMA period of %D. Default 3. */
  dPeriod?: number;
}

/**
 * Stochastic oscillator: `%K = 100 * (close - lowest low) / (highest high - lowest low)` over
 * `kPeriod` bars, `%D = SMA(%K, dPeriod)`, as in indicatorts (no %K slowing). A zero range
 * reports %K = 50. Reported after `kPeriod + dPeriod - 1` bars.
 */
export class Stochastic implements Indicator<HLC, StochasticResult> {
  readonly kPeriod: number;
  readonly dPeriod: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly highs: WindowMax;
  private readonly negatedLows: WindowMax;
  private readonly ks: WindowSum;
  private readonly result: StochasticResult = { k: 0, d: 0 };

  constructor(options: StochasticOptions = {}) {
    const { kPeriod = 14, dPeriod = 3 } = options;
    this.label = `Stochastic(${kPeriod},${dPeriod})`;
    this.kPeriod = requirePeriod(this.label, 'kPeriod', kPeriod);
    this.dPeriod = requirePeriod(this.label, 'dPeriod', dPeriod);
    this.warmupPeriod = kPeriod + dPeriod - 1;
    this.highs = new WindowMax(kPeriod);
    this.negatedLows = new WindowMax(kPeriod);
    this.ks = new WindowSum(dPeriod);
  }

  get count(): number {
    return this.ks.count;
  }

  get isReady(): boolean {
    return this.ks.count >= this.warmupPeriod;
  }

  get value(): StochasticResult | undefined {
    return this.ks.count >= this.warmupPeriod ? this.result : undefined;
  }

  update(bar: HLC): StochasticResult | undefined {
    checkHLC(this.label, bar);
    this.highs.save();
    this.negatedLows.save();
    this.ks.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): StochasticResult | undefined {
    checkHLC(this.label, bar);
    if (this.ks.count === 0) {
      this.highs.save();
      this.negatedLows.save();
      this.ks.save();
    } else {
      this.highs.rollback();
      this.negatedLows.rollback();
      this.ks.rollback();
    }
    return this.step(bar);
  }

  reset(): void {
    this.highs.reset();
    this.negatedLows.reset();
    this.ks.reset();
  }

  private step(bar: HLC): StochasticResult | undefined {
    this.highs.push(bar.high);
    this.negatedLows.push(-bar.low);
    const highest = this.highs.max;
    const lowest = -this.negatedLows.max;
    const k = highest === lowest ? NEUTRAL : ((bar.close - lowest) / (highest - lowest)) * 100;
    this.ks.push(k);
    if (this.ks.count < this.warmupPeriod) return undefined;
    this.result.k = k;
    this.result.d = this.ks.mean;
    return this.result;
  }
}

export interface StochasticRsiOptions extends PriceOptions {
  /** RSI period. Default 14. */
  rsiPeriod?: number;
  /** Look-back of the RSI's high/low range. Default 14. */
  stochPeriod?: number;
  /** SMA smoothing of the raw stochastic, giving %K. Default 3. */
  kPeriod?: number;
  /** SMA of %K, giving %D. Default 3. */
  dPeriod?: number;
}

/**
 * Stochastic RSI, scaled 0-100: `raw = 100 * (RSI - min RSI) / (max RSI - min RSI)` over
 * `stochPeriod` RSI values, `%K = SMA(raw, kPeriod)`, `%D = SMA(%K, dPeriod)` (the common charting
 * definition). The RSI is this package's {@link RSI}; only its reported values enter the window.
 * indicatorts has no StochRSI. A flat RSI window gives raw = 50.
 */
export class StochasticRSI implements Indicator<PriceInput, StochasticResult> {
  readonly rsiPeriod: number;
  readonly stochPeriod: number;
  readonly kPeriod: number;
  readonly dPeriod: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly rsi: RSI;
  private readonly highs: WindowMax;
  private readonly negatedLows: WindowMax;
  private readonly raws: WindowSum;
  private readonly ks: WindowSum;
  private seen = 0;
  private savedSeen = 0;
  private readonly result: StochasticResult = { k: 0, d: 0 };

  constructor(options: StochasticRsiOptions = {}) {
    const { rsiPeriod = 14, stochPeriod = 14, kPeriod = 3, dPeriod = 3 } = options;
    this.label = `StochasticRSI(${rsiPeriod},${stochPeriod},${kPeriod},${dPeriod})`;
    this.rsiPeriod = requirePeriod(this.label, 'rsiPeriod', rsiPeriod);
    this.stochPeriod = requirePeriod(this.label, 'stochPeriod', stochPeriod);
    this.kPeriod = requirePeriod(this.label, 'kPeriod', kPeriod);
    this.dPeriod = requirePeriod(this.label, 'dPeriod', dPeriod);
    this.pick = pricePicker(options.source);
    this.rsi = new RSI(rsiPeriod);
    this.warmupPeriod = this.rsi.warmupPeriod + stochPeriod - 1 + kPeriod - 1 + dPeriod - 1;
    this.highs = new WindowMax(stochPeriod);
    this.negatedLows = new WindowMax(stochPeriod);
    this.raws = new WindowSum(kPeriod);
    this.ks = new WindowSum(dPeriod);
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.warmupPeriod;
  }

  get value(): StochasticResult | undefined {
    return this.seen >= this.warmupPeriod ? this.result : undefined;
  }

  update(input: PriceInput): StochasticResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.saveAll();
    return this.step(x);
  }

  replaceLast(input: PriceInput): StochasticResult | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.seen === 0) {
      this.saveAll();
      return this.step(x);
    }
    this.highs.rollback();
    this.negatedLows.rollback();
    this.raws.rollback();
    this.ks.rollback();
    this.seen = this.savedSeen;
    // The inner RSI keeps its own undo; replaceLast on it restores and re-applies in one go.
    return this.afterRsi(this.rsi.replaceLast(x));
  }

  reset(): void {
    this.rsi.reset();
    this.highs.reset();
    this.negatedLows.reset();
    this.raws.reset();
    this.ks.reset();
    this.seen = 0;
  }

  private saveAll(): void {
    this.highs.save();
    this.negatedLows.save();
    this.raws.save();
    this.ks.save();
    this.savedSeen = this.seen;
  }

  private step(x: number): StochasticResult | undefined {
    return this.afterRsi(this.rsi.update(x));
  }

  private afterRsi(rsi: number | undefined): StochasticResult | undefined {
    this.seen++;
    if (rsi === undefined) return undefined;
    this.highs.push(rsi);
    this.negatedLows.push(-rsi);
    if (this.seen < this.rsi.warmupPeriod + this.stochPeriod - 1) return undefined;
    const highest = this.highs.max;
    const lowest = -this.negatedLows.max;
    this.raws.push(highest === lowest ? NEUTRAL : ((rsi - lowest) / (highest - lowest)) * 100);
    if (!this.raws.isFull) return undefined;
    const k = clampPercent(this.raws.sum / this.kPeriod);
    this.ks.push(k);
    if (!this.ks.isFull) return undefined;
    this.result.k = k;
    this.result.d = clampPercent(this.ks.sum / this.dPeriod);
    return this.result;
  }
}

/**
 * Commodity channel index as indicatorts defines it: typical price TP, `MA = SMA(TP)`, and the
 * mean deviation is `SMA(|TP - MA|)` (each bar's deviation from its own moving average, not from
 * the current one as in Lambert's original), `CCI = (TP - MA) / (0.015 * meanDeviation)`.
 * Reported after `2 * period - 1` bars, when every deviation comes from a full window. Zero mean
 * deviation reports 0.
 */
export class CCI implements Indicator<HLC, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly typicalPrices: WindowSum;
  private readonly deviations: WindowSum;
  private current = 0;

  constructor(period = 20) {
    this.label = `CCI(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = 2 * period - 1;
    this.typicalPrices = new WindowSum(period);
    this.deviations = new WindowSum(period);
  }

  get count(): number {
    return this.typicalPrices.count;
  }

  get isReady(): boolean {
    return this.typicalPrices.count >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.typicalPrices.count >= this.warmupPeriod ? this.current : undefined;
  }

  update(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    this.typicalPrices.save();
    this.deviations.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    if (this.typicalPrices.count === 0) {
      this.typicalPrices.save();
      this.deviations.save();
    } else {
      this.typicalPrices.rollback();
      this.deviations.rollback();
    }
    return this.step(bar);
  }

  reset(): void {
    this.typicalPrices.reset();
    this.deviations.reset();
    this.current = 0;
  }

  private step(bar: HLC): number | undefined {
    const typical = (bar.high + bar.low + bar.close) / 3;
    this.typicalPrices.push(typical);
    const deviation = typical - this.typicalPrices.mean;
    this.deviations.push(Math.abs(deviation));
    if (this.typicalPrices.count < this.warmupPeriod) return undefined;
    const meanDeviation = this.deviations.mean;
    this.current = meanDeviation === 0 ? 0 : deviation / (meanDeviation * 0.015);
    return this.current;
  }
}

/**
 * Rate of change in percent: `(value / value[period bars ago] - 1) * 100`, as indicatorts.
 * Reported after `period + 1` values.
 */
export class ROC implements Indicator<PriceInput, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly pick: PricePicker;
  private readonly ring: Float64Array;
  private pos = 0;
  private seen = 0;
  private current = 0;
  private savedPos = 0;
  private savedSeen = 0;
  private savedSlot = 0;

  constructor(period = 3, options: PriceOptions = {}) {
    this.label = `ROC(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period + 1;
    this.pick = pricePicker(options.source);
    this.ring = new Float64Array(period);
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.seen >= this.warmupPeriod ? this.current : undefined;
  }

  update(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    this.save();
    return this.step(x);
  }

  replaceLast(input: PriceInput): number | undefined {
    const x = typeof input === 'number' ? input : this.pick(input);
    if (!Number.isFinite(x)) throw nonFiniteInput(this.label, 'value', x);
    if (this.seen === 0) {
      this.save();
    } else {
      this.pos = this.savedPos;
      this.seen = this.savedSeen;
      this.ring[this.pos] = this.savedSlot;
    }
    return this.step(x);
  }

  reset(): void {
    this.ring.fill(0);
    this.pos = 0;
    this.seen = 0;
    this.current = 0;
  }

  private save(): void {
    this.savedPos = this.pos;
    this.savedSeen = this.seen;
    this.savedSlot = this.ring[this.pos]!;
  }

  private step(x: number): number | undefined {
    const then = this.ring[this.pos]!;
    this.ring[this.pos] = x;
    this.pos = this.pos + 1 === this.period ? 0 : this.pos + 1;
    if (++this.seen < this.warmupPeriod) return undefined;
    this.current = (x / then - 1) * 100;
    return this.current;
  }
}

/**
 * Williams %R: `-100 * (highest high - close) / (highest high - lowest low)` over `period` bars,
 * range -100..0. A zero range reports -50. Same values as indicatorts' `willr`.
 */
export class WilliamsR implements Indicator<HLC, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly highs: WindowMax;
  private readonly negatedLows: WindowMax;
  private seen = 0;
  private savedSeen = 0;
  private current = 0;

  constructor(period = 14) {
    this.label = `WilliamsR(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.highs = new WindowMax(period);
    this.negatedLows = new WindowMax(period);
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.seen >= this.warmupPeriod ? this.current : undefined;
  }

  update(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    this.highs.save();
    this.negatedLows.save();
    this.savedSeen = this.seen;
    return this.step(bar);
  }

  replaceLast(bar: HLC): number | undefined {
    checkHLC(this.label, bar);
    if (this.seen === 0) {
      this.highs.save();
      this.negatedLows.save();
      this.savedSeen = this.seen;
    } else {
      this.highs.rollback();
      this.negatedLows.rollback();
      this.seen = this.savedSeen;
    }
    return this.step(bar);
  }

  reset(): void {
    this.highs.reset();
    this.negatedLows.reset();
    this.seen = 0;
    this.current = 0;
  }

  private step(bar: HLC): number | undefined {
    this.highs.push(bar.high);
    this.negatedLows.push(-bar.low);
    if (++this.seen < this.warmupPeriod) return undefined;
    const highest = this.highs.max;
    const lowest = -this.negatedLows.max;
    this.current =
      highest === lowest ? -NEUTRAL : ((highest - bar.close) / (highest - lowest)) * -100;
    return this.current;
  }
}
