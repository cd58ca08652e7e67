import type { TradeManagerConfig } from './config.js';
import { PortfolioRisk, type PortfolioPosition, type PortfolioSnapshot, type PortfolioState } from './portfolio.js';

/** What the gates keep across a restart: plain data. */
export interface EntryGatesSnapshot {
  portfolio?: PortfolioSnapshot | undefined;
}

/**
 * The entry rules that look beyond one trade: the portfolio's correlation, group caps and tail
 * risk. An entry is scaled before it is sized and checked once its value is known; the rest of
 * the trade manager only asks these two questions and reports what they answer.
 */
export class EntryGates {
  readonly portfolio: PortfolioRisk;
  /** Returns are recorded only when a rule uses them: nothing is kept or saved otherwise. */
  readonly recordsReturns: boolean;

  constructor(
    private readonly config: TradeManagerConfig,
    saved?: EntryGatesSnapshot,
  ) {
    const p = config.portfolio;
    this.recordsReturns = p.correlation.enabled || p.cvar.enabled;
    this.portfolio = PortfolioRisk.restore(p, this.recordsReturns ? saved?.portfolio : undefined);
  }

  /** A closed bar of the manager's timeframe. True when something worth saving changed. */
  onClose(symbol: string, closeTime: number, close: number): boolean {
    return this.recordsReturns && this.portfolio.onClose(symbol, closeTime, close);
  }

  /** Multipliers of the entry's size, each with the note that explains it in signal.decided. */
  scale(candidate: { symbol: string; side: PortfolioPosition['side'] }, open: readonly PortfolioPosition[]): Array<{ factor: number; note: string }> {
    if (!this.config.portfolio.correlation.enabled) return [];
    const c = this.portfolio.sizeFactor(candidate, open);
    if (c.factor === 1) return [];
    return [{ factor: c.factor, note: `correlation ${c.rho?.toFixed(2) ?? '?'} with ${c.against ?? 'an open position'}` }];
  }

  /** Why the sized entry may not be opened; empty when it may. */
  blockers(candidate: PortfolioPosition, open: readonly PortfolioPosition[], equity: number): string[] {
    const reasons: string[] = [];
    const group = this.portfolio.groupBlocker(candidate, open, equity);
    if (group !== undefined) reasons.push(group);
    if (this.config.portfolio.cvar.enabled) {
      const cvar = this.portfolio.cvarBlocker(candidate, open, equity);
      if (cvar !== undefined) reasons.push(cvar);
    }
    return reasons;
  }

  /** The part of risk.state these rules fill in; nothing when none is configured. */
  state(open: readonly PortfolioPosition[], equity: number): { portfolio?: PortfolioState } {
    const p = this.config.portfolio;
    if (!p.cvar.enabled && Object.keys(p.groups.map).length === 0) return {};
    const state = this.portfolio.state(open, equity);
    return Object.keys(state).length > 0 ? { portfolio: state } : {};
  }

  snapshot(): EntryGatesSnapshot {
    return this.recordsReturns ? { portfolio: this.portfolio.snapshot() } : {};
  }
}
