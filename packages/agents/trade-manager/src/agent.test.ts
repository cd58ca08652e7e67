import { MemoryStateStore, VirtualClock, type BuiltinEvents } from '@tradebus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { clientOrderIdFor, tradeIdFor } from './ids.js';
import { T0, startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('trade manager: signal to trade', () => {
  it('sizes an accepted signal, requests an idempotent entry, books the fills and records the trade with its P&L', async () => {
    h = await startHarness();
    const s = await h.signal({ price: 100, stopLoss: 98 });
    const [entry] = h.requests('entry');
    expect(entry).toBeDefined();
    expect(entry!.clientOrderId).toBe(clientOrderIdFor(tradeIdFor([s.id]), 'entry'));
    expect(entry!.clientOrderId.length).toBeLessThanOrEqual(36);
    // 1 % of 10 000 at risk over a 2-point stop.
    expect(entry!.quantity).toBeCloseTo(50, 9);
    expect(entry).toMatchObject({ side: 'buy', type: 'market', reduceOnly: false, signalId: s.id, strategyId: 'alpha' });
    expect(h.decision(s.id)).toMatchObject({ decision: 'accepted', clientOrderId: entry!.clientOrderId, quantity: 50 });
    const [opened] = h.of('trade.opened');
    expect(opened).toMatchObject({ symbol: 'BTC/USDT', side: 'long', quantity: 50, entryPrice: 100, stopLoss: 98 });
    expect(h.of('position.updated').at(-1)).toMatchObject({ side: 'long', quantity: 50, entryPrice: 100 });

    h.venue.price = 104;
    const flat = await h.signal({ side: 'flat', price: 104 });
    expect(h.decision(flat.id)).toMatchObject({ decision: 'accepted' });
    const [exit] = h.requests('exit');
    expect(exit).toMatchObject({ side: 'sell', quantity: 50, reduceOnly: true, tradeId: opened!.tradeId });
    const [closed] = h.of('trade.closed');
    const fees = 50 * 100 * 0.001 + 50 * 104 * 0.001;
    expect(closed).toMatchObject({ tradeId: opened!.tradeId, exitPrice: 104, exitReason: 'signal' });
    expect(closed!.fees).toBeCloseTo(fees, 9);
    expect(closed!.pnl).toBeCloseTo(50 * 4 - fees, 9);
    expect(closed!.pnlPct).toBeCloseTo(((50 * 4 - fees) / 5_000) * 100, 9);
    expect(h.of('position.updated').at(-1)).toMatchObject({ side: 'flat', quantity: 0 });
    expect(h.tm.snapshot().book.trades).toEqual({});
  });

  it('takes an order told again after a restart as nothing new: no second booking, no alarm for a trade it closed', async () => {
    h = await startHarness();
    await h.signal({ price: 100, stopLoss: 98 });
    const flat = await h.signal({ side: 'flat', price: 100 });
    expect(h.decision(flat.id)).toMatchObject({ decision: 'accepted' });
    const updates = h.events.filter((e) => e.type === 'order.updated').map((e) => e.payload as BuiltinEvents['order.updated']);
    const finished = updates.filter((u) => u.status === 'filled');
    expect(finished).toHaveLength(2);
    const before = h.of('trade.closed').length;
    for (const u of finished) h.system.bus.publish('order.updated', { ...u, fills: [...updates.filter((x) => x.clientOrderId === u.clientOrderId).flatMap((x) => x.fills)], restated: true });
    await h.idle();
    expect(h.of('trade.closed')).toHaveLength(before);
    expect(h.of('system.alert').map((a) => a.code)).not.toContain('FILL_AFTER_TRADE_CLOSED');
    expect(h.tm.snapshot().book.trades).toEqual({});
  });

  it('books a fee taken in the coin bought as a smaller position, so the exit sells only what arrived', async () => {
    h = await startHarness({ sizing: { quantityStep: 0.01 } });
    h.venue.feeInBase = true;
    await h.signal({ price: 100, stopLoss: 98 });
    expect(h.of('trade.opened')[0]).toMatchObject({ quantity: 49.95, entryPrice: 100 });
    expect(h.of('trade.opened')[0]!.fees).toBeCloseTo(5, 9);
    h.venue.price = 104;
    await h.signal({ side: 'flat', price: 104 });
    expect(h.requests('exit')[0]!.quantity).toBe(49.95);
    const closed = h.of('trade.closed')[0]!;
    // Cash flows: paid 5 000, received 49.95 × 104 less the 0.1 % fee on that.
    expect(closed.pnl).toBeCloseTo(49.95 * 104 * 0.999 - 5_000, 9);
  });

  it('republishes open positions on the snapshot interval, once per jump of the clock however many intervals it spans', async () => {
    h = await startHarness({ positionSnapshotIntervalMs: 60_000 });
    await h.signal({ price: 100, stopLoss: 98 });
    const before = h.of('position.updated').length;
    h.clock.advanceBy(60_000);
    await h.idle();
    h.clock.advanceBy(60_000);
    await h.idle();
    expect(h.of('position.updated').length).toBe(before + 2);
    // Five minutes at once (a replay moving to the next bar): one snapshot, not five.
    h.clock.advanceBy(300_000);
    await h.idle();
    expect(h.of('position.updated').length).toBe(before + 3);
    expect(h.of('position.updated').at(-1)).toMatchObject({ side: 'long', quantity: 50 });
  });

  it("does not repeat in a snapshot a position that a bar announced within the interval", async () => {
    h = await startHarness({ positionSnapshotIntervalMs: 60_000 });
    await h.signal({ price: 100, stopLoss: 90 });
    const before = h.of('position.updated').length;
    // The next bar moves the clock past several snapshot times: the bar's own update is the one announcement.
    await h.candle({ high: 101, low: 99, close: 100.5 });
    expect(h.of('position.updated').length).toBe(before + 1);
    expect(h.of('position.updated').at(-1)).toMatchObject({ markPrice: 100.5 });
    // A minute without prices: the snapshot announces it again.
    h.clock.advanceBy(60_000);
    await h.idle();
    expect(h.of('position.updated').length).toBe(before + 2);
  });

  it('decides a signal delivered twice only once', async () => {
    h = await startHarness();
    const s = await h.signal({ id: 'same' });
    h.system.bus.publish('signal.generated', s);
    await h.idle();
    expect(h.requests('entry')).toHaveLength(1);
    expect(h.of('signal.decided').filter((d) => d.signalId === 'same')).toHaveLength(1);
  });

  it('rejects with every reason that applies, and follows the rejected signal to its outcome', async () => {
    h = await startHarness({ counterfactual: { enabled: true, maxBars: 10 }, sizing: { confidence: { enabled: true, min: 0.99 } } });
    const s = await h.signal({ side: 'short', price: 100, stopLoss: 103, takeProfit: 95, confidence: 0.5 });
    const d = h.decision(s.id)!;
    expect(d.decision).toBe('rejected');
    expect(d.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/short positions are disabled/), expect.stringMatching(/below the minimum 0.99/)]));
    expect(h.requests()).toHaveLength(0);
    await h.candle({ high: 101, low: 99, close: 100 });
    expect(h.of('signal.decided').filter((x) => x.decision === 'outcome')).toHaveLength(0);
    await h.candle({ high: 100, low: 94, close: 95.5 });
    const outcome = h.of('signal.decided').find((x) => x.decision === 'outcome');
    expect(outcome).toMatchObject({ signalId: s.id, side: 'short', outcome: { exitPrice: 95, exitReason: 'take_profit' } });
    expect(outcome!.outcome!.pnlPct).toBeCloseTo(5, 9);
  });

  it('counts a fill reported twice once', async () => {
    h = await startHarness();
    h.venue.autoFill = false;
    await h.signal({ price: 100, stopLoss: 98 });
    const [entry] = h.requests('entry');
    h.venue.fill(entry!.clientOrderId, 100, 20);
    await h.idle();
    // The same update again (a redelivery): same fill id.
    const last = h.events.filter((e) => e.type === 'order.updated').at(-1)!;
    h.system.bus.publish('order.updated', last.payload as never);
    await h.idle();
    expect(h.tm.snapshot().book.trades[entry!.tradeId!]!.entryQuantity).toBe(20);
    h.venue.fill(entry!.clientOrderId, 100);
    await h.idle();
    expect(h.of('trade.opened')[0]!.quantity).toBe(50);
  });
});

describe('trade manager: limit entries', () => {
  it('cancels what a limit entry has not filled in time and trades the part that did', async () => {
    h = await startHarness({ entry: { type: 'limit', limitOffsetBps: 10, timeoutMs: 600_000 } });
    await h.signal({ price: 100, stopLoss: 98 });
    const [entry] = h.requests('entry');
    expect(entry).toMatchObject({ type: 'limit', price: 99.9, timeInForce: 'GTC' });
    h.venue.fill(entry!.clientOrderId, 99.9, 20);
    await h.idle();
    await h.candle({ high: 101, low: 99.95, close: 100 });
    expect(h.of('order.cancel_requested')).toHaveLength(0);
    h.clock.advanceBy(600_000);
    await h.idle();
    expect(h.of('order.cancel_requested').map((c) => c.clientOrderId)).toEqual([entry!.clientOrderId]);
    expect(h.of('trade.opened')).toEqual([expect.objectContaining({ quantity: 20, entryPrice: 99.9 })]);
  });

  it('drops a trade whose limit entry never filled', async () => {
    h = await startHarness({ entry: { type: 'limit', timeoutMs: 600_000 } });
    await h.signal({ price: 100, stopLoss: 98 });
    h.clock.advanceBy(600_000);
    await h.idle();
    expect(h.of('order.cancel_requested')).toHaveLength(1);
    expect(h.of('trade.opened')).toHaveLength(0);
    expect(h.tm.snapshot().book.trades).toEqual({});
    const s = await h.signal({ price: 100, stopLoss: 98 });
    expect(h.decision(s.id)!.decision).toBe('accepted');
  });
});

describe('trade manager: exits it enforces itself', () => {
  it('exits at the stop on a candle that trades through it, not on the bar before the entry', async () => {
    h = await startHarness();
    await h.candle({ high: 101, low: 90, close: 100 });
    await h.signal({ price: 100, stopLoss: 98 });
    expect(h.requests('stop_loss')).toHaveLength(0);
    await h.candle({ high: 101, low: 99, close: 100 });
    expect(h.requests('stop_loss')).toHaveLength(0);
    await h.candle({ high: 100, low: 97.5, close: 97.8 });
    const [stop] = h.requests('stop_loss');
    expect(stop).toMatchObject({ type: 'market', side: 'sell', quantity: 50, reduceOnly: true });
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'stop_loss', exitPrice: 97.8 });
  });

  it('takes profit at the target', async () => {
    h = await startHarness({ sizing: { rewardRisk: 2 } });
    await h.signal({ price: 100, stopLoss: 98 });
    expect(h.of('trade.opened')[0]!.takeProfit).toBe(104);
    await h.candle({ high: 103.9, low: 99, close: 103 });
    expect(h.of('trade.closed')).toHaveLength(0);
    await h.candle({ high: 104.2, low: 102, close: 104.1 });
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'take_profit' });
  });

  it('trails the stop behind the best price and exits on it', async () => {
    h = await startHarness({ exits: { trailing: { enabled: true, distancePct: 2, activationPct: 1 } } });
    await h.signal({ price: 100, stopLoss: 95 });
    await h.candle({ high: 100.5, low: 99.5, close: 100 });
    expect(h.tm.snapshot().book.trades[h.requests('entry')[0]!.tradeId!]!.stopLoss).toBe(95);
    await h.candle({ high: 110, low: 104, close: 109 });
    const trade = h.tm.snapshot().book.trades[h.requests('entry')[0]!.tradeId!]!;
    expect(trade.stopLoss).toBeCloseTo(107.8, 9);
    expect(trade.trailingActive).toBe(true);
    await h.candle({ high: 109, low: 107.5, close: 107.6 });
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'trailing_stop' });
    expect(h.requests('trailing_stop')).toHaveLength(1);
  });

  it('closes a trade held longer than the time stop', async () => {
    h = await startHarness({ exits: { timeStopMs: 30 * 60_000 } });
    await h.signal({ price: 100, stopLoss: 95 });
    for (let i = 0; i < 5; i++) await h.candle({ high: 101, low: 99, close: 100 });
    expect(h.of('trade.closed')).toHaveLength(0);
    await h.candle({ high: 101, low: 99, close: 100 });
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'time_stop' });
  });

  it('retries an exit the venue rejected', async () => {
    h = await startHarness({ exits: { exitRetryMs: 60_000 } });
    await h.signal({ price: 100, stopLoss: 98 });
    h.venue.autoFill = false;
    await h.signal({ side: 'flat' });
    const [first] = h.requests('exit');
    h.venue.reject(first!.clientOrderId, 'venue busy');
    await h.idle();
    expect(h.of('system.alert').some((a) => a.code === 'EXIT_ORDER_REJECTED')).toBe(true);
    h.venue.autoFill = true;
    h.clock.advanceBy(60_000);
    await h.idle();
    const exits = h.requests('exit');
    expect(exits).toHaveLength(2);
    expect(exits[1]!.clientOrderId).not.toBe(first!.clientOrderId);
    expect(h.of('trade.closed')).toHaveLength(1);
  });
});

describe('trade manager: protective orders at the venue', () => {
  const venueExits = { exits: { protectiveOrdersAtVenue: true }, sizing: { rewardRisk: 2 } };

  it('places stop-loss and take-profit after the entry fills; a filled stop closes the trade and cancels the target', async () => {
    h = await startHarness(venueExits);
    await h.signal({ price: 100, stopLoss: 98 });
    const [stop] = h.requests('stop_loss');
    const [target] = h.requests('take_profit');
    expect(stop).toMatchObject({ type: 'stop_market', side: 'sell', stopPrice: 98, quantity: 50, reduceOnly: true });
    expect(target).toMatchObject({ type: 'take_profit', side: 'sell', stopPrice: 104, quantity: 50 });
    // The manager leaves levels with a live venue order to the venue.
    await h.candle({ high: 101, low: 97, close: 97.5 });
    expect(h.requests('stop_loss')).toHaveLength(1);
    expect(h.requests('exit')).toHaveLength(0);
    h.venue.fill(stop!.clientOrderId, 97.9);
    await h.idle();
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'stop_loss', exitPrice: 97.9 });
    expect(h.of('order.cancel_requested').map((c) => c.clientOrderId)).toEqual([target!.clientOrderId]);
    expect(h.tm.snapshot().book.trades).toEqual({});
  });

  it('moves a trailing stop by cancelling the venue stop first, then placing the new one', async () => {
    h = await startHarness({ ...venueExits, exits: { protectiveOrdersAtVenue: true, trailing: { enabled: true, distancePct: 2 } } });
    await h.signal({ price: 100, stopLoss: 95 });
    const [first] = h.requests('stop_loss');
    await h.candle({ high: 110, low: 104, close: 109 });
    expect(h.of('order.cancel_requested').map((c) => c.clientOrderId)).toContain(first!.clientOrderId);
    const replaced = h.requests('trailing_stop');
    expect(replaced).toHaveLength(1);
    expect(replaced[0]!.stopPrice).toBeCloseTo(107.8, 9);
    expect(replaced[0]!.clientOrderId).not.toBe(first!.clientOrderId);
  });

  it('switches to watching the stop itself when the venue refuses the stop order', async () => {
    h = await startHarness(venueExits);
    h.venue.autoFill = true;
    await h.signal({ price: 100, stopLoss: 98 });
    const [stop] = h.requests('stop_loss');
    h.venue.reject(stop!.clientOrderId, 'stop orders not supported');
    await h.idle();
    await h.candle({ high: 100, low: 97, close: 97.5 });
    expect(h.requests('stop_loss')).toHaveLength(2);
    expect(h.requests('stop_loss')[1]).toMatchObject({ type: 'market' });
    expect(h.of('trade.closed')[0]).toMatchObject({ exitReason: 'stop_loss' });
  });
});

describe('trade manager: state survives a restart', () => {
  it('restores positions, protective orders and risk state from its store, and sends unanswered intents again', async () => {
    const store = new MemoryStateStore();
    const clock = new VirtualClock(T0);
    h = await startHarness({ exits: { protectiveOrdersAtVenue: true }, limits: { maxTradesPerDay: 5 } }, { store, clock });
    await h.signal({ price: 100, stopLoss: 98 });
    h.venue.autoFill = false;
    await h.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    const before = h.tm.snapshot();
    await h.stop();

    h = await startHarness({ exits: { protectiveOrdersAtVenue: true }, limits: { maxTradesPerDay: 5 } }, { store, clock, autoFill: false });
    const after = h.tm.snapshot();
    expect(after.book).toEqual(before.book);
    expect(after.risk.entriesToday).toBe(2);
    expect(h.of('position.updated')).toEqual([expect.objectContaining({ symbol: 'BTC/USDT', side: 'long', quantity: 50 })]);
    // Non-final orders go out again under the same client order ids: the new TestVenue has never
    // seen them and places each once.
    const resent = h.requests().map((r) => r.clientOrderId).sort();
    const open = Object.values(before.book.orders).filter((o) => o.status !== 'filled').map((o) => o.request.clientOrderId).sort();
    expect(resent).toEqual(open);
    expect(new Set(resent).size).toBe(resent.length);
  });
});

describe('trade manager: aggregation of signals published together', () => {
  it('merges agreeing strategies into one trade, drops weak and opposed signals, and decides each signal', async () => {
    h = await startHarness({ aggregation: { minConfidence: 0.5, conflict: 'strongest' } });
    const [a, b, weak, long, short] = await h.signals([
      { strategyId: 'alpha', symbol: 'BTC/USDT', confidence: 0.9, stopLoss: 98 },
      { strategyId: 'beta', symbol: 'BTC/USDT', confidence: 0.7, stopLoss: 97 },
      { strategyId: 'gamma', symbol: 'XRP/USDT', confidence: 0.3 },
      { strategyId: 'alpha', symbol: 'ETH/USDT', confidence: 0.8 },
      { strategyId: 'beta', symbol: 'ETH/USDT', side: 'short', confidence: 0.6 },
    ]);
    const entries = h.requests('entry');
    expect(entries.map((e) => e.symbol).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    const btc = entries.find((e) => e.symbol === 'BTC/USDT')!;
    // One trade for both BTC signals, booked to the stronger one, with its stop.
    expect(btc.tradeId).toBe(tradeIdFor([a!.id, b!.id]));
    expect(btc.strategyId).toBe('alpha');
    expect(h.decision(a!.id)).toMatchObject({ decision: 'accepted', clientOrderId: btc.clientOrderId });
    expect(h.decision(b!.id)).toMatchObject({ decision: 'accepted', clientOrderId: btc.clientOrderId });
    expect(h.decision(b!.id)!.reasons).toContain(`merged into ${a!.id}`);
    expect(h.decision(weak!.id)).toMatchObject({ decision: 'rejected' });
    expect(h.decision(weak!.id)!.reasons.join(' ')).toMatch(/min-confidence: adjusted confidence 0.30/);
    expect(h.decision(long!.id)!.decision).toBe('accepted');
    expect(h.decision(short!.id)!.reasons.join(' ')).toMatch(/conflict: opposed by a stronger long/);
    expect(h.of('signal.decided').filter((d) => d.decision !== 'outcome')).toHaveLength(5);
  });

  it('feeds closed trades into the track record that scales confidence', async () => {
    h = await startHarness({ sizing: { confidence: { enabled: true, floor: 0 } } });
    await h.signal({ price: 100, stopLoss: 98 });
    h.venue.price = 99;
    await h.signal({ side: 'flat', price: 99 });
    const record = h.tm.snapshot().trackRecord;
    expect(record.strategies.alpha).toHaveLength(1);
    expect(record.strategies.alpha![0]!.pnl).toBeLessThan(0);
    // One loss (profit factor 0) against the neutral prior of 20 trades: factor (1 × 0 + 20) / 21.
    h.venue.price = 100;
    const s = await h.signal({ price: 100, stopLoss: 98 });
    const equity = 10_000 + h.of('trade.closed')[0]!.pnl;
    expect(h.decision(s.id)!.quantity).toBeCloseTo(((equity / 100) / 2) * (20 / 21), 6);
  });
});
