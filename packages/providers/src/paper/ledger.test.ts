import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStateStore, StateLog, VirtualClock, type StateStore } from '@tradebus/core';
import type { Candle, OrderRequest, OrderUpdate } from '../types.js';
import { PaperExchange, type PaperExchangeOptions } from './paper-exchange.js';

const T0 = 1_700_000_000_000;
const M5 = 300_000;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function bar(i: number, open: number, high: number, low: number, close: number, symbol = 'BTC/USDT', volume = 1_000): Candle {
  return { symbol, timeframe: '5m', timestamp: T0 + i * M5, open, high, low, close, volume, closed: true };
}

const req = (o: Partial<OrderRequest> & Pick<OrderRequest, 'clientOrderId' | 'side' | 'type' | 'quantity'>): OrderRequest => ({ symbol: 'BTC/USDT', reduceOnly: false, ...o });

async function venue(store: StateStore | undefined, clock: VirtualClock, extra: Partial<PaperExchangeOptions> = {}) {
  const ex = new PaperExchange({
    id: 'paper',
    clock,
    quoteCurrency: 'USDT',
    balances: { USDT: 10_000 },
    fees: { maker: 0.001, taker: 0.002 },
    slippage: { model: 'bps', bps: 5 },
    partialFills: { maxVolumeShare: 0.5 },
    leverage: 3,
    // Fills at the close of the bar an order follows, no spread, no cap: what these tests compute with.
    marketFillOnCandle: 'close',
    spreadBps: 0,
    participation: 0,
    store,
    ...extra,
  });
  await ex.open();
  const updates: OrderUpdate[] = [];
  ex.subscribe({ order: (u) => updates.push(u) });
  return { ex, updates };
}

/** Everything a client can ask the venue, in one comparable value. */
async function books(ex: PaperExchange) {
  const { timestamp: _t, ...account } = ex.accountSnapshot();
  return {
    account,
    balances: await ex.fetchBalances(),
    positions: (await ex.fetchPositions()).map(({ timestamp: _ts, ...p }) => p),
    open: await ex.fetchOpenOrders(),
    trades: [...(await ex.fetchMyTrades('BTC/USDT')), ...(await ex.fetchMyTrades('ETH/USDT:USDT'))],
  };
}

async function stateLog(dir: string): Promise<StateLog> {
  return StateLog.open({ dir, fsync: 'always' });
}

/** A busy book: spot and perpetual positions, a partly filled resting limit, stops, a market order waiting for the next open. */
async function trade(ex: PaperExchange, clock: VirtualClock): Promise<void> {
  const feed = (c: Candle): void => {
    clock.advanceTo(c.timestamp + M5);
    ex.onCandle(c);
  };
  feed(bar(0, 100, 101, 99, 100));
  feed(bar(0, 2000, 2010, 1990, 2000, 'ETH/USDT:USDT'));
  await ex.createOrder(req({ clientOrderId: 'spot-buy', side: 'buy', type: 'market', quantity: 10 }));
  await ex.createOrder(req({ clientOrderId: 'perp-short', symbol: 'ETH/USDT:USDT', side: 'sell', type: 'market', quantity: 1 }));
  await ex.createOrder(req({ clientOrderId: 'bid', side: 'buy', type: 'limit', quantity: 900, price: 98 }));
  await ex.createOrder(req({ clientOrderId: 'gone', side: 'buy', type: 'limit', quantity: 1, price: 50 }));
  await ex.cancelOrder('gone', 'BTC/USDT');
  // The market orders fill at this bar's open; half its volume fills the bid: 500 of 900.
  feed(bar(1, 100, 100, 97, 99));
  feed(bar(1, 2000, 2010, 1990, 2000, 'ETH/USDT:USDT'));
  await ex.createOrder(req({ clientOrderId: 'stop', side: 'sell', type: 'stop_market', quantity: 10, stopPrice: 90, reduceOnly: true }));
  await ex.createOrder(req({ clientOrderId: 'perp-stop', symbol: 'ETH/USDT:USDT', side: 'buy', type: 'stop_market', quantity: 1, stopPrice: 2100, reduceOnly: true }));
}

describe('paper venue books on disk', () => {
  it('a restarted venue holds exactly the books it acknowledged and continues as the venue that never stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-paper-'));
    dirs.push(dir);
    const clock = new VirtualClock(T0);
    const first = await stateLog(dir);
    const options = { balances: { USDT: 200_000 }, marketFillOnCandle: 'next_open' as const };
    const a = await venue(first.namespace('venue:paper'), clock, options);
    await trade(a.ex, clock);
    const market = await a.ex.createOrder(req({ clientOrderId: 'next-open', side: 'buy', type: 'market', quantity: 1 }));
    expect(market.status).toBe('accepted');
    const before = await books(a.ex);
    expect(before.open.map((o) => o.clientOrderId)).toEqual(['bid', 'stop', 'perp-stop', 'next-open']);
    expect(before.open.find((o) => o.clientOrderId === 'bid')!.filledQuantity).toBe(500);
    expect(before.positions.map((p) => [p.symbol, p.side, p.quantity])).toEqual([
      ['BTC/USDT', 'long', 510],
      ['ETH/USDT:USDT', 'short', 1],
    ]);

    // The process dies (no close); a new one opens the same directory.
    const second = await stateLog(dir);
    const b = await venue(second.namespace('venue:paper'), new VirtualClock(clock.now()), options);
    expect(await books(b.ex)).toEqual(before);
    expect(await b.ex.fetchOrder('gone', 'BTC/USDT')).toMatchObject({ status: 'cancelled' });
    expect(await b.ex.fetchOrder('spot-buy', 'BTC/USDT')).toEqual(await a.ex.fetchOrder('spot-buy', 'BTC/USDT'));

    // The same market from here on: the restarted venue does what the one that never stopped does.
    const bClock = (b.ex as unknown as { clock: VirtualClock }).clock;
    const next = [bar(2, 97, 99, 89, 92), bar(2, 2050, 2120, 2040, 2110, 'ETH/USDT:USDT'), bar(3, 92, 93, 91, 92)];
    for (const c of next) {
      clock.advanceTo(c.timestamp + M5);
      bClock.advanceTo(c.timestamp + M5);
      a.ex.onCandle(c);
      b.ex.onCandle(c);
    }
    await first.flush();
    await second.flush();
    const after = await books(a.ex);
    expect(await books(b.ex)).toEqual(after);
    // The waiting market order filled at the next open, the stop was hit, the short was stopped out.
    const filled = b.updates.filter((u) => u.order.status === 'filled').map((u) => u.order);
    expect(filled.map((o) => o.clientOrderId)).toEqual(expect.arrayContaining(['next-open', 'stop', 'perp-stop']));
    expect(filled.find((o) => o.clientOrderId === 'next-open')!.averagePrice).toBeCloseTo(97 * 1.0005, 10);
    expect(b.updates.map((u) => u.order.clientOrderId)).toEqual(a.updates.slice(-b.updates.length).map((u) => u.order.clientOrderId));
    // Trade ids go on from where they were: no id is reused after the restart.
    const ids = after.trades.map((t) => t.tradeId);
    expect(new Set(ids).size).toBe(ids.length);
    await first.close();
    await second.close();
  });

  it('acknowledges an order, and reports its fills, only once the change is on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-paper-'));
    dirs.push(dir);
    const log = await stateLog(dir);
    const clock = new VirtualClock(T0);
    const { ex } = await venue(log.namespace('venue:paper'), clock);
    const unsyncedAtReport: number[] = [];
    ex.subscribe({ order: () => void unsyncedAtReport.push(log.stats().queuedBytes) });
    clock.advanceTo(T0 + M5);
    ex.onCandle(bar(0, 100, 101, 99, 100));
    const syncs = log.stats().syncs;
    await ex.createOrder(req({ clientOrderId: 'x', side: 'buy', type: 'market', quantity: 1 }));
    expect(log.stats().queuedBytes).toBe(0);
    expect(log.stats().syncs).toBe(syncs + 1);
    await log.flush();
    expect(unsyncedAtReport.length).toBeGreaterThan(0);
    expect(unsyncedAtReport.every((bytes) => bytes === 0)).toBe(true);
    await log.close();
  });

  it('starts from the configured balances once; later the books win, with a warning when the config says otherwise', async () => {
    const store = new MemoryStateStore();
    const clock = new VirtualClock(T0);
    const a = await venue(store, clock);
    clock.advanceTo(T0 + M5);
    a.ex.onCandle(bar(0, 100, 101, 99, 100));
    await a.ex.createOrder(req({ clientOrderId: 'b', side: 'buy', type: 'market', quantity: 20 }));
    const usdt = (await a.ex.fetchBalances()).find((b) => b.asset === 'USDT')!.total;
    expect(usdt).toBeLessThan(8_000);
    const b = await venue(store, clock, { balances: { USDT: 50_000 } });
    expect((await b.ex.fetchBalances()).find((x) => x.asset === 'USDT')!.total).toBe(usdt);
  });

  it('keeps a bounded history: the oldest finished orders and executions are forgotten, on disk too', async () => {
    const store = new MemoryStateStore();
    const clock = new VirtualClock(T0);
    const { ex } = await venue(store, clock, { history: { orders: 3, trades: 4 } });
    clock.advanceTo(T0 + M5);
    ex.onCandle(bar(0, 100, 101, 99, 100));
    for (let i = 0; i < 8; i++) await ex.createOrder(req({ clientOrderId: `o${i}`, side: i % 2 === 0 ? 'buy' : 'sell', type: 'market', quantity: 1 }));
    expect(await ex.fetchOrder('o0', 'BTC/USDT')).toBeUndefined();
    expect(await ex.fetchOrder('o7', 'BTC/USDT')).toMatchObject({ status: 'filled' });
    expect((await ex.fetchMyTrades('BTC/USDT')).map((t) => t.clientOrderId)).toEqual(['o4', 'o5', 'o6', 'o7']);
    const keys = await store.keys();
    expect(keys.filter((k) => k.startsWith('order:')).sort()).toEqual(['order:o5', 'order:o6', 'order:o7']);
    expect(keys.filter((k) => k.startsWith('trade:'))).toHaveLength(4);
    const again = await venue(store, clock, { history: { orders: 3, trades: 4 } });
    expect((await again.ex.fetchMyTrades('BTC/USDT')).map((t) => t.clientOrderId)).toEqual(['o4', 'o5', 'o6', 'o7']);
  });

  it('stops taking orders once its books cannot be written, and says why', async () => {
    class FullDisk extends MemoryStateStore {
      full = false;
      override setMany(entries: Iterable<readonly [string, unknown]>): Promise<void> {
        return this.full ? Promise.reject(new Error('ENOSPC: no space left on device')) : super.setMany(entries);
      }
    }
    const store = new FullDisk();
    const clock = new VirtualClock(T0);
    const { ex, updates } = await venue(store, clock);
    clock.advanceTo(T0 + M5);
    ex.onCandle(bar(0, 100, 101, 99, 100));
    store.full = true;
    await expect(ex.createOrder(req({ clientOrderId: 'lost', side: 'buy', type: 'market', quantity: 1 }))).rejects.toThrow(/ENOSPC/);
    // Nothing that is not on disk was reported.
    expect(updates).toEqual([]);
    await expect(ex.createOrder(req({ clientOrderId: 'next', side: 'buy', type: 'market', quantity: 1 }))).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining('its books could not be written'),
    });
    await expect(ex.fetchOrder('lost', 'BTC/USDT')).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
  });

  it('does not match a bar twice when a resumed replay plays it again', async () => {
    const store = new MemoryStateStore();
    const clock = new VirtualClock(T0);
    const a = await venue(store, clock, { marketFillOnCandle: 'next_open' });
    clock.advanceTo(T0 + M5);
    a.ex.onCandle(bar(0, 100, 101, 99, 100));
    await a.ex.createOrder(req({ clientOrderId: 'wait', side: 'buy', type: 'market', quantity: 1 }));
    const b = await venue(store, clock, { marketFillOnCandle: 'next_open' });
    b.ex.onCandle(bar(0, 100, 101, 99, 100));
    expect((await b.ex.fetchOrder('wait', 'BTC/USDT'))!.status).toBe('accepted');
    clock.advanceTo(T0 + 2 * M5);
    b.ex.onCandle(bar(1, 105, 106, 104, 105));
    expect(await b.ex.fetchOrder('wait', 'BTC/USDT')).toMatchObject({ status: 'filled', averagePrice: 105 * 1.0005 });
  });

  it('refuses to trade before its books are open', async () => {
    const ex = new PaperExchange({ clock: new VirtualClock(T0), quoteCurrency: 'USDT', balances: { USDT: 1 }, store: new MemoryStateStore() });
    await expect(ex.createOrder(req({ clientOrderId: 'early', side: 'buy', type: 'market', quantity: 1 }))).rejects.toThrow(/call open\(\) before trading/);
  });
});
