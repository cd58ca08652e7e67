/** How a model did on the outcomes it was scored on. */
export interface TrackSummary {
  /** Outcomes scored (in the window). */
  outcomes: number;
  /** Share of outcomes whose direction the model got right (p ≥ 0.5 read as "up"); NaN without outcomes. */
  accuracy: number;
  /** Mean squared error of the probability against the outcome (0 best, 0.25 a coin); NaN without outcomes. */
  brier: number;
}

/**
 * A model's recent track record: the last `window` (probability, outcome) pairs, with running
 * sums so a summary costs nothing per bar.
 */
export class TrackRecord {
  private readonly probabilities: Float64Array;
  private readonly ups: Uint8Array;
  private next = 0;
  private count = 0;
  private hits = 0;
  private squared = 0;
  /** Every outcome ever recorded, beyond the window. */
  total = 0;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a whole number ≥ 1, got ${window}`);
    this.probabilities = new Float64Array(window);
    this.ups = new Uint8Array(window);
  }

  record(probability: number, up: boolean): void {
    if (this.count === this.window) {
      const oldP = this.probabilities[this.next]!;
      const oldUp = this.ups[this.next]! === 1;
      this.hits -= hit(oldP, oldUp);
      this.squared -= (oldP - (oldUp ? 1 : 0)) ** 2;
    } else {
      this.count++;
    }
    this.probabilities[this.next] = probability;
    this.ups[this.next] = up ? 1 : 0;
    this.next = (this.next + 1) % this.window;
    this.hits += hit(probability, up);
    this.squared += (probability - (up ? 1 : 0)) ** 2;
    this.total++;
  }

  summary(): TrackSummary {
    if (this.count === 0) return { outcomes: 0, accuracy: Number.NaN, brier: Number.NaN };
    // Running sums of squares drift by rounding; clamp the tiny negatives that can leave.
    return { outcomes: this.count, accuracy: this.hits / this.count, brier: Math.max(0, this.squared / this.count) };
  }
}

function hit(probability: number, up: boolean): number {
  return probability >= 0.5 === up ? 1 : 0;
}
