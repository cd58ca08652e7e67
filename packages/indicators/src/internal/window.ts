/*
 * Building blocks shared by the indicators. Every block supports a one-step undo:
 * `save()` records the state before an update, `rollback()` restores it. Indicators call `save()`
 * on all their blocks at the start of `update()` (whether or not the block is pushed during that
 * update) and `rollback()` on all of them in `replaceLast()`, which keeps replacing the forming
 * candle O(1): only scalars and the one overwritten ring slot are remembered, never a copy of a
 * window.
 */

/**
 * Sum of the last `period` values. While fewer than `period` values have been pushed, the sum
 * covers all of them (the partial window indicatorts' `msum`/`sma` use for early bars). The
 * additions and subtractions happen in the same order as in indicatorts, so sums match bit for bit.
 */
export class WindowSum {
  readonly period: number;
  count = 0;
  sum = 0;
  private readonly ring: Float64Array;
  private pos = 0;
  private savedCount = 0;
  private savedSum = 0;
  private savedPos = 0;
  private savedSlot = 0;

  constructor(period: number) {
    this.period = period;
    this.ring = new Float64Array(period);
  }

  /** Mean over the (possibly partial) window, exactly as indicatorts' `sma` computes it. */
  get mean(): number {
    return this.count < this.period ? this.sum / this.count : this.sum / this.period;
  }

  get isFull(): boolean {
    return this.count >= this.period;
  }

  push(value: number): void {
    this.sum += value;
    if (this.count >= this.period) this.sum -= this.ring[this.pos]!;
    this.ring[this.pos] = value;
    this.pos = this.pos + 1 === this.period ? 0 : this.pos + 1;
    this.count++;
  }

  save(): void {
    this.savedCount = this.count;
    this.savedSum = this.sum;
    this.savedPos = this.pos;
    this.savedSlot = this.ring[this.pos]!;
  }

  rollback(): void {
    this.count = this.savedCount;
    this.sum = this.savedSum;
    this.pos = this.savedPos;
    this.ring[this.pos] = this.savedSlot;
  }

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.pos = 0;
    this.ring.fill(0);
  }
}

/** Dekker's splitter for IEEE doubles: 2^27 + 1. */
const SPLITTER = 134217729;

/**
 * Sum plus variance of the last `period` values, both O(1) per push.
 *
 * The sum follows indicatorts' order, so the mean matches its SMA bit for bit. The variance comes
 * from Σd and Σd² with d = value − anchor (the first value since the last reset), both kept in
 * double-double arithmetic: every square is split exactly (Dekker's product) and every addition
 * keeps its rounding error (Knuth's two-sum). Removing a value subtracts bit-identical terms, so
 * nothing drifts, and the final `nΣd² − (Σd)²` keeps ~30 significant digits before it cancels.
 * Plain running sums of squares lose every digit on prices (mean² ≫ variance), and a
 * sliding-window Welford update was measured to lose up to 3 digits after a spike leaves a short
 * window; this form matches a two-pass computation to ~1e-15.
 */
export class WindowStats {
  readonly period: number;
  count = 0;
  sum = 0;
  private anchor = 0;
  private deviationHi = 0;
  private deviationLo = 0;
  private squareHi = 0;
  private squareLo = 0;
  private readonly ring: Float64Array;
  private pos = 0;
  private readonly saved = new Float64Array(9);

  constructor(period: number) {
    this.period = period;
    this.ring = new Float64Array(period);
  }

  get mean(): number {
    return this.count < this.period ? this.sum / this.count : this.sum / this.period;
  }

  /** Population standard deviation of the window (divides by the number of values). */
  get std(): number {
    const n = this.count < this.period ? this.count : this.period;
    if (n === 0) return 0;
    // n·Σd² in double-double (n is a small integer, so only the product of the high part rounds).
    let a = this.squareHi * n;
    let aLo = splitProductError(this.squareHi, n, a) + this.squareLo * n;
    // (Σd)² in double-double.
    const b = this.deviationHi * this.deviationHi;
    const bLo =
      splitProductError(this.deviationHi, this.deviationHi, b) +
      2 * this.deviationHi * this.deviationLo;
    // n·Σd² − (Σd)², with the rounding of the subtraction kept.
    const difference = a - b;
    const virtualB = difference - a;
    const error = a - (difference - virtualB) + (-b - virtualB);
    a = difference;
    aLo = error + aLo - bLo;
    const variance = (a + aLo) / (n * n);
    return variance > 0 ? Math.sqrt(variance) : 0;
  }

  push(value: number): void {
    if (this.count === 0) this.anchor = value;
    this.sum += value;
    this.accumulate(value - this.anchor, 1);
    if (this.count >= this.period) {
      const oldest = this.ring[this.pos]!;
      this.sum -= oldest;
      this.accumulate(oldest - this.anchor, -1);
    }
    this.ring[this.pos] = value;
    this.pos = this.pos + 1 === this.period ? 0 : this.pos + 1;
    this.count++;
  }

  save(): void {
    const saved = this.saved;
    saved[0] = this.count;
    saved[1] = this.sum;
    saved[2] = this.anchor;
    saved[3] = this.deviationHi;
    saved[4] = this.deviationLo;
    saved[5] = this.squareHi;
    saved[6] = this.squareLo;
    saved[7] = this.pos;
    saved[8] = this.ring[this.pos]!;
  }

  rollback(): void {
    const saved = this.saved;
    this.count = saved[0]!;
    this.sum = saved[1]!;
    this.anchor = saved[2]!;
    this.deviationHi = saved[3]!;
    this.deviationLo = saved[4]!;
    this.squareHi = saved[5]!;
    this.squareLo = saved[6]!;
    this.pos = saved[7]!;
    this.ring[this.pos] = saved[8]!;
  }

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.anchor = 0;
    this.deviationHi = this.deviationLo = this.squareHi = this.squareLo = 0;
    this.pos = 0;
    this.ring.fill(0);
  }

  /** Adds (sign 1) or removes (sign -1) one deviation and its exact square. */
  private accumulate(deviation: number, sign: 1 | -1): void {
    const d = sign * deviation;
    let sum = this.deviationHi + d;
    let virtual = sum - this.deviationHi;
    let lo = this.deviationLo + (this.deviationHi - (sum - virtual) + (d - virtual));
    this.deviationHi = sum + lo;
    this.deviationLo = lo - (this.deviationHi - sum);

    const square = deviation * deviation;
    const squareError = splitProductError(deviation, deviation, square);
    const p = sign * square;
    sum = this.squareHi + p;
    virtual = sum - this.squareHi;
    lo = this.squareLo + (this.squareHi - (sum - virtual) + (p - virtual)) + sign * squareError;
    this.squareHi = sum + lo;
    this.squareLo = lo - (this.squareHi - sum);
  }
}

/** The exact rounding error of `product = a * b` (Dekker's two-product without FMA). */
function splitProductError(a: number, b: number, product: number): number {
  let c = SPLITTER * a;
  const aHi = c - (c - a);
  const aLo = a - aHi;
  c = SPLITTER * b;
  const bHi = c - (c - b);
  const bLo = b - bHi;
  return aHi * bHi - product + aHi * bLo + aLo * bHi + aLo * bLo;
}

/**
 * Maximum of the last `period` values with a monotonic deque: O(1) per push unless the value is a
 * new extreme for part of the window, then O(log period). The undo only has to restore the
 * head/length and the single slot the push wrote (entries dropped from the back are abandoned,
 * not overwritten). For a minimum, push negated values.
 */
export class WindowMax {
  readonly period: number;
  private readonly stamps: Float64Array;
  private readonly values: Float64Array;
  private head = 0;
  private length = 0;
  private time = 0;
  private writtenSlot = -1;
  private overwrittenStamp = 0;
  private overwrittenValue = 0;
  private savedHead = 0;
  private savedLength = 0;
  private savedTime = 0;

  constructor(period: number) {
    this.period = period;
    this.stamps = new Float64Array(period);
    this.values = new Float64Array(period);
  }

  /** Maximum of the window; only meaningful after at least one push. */
  get max(): number {
    return this.values[this.head]!;
  }

  push(value: number): void {
    const capacity = this.period;
    if (this.length > 0 && this.stamps[this.head]! <= this.time - capacity) {
      this.head = this.head + 1 === capacity ? 0 : this.head + 1;
      this.length--;
    }
    if (this.length > 0) {
      let back = this.head + this.length - 1;
      if (back >= capacity) back -= capacity;
      if (this.values[back]! <= value) {
        // The deque is strictly decreasing from the head, so the first entry the new value
        // dominates is found by binary search: O(log period) even when a forming candle keeps
        // setting a new extreme and each replaceLast would otherwise pop the same entries again.
        let low = 0;
        let high = this.length - 1;
        while (low < high) {
          const middle = (low + high) >>> 1;
          let position = this.head + middle;
          if (position >= capacity) position -= capacity;
          if (this.values[position]! <= value) high = middle;
          else low = middle + 1;
        }
        this.length = low;
      }
    }
    let slot = this.head + this.length;
    if (slot >= capacity) slot -= capacity;
    this.writtenSlot = slot;
    this.overwrittenStamp = this.stamps[slot]!;
    this.overwrittenValue = this.values[slot]!;
    this.stamps[slot] = this.time;
    this.values[slot] = value;
    this.length++;
    this.time++;
  }

  save(): void {
    this.savedHead = this.head;
    this.savedLength = this.length;
    this.savedTime = this.time;
    this.writtenSlot = -1;
  }

  rollback(): void {
    if (this.writtenSlot >= 0) {
      this.stamps[this.writtenSlot] = this.overwrittenStamp;
      this.values[this.writtenSlot] = this.overwrittenValue;
      this.writtenSlot = -1;
    }
    this.head = this.savedHead;
    this.length = this.savedLength;
    this.time = this.savedTime;
  }

  reset(): void {
    this.head = 0;
    this.length = 0;
    this.time = 0;
    this.writtenSlot = -1;
  }
}

/**
 * indicatorts' EMA: seeded with the first value (not with an SMA), then
 * `value * k + previous * (1 - k)` with `k = 2 / (period + 1)`.
 */
export class EmaState {
  value = 0;
  count = 0;
  private readonly k: number;
  private readonly m: number;
  private savedValue = 0;
  private savedCount = 0;

  constructor(period: number) {
    this.k = 2 / (1 + period);
    this.m = 1 - this.k;
  }

  push(x: number): number {
    this.value = this.count === 0 ? x : x * this.k + this.value * this.m;
    this.count++;
    return this.value;
  }

  save(): void {
    this.savedValue = this.value;
    this.savedCount = this.count;
  }

  rollback(): void {
    this.value = this.savedValue;
    this.count = this.savedCount;
  }

  reset(): void {
    this.value = 0;
    this.count = 0;
  }
}

/**
 * indicatorts' rolling (Wilder) moving average: the plain mean of the values while fewer than
 * `period` have been seen, then `(previous * (period - 1) + value) / period`.
 */
export class RmaState {
  value = 0;
  count = 0;
  private readonly period: number;
  private sum = 0;
  private savedValue = 0;
  private savedCount = 0;
  private savedSum = 0;

  constructor(period: number) {
    this.period = period;
  }

  push(x: number): number {
    if (this.count < this.period) {
      this.sum += x;
      this.value = this.sum / (this.count + 1);
    } else {
      this.value = (this.value * (this.period - 1) + x) / this.period;
    }
    this.count++;
    return this.value;
  }

  save(): void {
    this.savedValue = this.value;
    this.savedCount = this.count;
    this.savedSum = this.sum;
  }

  rollback(): void {
    this.value = this.savedValue;
    this.count = this.savedCount;
    this.sum = this.savedSum;
  }

  reset(): void {
    this.value = 0;
    this.count = 0;
    this.sum = 0;
  }
}
