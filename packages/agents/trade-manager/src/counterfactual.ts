import { direction } from './accounting.js';
import { levelHit, type PriceRange } from './exits.js';
import type { Counterfactual } from './state.js';

export interface CounterfactualOutcome {
  exitPrice: number;
  pnlPct: number;
  exitReason: 'stop_loss' | 'take_profit' | 'horizon';
}

/**
 * Follows a rejected signal as if it had been taken: its stop and target against each later bar,
 * the same conservative rule as live exits (a bar touching both counts as the stop). Gives up
 * after `barsLeft` bars at that bar's close. Returns the outcome once there is one.
 */
export function advanceCounterfactual(cf: Counterfactual, bar: PriceRange): CounterfactualOutcome | undefined {
  const hit = levelHit(cf.side, bar, cf.stop, cf.target);
  const d = direction(cf.side);
  const pct = (exit: number): number => ((d * (exit - cf.entry)) / cf.entry) * 100;
  if (hit === 'stop') return { exitPrice: cf.stop, pnlPct: pct(cf.stop), exitReason: 'stop_loss' };
  if (hit === 'target' && cf.target !== undefined) return { exitPrice: cf.target, pnlPct: pct(cf.target), exitReason: 'take_profit' };
  cf.barsLeft--;
  if (cf.barsLeft <= 0) return { exitPrice: bar.close, pnlPct: pct(bar.close), exitReason: 'horizon' };
  return undefined;
}
