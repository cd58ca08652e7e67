import { z } from 'zod';

export const pageHinkleySchema = z.strictObject({
  delta: z.number().nonnegative().default(0.005).describe('Change in mean loss tolerated as noise, per outcome'),
  lambda: z.number().positive().default(5).describe('Alarm threshold on the cumulative excess loss'),
  minOutcomes: z.number().int().positive().default(50).describe('Outcomes seen before an alarm may fire'),
});
export type PageHinkleyOptions = z.output<typeof pageHinkleySchema>;

/**
 * The Page-Hinkley test for an increase in a model's mean loss (Page 1954; Hinkley 1971):
 *
 *   m_t = Σ_{i≤t} (x_i − x̄_i − δ),  M_t = min_{i≤t} m_i,  alarm when m_t − M_t > λ
 *
 * with x̄_i the mean of the first i losses. Fed a per-outcome loss (the Brier term (p − y)²), it
 * fires when the model starts to err more than it used to, not on one bad streak of noise.
 */
export class PageHinkley {
  private n = 0;
  private mean = 0;
  private cumulative = 0;
  private minimum = 0;
  readonly options: PageHinkleyOptions;

  constructor(options: z.input<typeof pageHinkleySchema> = {}) {
    this.options = pageHinkleySchema.parse(options);
  }

  /** Adds one loss; true when the test signals a drift (then it starts over). */
  update(loss: number): boolean {
    this.n++;
    this.mean += (loss - this.mean) / this.n;
    this.cumulative += loss - this.mean - this.options.delta;
    this.minimum = Math.min(this.minimum, this.cumulative);
    if (this.n >= this.options.minOutcomes && this.statistic > this.options.lambda) {
      this.reset();
      return true;
    }
    return false;
  }

  /** m_t − M_t. */
  get statistic(): number {
    return this.cumulative - this.minimum;
  }

  get outcomes(): number {
    return this.n;
  }

  reset(): void {
    this.n = 0;
    this.mean = 0;
    this.cumulative = 0;
    this.minimum = 0;
  }
}
