import type { TradeManagerConfig } from './config.js';
import type { Breaker, RiskSnapshot } from './state.js';

export const DAY_MS = 86_400_000;
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

export type BreakerName = keyof RiskSnapshot['breakers'];
export type RiskAction = 'kill' | 'resume' | 'reducing_only' | 'reset_breakers' | 'flatten';

const quiet = (): Breaker => ({ tripped: false });

export function initialRisk(now: number, equity: number): RiskSnapshot {
  return {
    killSwitch: false,
    reducingOnly: false,
    peakEquity: equity,
    day: dayOf(now),
    dayStartEquity: equity,
    entriesToday: 0,
    consecutiveLosses: 0,
    breakers: { dailyLoss: quiet(), drawdown: quiet(), consecutiveLosses: quiet() },
    symbolCooldowns: {},
    realizedPnl: 0,
  };
}

/**
 * The account-level risk rules: circuit breakers, daily counters, cooldowns and the operator's
 * switches. Each rule is a small check on `RiskSnapshot`, which is plain data so it is persisted
 * as is and survives a restart with its breakers and counters.
 */
export class RiskRules {
  constructor(
    private readonly config: TradeManagerConfig,
    public state: RiskSnapshot,
  ) {}

  /** A new UTC day resets the daily counters and the daily-loss breaker. Returns true on a change. */
  rollDay(now: number, equity: number): boolean {
    const day = dayOf(now);
    if (day === this.state.day) return false;
    this.state.day = day;
    this.state.dayStartEquity = equity;
    this.state.entriesToday = 0;
    if (this.state.breakers.dailyLoss.tripped) this.state.breakers.dailyLoss = quiet();
    return true;
  }

  dailyPnl(equity: number): number {
    return equity - this.state.dayStartEquity;
  }

  drawdownPct(equity: number): number {
    return this.state.peakEquity > 0 ? Math.max(0, ((this.state.peakEquity - equity) / this.state.peakEquity) * 100) : 0;
  }

  /** Ends breakers whose cooldown has run out and trips those whose threshold is crossed. */
  evaluate(now: number, equity: number): boolean {
    let changed = this.rollDay(now, equity);
    const b = this.state.breakers;
    const cfg = this.config.breakers;

    if (b.dailyLoss.tripped && b.dailyLoss.until !== undefined && now >= b.dailyLoss.until && cfg.dailyLossCooldownMs !== undefined) {
      // A fresh allowance from here, otherwise the same loss would trip it again at once.
      b.dailyLoss = quiet();
      this.state.dayStartEquity = equity;
      changed = true;
    }
    if (b.drawdown.tripped && b.drawdown.until !== undefined && now >= b.drawdown.until) {
      b.drawdown = quiet();
      this.state.peakEquity = equity;
      changed = true;
    }
    if (b.consecutiveLosses.tripped && b.consecutiveLosses.until !== undefined && now >= b.consecutiveLosses.until) {
      b.consecutiveLosses = quiet();
      this.state.consecutiveLosses = 0;
      changed = true;
    }
    if (equity > this.state.peakEquity) this.state.peakEquity = equity;

    if (cfg.dailyLossPct > 0 && !b.dailyLoss.tripped && this.state.dayStartEquity > 0) {
      const lossPct = (-this.dailyPnl(equity) / this.state.dayStartEquity) * 100;
      if (lossPct >= cfg.dailyLossPct) {
        const until = cfg.dailyLossCooldownMs !== undefined ? now + cfg.dailyLossCooldownMs : (dayOf(now) + 1) * DAY_MS;
        b.dailyLoss = { tripped: true, reason: `daily loss ${lossPct.toFixed(2)}% reached the ${cfg.dailyLossPct}% limit`, until };
        changed = true;
      }
    }
    if (cfg.maxDrawdownPct > 0 && !b.drawdown.tripped) {
      const dd = this.drawdownPct(equity);
      if (dd >= cfg.maxDrawdownPct) {
        b.drawdown = { tripped: true, reason: `drawdown ${dd.toFixed(2)}% reached the ${cfg.maxDrawdownPct}% limit`, until: now + cfg.drawdownCooldownMs };
        changed = true;
      }
    }
    // Runs on every event: a plain loop, no entry arrays.
    for (const symbol in this.state.symbolCooldowns) {
      if (now >= this.state.symbolCooldowns[symbol]!) {
        delete this.state.symbolCooldowns[symbol];
        changed = true;
      }
    }
    return changed;
  }

  /** Books a closed trade: streak of losses, per-symbol cooldown, realised P&L. */
  onTradeClosed(now: number, symbol: string, pnl: number): void {
    this.state.realizedPnl += pnl;
    if (pnl < 0) {
      this.state.consecutiveLosses++;
      if (this.config.limits.symbolCooldownAfterLossMs > 0) {
        this.state.symbolCooldowns[symbol] = now + this.config.limits.symbolCooldownAfterLossMs;
      }
      const max = this.config.breakers.maxConsecutiveLosses;
      if (max > 0 && this.state.consecutiveLosses >= max && !this.state.breakers.consecutiveLosses.tripped) {
        this.state.breakers.consecutiveLosses = {
          tripped: true,
          reason: `${this.state.consecutiveLosses} losing trades in a row`,
          until: now + this.config.breakers.consecutiveLossCooldownMs,
        };
      }
    } else if (pnl > 0) {
      this.state.consecutiveLosses = 0;
    }
  }

  onEntry(now: number): void {
    this.state.entriesToday++;
    this.state.lastEntryAt = now;
  }

  /** The deepest step of the drawdown ladder that equity has reached, if any. */
  ladderStep(equity: number): { drawdownPct: number; sizeMultiplier: number } | undefined {
    const ladder = this.config.breakers.drawdownLadder;
    if (ladder.length === 0) return undefined;
    const dd = this.drawdownPct(equity);
    let step: { drawdownPct: number; sizeMultiplier: number } | undefined;
    for (const s of ladder) if (dd >= s.drawdownPct && (step === undefined || s.drawdownPct > step.drawdownPct)) step = s;
    return step;
  }

  /** What the drawdown ladder scales new entries by: 1 above its first step. */
  sizeMultiplier(equity: number): number {
    return this.ladderStep(equity)?.sizeMultiplier ?? 1;
  }

  /** Reasons an entry on `symbol` may not be opened now, empty when it may. */
  entryBlockers(now: number, symbol: string, openPositions: number, equity?: number): string[] {
    const reasons: string[] = [];
    const s = this.state;
    if (s.killSwitch) reasons.push('kill switch is on');
    const step = equity === undefined ? undefined : this.ladderStep(equity);
    if (step !== undefined && step.sizeMultiplier === 0) {
      reasons.push(`drawdown ${this.drawdownPct(equity!).toFixed(2)}% reached the ${step.drawdownPct}% step of breakers.drawdownLadder: no new entries`);
    }
    if (s.reducingOnly) reasons.push('reducing-only mode');
    for (const [name, breaker] of Object.entries(s.breakers)) {
      if (breaker.tripped) reasons.push(`${name} breaker tripped: ${breaker.reason ?? ''}`.trim());
    }
    const cooldown = s.symbolCooldowns[symbol];
    if (cooldown !== undefined && now < cooldown) reasons.push(`${symbol} cooling down after a loss until ${new Date(cooldown).toISOString()}`);
    const limits = this.config.limits;
    if (limits.maxTradesPerDay > 0 && s.entriesToday >= limits.maxTradesPerDay) reasons.push(`${s.entriesToday} trades today, the limit is ${limits.maxTradesPerDay}`);
    if (limits.minTimeBetweenTradesMs > 0 && s.lastEntryAt !== undefined && now - s.lastEntryAt < limits.minTimeBetweenTradesMs) {
      reasons.push(`last entry ${now - s.lastEntryAt} ms ago, the minimum gap is ${limits.minTimeBetweenTradesMs} ms`);
    }
    if (limits.maxOpenPositions > 0 && openPositions >= limits.maxOpenPositions) reasons.push(`${openPositions} positions open, the limit is ${limits.maxOpenPositions}`);
    return reasons;
  }

  /** Applies an operator command. Returns true when the state changed. */
  command(action: RiskAction, equity: number): boolean {
    const before = JSON.stringify(this.state);
    switch (action) {
      case 'kill':
      case 'flatten':
        this.state.killSwitch = true;
        break;
      case 'resume':
        this.state.killSwitch = false;
        this.state.reducingOnly = false;
        break;
      case 'reducing_only':
        this.state.reducingOnly = true;
        break;
      case 'reset_breakers':
        this.state.breakers = { dailyLoss: quiet(), drawdown: quiet(), consecutiveLosses: quiet() };
        this.state.consecutiveLosses = 0;
        this.state.symbolCooldowns = {};
        // Measured from here on: the old peak and day start would trip the breakers again at once.
        this.state.peakEquity = equity;
        this.state.dayStartEquity = equity;
        break;
    }
    return JSON.stringify(this.state) !== before;
  }

  breakerList(): Array<{ name: string; tripped: boolean; reason?: string; until?: number }> {
    return (Object.entries(this.state.breakers) as Array<[BreakerName, Breaker]>).map(([name, b]) => ({
      name,
      tripped: b.tripped,
      ...(b.reason !== undefined ? { reason: b.reason } : {}),
      ...(b.until !== undefined ? { until: b.until } : {}),
    }));
  }
}
