import { IndicatorConfigError } from './errors.js';
import { checkHLC, requirePeriod, requirePositive } from './internal/input.js';
import { WindowMax } from './internal/window.js';
import type { AdxResult, HLC, Indicator, IchimokuResult, ParabolicSarResult } from './types.js';

/**
 * Average directional index with the +DI / -DI lines, Wilder's original definition (indicatorts
 * has no ADX): +DM/-DM and true range from the second bar on, each smoothed with Wilder's running
 * sum (sum of the first `period` values, then `S - S / period + x`), `±DI = 100 × S±DM / S_TR`,
 * `DX = 100 × |+DI - -DI| / (+DI + -DI)`, ADX = mean of the first `period` DX values, then Wilder's
 * recursion. Reported after `2 × period` bars.
 */
export class ADX implements Indicator<HLC, AdxResult> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private seen = 0;
  private previousHigh = 0;
  private previousLow = 0;
  private previousClose = 0;
  private smoothedTrueRange = 0;
  private smoothedPlusDM = 0;
  private smoothedMinusDM = 0;
  private adx = 0;
  private saved = new Float64Array(8);
  private readonly result: AdxResult = { adx: 0, plusDI: 0, minusDI: 0 };

  constructor(period = 14) {
    this.label = `ADX(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = 2 * period;
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.warmupPeriod;
  }

  get value(): AdxResult | undefined {
    return this.seen >= this.warmupPeriod ? this.result : undefined;
  }

  update(bar: HLC): AdxResult | undefined {
    checkHLC(this.label, bar);
    this.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): AdxResult | undefined {
    checkHLC(this.label, bar);
    if (this.seen === 0) this.save();
    else this.rollback();
    return this.step(bar);
  }

  reset(): void {
    this.seen = 0;
    this.previousHigh = 0;
    this.previousLow = 0;
    this.previousClose = 0;
    this.smoothedTrueRange = 0;
    this.smoothedPlusDM = 0;
    this.smoothedMinusDM = 0;
    this.adx = 0;
  }

  private save(): void {
    const saved = this.saved;
    saved[0] = this.seen;
    saved[1] = this.previousHigh;
    saved[2] = this.previousLow;
    saved[3] = this.previousClose;
    saved[4] = this.smoothedTrueRange;
    saved[5] = this.smoothedPlusDM;
    saved[6] = this.smoothedMinusDM;
    saved[7] = this.adx;
  }

  private rollback(): void {
    const saved = this.saved;
    this.seen = saved[0]!;
    this.previousHigh = saved[1]!;
    this.previousLow = saved[2]!;
    this.previousClose = saved[3]!;
    this.smoothedTrueRange = saved[4]!;
    this.smoothedPlusDM = saved[5]!;
    this.smoothedMinusDM = saved[6]!;
    this.adx = saved[7]!;
  }

  private step(bar: HLC): AdxResult | undefined {
    const index = this.seen++;
    const period = this.period;
    if (index === 0) {
      this.previousHigh = bar.high;
      this.previousLow = bar.low;
      this.previousClose = bar.close;
      return undefined;
    }
    const upMove = bar.high - this.previousHigh;
    const downMove = this.previousLow - bar.low;
    const plusDM = upMove > downMove && upMove > 0 ? upMove : 0;
    const minusDM = downMove > upMove && downMove > 0 ? downMove : 0;
    const trueRange = Math.max(
      bar.high - bar.low,
      Math.abs(bar.high - this.previousClose),
      Math.abs(bar.low - this.previousClose),
    );
    this.previousHigh = bar.high;
    this.previousLow = bar.low;
    this.previousClose = bar.close;

    if (index <= period) {
      this.smoothedTrueRange += trueRange;
      this.smoothedPlusDM += plusDM;
      this.smoothedMinusDM += minusDM;
    } else {
      this.smoothedTrueRange += trueRange - this.smoothedTrueRange / period;
      this.smoothedPlusDM += plusDM - this.smoothedPlusDM / period;
      this.smoothedMinusDM += minusDM - this.smoothedMinusDM / period;
    }
    if (index < period) return undefined;

    const plusDI = this.smoothedTrueRange === 0 ? 0 : (100 * this.smoothedPlusDM) / this.smoothedTrueRange;
    const minusDI =
      this.smoothedTrueRange === 0 ? 0 : (100 * this.smoothedMinusDM) / this.smoothedTrueRange;
    const diSum = plusDI + minusDI;
    const dx = diSum === 0 ? 0 : (100 * Math.abs(plusDI - minusDI)) / diSum;

    // DX values arrive from bar index `period`; the first ADX averages `period` of them.
    if (index < 2 * period - 1) {
      this.adx += dx;
      return undefined;
    }
    if (index === 2 * period - 1) this.adx = (this.adx + dx) / period;
    else this.adx = (this.adx * (period - 1) + dx) / period;

    const result = this.result;
    result.adx = this.adx;
    result.plusDI = plusDI;
    result.minusDI = minusDI;
    return result;
  }
}

export interface ParabolicSarOptions {
  /** Acceleration factor step. Default 0.02. */
  step?: number;
  /** Acceleration factor ceiling. Default 0.2. */
  max?: number;
}

/**
 * Parabolic SAR, following indicatorts' formulation exactly: the series starts in a falling trend
 * with SAR = first high and EP = first low; the SAR is clamped by the two previous bars' highs
 * (falling) or lows (rising) and jumps to EP when price crosses it; the trend is falling while
 * SAR > close. Reported from the second bar.
 */
export class ParabolicSAR implements Indicator<HLC, ParabolicSarResult> {
  readonly step: number;
  readonly max: number;
  readonly warmupPeriod = 2;
  private readonly label: string;
  private seen = 0;
  private sar = 0;
  private trend: 1 | -1 = -1;
  private acceleration = 0;
  private extreme = 0;
  private high1 = 0;
  private high2 = 0;
  private low1 = 0;
  private low2 = 0;
  private readonly saved = new Float64Array(10);
  private readonly result: ParabolicSarResult = { sar: 0, trend: -1 };

  constructor(options: ParabolicSarOptions = {}) {
    const { step = 0.02, max = 0.2 } = options;
    this.label = `ParabolicSAR(${step},${max})`;
    this.step = requirePositive(this.label, 'step', step);
    this.max = requirePositive(this.label, 'max', max);
    if (step > max) {
      throw new IndicatorConfigError(
        'step',
        `${this.label}: step (${step}) must not exceed max (${max})`,
      );
    }
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= 2;
  }

  get value(): ParabolicSarResult | undefined {
    return this.seen >= 2 ? this.result : undefined;
  }

  update(bar: HLC): ParabolicSarResult | undefined {
    checkHLC(this.label, bar);
    this.save();
    return this.advance(bar);
  }

  replaceLast(bar: HLC): ParabolicSarResult | undefined {
    checkHLC(this.label, bar);
    if (this.seen === 0) this.save();
    else this.rollback();
    return this.advance(bar);
  }

  reset(): void {
    this.seen = 0;
    this.sar = 0;
    this.trend = -1;
    this.acceleration = 0;
    this.extreme = 0;
    this.high1 = this.high2 = this.low1 = this.low2 = 0;
  }

  private save(): void {
    const saved = this.saved;
    saved[0] = this.seen;
    saved[1] = this.sar;
    saved[2] = this.trend;
    saved[3] = this.acceleration;
    saved[4] = this.extreme;
    saved[5] = this.high1;
    saved[6] = this.high2;
    saved[7] = this.low1;
    saved[8] = this.low2;
  }

  private rollback(): void {
    const saved = this.saved;
    this.seen = saved[0]!;
    this.sar = saved[1]!;
    this.trend = saved[2]! > 0 ? 1 : -1;
    this.acceleration = saved[3]!;
    this.extreme = saved[4]!;
    this.high1 = saved[5]!;
    this.high2 = saved[6]!;
    this.low1 = saved[7]!;
    this.low2 = saved[8]!;
  }

  private advance(bar: HLC): ParabolicSarResult | undefined {
    const index = this.seen++;
    if (index === 0) {
      this.trend = -1;
      this.sar = bar.high;
      this.acceleration = this.step;
      this.extreme = bar.low;
    } else {
      let sar = this.sar - (this.sar - this.extreme) * this.acceleration;
      if (this.trend === -1) {
        sar = Math.max(sar, this.high1);
        if (index > 1) sar = Math.max(sar, this.high2);
        if (bar.high >= sar) sar = this.extreme;
      } else {
        sar = Math.min(sar, this.low1);
        if (index > 1) sar = Math.min(sar, this.low2);
        if (bar.low <= sar) sar = this.extreme;
      }
      const previousExtreme = this.extreme;
      const trend: 1 | -1 = sar > bar.close ? -1 : 1;
      this.extreme =
        trend === -1 ? Math.min(this.extreme, bar.low) : Math.max(this.extreme, bar.high);
      if (trend !== this.trend) this.acceleration = this.step;
      else if (previousExtreme !== this.extreme && this.acceleration < this.max) {
        this.acceleration += this.step;
      }
      this.trend = trend;
      this.sar = sar;
    }
    this.high2 = this.high1;
    this.high1 = bar.high;
    this.low2 = this.low1;
    this.low1 = bar.low;
    if (index === 0) return undefined;
    this.result.sar = this.sar;
    this.result.trend = this.trend;
    return this.result;
  }
}

export interface IchimokuOptions {
  /** Tenkan-sen period. Default 9. */
  conversionPeriod?: number;
  /** Kijun-sen period, also the forward displacement of the leading spans. Default 26. */
  basePeriod?: number;
  /** Senkou span B period. Default 52. */
  spanPeriod?: number;
}

/** Midpoint of a rolling high/low window, kept with two monotonic deques. */
class MidpointWindow {
  private readonly highs: WindowMax;
  private readonly negatedLows: WindowMax;

  constructor(period: number) {
    this.highs = new WindowMax(period);
    this.negatedLows = new WindowMax(period);
  }

  push(bar: HLC): number {
    this.highs.push(bar.high);
    this.negatedLows.push(-bar.low);
    return (this.highs.max + -this.negatedLows.max) / 2;
  }

  save(): void {
    this.highs.save();
    this.negatedLows.save();
  }

  rollback(): void {
    this.highs.rollback();
    this.negatedLows.rollback();
  }

  reset(): void {
    this.highs.reset();
    this.negatedLows.reset();
  }
}

/**
 * Ichimoku cloud (indicatorts' `ichimokuCloud` definitions). Besides the lines computed at this
 * bar (conversion, base, leading spans A/B that belong `basePeriod` bars ahead), it returns the
 * cloud at this bar (`cloudA`/`cloudB`, the leading spans computed `basePeriod` bars ago), which
 * is what "price above the cloud" rules need. Reported after `spanPeriod + basePeriod` bars, when
 * every field is defined.
 */
export class Ichimoku implements Indicator<HLC, IchimokuResult> {
  readonly conversionPeriod: number;
  readonly basePeriod: number;
  readonly spanPeriod: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly conversion: MidpointWindow;
  private readonly base: MidpointWindow;
  private readonly span: MidpointWindow;
  private readonly pendingA: Float64Array;
  private readonly pendingB: Float64Array;
  private pos = 0;
  private seen = 0;
  private savedPos = 0;
  private savedSeen = 0;
  private savedPendingA = 0;
  private savedPendingB = 0;
  private readonly result: IchimokuResult = {
    conversionLine: 0,
    baseLine: 0,
    leadingSpanA: 0,
    leadingSpanB: 0,
    cloudA: 0,
    cloudB: 0,
    laggingSpan: 0,
  };

  constructor(options: IchimokuOptions = {}) {
    const { conversionPeriod = 9, basePeriod = 26, spanPeriod = 52 } = options;
    this.label = `Ichimoku(${conversionPeriod},${basePeriod},${spanPeriod})`;
    this.conversionPeriod = requirePeriod(this.label, 'conversionPeriod', conversionPeriod);
    this.basePeriod = requirePeriod(this.label, 'basePeriod', basePeriod);
    this.spanPeriod = requirePeriod(this.label, 'spanPeriod', spanPeriod);
    if (!(conversionPeriod <= basePeriod && basePeriod <= spanPeriod)) {
      throw new IndicatorConfigError(
        'basePeriod',
        `${this.label}: periods must satisfy conversionPeriod <= basePeriod <= spanPeriod`,
      );
    }
    this.warmupPeriod = spanPeriod + basePeriod;
    this.conversion = new MidpointWindow(conversionPeriod);
    this.base = new MidpointWindow(basePeriod);
    this.span = new MidpointWindow(spanPeriod);
    this.pendingA = new Float64Array(basePeriod);
    this.pendingB = new Float64Array(basePeriod);
  }

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= this.warmupPeriod;
  }

  get value(): IchimokuResult | undefined {
    return this.seen >= this.warmupPeriod ? this.result : undefined;
  }

  update(bar: HLC): IchimokuResult | undefined {
    checkHLC(this.label, bar);
    this.save();
    return this.step(bar);
  }

  replaceLast(bar: HLC): IchimokuResult | undefined {
    checkHLC(this.label, bar);
    if (this.seen === 0) {
      this.save();
    } else {
      this.conversion.rollback();
      this.base.rollback();
      this.span.rollback();
      this.pos = this.savedPos;
      this.seen = this.savedSeen;
      this.pendingA[this.pos] = this.savedPendingA;
      this.pendingB[this.pos] = this.savedPendingB;
    }
    return this.step(bar);
  }

  reset(): void {
    this.conversion.reset();
    this.base.reset();
    this.span.reset();
    this.pendingA.fill(0);
    this.pendingB.fill(0);
    this.pos = 0;
    this.seen = 0;
  }

  private save(): void {
    this.conversion.save();
    this.base.save();
    this.span.save();
    this.savedPos = this.pos;
    this.savedSeen = this.seen;
    this.savedPendingA = this.pendingA[this.pos]!;
    this.savedPendingB = this.pendingB[this.pos]!;
  }

  private step(bar: HLC): IchimokuResult | undefined {
    const conversionLine = this.conversion.push(bar);
    const baseLine = this.base.push(bar);
    const leadingSpanB = this.span.push(bar);
    const leadingSpanA = (baseLine + conversionLine) / 2;
    // The slot about to be overwritten holds the spans computed `basePeriod` bars ago: the cloud now.
    const cloudA = this.pendingA[this.pos]!;
    const cloudB = this.pendingB[this.pos]!;
    this.pendingA[this.pos] = leadingSpanA;
    this.pendingB[this.pos] = leadingSpanB;
    this.pos = this.pos + 1 === this.basePeriod ? 0 : this.pos + 1;
    if (++this.seen < this.warmupPeriod) return undefined;
    const result = this.result;
    result.conversionLine = conversionLine;
    result.baseLine = baseLine;
    result.leadingSpanA = leadingSpanA;
    result.leadingSpanB = leadingSpanB;
    result.cloudA = cloudA;
    result.cloudB = cloudB;
    result.laggingSpan = bar.close;
    return result;
  }
}
