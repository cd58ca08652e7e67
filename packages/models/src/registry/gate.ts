import { z } from 'zod';
import type { TrackSummary } from './track.js';

export const promotionSchema = z.strictObject({
  metric: z.enum(['brier', 'accuracy']).default('brier').describe('Out-of-sample score the gate compares'),
  minOutcomes: z.number().int().positive().default(200).describe('Outcomes a shadow version must have been scored on, on the same bars as the active one'),
  margin: z.number().nonnegative().default(0.01).describe('How much better it must be: lower Brier by this much, or higher accuracy by this much'),
});
export type PromotionOptions = z.output<typeof promotionSchema>;

export interface PromotionDecision {
  promote: boolean;
  /** One sentence with the numbers, for the registry's history and the log. */
  reason: string;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');

/**
 * Whether a shadow version has earned the active one's place: scored on at least `minOutcomes`
 * outcomes and better by `margin` on the chosen metric. Both summaries must cover the same bars
 * (the runner scores active and shadow versions on every bar), so the comparison is fair.
 */
export function promotionDecision(candidate: TrackSummary, active: TrackSummary | undefined, options: z.input<typeof promotionSchema> = {}): PromotionDecision {
  const { metric, minOutcomes, margin } = promotionSchema.parse(options);
  if (candidate.outcomes < minOutcomes) return { promote: false, reason: `scored on ${candidate.outcomes} of the ${minOutcomes} outcomes needed` };
  if (active === undefined || active.outcomes === 0) return { promote: true, reason: `no active version to beat; ${candidate.outcomes} outcomes, ${metric} ${fmt(candidate[metric])}` };
  const better = metric === 'brier' ? candidate.brier <= active.brier - margin : candidate.accuracy >= active.accuracy + margin;
  const verdict = better ? 'beats' : 'does not beat';
  return {
    promote: better,
    reason: `${metric} ${fmt(candidate[metric])} ${verdict} the active version's ${fmt(active[metric])} by the margin ${margin} over ${candidate.outcomes} outcomes`,
  };
}
