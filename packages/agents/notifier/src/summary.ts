import type { BuiltinEvents } from '@tradebus/core';
import type { NotifierLevel, NotifierMessage } from './channel.js';

type Risk = BuiltinEvents['risk.state'];

/** What the daily summary adds up between two summaries; plain data, so it can be stored as is. */
export interface LedgerState {
  since: number;
  pnl: number;
  fees: number;
  closed: number;
  wins: number;
  losses: number;
  opened: number;
  incidents: Record<NotifierLevel, number>;
  risk?: Pick<Risk, 'equity' | 'drawdownPct' | 'openPositions' | 'exposure' | 'heat' | 'killSwitch' | 'reducingOnly' | 'timestamp'> | undefined;
}

export const emptyLedger = (since: number, risk?: LedgerState['risk']): LedgerState => ({
  since,
  pnl: 0,
  fees: 0,
  closed: 0,
  wins: 0,
  losses: 0,
  opened: 0,
  incidents: { info: 0, warning: 0, error: 0, critical: 0 },
  risk,
});

export function recordClosed(l: LedgerState, t: BuiltinEvents['trade.closed']): void {
  l.pnl += t.pnl;
  l.fees += t.fees;
  l.closed++;
  if (t.pnl > 0) l.wins++;
  else if (t.pnl < 0) l.losses++;
}

export function recordRisk(l: LedgerState, r: Risk): void {
  l.risk = { equity: r.equity, drawdownPct: r.drawdownPct, openPositions: r.openPositions, exposure: r.exposure, heat: r.heat, killSwitch: r.killSwitch, reducingOnly: r.reducingOnly, timestamp: r.timestamp };
}

const fixed = (v: number, d = 2): string => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/** The summary message: P&L and trades since `since`, open risk from the last risk.state, alerts by level. */
export function summaryMessage(l: LedgerState, now: number): NotifierMessage {
  const day = new Date(now).toISOString().slice(0, 10);
  const winRate = l.closed === 0 ? undefined : (l.wins / l.closed) * 100;
  const incidents = Object.values(l.incidents).reduce((a, b) => a + b, 0);
  const lines = [
    `P&L: ${l.pnl >= 0 ? '+' : ''}${fixed(l.pnl)} after ${fixed(l.fees)} fees`,
    `Trades: ${l.closed} closed (${l.wins} won, ${l.losses} lost${winRate === undefined ? '' : `, ${fixed(winRate, 1)}% won`}), ${l.opened} opened`,
    l.risk === undefined
      ? 'Open risk: no risk state received'
      : `Open risk: ${l.risk.openPositions} positions, exposure ${fixed(l.risk.exposure)}, heat ${fixed(l.risk.heat)}, equity ${fixed(l.risk.equity)}, drawdown ${fixed(l.risk.drawdownPct)}%${l.risk.killSwitch ? ', KILL SWITCH ON' : ''}${l.risk.reducingOnly ? ', reducing only' : ''}`,
    `Incidents: ${incidents} (${l.incidents.critical} critical, ${l.incidents.error} error, ${l.incidents.warning} warning, ${l.incidents.info} info)`,
  ];
  return {
    level: 'info',
    code: 'DAILY_SUMMARY',
    title: `Daily summary ${day}`,
    text: lines.join('\n'),
    details: {
      from: new Date(l.since).toISOString(),
      to: new Date(now).toISOString(),
      pnl: l.pnl,
      fees: l.fees,
      tradesClosed: l.closed,
      wins: l.wins,
      losses: l.losses,
      tradesOpened: l.opened,
      openPositions: l.risk?.openPositions,
      exposure: l.risk?.exposure,
      heat: l.risk?.heat,
      equity: l.risk?.equity,
      drawdownPct: l.risk?.drawdownPct,
      incidents: { ...l.incidents },
    },
    timestamp: now,
  };
}
