import type { BuiltinEvents } from '@tradebus/core';
import type { NotifierMessage } from './channel.js';

/** A message on its way to the channels, with what routing and de-duplication look at. */
export interface Notification {
  message: NotifierMessage;
  /** The event type it came from (`system.alert`, `trade.closed`...), matched by a route's `types`. */
  type: string;
  /** De-duplication key: the code and the symbol, agent or trade it is about. */
  key: string;
}

type Alert = BuiltinEvents['system.alert'];
type Opened = BuiltinEvents['trade.opened'];
type Closed = BuiltinEvents['trade.closed'];
type Risk = BuiltinEvents['risk.state'];
type Status = BuiltinEvents['agent.status'];

/** `AGENT_DOWN` → `Agent down`. */
export function humanize(code: string): string {
  const words = code.toLowerCase().replace(/[_.]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const num = (value: number, digits = 8): string => String(Number(value.toFixed(digits)));
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${num(value, 2)}`;

export function fromAlert(alert: Alert): Notification {
  const symbol = typeof alert.details?.['symbol'] === 'string' ? (alert.details['symbol'] as string) : undefined;
  const subject = symbol ?? alert.agentId;
  return {
    type: 'system.alert',
    key: `${alert.code}|${subject ?? ''}`,
    message: {
      level: alert.level,
      code: alert.code,
      title: subject === undefined ? humanize(alert.code) : `${humanize(alert.code)} (${subject})`,
      text: alert.message,
      details: { ...(alert.agentId === undefined ? {} : { agentId: alert.agentId }), ...alert.details },
      timestamp: alert.timestamp,
    },
  };
}

export function fromTradeOpened(t: Opened): Notification {
  const protections = [t.stopLoss === undefined ? undefined : `stop ${num(t.stopLoss)}`, t.takeProfit === undefined ? undefined : `target ${num(t.takeProfit)}`].filter(Boolean);
  return {
    type: 'trade.opened',
    // Two trades on one symbol are two events: keyed by trade, not symbol, so neither is folded away.
    key: `TRADE_OPENED|${t.tradeId}`,
    message: {
      level: 'info',
      code: 'TRADE_OPENED',
      title: `Opened ${t.side} ${num(t.quantity)} ${t.symbol} @ ${num(t.entryPrice)}`,
      text: [protections.length > 0 ? protections.join(', ') : 'no stop or target', t.strategyId === undefined ? undefined : `strategy ${t.strategyId}`].filter(Boolean).join(' · '),
      details: { tradeId: t.tradeId, symbol: t.symbol, side: t.side, quantity: t.quantity, entryPrice: t.entryPrice, stopLoss: t.stopLoss, takeProfit: t.takeProfit, strategyId: t.strategyId, fees: t.fees },
      timestamp: t.openedAt,
    },
  };
}

export function fromTradeClosed(t: Closed): Notification {
  return {
    type: 'trade.closed',
    key: `TRADE_CLOSED|${t.tradeId}`,
    message: {
      level: 'info',
      code: 'TRADE_CLOSED',
      title: `Closed ${t.side} ${t.symbol}: ${signed(t.pnl)} (${signed(t.pnlPct)}%)`,
      text: `${num(t.quantity)} @ ${num(t.entryPrice)} → ${num(t.exitPrice)}, ${t.exitReason}; fees ${num(t.fees)}`,
      details: { tradeId: t.tradeId, symbol: t.symbol, side: t.side, quantity: t.quantity, entryPrice: t.entryPrice, exitPrice: t.exitPrice, pnl: t.pnl, pnlPct: t.pnlPct, fees: t.fees, exitReason: t.exitReason, strategyId: t.strategyId, heldMs: t.closedAt - t.openedAt },
      timestamp: t.closedAt,
    },
  };
}

/**
 * Turns the stream of `risk.state` publications (one per bar or change) into the changes that
 * matter to an operator: the kill switch, reducing-only mode and breakers going on or off.
 * Before the first state everything counts as off, so a system that starts halted says so.
 */
export class RiskChanges {
  private killSwitch = false;
  private reducingOnly = false;
  private tripped = new Map<string, string | undefined>();

  next(state: Risk): Notification[] {
    const out: Notification[] = [];
    const context = { equity: state.equity, drawdownPct: state.drawdownPct, openPositions: state.openPositions, exposure: state.exposure };
    const note = (level: NotifierMessage['level'], code: string, title: string, text: string, subject = '', details: Record<string, unknown> = {}) =>
      out.push({ type: 'risk.state', key: `${code}|${subject}`, message: { level, code, title, text, details: { ...details, ...context }, timestamp: state.timestamp } });

    if (state.killSwitch !== this.killSwitch) {
      if (state.killSwitch) note('critical', 'RISK_KILL_SWITCH', 'Kill switch engaged', 'New entries are halted and entry orders cancelled; protective stops stay.');
      else note('info', 'RISK_KILL_SWITCH_RELEASED', 'Kill switch released', 'New entries are allowed again.');
      this.killSwitch = state.killSwitch;
    }
    if (state.reducingOnly !== this.reducingOnly) {
      if (state.reducingOnly) note('warning', 'RISK_REDUCING_ONLY', 'Reducing-only mode', 'Only orders that reduce positions are placed.');
      else note('info', 'RISK_REDUCING_ONLY_RELEASED', 'Reducing-only mode lifted', 'Orders that open or add to positions are allowed again.');
      this.reducingOnly = state.reducingOnly;
    }
    const now = new Map(state.breakers.filter((b) => b.tripped).map((b) => [b.name, b.reason]));
    for (const [name, reason] of now) {
      if (this.tripped.has(name)) continue;
      const until = state.breakers.find((b) => b.name === name)?.until;
      note('warning', 'RISK_BREAKER_TRIPPED', `Breaker tripped: ${name}`, reason ?? 'no reason given', name, { breaker: name, reason, until: until === undefined ? undefined : new Date(until).toISOString() });
    }
    for (const name of this.tripped.keys()) {
      if (!now.has(name)) note('info', 'RISK_BREAKER_RESET', `Breaker reset: ${name}`, 'The breaker no longer blocks trading.', name, { breaker: name });
    }
    this.tripped = now;
    return out;
  }
}

/** An agent failing, degrading or coming back; other state changes (starting, stopping) are routine. */
export class AgentChanges {
  private readonly troubled = new Set<string>();

  /** Agents last seen failed or degraded. */
  troubledAgents(): string[] {
    return [...this.troubled].sort();
  }

  next(s: Status): Notification | undefined {
    const make = (level: NotifierMessage['level'], code: string, title: string): Notification => ({
      type: 'agent.status',
      key: `${code}|${s.agentId}`,
      message: { level, code, title, text: s.reason ?? `${s.from} → ${s.to}`, details: { agentId: s.agentId, kind: s.kind, from: s.from, to: s.to }, timestamp: s.timestamp },
    });
    if (s.to === 'failed') {
      this.troubled.add(s.agentId);
      return make('error', 'AGENT_FAILED', `Agent failed (${s.agentId})`);
    }
    if (s.to === 'degraded') {
      this.troubled.add(s.agentId);
      return make('warning', 'AGENT_DEGRADED', `Agent degraded (${s.agentId})`);
    }
    if (s.to === 'running' && this.troubled.delete(s.agentId)) return make('info', 'AGENT_RECOVERED', `Agent running again (${s.agentId})`);
    if (s.to === 'stopped') this.troubled.delete(s.agentId);
    return undefined;
  }
}
