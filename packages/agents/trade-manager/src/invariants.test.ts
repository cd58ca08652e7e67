import { afterEach, describe, expect, it } from 'vitest';
import { scanBook } from './invariants.js';
import { emptyBook, type OrderRecord, type TradeRecord } from './state.js';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('invariant monitor', () => {
  it('finds an open position whose stop the venue no longer holds, alerts and places the stop again', async () => {
    const x = (h = await startHarness({ exits: { protectiveOrdersAtVenue: true }, invariants: { intervalMs: 60_000 } }));
    await x.signal({ price: 100, stopLoss: 95 });
    const [stop] = x.requests('stop_loss');
    expect(stop).toBeDefined();
    // Gone at the venue without the manager asking (an operator's cancel-all, a venue purge), and
    // the manager's record of it lost with the message that said so.
    const record = (x.tm as unknown as { book: { orders: Record<string, OrderRecord> } }).book.orders[stop!.clientOrderId]!;
    record.status = 'cancelled';
    x.clock.advanceBy(60_000);
    await x.idle();
    const [alert] = x.of('system.alert').filter((a) => a.code === 'INVARIANT_NAKED_POSITION');
    expect(alert).toMatchObject({ level: 'error', details: { stopLoss: 95, repaired: true } });
    const stops = x.requests('stop_loss');
    expect(stops).toHaveLength(2);
    expect(stops[1]).toMatchObject({ type: 'stop_market', stopPrice: 95, reduceOnly: true, quantity: stop!.quantity });
    // Held again: the next check finds nothing.
    x.clock.advanceBy(60_000);
    await x.idle();
    expect(x.of('system.alert').filter((a) => a.code === 'INVARIANT_NAKED_POSITION')).toHaveLength(1);
  });

  it('stays quiet through ordinary trading: stops and targets placed, moved, filled and cancelled', async () => {
    const x = (h = await startHarness({ exits: { protectiveOrdersAtVenue: true }, invariants: { intervalMs: 60_000 }, sizing: { rewardRisk: 2 } }));
    await x.signal({ price: 100, stopLoss: 95 });
    x.clock.advanceBy(60_000);
    await x.idle();
    const [target] = x.requests('take_profit');
    x.venue.fill(target!.clientOrderId, 110);
    await x.idle();
    x.clock.advanceBy(60_000);
    await x.idle();
    expect(x.of('trade.closed')).toHaveLength(1);
    expect(x.of('system.alert').filter((a) => a.code.startsWith('INVARIANT_'))).toEqual([]);
  });

  it('scanBook: an order of a closed trade is an orphan unless it is being cancelled; a refused stop leaves the level to the manager', () => {
    const book = emptyBook();
    const trade = { id: 't1', symbol: 'BTC/USDT', side: 'long', status: 'closed', stopLoss: 95 } as TradeRecord;
    const order = (id: string, over: Partial<OrderRecord> = {}): OrderRecord =>
      ({ request: { clientOrderId: id, symbol: 'BTC/USDT', side: 'sell', type: 'take_profit', quantity: 1, reduceOnly: true, purpose: 'take_profit', timestamp: 0 }, tradeId: 't1', status: 'accepted', filledQuantity: 0, fillIds: [], acknowledged: true, updatedAt: 0, ...over }) as OrderRecord;
    book.trades.t1 = trade;
    book.orders.o1 = order('o1');
    book.orders.o2 = order('o2', { cancelRequestedAt: 1 });
    book.orders.o3 = order('o3', { status: 'filled' });
    expect(scanBook(book, { stopsAtVenue: true }).map((f) => (f.kind === 'orphan_order' ? f.order.request.clientOrderId : f.kind))).toEqual(['o1']);

    trade.status = 'open';
    trade.stopOrderId = 's1';
    book.orders = { s1: order('s1', { status: 'rejected' }) };
    expect(scanBook(book, { stopsAtVenue: true })).toEqual([]);
    book.orders.s1!.status = 'cancelled';
    expect(scanBook(book, { stopsAtVenue: true }).map((f) => f.kind)).toEqual(['naked_position']);
    expect(scanBook(book, { stopsAtVenue: false })).toEqual([]);
    // An entry still filling: the manager watches the level until the entry is complete.
    trade.entryOrderId = 'e1';
    book.orders.e1 = order('e1', { status: 'partially_filled', request: { ...order('e1').request, purpose: 'entry', type: 'market', side: 'buy', reduceOnly: false } });
    expect(scanBook(book, { stopsAtVenue: true })).toEqual([]);
  });
});
