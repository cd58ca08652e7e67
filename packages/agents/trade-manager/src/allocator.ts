import { builtinEvents } from '@tradebus/core';
import { z } from 'zod';
import { direction, tradeExposure, tradeRisk } from './accounting.js';
import type { TradeDecision } from './aggregation.js';
import type { TradeManagerConfig } from './config.js';
import { defaultStop, sizingFor } from './sizing.js';
import type { TradeRecord } from './state.js';

type Signal = TradeDecision['signals'][number];

export const allocationConfigSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe("Auction the entries of one decision round for the budget left: highest bid (edge × confidence per unit of risk) first. false: entries are taken in the aggregator's order"),
    budget: z
      .enum(['risk', 'exposure'])
      .default('risk')
      .describe('risk: what the trades lose at their stops (heat); exposure: what the positions are worth'),
    budgetPct: z
      .number()
      .finite()
      .nonnegative()
      .optional()
      .describe('The budget as percent of equity (0: none, bids only order the entries); limits.maxPortfolioHeatPct (risk) or limits.maxTotalExposurePct (exposure) when absent'),
    priorEdgePct: z
      .number()
      .finite()
      .default(0.5)
      .describe("Expected return per trade, percent of the position's value, of a strategy with fewer than minTrades closed trades"),
    minTrades: z.number().int().positive().default(20).describe("Closed trades of a strategy before its track record's expectancy replaces priorEdgePct"),
    minBid: z.number().finite().optional().describe('Entries bidding less are refused (e.g. 0: no entry for a strategy expected to lose)'),
    replaceWeakest: z
      .boolean()
      .default(false)
      .describe("An entry the budget cannot hold closes the open position with the lowest current bid (exit reason 'reallocated') when it outbids it by replaceMargin, and opens once that position is closed"),
    replaceMargin: z.number().finite().nonnegative().default(0.1).describe('How much higher than the weakest open position an entry must bid to replace it'),
  })
  .strict();

export type AllocationConfig = z.output<typeof allocationConfigSchema>;

/** Where the manager keeps the entries waiting for a replaced trade and the confidence of open trades. */
export const ALLOCATION_KEY = 'allocation';

const snapshotSchema = z.strictObject({
  version: z.literal(1),
  waiting: z.record(z.string(), builtinEvents['signal.generated']),
  confidence: z.record(z.string(), z.number().finite()),
});
export type AllocatorSnapshot = z.output<typeof snapshotSchema>;

/** How one entry fared in the auction, for `signal.decided.allocation`. */
export interface AllocationDetails {
  /** Expected return per trade (percent) × confidence / risk to the stop (percent of entry). */
  bid: number;
  edgePct: number;
  riskPct: number;
  confidence: number;
  /** 1-based place in the round's bid order. */
  rank: number;
  candidates: number;
  /** What the entry takes from the budget, in the account currency (once sized). */
  cost?: number | undefined;
  /** The round's budget and what was left of it after this entry (absent: no budget). */
  budget?: number | undefined;
  budgetLeft?: number | undefined;
  /** The open trade closed to make room for this entry. */
  replacedTradeId?: string | undefined;
}

export type Admission =
  | { kind: 'fill'; reasons: string[] }
  | { kind: 'refuse'; reasons: string[] }
  | { kind: 'replace'; trade: TradeRecord; reasons: string[] };

/** What the allocator reads from the manager. */
export interface AllocatorView {
  config(): TradeManagerConfig;
  equity(): number;
  activeTrades(): readonly TradeRecord[];
  lastPrice(symbol: string): number | undefined;
  atr(symbol: string): number | undefined;
  /** Account currency per unit of the symbol's quote currency. */
  valueOfQuote(symbol: string): number | undefined;
  expectancy(strategyId: string): { count: number; expectancyPct: number };
}

interface Round {
  details: Map<string, AllocationDetails>;
  budget: number;
  left: number;
  replaced: Set<string>;
}

/**
 * The auction of one decision round. Every accepted entry bids its strategy's expected return per
 * trade × its confidence per percent risked to its stop; entries are decided highest bid first,
 * and each takes its cost (risk at the stop, or position value) from the budget left by the open
 * positions. An entry the budget cannot hold is refused, or, with `replaceWeakest`, closes the
 * weakest open position and opens once that is closed (two orders in flight could leave both).
 */
export class Allocator {
  private round: Round | undefined;
  /** Confidence each trade was opened with: part of its current bid. */
  private readonly confidence = new Map<string, number>();
  /** Entries waiting for the trade they replace to be closed, by that trade's id. */
  private readonly waiting = new Map<string, Signal>();
  /** Entries decided again after their replacement closed: they do not replace a second time. */
  private readonly reentering = new Set<string>();
  /** `waiting` or `confidence` changed since the last snapshot taken. */
  private changed = false;

  constructor(private readonly view: AllocatorView) {}

  /** What to save with the books, when it changed since the last call. */
  takeSnapshot(): AllocatorSnapshot | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    return { version: 1, waiting: Object.fromEntries(this.waiting), confidence: Object.fromEntries(this.confidence) };
  }

  /**
   * Restores what takeSnapshot() saved. Returns false for a missing or unreadable one: then open
   * trades bid at confidence 1 and no entry waits for a replaced trade.
   */
  restore(snapshot: unknown): boolean {
    const parsed = snapshotSchema.safeParse(snapshot);
    if (!parsed.success) return false;
    this.waiting.clear();
    this.confidence.clear();
    for (const [id, signal] of Object.entries(parsed.data.waiting)) this.waiting.set(id, signal);
    for (const [id, c] of Object.entries(parsed.data.confidence)) this.confidence.set(id, c);
    return true;
  }

  private get settings(): AllocationConfig {
    return this.view.config().allocation;
  }

  /** Starts a round for the entry decisions of one batch and returns them highest bid first (unchanged when allocation is off). */
  startRound(decisions: readonly TradeDecision[]): TradeDecision[] {
    this.round = undefined;
    const entries = decisions.filter((d) => d.side !== 'flat');
    if (!this.settings.enabled || entries.length === 0) return [...decisions];
    const bids = entries.map((d, index) => ({ d, index, ...this.candidateBid(d) }));
    // Ties keep the aggregator's order (its rank).
    bids.sort((a, b) => b.bid - a.bid || a.index - b.index);
    const { budget, used } = this.budget();
    const round: Round = { details: new Map(), budget, left: budget - used, replaced: new Set() };
    bids.forEach((b, i) => {
      round.details.set(b.d.signals[0]!.id, {
        bid: b.bid,
        edgePct: b.edgePct,
        riskPct: b.riskPct,
        confidence: b.d.confidence,
        rank: i + 1,
        candidates: bids.length,
        ...(Number.isFinite(budget) ? { budget, budgetLeft: round.left } : {}),
      });
    });
    this.round = round;
    return [...decisions.filter((d) => d.side === 'flat'), ...bids.map((b) => b.d)];
  }

  endRound(): void {
    this.round = undefined;
  }

  /** The auction's account of a signal decided in the current round. */
  details(signalId: string): AllocationDetails | undefined {
    const d = this.round?.details.get(signalId);
    return d === undefined ? undefined : { ...d };
  }

  /**
   * Called once an entry passed every other rule and was sized: takes its cost from the budget,
   * or refuses it, or picks the open position it replaces.
   */
  admit(decision: TradeDecision, sized: { quantity: number; stopLoss: number | undefined; entryPrice: number; quoteValue: number }): Admission {
    const round = this.round;
    const id = decision.signals[0]!.id;
    const details = round?.details.get(id);
    if (round === undefined || details === undefined) return { kind: 'fill', reasons: [] };
    const s = this.settings;
    const head = `allocation: bid ${fmt(details.bid)} (edge ${fmt(details.edgePct)} % × confidence ${fmt(details.confidence)} / risk ${fmt(details.riskPct)} %), rank ${details.rank} of ${details.candidates}`;
    if (s.minBid !== undefined && details.bid < s.minBid) return { kind: 'refuse', reasons: [`${head}: below allocation.minBid ${fmt(s.minBid)}`] };
    const perUnit = s.budget === 'exposure' || sized.stopLoss === undefined ? sized.entryPrice : Math.abs(sized.entryPrice - sized.stopLoss);
    const cost = sized.quantity * perUnit * sized.quoteValue;
    details.cost = cost;
    const what = s.budget === 'exposure' ? 'exposure' : 'risk';
    if (!Number.isFinite(round.budget)) return { kind: 'fill', reasons: [`${head}; no ${what} budget`] };
    // Float sums of costs must not refuse an entry that fits to the cent.
    if (cost <= round.left + 1e-9 * Math.max(1, round.budget)) {
      round.left -= cost;
      details.budgetLeft = round.left;
      return { kind: 'fill', reasons: [`${head}; takes ${fmt(cost)} of the ${what} budget, ${fmt(round.left)} of ${fmt(round.budget)} left`] };
    }
    const short = `${head}; needs ${fmt(cost)} of the ${what} budget, ${fmt(Math.max(0, round.left))} of ${fmt(round.budget)} left`;
    if (s.replaceWeakest && !this.reentering.has(id)) {
      const weakest = this.weakestOpen(round);
      if (weakest !== undefined && details.bid > weakest.bid + s.replaceMargin && cost <= round.left + weakest.freed + 1e-9 * Math.max(1, round.budget)) {
        round.replaced.add(weakest.trade.id);
        this.waiting.set(weakest.trade.id, decision.signals[0]!);
        this.changed = true;
        details.replacedTradeId = weakest.trade.id;
        return {
          kind: 'replace',
          trade: weakest.trade,
          reasons: [
            `${short}; replaces trade ${weakest.trade.id} (${weakest.trade.symbol}), the weakest open position with bid ${fmt(weakest.bid)} (+ margin ${fmt(s.replaceMargin)} < ${fmt(details.bid)}), freeing ${fmt(weakest.freed)}: opens once that is closed`,
          ],
        };
      }
      const why = weakest === undefined ? 'no open position to replace' : `the weakest open position (trade ${weakest.trade.id}) bids ${fmt(weakest.bid)}, not outbid by margin ${fmt(s.replaceMargin)} or freeing too little (${fmt(weakest.freed)})`;
      return { kind: 'refuse', reasons: [`${short}; ${why}`] };
    }
    return { kind: 'refuse', reasons: [short] };
  }

  /** A trade was opened for `decision`: its confidence is part of its bid later. */
  opened(tradeId: string, confidence: number): void {
    // Only the auction reads it: nothing to keep while allocation is off.
    if (!this.settings.enabled) return;
    this.confidence.set(tradeId, confidence);
    this.changed = true;
    // Trades that ended without a close (an entry cancelled unfilled) are dropped now and then.
    const active = this.view.activeTrades();
    if (this.confidence.size > 2 * active.length + 16) {
      const ids = new Set(active.map((t) => t.id));
      for (const id of this.confidence.keys()) if (!ids.has(id) && id !== tradeId) this.confidence.delete(id);
    }
  }

  /** A trade ended; returns the entry that waited for it to be closed, if one did. */
  closed(tradeId: string): Signal | undefined {
    if (this.confidence.delete(tradeId)) this.changed = true;
    const next = this.waiting.get(tradeId);
    if (next === undefined) return undefined;
    this.waiting.delete(tradeId);
    this.changed = true;
    this.reentering.add(next.id);
    return next;
  }

  /** Forgets that an entry was decided again (once its second decision is made). */
  settled(signalId: string): void {
    this.reentering.delete(signalId);
  }

  /** What a strategy expects to earn per trade, percent: its record's expectancy once it has minTrades, else the prior. */
  edge(strategyId: string | undefined): { edgePct: number; from: string } {
    const s = this.settings;
    if (strategyId !== undefined) {
      const record = this.view.expectancy(strategyId);
      if (record.count >= s.minTrades) return { edgePct: record.expectancyPct, from: `${record.count} trades` };
    }
    return { edgePct: s.priorEdgePct, from: 'prior' };
  }

  private candidateBid(d: TradeDecision): { bid: number; edgePct: number; riskPct: number } {
    const config = this.view.config();
    const entry = d.price > 0 ? d.price : (this.view.lastPrice(d.symbol) ?? 0);
    const side = d.side === 'short' ? 'short' : 'long';
    const stop = entry > 0 ? (d.stopLoss ?? defaultStop(sizingFor(config, d.strategyId), side, entry, this.view.atr(d.symbol))) : undefined;
    const distance = stop === undefined ? 0 : direction(side) * (entry - stop);
    // Without a usable stop the whole position is at risk.
    const riskPct = distance > 0 && entry > 0 ? (distance / entry) * 100 : 100;
    const { edgePct } = this.edge(d.strategyId);
    return { bid: (edgePct * d.confidence) / riskPct, edgePct, riskPct };
  }

  /** The round's budget and what the active trades use of it, in the account currency. */
  private budget(): { budget: number; used: number } {
    const config = this.view.config();
    const s = config.allocation;
    const pct = s.budgetPct ?? (s.budget === 'risk' ? config.limits.maxPortfolioHeatPct : config.limits.maxTotalExposurePct);
    const budget = pct > 0 ? (this.view.equity() * pct) / 100 : Infinity;
    let used = 0;
    for (const t of this.view.activeTrades()) used += this.freedBy(t);
    return { budget, used };
  }

  private freedBy(t: TradeRecord): number {
    const q = this.view.valueOfQuote(t.symbol) ?? 1;
    return (this.settings.budget === 'exposure' ? tradeExposure(t, this.view.lastPrice(t.symbol)) : tradeRisk(t)) * q;
  }

  /** The open position bidding least now: its strategy's edge × its entry confidence / its risk to the stop from the last price. */
  private weakestOpen(round: Round): { trade: TradeRecord; bid: number; freed: number } | undefined {
    let weakest: { trade: TradeRecord; bid: number; freed: number } | undefined;
    for (const t of this.view.activeTrades()) {
      if (t.status !== 'open' || t.pendingExit !== undefined || round.replaced.has(t.id) || this.waiting.has(t.id)) continue;
      const bid = this.currentBid(t);
      if (weakest === undefined || bid < weakest.bid) weakest = { trade: t, bid, freed: this.freedBy(t) };
    }
    return weakest;
  }

  currentBid(t: TradeRecord): number {
    const last = this.view.lastPrice(t.symbol) ?? t.plannedEntryPrice;
    const distance = t.stopLoss === undefined ? last : direction(t.side) * (last - t.stopLoss);
    // A stop at or past the price locks the trade in: it risks nothing and is never the weakest.
    if (!(distance > 0) || !(last > 0)) return Infinity;
    const riskPct = (distance / last) * 100;
    const { edgePct } = this.edge(t.adopted ? undefined : t.strategyId);
    return (edgePct * (this.confidence.get(t.id) ?? 1)) / riskPct;
  }
}

function fmt(x: number): string {
  if (x === Infinity) return '∞';
  return Number.isInteger(x) ? String(x) : x.toFixed(Math.abs(x) < 1 ? 4 : 2);
}
