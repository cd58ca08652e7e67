import { checkHLCV, nonFiniteInput, requirePeriod } from './internal/input.js';
import { WindowSum } from './internal/window.js';
import type { CloseVolume, HLCV, Indicator } from './types.js';

function checkCloseVolume(label: string, bar: CloseVolume): void {
  if (!Number.isFinite(bar.close)) throw nonFiniteInput(label, 'close', bar.close);
  if (!Number.isFinite(bar.volume)) throw nonFiniteInput(label, 'volume', bar.volume);
}

/**
 * On-balance volume: starts at 0 on the first bar, then adds the bar's volume when the close rose,
 * subtracts it when the close fell. Ready from the first bar. Same values as indicatorts' `obv`.
 */
export class OBV implements Indicator<CloseVolume, number> {
  readonly warmupPeriod = 1;
  private readonly label = 'OBV';
  private seen = 0;
  private current = 0;
  private previousClose = 0;
  private savedSeen = 0;
  private savedCurrent = 0;
  private savedPreviousClose = 0;

  get count(): number {
    return this.seen;
  }

  get isReady(): boolean {
    return this.seen >= 1;
  }

  get value(): number | undefined {
    return this.seen >= 1 ? this.current : undefined;
  }

  update(bar: CloseVolume): number {
    checkCloseVolume(this.label, bar);
    this.save();
    return this.step(bar);
  }

  replaceLast(bar: CloseVolume): number {
    checkCloseVolume(this.label, bar);
    if (this.seen === 0) {
      this.save();
    } else {
      this.seen = this.savedSeen;
      this.current = this.savedCurrent;
      this.previousClose = this.savedPreviousClose;
    }
    return this.step(bar);
  }

  reset(): void {
    this.seen = 0;
    this.current = 0;
    this.previousClose = 0;
  }

  private save(): void {
    this.savedSeen = this.seen;
    this.savedCurrent = this.current;
    this.savedPreviousClose = this.previousClose;
  }

  private step(bar: CloseVolume): number {
    if (this.seen > 0) {
      if (bar.close > this.previousClose) this.current += bar.volume;
      else if (bar.close < this.previousClose) this.current -= bar.volume;
    }
    this.previousClose = bar.close;
    this.seen++;
    return this.current;
  }
}

/**
 * Volume-weighted average price as indicatorts defines it: a **rolling** window,
 * `sum(close × volume) / sum(volume)` over the last `period` bars (default 14), not the
 * session-anchored VWAP of intraday charts. A window without volume reports the bar's close.
 * Reported after `period` bars.
 */
export class VWAP implements Indicator<CloseVolume, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly priceVolume: WindowSum;
  private readonly volume: WindowSum;
  private current = 0;

  constructor(period = 14) {
    this.label = `VWAP(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period;
    this.priceVolume = new WindowSum(period);
    this.volume = new WindowSum(period);
  }

  get count(): number {
    return this.volume.count;
  }

  get isReady(): boolean {
    return this.volume.count >= this.period;
  }

  get value(): number | undefined {
    return this.volume.count >= this.period ? this.current : undefined;
  }

  update(bar: CloseVolume): number | undefined {
    checkCloseVolume(this.label, bar);
    this.priceVolume.save();
    this.volume.save();
    return this.step(bar);
  }

  replaceLast(bar: CloseVolume): number | undefined {
    checkCloseVolume(this.label, bar);
    if (this.volume.count === 0) {
      this.priceVolume.save();
      this.volume.save();
    } else {
      this.priceVolume.rollback();
      this.volume.rollback();
    }
    return this.step(bar);
  }

  reset(): void {
    this.priceVolume.reset();
    this.volume.reset();
    this.current = 0;
  }

  private step(bar: CloseVolume): number | undefined {
    this.priceVolume.push(bar.close * bar.volume);
    this.volume.push(bar.volume);
    if (this.volume.count < this.period) return undefined;
    const volume = this.volume.sum;
    this.current = volume === 0 ? bar.close : this.priceVolume.sum / volume;
    return this.current;
  }
}

/**
 * Money flow index as indicatorts defines it: raw money flow = typical price × volume, counted as
 * positive when the raw money flow (not the typical price, as in the textbook) did not fall from
 * the previous bar, negative otherwise; `MFI = 100 - 100 / (1 + positive sum / negative sum)` over
 * `period` bars. Reported after `period + 1` bars. No money flow at all reports 50.
 */
export class MFI implements Indicator<HLCV, number> {
  readonly period: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly positive: WindowSum;
  private readonly negative: WindowSum;
  private previousFlow = 0;
  private savedPreviousFlow = 0;
  private current = 0;

  constructor(period = 14) {
    this.label = `MFI(${period})`;
    this.period = requirePeriod(this.label, 'period', period);
    this.warmupPeriod = period + 1;
    this.positive = new WindowSum(period);
    this.negative = new WindowSum(period);
  }

  get count(): number {
    return this.positive.count;
  }

  get isReady(): boolean {
    return this.positive.count >= this.warmupPeriod;
  }

  get value(): number | undefined {
    return this.positive.count >= this.warmupPeriod ? this.current : undefined;
  }

  update(bar: HLCV): number | undefined {
    checkHLCV(this.label, bar);
    this.positive.save();
    this.negative.save();
    this.savedPreviousFlow = this.previousFlow;
    return this.step(bar);
  }

  replaceLast(bar: HLCV): number | undefined {
    checkHLCV(this.label, bar);
    if (this.positive.count === 0) {
      this.positive.save();
      this.negative.save();
      this.savedPreviousFlow = this.previousFlow;
    } else {
      this.positive.rollback();
      this.negative.rollback();
      this.previousFlow = this.savedPreviousFlow;
    }
    return this.step(bar);
  }

  reset(): void {
    this.positive.reset();
    this.negative.reset();
    this.previousFlow = 0;
    this.current = 0;
  }

  private step(bar: HLCV): number | undefined {
    const flow = ((bar.high + bar.low + bar.close) / 3) * bar.volume;
    // The flow before the first bar counts as 0, so the first bar is always positive.
    const signed = flow - this.previousFlow >= 0 ? flow : -1 * flow;
    this.previousFlow = flow;
    this.positive.push(signed >= 0 ? signed : 0);
    this.negative.push(signed < 0 ? -1 * signed : 0);
    if (this.positive.count < this.warmupPeriod) return undefined;
    const positive = this.positive.sum;
    const negative = this.negative.sum;
    this.current =
      positive === 0 && negative === 0
        ? 50
        : Math.pow(positive / negative + 1, -1) * -100 + 100;
    return this.current;
  }
}
