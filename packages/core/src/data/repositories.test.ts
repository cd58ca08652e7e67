import { cpSync, readFileSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../errors.js';
import type { BuiltinEvents } from '../events/builtin.js';
import { openDataStore, type DataStore, type DataStoreOptions } from './data-store.js';
import { mergeOrder } from './orders.js';
import { SegmentLog } from './segment-log.js';
import type { CandleRecord, OrderRecord, OrderUpdate, TradeRecord } from './repositories.js';

const MINUTE = 60_000;
const dirs: string[] = [];
const stores: DataStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function open(dir?: string, options: DataStoreOptions = {}): Promise<DataStore> {
  if (dir === undefined) {
    dir = await mkdtemp(join(tmpdir(), 'tradebus-repo-'));
    dirs.push(dir);
  }
  const store = await openDataStore({ dir, fsync: 'batch', fsyncIntervalMs: 5, ...options });
  stores.push(store);
  return store;
}

async function reopen(store: DataStore, options: DataStoreOptions = {}): Promise<DataStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return open(store.dir, options);
}

const update = (id: string, patch: Partial<OrderUpdate> = {}): OrderUpdate => ({
  clientOrderId: id,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  status: 'accepted',
  quantity: 2,
  filledQuantity: 0,
  price: 100,
  fills: [],
  fee: 0,
  timestamp: 1000,
  ...patch,
});
const fill = (tradeId: string, quantity: number, timestamp: number) => ({
  tradeId,
  price: 100,
  quantity,
  fee: 0.1,
  feeCurrency: 'USDT',
  liquidity: 'maker' as const,
  timestamp,
});
const request = (id: string, symbol = 'BTC/USDT'): BuiltinEvents['order.requested'] => ({
  clientOrderId: id,
  symbol,
  side: 'buy',
  type: 'limit',
  quantity: 2,
  price: 100,
  reduceOnly: false,
  purpose: 'entry',
  strategyId: 'ema-cross',
  signalId: 'sig-1',
  timeInForce: 'GTC',
  timestamp: 900,
});
const trade = (id: string, patch: Partial<TradeRecord> = {}): TradeRecord => ({
  tradeId: id,
  symbol: 'BTC/USDT',
  side: 'long',
  quantity: 1,
  entryPrice: 100,
  exitPrice: 110,
  pnl: 10,
  pnlPct: 10,
  fees: 0.2,
  strategyId: 'ema-cross',
  exitReason: 'take_profit',
  openedAt: 1000,
  closedAt: 2000,
  ...patch,
});
const candle = (ts: number, close: number, symbol = 'BTC/USDT', timeframe = '5m'): CandleRecord => ({
  symbol,
  timeframe,
  timestamp: ts,
  open: close,
  high: close + 1,
  low: close - 1,
  close,
  volume: 10,
});

describe('orders', () => {
  it('merges updates: latest state wins, fills accumulate, stale updates only add fills', () => {
    let rec: OrderRecord | undefined;
    rec = mergeOrder(rec, update('o1', { status: 'partially_filled', filledQuantity: 1, fills: [fill('f1', 1, 1000)] }));
    rec = mergeOrder(rec, update('o1', { status: 'filled', filledQuantity: 2, fills: [fill('f2', 1, 1100)], timestamp: 1100, venueOrderId: 'v9' }));
    // A late duplicate of the first update, and one at the same instant that would regress the status.
    rec = mergeOrder(rec, update('o1', { status: 'partially_filled', filledQuantity: 1, fills: [fill('f1', 1, 1000)], timestamp: 1000 }));
    rec = mergeOrder(rec, update('o1', { status: 'accepted', filledQuantity: 2, timestamp: 1100, fills: [fill('f3', 0.5, 1100)] }));
    expect(rec).toMatchObject({ status: 'filled', filledQuantity: 2, venueOrderId: 'v9', createdAt: 1000, timestamp: 1100 });
    expect(rec.fills.map((f) => f.tradeId)).toEqual(['f1', 'f2', 'f3']);
  });

  it('takes an order further along whatever its timestamp says: clocks of two processes, or of a restart, need not agree', () => {
    let rec: OrderRecord | undefined;
    rec = mergeOrder(rec, update('o1', { status: 'submitted', filledQuantity: 0, fills: [], timestamp: 2000 }));
    // The outcome, told by a process whose clock is behind.
    rec = mergeOrder(rec, update('o1', { status: 'filled', filledQuantity: 2, fills: [fill('f1', 2, 1500)], timestamp: 1500 }));
    expect(rec).toMatchObject({ status: 'filled', filledQuantity: 2 });
    // A finished order never reopens, however new the update.
    rec = mergeOrder(rec, update('o1', { status: 'accepted', filledQuantity: 2, fills: [], timestamp: 9000 }));
    expect(rec.status).toBe('filled');
    // Equally far along: the newer state wins.
    let other = mergeOrder(undefined, update('o2', { status: 'accepted', filledQuantity: 0, fills: [], timestamp: 2000 }));
    other = mergeOrder(other, update('o2', { status: 'submitted', filledQuantity: 0, fills: [], timestamp: 1000 }));
    expect(other.status).toBe('accepted');
  });

  it('records intents idempotently, tracks open orders, and restores them after a restart', async () => {
    let store = await open();
    const first = await store.orders.recordRequested(request('o1'));
    expect(first).toMatchObject({ status: 'requested', strategyId: 'ema-cross', createdAt: 900, filledQuantity: 0 });
    // The same intent again (say, replayed after a crash) changes nothing.
    await store.orders.upsert(update('o1', { status: 'accepted', timestamp: 1000, venueOrderId: 'v1' }));
    expect((await store.orders.recordRequested(request('o1'))).status).toBe('accepted');
    await store.orders.recordRequested({ ...request('o2', 'ETH/USDT'), timestamp: 850 });
    await store.orders.upsert(update('o3', { status: 'filled', filledQuantity: 2, timestamp: 1200 }));

    expect((await store.orders.listOpen()).map((o) => o.clientOrderId)).toEqual(['o2', 'o1']);
    expect((await store.orders.listOpen({ symbol: 'ETH/USDT' })).map((o) => o.clientOrderId)).toEqual(['o2']);

    store = await reopen(store);
    const open1 = await store.orders.get('o1');
    expect(open1).toMatchObject({ status: 'accepted', venueOrderId: 'v1', strategyId: 'ema-cross', signalId: 'sig-1', timeInForce: 'GTC' });
    expect((await store.orders.listOpen()).map((o) => o.clientOrderId)).toEqual(['o2', 'o1']);
    expect((await store.orders.history('o1')).map((o) => o.status)).toEqual(['requested', 'accepted']);
  });

  it('queries each order by its latest state in the window, by symbol and status', async () => {
    const store = await open();
    await store.orders.upsert(update('a', { timestamp: 1000 }));
    await store.orders.upsert(update('b', { timestamp: 1100, symbol: 'ETH/USDT' }));
    await store.orders.upsert(update('a', { status: 'filled', filledQuantity: 2, timestamp: 1200 }));
    await store.orders.upsert(update('c', { status: 'cancelled', timestamp: 1300 }));

    expect((await store.orders.query()).map((o) => `${o.clientOrderId}:${o.status}`)).toEqual(['c:cancelled', 'a:filled', 'b:accepted']);
    expect((await store.orders.query({ until: 1150 })).map((o) => `${o.clientOrderId}:${o.status}`)).toEqual(['b:accepted', 'a:accepted']);
    expect((await store.orders.query({ symbol: 'BTC/USDT', status: ['filled', 'accepted'] })).map((o) => o.clientOrderId)).toEqual(['a']);
    expect((await store.orders.query({ order: 'asc', limit: 2 })).map((o) => o.clientOrderId)).toEqual(['b', 'a']);
    // Only the latest 1000 closed orders stay in memory (more while recent); older ones are found in the log.
    await Promise.all(Array.from({ length: 1001 }, (_, i) => store.orders.upsert(update(`later-${i}`, { status: 'filled', filledQuantity: 2, timestamp: 2000 + i * MINUTE }))));
    expect((await store.orders.get('c'))?.status).toBe('cancelled');
    expect((await store.orders.history('c')).map((o) => o.status)).toEqual(['cancelled']);
    expect(await store.orders.get('nope')).toBeUndefined();
  });

  it('applies pipelined writes of one order in call order, also while a request is looked up in the log', async () => {
    let store = await open();
    const first = store.orders.recordRequested(request('p1'));
    const filled = store.orders.upsert(update('p1', { status: 'filled', filledQuantity: 2, timestamp: 950 }));
    await Promise.all([first, filled]);
    expect((await store.orders.history('p1')).map((o) => o.status)).toEqual(['requested', 'filled']);

    // After a restart every order of the last minutes may have left memory: a request of that
    // time is looked up in the log first, and the update sent right behind it waits for it.
    store = await reopen(store);
    const scan = vi.spyOn(SegmentLog.prototype, 'scan');
    const second = store.orders.recordRequested({ ...request('p2'), timestamp: 960 });
    const secondFilled = store.orders.upsert(update('p2', { status: 'filled', filledQuantity: 2, timestamp: 970 }));
    expect((await second).status).toBe('requested');
    expect((await secondFilled).status).toBe('filled');
    expect(scan).toHaveBeenCalledTimes(1);
    scan.mockRestore();
    expect((await store.orders.history('p2')).map((o) => o.status)).toEqual(['requested', 'filled']);
    expect(await store.orders.listOpen()).toEqual([]);
  });

  it('completes an order whose update was recorded before its request with what only the request says', async () => {
    const store = await open();
    await store.orders.upsert(update('late', { status: 'filled', filledQuantity: 2, timestamp: 1000 }));
    const completed = await store.orders.recordRequested(request('late'));
    expect(completed).toMatchObject({ status: 'filled', filledQuantity: 2, purpose: 'entry', strategyId: 'ema-cross', signalId: 'sig-1', timeInForce: 'GTC', createdAt: 900, timestamp: 1000 });
    expect(await store.orders.get('late')).toEqual(completed);
    // Nothing left to add: the same request again stores nothing new.
    await store.orders.recordRequested(request('late'));
    expect((await store.orders.history('late')).map((o) => o.status)).toEqual(['filled', 'filled']);
  });

  it('finds a request delivered again after its order left memory, and reads no history for a new one', async () => {
    const store = await open();
    await store.orders.recordRequested(request('old'));
    await store.orders.upsert(update('old', { status: 'filled', filledQuantity: 2, timestamp: 1000 }));
    // 1001 orders finished later, a minute apart: the first ones leave memory.
    await Promise.all(Array.from({ length: 1001 }, (_, i) => store.orders.upsert(update(`n${i}`, { status: 'filled', filledQuantity: 2, timestamp: 2000 + i * MINUTE }))));

    const scan = vi.spyOn(SegmentLog.prototype, 'scan');
    const again = await store.orders.recordRequested(request('old'));
    expect(again).toMatchObject({ clientOrderId: 'old', status: 'filled' });
    expect(scan).toHaveBeenCalledTimes(1);
    // Only the records of the minutes around the request are read, not the whole order log.
    expect(scan.mock.calls[0]![0]?.since).toBeGreaterThan(900 - 60 * MINUTE);

    scan.mockClear();
    const fresh = await store.orders.recordRequested({ ...request('fresh'), timestamp: 2000 + 1001 * MINUTE });
    expect(fresh.status).toBe('requested');
    expect(scan).not.toHaveBeenCalled();
    scan.mockRestore();
    expect((await store.orders.history('old')).map((o) => o.status)).toEqual(['requested', 'filled']);
    expect((await store.orders.listOpen()).map((o) => o.clientOrderId)).toEqual(['fresh']);
  });

  it('rejects an invalid order naming the field', async () => {
    const store = await open();
    await expect(store.orders.upsert({ ...update('x'), quantity: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.orders.upsert({ ...update('x'), quantity: -1 })).rejects.toThrow(/quantity/);
  });

  it('checkpoints open orders so a restart replays only the tail of the order log', async () => {
    let store = await open();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 620; i++) writes.push(store.orders.upsert(update(`o${i}`, { status: i % 2 === 0 ? 'accepted' : 'filled', timestamp: 1000 + i })));
    await Promise.all(writes);
    await store.flush();
    // The checkpoint is written in the background once 500 updates are durable.
    const checkpoint = await vi.waitFor(() => {
      const cp = JSON.parse(readFileSync(join(store.dir, 'orders', 'checkpoint.json'), 'utf8')) as { seq: number };
      expect(cp.seq).toBeGreaterThanOrEqual(500);
      return cp;
    });
    expect(checkpoint.seq).toBeLessThan(620);

    // A crash image (the files as they are while the store runs): the next open starts from the
    // checkpoint and replays the records after it.
    const image = await mkdtemp(join(tmpdir(), 'tradebus-repo-image-'));
    dirs.push(image);
    cpSync(store.dir, image, { recursive: true });
    unlinkSync(join(image, '.lock'));
    const recovered = await open(image);
    expect((await recovered.orders.listOpen()).length).toBe(310);
    expect((await recovered.orders.get('o619'))?.status).toBe('filled');
    expect((await recovered.orders.get('o618'))?.status).toBe('accepted');
  });
});

describe('trades', () => {
  it('appends and queries by symbol, strategy, time range and limit, without duplicates', async () => {
    let store = await open();
    await store.trades.append(trade('t1', { closedAt: 2000 }));
    await store.trades.append(trade('t2', { closedAt: 3000, symbol: 'ETH/USDT' }));
    await store.trades.append(trade('t3', { closedAt: 4000, strategyId: 'breakout' }));
    await store.trades.append(trade('t1', { closedAt: 2000 })); // stored twice after a retry
    store = await reopen(store);

    expect((await store.trades.query()).map((t) => t.tradeId)).toEqual(['t1', 't3', 't2']);
    expect((await store.trades.query({ symbol: 'BTC/USDT', order: 'asc' })).map((t) => t.tradeId)).toEqual(['t1', 't3']);
    expect((await store.trades.query({ strategyId: 'breakout' })).map((t) => t.tradeId)).toEqual(['t3']);
    expect((await store.trades.query({ since: 2500, until: 3500 })).map((t) => t.tradeId)).toEqual(['t2']);
    expect(await store.trades.query({ limit: 1, order: 'asc' })).toEqual([trade('t1', { closedAt: 2000 })]);
    expect((await store.trades.get('t3'))?.strategyId).toBe('breakout');
    await expect(store.trades.append({ ...trade('bad'), closedAt: -5 })).rejects.toThrow(/closedAt/);
  });
});

describe('positions', () => {
  const position = (symbol: string, side: 'long' | 'short' | 'flat', quantity: number): BuiltinEvents['position.updated'] => ({
    symbol,
    side,
    quantity,
    entryPrice: 100,
    unrealizedPnl: 0,
    realizedPnl: 5,
    timestamp: 1,
  });

  it('keeps the current position per symbol in a small document that survives a restart', async () => {
    let store = await open();
    await store.positions.upsert(position('BTC/USDT', 'long', 1));
    await store.positions.upsert(position('ETH/USDT', 'short', 3));
    await store.positions.upsert(position('BTC/USDT', 'long', 2));
    await store.positions.upsert(position('XRP/USDT', 'flat', 0));
    store = await reopen(store);
    expect((await store.positions.list()).map((p) => `${p.symbol}:${p.quantity}`)).toEqual(['BTC/USDT:2', 'ETH/USDT:3', 'XRP/USDT:0']);
    expect((await store.positions.listOpen()).map((p) => p.symbol)).toEqual(['BTC/USDT', 'ETH/USDT']);
    await store.positions.remove('ETH/USDT');
    expect(await store.positions.get('ETH/USDT')).toBeUndefined();
    await store.positions.replaceAll([position('SOL/USDT', 'long', 4)]);
    store = await reopen(store);
    expect((await store.positions.list()).map((p) => p.symbol)).toEqual(['SOL/USDT']);
    const doc = JSON.parse(readFileSync(join(store.dir, 'positions.json'), 'utf8')) as { positions: Record<string, unknown> };
    expect(Object.keys(doc.positions)).toEqual(['SOL/USDT']);
    await expect(store.positions.upsert({ ...position('X', 'long', 1), side: 'up' as 'long' })).rejects.toThrow(/side/);
  });
});

describe('account snapshots', () => {
  const snapshot = (venue: string, equity: number, timestamp: number): BuiltinEvents['account.updated'] => ({
    venue,
    quoteCurrency: 'USDT',
    equity,
    balances: [{ asset: 'USDT', free: equity, used: 0, total: equity }],
    timestamp,
  });

  it('keeps the equity curve and the latest snapshot per venue across a restart', async () => {
    let store = await open();
    for (let i = 0; i < 5; i++) await store.accounts.append(snapshot('binance', 1000 + i, i * 60_000));
    await store.accounts.append(snapshot('paper', 50, 4 * 60_000 + 1));
    store = await reopen(store);
    expect((await store.accounts.latest('binance'))?.equity).toBe(1004);
    expect((await store.accounts.latest())?.venue).toBe('paper');
    const curve = await store.accounts.query({ venue: 'binance', since: 60_000, order: 'asc' });
    expect(curve.map((s) => s.equity)).toEqual([1001, 1002, 1003, 1004]);
  });
});

describe('candles', () => {
  it('stores per symbol and timeframe, replaces a re-stored bar, and queries ranges and the latest bars', async () => {
    let store = await open(undefined, { maxSegmentBytes: 2048, blockBytes: 512 });
    await store.candles.appendMany(Array.from({ length: 100 }, (_, i) => candle(i * 300_000, 100 + i)));
    await store.candles.append(candle(0, 1, 'BTC/USDT:USDT', '1h'));
    // A corrected bar stored again replaces the first version.
    await store.candles.append(candle(50 * 300_000, 999));
    store = await reopen(store, { maxSegmentBytes: 2048, blockBytes: 512 });

    expect(await store.candles.series()).toEqual([
      { symbol: 'BTC/USDT', timeframe: '5m' },
      { symbol: 'BTC/USDT:USDT', timeframe: '1h' },
    ]);
    const range = await store.candles.query('BTC/USDT', '5m', { since: 48 * 300_000, until: 51 * 300_000 });
    expect(range.map((c) => c.close)).toEqual([148, 149, 999, 151]);
    const last3 = await store.candles.query('BTC/USDT', '5m', { order: 'desc', limit: 3 });
    expect(last3.map((c) => c.close)).toEqual([199, 198, 197]);
    expect((await store.candles.query('BTC/USDT', '5m', { limit: 2 })).map((c) => c.close)).toEqual([100, 101]);
    expect((await store.candles.latest('BTC/USDT:USDT', '1h'))?.close).toBe(1);
    expect(await store.candles.query('ETH/USDT', '5m')).toEqual([]);
    await expect(store.candles.append({ ...candle(1, 1), high: Number.NaN })).rejects.toThrow(/high/);
  });
});
