import { ADX } from '@tradebus/indicators';
import type { AggregationContext, Regime } from '@tradebus/strategies';
import { z } from 'zod';

/** Where the manager keeps the learned patterns, saved with the market state on its interval. */
export const PATTERNS_KEY = 'rejection-patterns';

type PatternSource = NonNullable<AggregationContext['rejectionPatterns']>;
type Bucket = Regime | 'unknown';

interface Outcome {
  closedAt: number;
  won: boolean;
}

const outcomeList = z.array(z.tuple([z.number().int().nonnegative(), z.boolean()]));
const patternsSnapshotSchema = z.strictObject({ version: z.literal(1), lists: z.record(z.string(), outcomeList) });
export type RejectionPatternsSnapshot = z.output<typeof patternsSnapshotSchema>;

/** What rejected signals would have earned, per strategy and symbol (and regime): the second-chance pattern boost. */
export class RejectionPatterns implements PatternSource {
  /** Outcomes per key, in close order. Key `strategy␀symbol` (all regimes) and `strategy␀symbol␀regime`. */
  private readonly lists = new Map<string, Outcome[]>();
  /** The regime each followed rejection was made in, until its outcome is known. */
  private readonly regimeAtRejection = new Map<string, Bucket>();

  /** @param capacity how many outcomes a key keeps (the configured window, read when one is added). */
  constructor(private readonly capacity: () => number) {}

  /** A rejected signal is being followed; `regime` is its symbol's regime at the rejection. */
  rejected(signalId: string, regime: Regime | undefined): void {
    this.regimeAtRejection.set(signalId, regime ?? 'unknown');
  }

  /** The followed signal's outcome, known at `closedAt`. A win is a positive return. */
  outcome(o: { signalId: string; strategyId: string; symbol: string; pnlPct: number; closedAt: number }): void {
    // A rejection followed before a restart has no regime noted: it counts in the all-regimes list only.
    const regime = this.regimeAtRejection.get(o.signalId);
    this.regimeAtRejection.delete(o.signalId);
    const entry: Outcome = { closedAt: o.closedAt, won: o.pnlPct > 0 };
    this.add(keyOf(o.strategyId, o.symbol, undefined), entry);
    if (regime !== undefined) this.add(keyOf(o.strategyId, o.symbol, regime), entry);
  }

  outcomes(strategyId: string, symbol: string, regime: Bucket | undefined, asOf: number, window: number): { samples: number; wins: number } {
    const list = this.lists.get(keyOf(strategyId, symbol, regime));
    if (list === undefined) return { samples: 0, wins: 0 };
    // Outcomes closed after the decision were not known when it was made.
    let end = list.length;
    while (end > 0 && list[end - 1]!.closedAt > asOf) end--;
    const start = Math.max(0, end - window);
    let wins = 0;
    for (let i = start; i < end; i++) if (list[i]!.won) wins++;
    return { samples: end - start, wins };
  }

  toJSON(): RejectionPatternsSnapshot {
    const lists: RejectionPatternsSnapshot['lists'] = {};
    for (const [key, list] of this.lists) lists[key] = list.map((o) => [o.closedAt, o.won]);
    return { version: 1, lists };
  }

  /** Restores what `toJSON()` saved; anything unreadable starts the patterns afresh (they are learned again). */
  restore(snapshot: unknown): boolean {
    const parsed = patternsSnapshotSchema.safeParse(snapshot);
    if (!parsed.success) return false;
    this.lists.clear();
    for (const [key, list] of Object.entries(parsed.data.lists)) this.lists.set(key, list.map(([closedAt, won]) => ({ closedAt, won })));
    return true;
  }

  private add(key: string, o: Outcome): void {
    let list = this.lists.get(key);
    if (list === undefined) this.lists.set(key, (list = []));
    let index = list.length;
    while (index > 0 && list[index - 1]!.closedAt > o.closedAt) index--;
    list.splice(index, 0, o);
    const keep = this.capacity();
    if (list.length > keep) list.splice(0, list.length - keep);
  }
}

function keyOf(strategyId: string, symbol: string, regime: Bucket | undefined): string {
  return regime === undefined ? `${strategyId}\u0000${symbol}` : `${strategyId}\u0000${symbol}\u0000${regime}`;
}

/** ADX per symbol from the bars the manager receives, for the second-chance ADX boost. */
export class AdxReadings {
  private readonly bySymbol = new Map<string, ADX>();
  private period: number | undefined;

  /** @param periodOf the configured period, read per bar: a changed period starts every symbol afresh. */
  constructor(private readonly periodOf: () => number) {}

  update(symbol: string, bar: { high: number; low: number; close: number }): void {
    const period = this.periodOf();
    if (period !== this.period) {
      this.bySymbol.clear();
      this.period = period;
    }
    let adx = this.bySymbol.get(symbol);
    if (adx === undefined) this.bySymbol.set(symbol, (adx = new ADX(period)));
    adx.update(bar);
  }

  adx(symbol: string): number | undefined {
    return this.bySymbol.get(symbol)?.value?.adx;
  }
}
