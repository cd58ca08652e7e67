import { describe, expect, it } from 'vitest';
import type { BuiltinEvents } from '@tradebus/core';
import { SYMBOLS, startTradingRun } from './support/trading-system.js';

type Update = BuiltinEvents['order.updated'];
type Fill = Update['fills'][number];

/** Every fill of every order, once, grouped by the trade its order belongs to. */
function fillsByTrade(updates: Update[]): Map<string, Array<{ side: 'buy' | 'sell'; fill: Fill; clientOrderId: string }>> {
  const seen = new Set<string>();
  const out = new Map<string, Array<{ side: 'buy' | 'sell'; fill: Fill; clientOrderId: string }>>();
  for (const u of updates) {
    for (const fill of u.fills) {
      if (seen.has(fill.tradeId)) continue;
      seen.add(fill.tradeId);
      const list = out.get(u.tradeId ?? '?') ?? [];
      list.push({ side: u.side, fill, clientOrderId: u.clientOrderId });
      out.set(u.tradeId ?? '?', list);
    }
  }
  return out;
}

describe('replayed real candles to recorded trades, in one process', () => {
  it('trades on the paper exchange, and every recorded P&L matches the fills it came from', async () => {
    const run = await startTradingRun({ warmupBars: 300, playedBars: 2_000 });
    await run.play();

    const signals = run.of('signal.generated');
    const decided = run.of('signal.decided').filter((d) => d.decision !== 'outcome');
    const opened = run.of('trade.opened');
    const closed = run.of('trade.closed');
    const updates = run.of('order.updated');
    expect(signals.length).toBeGreaterThan(20);
    // Every signal decided exactly once, accepted or rejected with reasons.
    expect(decided.map((d) => d.signalId).sort()).toEqual(signals.map((s) => s.id).sort());
    expect(decided.filter((d) => d.decision === 'rejected').every((d) => d.reasons.length > 0)).toBe(true);
    expect(closed.length).toBeGreaterThanOrEqual(5);
    expect(new Set(closed.map((t) => t.symbol))).toEqual(new Set(SYMBOLS));

    // The P&L of each trade, recomputed from the fills of its orders alone.
    const byTrade = fillsByTrade(updates);
    for (const trade of closed) {
      const fills = byTrade.get(trade.tradeId) ?? [];
      const bought = fills.filter((f) => f.side === 'buy');
      const sold = fills.filter((f) => f.side === 'sell');
      const qty = (list: typeof fills) => list.reduce((s, f) => s + f.fill.quantity, 0);
      const value = (list: typeof fills) => list.reduce((s, f) => s + f.fill.quantity * f.fill.price, 0);
      const fees = fills.reduce((s, f) => s + f.fill.fee, 0);
      expect(trade.side).toBe('long');
      expect(qty(sold)).toBeCloseTo(qty(bought), 12);
      expect(trade.quantity).toBeCloseTo(qty(bought), 12);
      expect(trade.fees).toBeCloseTo(fees, 15);
      expect(trade.pnl).toBeCloseTo(value(sold) - value(bought) - fees, 12);
      expect(trade.entryPrice).toBeCloseTo(value(bought) / qty(bought), 12);
      expect(trade.exitPrice).toBeCloseTo(value(sold) / qty(sold), 12);
    }

    // The venue's own record agrees: the same fills, and one entry order per trade.
    const venueFills = (await Promise.all(SYMBOLS.map((s) => run.paper.fetchMyTrades(s)))).flat();
    const busFills = [...byTrade.values()].flat();
    expect(busFills.map((f) => f.fill.tradeId).sort()).toEqual(venueFills.map((f) => f.tradeId).sort());
    for (const f of busFills) {
      const v = venueFills.find((x) => x.tradeId === f.fill.tradeId)!;
      expect([v.clientOrderId, v.price, v.quantity, v.fee]).toEqual([f.clientOrderId, f.fill.price, f.fill.quantity, f.fill.fee]);
    }
    const entries = run.of('order.requested').filter((r) => r.purpose === 'entry');
    expect(new Set(entries.map((r) => r.tradeId)).size).toBe(entries.length);
    expect(opened.length).toBe(new Set(venueFills.filter((f) => f.clientOrderId?.endsWith('-e0')).map((f) => f.clientOrderId)).size);

    // Books and venue end in the same place, and nobody had to reconcile anything.
    const venuePositions = await run.paper.fetchPositions();
    const book = run.manager.snapshot().book;
    const open = Object.values(book.trades).filter((t) => t.status === 'open' || t.status === 'closing');
    for (const symbol of SYMBOLS) {
      const held = open.filter((t) => t.symbol === symbol).reduce((s, t) => s + t.entryQuantity - t.exitQuantity, 0);
      expect(venuePositions.find((p) => p.symbol === symbol)?.quantity ?? 0).toBeCloseTo(held, 12);
    }
    const alerts = run.of('system.alert');
    expect(alerts.filter((a) => a.code.startsWith('RECONCILE'))).toEqual([]);
    expect(alerts.filter((a) => a.level === 'error' || a.level === 'critical')).toEqual([]);
    const account = run.of('account.updated').at(-1)!;
    expect(account.equity).toBeCloseTo(run.paper.accountSnapshot().equity, 12);
    await run.stop();
  });
});
