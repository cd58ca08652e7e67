import type { BuiltinEvents } from '@tradebus/core';
import type { TradeManagerConfig } from './config.js';
import { levelOf, marginBlocker, marginCollateral, reductionPlan, utilisation, type MarginLevel, type MarginState, type ReductionCandidate } from './margin.js';
import { PortfolioRisk, type PortfolioPosition, type PortfolioSnapshot, type PortfolioState } from './portfolio.js';
import { UniverseGate, type MarketPrecision, type UniverseGateState } from './universe.js';

/** What the gates keep across a restart: plain data. */
export interface EntryGatesSnapshot {
  portfolio?: PortfolioSnapshot | undefined;
  universe?: UniverseGateState | undefined;
}

/** The account as the last account.updated of the traded venue stated it. */
interface AccountView {
  equity: number;
  /** Free balance of the account currency: what new margin can come from. */
  free: number;
  margin: MarginState | undefined;
}

export interface MarginWatch {
  pct: number;
  level: MarginLevel;
  previous: MarginLevel;
}

/**
 * The entry rules that look beyond one trade: the tradable universe, the venue's margin and
 * leverage, the portfolio's correlation, group caps and tail risk. An entry is scaled before it
 * is sized and checked once its value is known; the rest of the trade manager only asks these
 * questions and reports what they answer.
 */
export class EntryGates {
  readonly portfolio: PortfolioRisk;
  private universe: UniverseGate;
  /** Returns are recorded only when a rule uses them: nothing is kept or saved otherwise. */
  private readonly recordsReturns: boolean;
  private account: AccountView | undefined;
  private marginLevel: MarginLevel = 'ok';
  /** Something worth saving changed since the last snapshot(). */
  private changed = false;

  constructor(
    private readonly config: TradeManagerConfig,
    saved: EntryGatesSnapshot | undefined,
    logger: { warn(details: object, message: string): void },
  ) {
    const p = config.portfolio;
    this.recordsReturns = p.correlation.enabled || p.cvar.enabled;
    this.portfolio = PortfolioRisk.restore(p, this.recordsReturns ? saved?.portfolio : undefined);
    const options = { follow: config.universe.follow, venue: config.universe.venue };
    try {
      this.universe = saved?.universe === undefined ? new UniverseGate(options) : UniverseGate.restore(saved.universe, options);
    } catch (err) {
      // The next market.snapshot rebuilds all of it: not a reason to stop trading.
      logger.warn({ err }, 'stored tradable universe unreadable; waiting for the next market.snapshot');
      this.universe = new UniverseGate(options);
    }
  }

  /** A closed bar of the manager's timeframe. */
  onClose(symbol: string, closeTime: number, close: number): void {
    if (this.recordsReturns && this.portfolio.onClose(symbol, closeTime, close)) this.changed = true;
  }

  onSnapshot(snapshot: BuiltinEvents['market.snapshot']): { added: string[]; removed: string[] } {
    this.changed = true;
    return this.universe.onSnapshot(snapshot);
  }

  /** The venue's increments and minimums for sizing, when a market.snapshot gave them. */
  precision(symbol: string): MarketPrecision | undefined {
    return this.universe.precision(symbol);
  }

  /** Takes an account.updated of the traded venue in; says how margin utilisation stands when the account has margin. */
  onAccount(account: BuiltinEvents['account.updated']): MarginWatch | undefined {
    const free = account.balances.find((b) => b.asset === account.quoteCurrency)?.free ?? account.equity;
    this.account = { equity: account.equity, free, margin: account.margin };
    if (account.margin === undefined) {
      const previous = this.marginLevel;
      this.marginLevel = 'ok';
      return previous === 'ok' ? undefined : { pct: 0, level: 'ok', previous };
    }
    const m = this.config.margin;
    const collateral = marginCollateral(m.marginMode, account.equity, free);
    const { pct } = utilisation(account.margin, collateral, m.utilisation, m.marginMode);
    const previous = this.marginLevel;
    this.marginLevel = levelOf(pct, m.utilisation);
    return { pct, level: this.marginLevel, previous };
  }

  /** Utilisation as risk.state reports it, when the account has margin. */
  marginUse(): number | undefined {
    const a = this.account;
    if (a?.margin === undefined) return undefined;
    const m = this.config.margin;
    return utilisation(a.margin, marginCollateral(m.marginMode, a.equity, a.free), m.utilisation, m.marginMode).pct;
  }

  /**
   * Which positions to close, largest risk first, to bring utilisation back under the target.
   * Each position's share of the maintenance margin is its share of the notional; its margin is
   * its notional at the initial rate the venue states (else the configured one).
   */
  reduction(positions: ReadonlyArray<{ id: string; symbol: string; risk: number; notional: number }>): string[] {
    const a = this.account;
    if (a?.margin === undefined) return [];
    const m = this.config.margin;
    const total = positions.reduce((s, p) => s + Math.abs(p.notional), 0);
    if (!(total > 0)) return [];
    const candidates: ReductionCandidate[] = positions.map((p) => {
      const rate = this.universe.marginTerms(p.symbol)?.initialMarginRate ?? m.initialMarginRate ?? a.margin!.used / total;
      return { id: p.id, symbol: p.symbol, risk: p.risk, margin: Math.abs(p.notional) * rate, maintenance: (a.margin!.maintenance * Math.abs(p.notional)) / total };
    });
    return reductionPlan(candidates, a.margin, marginCollateral(m.marginMode, a.equity, a.free), { targetPct: m.utilisation.targetPct, mode: m.marginMode });
  }

  /** Multipliers of the entry's size, each with the note that explains it in signal.decided. */
  scale(candidate: { symbol: string; side: PortfolioPosition['side'] }, open: readonly PortfolioPosition[]): Array<{ factor: number; note: string }> {
    if (!this.config.portfolio.correlation.enabled) return [];
    const c = this.portfolio.sizeFactor(candidate, open);
    if (c.factor === 1) return [];
    return [{ factor: c.factor, note: `correlation ${c.rho?.toFixed(2) ?? '?'} with ${c.against ?? 'an open position'}` }];
  }

  /** Why an entry on `symbol` may not be opened whatever its size; empty when it may. */
  preBlockers(symbol: string): string[] {
    const reasons: string[] = [];
    const universe = this.universe.entryBlocker(symbol);
    if (universe !== undefined) reasons.push(universe);
    if (this.marginLevel !== 'ok') {
      const u = this.config.margin.utilisation;
      reasons.push(`margin utilisation ${this.marginUse()?.toFixed(1) ?? '?'}% is at or above margin.utilisation.warningPct ${u.warningPct}%: no new entries until it is back under`);
    }
    return reasons;
  }

  /** Why the sized entry may not be opened; empty when it may. */
  blockers(candidate: PortfolioPosition, open: readonly PortfolioPosition[], equity: number): string[] {
    const reasons: string[] = [];
    const m = this.config.margin;
    // Spot entries are paid in full and the venue refuses what the account cannot pay; the margin
    // rules are for derivatives, and for any symbol the user caps.
    const capped = m.maxLeverage > 0 || m.maxLeverageBySymbol[candidate.symbol] !== undefined;
    if (candidate.symbol.includes(':') || capped) {
      const margin = marginBlocker({
        config: m,
        symbol: candidate.symbol,
        notional: Math.abs(candidate.value),
        equity,
        freeBalance: candidate.symbol.includes(':') ? (this.account?.free ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY,
        positions: open.map((p) => ({ symbol: p.symbol, notional: p.value })),
        market: this.universe.marginTerms(candidate.symbol),
      });
      if (margin !== undefined) reasons.push(margin);
    }
    const group = this.portfolio.groupBlocker(candidate, open, equity);
    if (group !== undefined) reasons.push(group);
    if (this.config.portfolio.cvar.enabled) {
      const cvar = this.portfolio.cvarBlocker(candidate, open, equity);
      if (cvar !== undefined) reasons.push(cvar);
    }
    return reasons;
  }

  /** The parts of risk.state these rules fill in; nothing when none is configured. */
  state(open: readonly PortfolioPosition[], equity: number): { portfolio?: PortfolioState; marginUse?: number } {
    const out: { portfolio?: PortfolioState; marginUse?: number } = {};
    const use = this.marginUse();
    if (use !== undefined) out.marginUse = use;
    const p = this.config.portfolio;
    if (p.cvar.enabled || Object.keys(p.groups.map).length > 0) {
      const state = this.portfolio.state(open, equity);
      if (Object.keys(state).length > 0) out.portfolio = state;
    }
    return out;
  }

  /** What to save, when something changed since the last call. */
  takeSnapshot(): EntryGatesSnapshot | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    return { ...(this.recordsReturns ? { portfolio: this.portfolio.snapshot() } : {}), universe: this.universe.snapshot() };
  }
}
