import type { BuiltinEvents } from '@tradebus/core';
import { mean, meanWithInterval, variance, welchTTest } from './stats.js';
import type { Tunable } from './config.js';

export type GroupQuality = BuiltinEvents['watchdog.report']['groups'][number];
export type Recommendation = BuiltinEvents['watchdog.recommendation'];

/** A decided entry signal whose outcome is known: a closed trade, or what a rejected signal would have earned. */
export interface DecisionRecord {
  signalId: string;
  strategyId: string;
  symbol: string;
  /** Market regime of the symbol when the signal came ('unknown' before the detector knew it). */
  regime: string;
  side: 'long' | 'short';
  confidence: number;
  signalAt: number;
  decision: 'accepted' | 'rejected';
  /** Rejected by the minimum-confidence rule (another threshold would have decided otherwise). */
  byConfidence: boolean;
  /** Profit of the trade (accepted) or of the counterfactual (rejected), in % of the entry. */
  pnlPct: number;
  closedAt: number;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
const orNull = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

/** Decision quality of `records` (one window of one group). A winner is an outcome above 0. */
export function groupQuality(records: readonly DecisionRecord[], key: { strategyId: string; symbol?: string; regime?: string }, level: number): GroupQuality {
  let acceptedWins = 0;
  let acceptedLosses = 0;
  let rejectedWins = 0;
  let rejectedLosses = 0;
  const acceptedPnl: number[] = [];
  const rejectedPnl: number[] = [];
  for (const r of records) {
    const win = r.pnlPct > 0;
    if (r.decision === 'accepted') {
      acceptedPnl.push(r.pnlPct);
      if (win) acceptedWins++;
      else acceptedLosses++;
    } else {
      rejectedPnl.push(r.pnlPct);
      if (win) rejectedWins++;
      else rejectedLosses++;
    }
  }
  const e = meanWithInterval(acceptedPnl, level);
  return {
    ...key,
    decisions: records.length,
    accepted: acceptedPnl.length,
    rejected: rejectedPnl.length,
    acceptanceQuality: ratio(acceptedWins, acceptedPnl.length),
    rejectionQuality: ratio(rejectedLosses, rejectedPnl.length),
    falsePositiveRate: ratio(acceptedLosses, acceptedLosses + rejectedLosses),
    falseNegativeRate: ratio(rejectedWins, rejectedWins + acceptedWins),
    expectancyPct: orNull(e.mean),
    expectancyLowPct: orNull(e.low),
    expectancyHighPct: orNull(e.high),
    missedExpectancyPct: orNull(mean(rejectedPnl)),
  };
}

export interface GroupKey {
  strategyId: string;
  symbol?: string;
  regime?: string;
}

/**
 * The rolling windows: the last `size` records of each group (per strategy, per strategy ×
 * symbol, per strategy × symbol × regime), kept as outcomes come in.
 */
export class WindowSet {
  private readonly groups = new Map<string, { key: GroupKey; records: DecisionRecord[] }>();

  constructor(private readonly size: number) {}

  add(r: DecisionRecord): void {
    this.push(r.strategyId, () => ({ strategyId: r.strategyId }), r);
    this.push(`${r.strategyId}\u0000${r.symbol}`, () => ({ strategyId: r.strategyId, symbol: r.symbol }), r);
    this.push(`${r.strategyId}\u0000${r.symbol}\u0000${r.regime}`, () => ({ strategyId: r.strategyId, symbol: r.symbol, regime: r.regime }), r);
  }

  /** Every group's window: by strategy, then symbol, then regime, the strategy's own first. */
  list(): Array<{ key: GroupKey; records: DecisionRecord[] }> {
    return [...this.groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  }

  private push(id: string, key: () => GroupKey, r: DecisionRecord): void {
    let g = this.groups.get(id);
    if (g === undefined) this.groups.set(id, (g = { key: key(), records: [] }));
    g.records.push(r);
    if (g.records.length > this.size) g.records.shift();
  }
}

/** The same windows, cut from a whole history at once (records in the order they became known). */
export function windowsOf(history: readonly DecisionRecord[], windowSize: number): Array<{ key: GroupKey; records: DecisionRecord[] }> {
  const set = new WindowSet(windowSize);
  for (const r of history) set.add(r);
  return set.list();
}

export interface ReplaySettings {
  minSamples: number;
  minTradesAfter: number;
  maxPValue: number;
}

/** The values a tunable may take: min, min + step, ... max (rounded to the step's decimals). */
export function candidateValues(t: Pick<Tunable, 'min' | 'max' | 'step'>): number[] {
  const decimals = Math.max(0, Math.ceil(-Math.log10(t.step)) + 1);
  const out: number[] = [];
  for (let i = 0; t.min + i * t.step <= t.max + 1e-9; i++) out.push(Number((t.min + i * t.step).toFixed(decimals)));
  if (out[out.length - 1] !== t.max) out.push(t.max);
  return out;
}

/** The same from n, Σx and Σx². */
function tFromSums(n: number, s: number, sq: number): number {
  const v = (sq - (s * s) / n) / (n - 1);
  return v > 1e-15 ? s / n / Math.sqrt(v / n) : Number.NEGATIVE_INFINITY;
}

/** mean ÷ (s / √n); −∞ without spread to judge by. */
function tStatistic(xs: readonly number[]): number {
  const v = variance(xs);
  return v > 0 ? mean(xs) / Math.sqrt(v / xs.length) : Number.NEGATIVE_INFINITY;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * Replays the recorded decisions under each candidate minimum confidence. Only outcomes known at
 * `now` count. The decisions a threshold can change are the accepted ones and those rejected by
 * the confidence rule; a signal rejected for another reason (a position already open, a risk
 * limit) would have been rejected whatever the threshold, so it is left out. Under value v the
 * taken trades are those with confidence ≥ v. The best value is the one whose trades have the
 * highest t-statistic of their mean outcome (mean ÷ standard error): the strongest evidence of an
 * edge, which weighs how much a trade makes against how many trades show it (the highest average
 * alone favours a handful of lucky trades, the highest total favours taking nothing from a losing
 * strategy). It needs at least `minTradesAfter` trades. Significance: Welch's t-test of the outcomes of the decisions the value
 * changes (added or removed) against those it keeps.
 */
export function recommend(history: readonly DecisionRecord[], tunable: Tunable & { current: number }, settings: ReplaySettings, now: number, id: string): Recommendation | undefined {
  const scope = tunable.strategies === undefined ? undefined : new Set(tunable.strategies);
  const eligible = history.filter((r) => r.closedAt <= now && (scope === undefined || scope.has(r.strategyId)) && (r.decision === 'accepted' || r.byConfidence));
  if (eligible.length === 0) return undefined;
  const before = eligible.filter((r) => r.decision === 'accepted');
  const totalBefore = sum(before.map((r) => r.pnlPct));
  // Highest confidence first: the trades a value takes are a prefix, and prefix sums score every value in one pass.
  const ranked = [...eligible].sort((a, b) => b.confidence - a.confidence);
  const prefix = { n: 0, sum: 0, sumSq: 0 };
  let best: { value: number; count: number; total: number; score: number } | undefined;
  for (const value of candidateValues(tunable).sort((a, b) => b - a)) {
    while (prefix.n < ranked.length && ranked[prefix.n]!.confidence >= value) {
      const x = ranked[prefix.n]!.pnlPct;
      prefix.n++;
      prefix.sum += x;
      prefix.sumSq += x * x;
    }
    if (prefix.n < Math.max(2, settings.minTradesAfter)) continue;
    const score = tFromSums(prefix.n, prefix.sum, prefix.sumSq);
    const closer = best !== undefined && score === best.score && Math.abs(value - tunable.current) < Math.abs(best.value - tunable.current);
    if (best === undefined || score > best.score + 1e-12 || closer) best = { value, count: prefix.n, total: prefix.sum, score };
  }
  if (best === undefined) return undefined;
  const taken = ranked.slice(0, best.count);
  const takenIds = new Set(taken.map((r) => r.signalId));
  const changed = eligible.filter((r) => takenIds.has(r.signalId) !== (r.decision === 'accepted'));
  const kept = eligible.filter((r) => takenIds.has(r.signalId) && r.decision === 'accepted');
  const test = welchTTest(
    changed.map((r) => r.pnlPct),
    kept.map((r) => r.pnlPct),
  );
  const improves = best.value !== tunable.current && best.score > tStatistic(before.map((r) => r.pnlPct)) && changed.length > 0;
  return {
    id,
    agent: tunable.agent,
    setting: tunable.path,
    strategies: tunable.strategies ?? [...new Set(eligible.map((r) => r.strategyId))].sort(),
    current: tunable.current,
    recommended: improves ? best.value : tunable.current,
    samples: eligible.length,
    tradesBefore: before.length,
    tradesAfter: improves ? taken.length : before.length,
    expectancyBeforePct: orNull(mean(before.map((r) => r.pnlPct))),
    expectancyAfterPct: orNull(mean((improves ? taken : before).map((r) => r.pnlPct))),
    totalBeforePct: totalBefore,
    totalAfterPct: improves ? sum(taken.map((r) => r.pnlPct)) : totalBefore,
    changedDecisions: improves ? changed.length : 0,
    test: improves && test !== undefined ? { name: 'welch-t', t: test.t, df: test.df, p: test.p } : null,
    significant: improves && test !== undefined && test.p <= settings.maxPValue && eligible.length >= settings.minSamples,
    outcomesUntil: now,
    timestamp: now,
  };
}
