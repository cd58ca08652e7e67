import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { PaperExchange } from '@tradebus/providers';
import { afterEach, describe, expect, it } from 'vitest';
import { agent, type AccountSyncAgent, type AccountSyncConfigInput } from './index.js';

/** A venue that answers a market order at once (at the last close, no spread, no volume cap): these tests are about the agent, not the fill model. */
const AT_ONCE = { marketFillOnCandle: 'close', spreadBps: 0, participation: 0 } as const;


const T0 = Date.UTC(2024, 0, 1);

interface Rig {
  system: TradebusSystem;
  clock: VirtualClock;
  paper: PaperExchange;
  sync: AccountSyncAgent;
  events: Array<{ type: string; payload: unknown }>;
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  /** Advances the clock by one sync interval and waits for the sync. */
  tick(ms?: number): Promise<void>;
  bar(close: number, low?: number): void;
}

let system: TradebusSystem | undefined;
afterEach(async () => {
  await system?.stop();
  system = undefined;
});

async function rig(config: Partial<AccountSyncConfigInput> = {}, store: MemoryStateStore = new MemoryStateStore()): Promise<Rig> {
  const clock = new VirtualClock(T0);
  const paper = new PaperExchange({ ...AT_ONCE, id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0, taker: 0 } });
  let barTime = T0 - 300_000;
  const bar = (close: number, low = close) => {
    barTime += 300_000;
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: barTime, open: close, high: close, low, close, volume: 100, closed: true });
  };
  bar(100);
  system = createSystem({
    clock,
    validateOnPublish: true,
    heartbeatIntervalMs: 24 * 3_600_000,
    stateStore: () => store,
    services: { 'provider:paper': paper },
    agents: [
      {
        id: 'sync',
        definition: agent,
        config: { provider: 'paper', intervalMs: 10_000, reconcile: { startupGraceMs: 20_000, confirmations: 2, orderGraceMs: 5_000 }, ...config },
      },
    ],
  });
  const events: Rig['events'] = [];
  system.bus.subscribe('>', (e) => {
    if (e.type !== 'agent.heartbeat' && e.type !== 'agent.status') events.push({ type: e.type, payload: e.payload });
  });
  await system.start();
  const sync = system.agent<AccountSyncAgent>('sync');
  await sync.whenIdle();
  return {
    system,
    clock,
    paper,
    sync,
    events,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.payload as never),
    async tick(ms = 10_000) {
      clock.advanceBy(ms);
      await sync.whenIdle();
    },
    bar,
  };
}

function managerPosition(r: Rig, side: 'long' | 'short' | 'flat', quantity: number): void {
  r.system.bus.publish('position.updated', { symbol: 'BTC/USDT', side, quantity, entryPrice: side === 'flat' ? 0 : 100, unrealizedPnl: 0, realizedPnl: 0, timestamp: r.clock.now() });
}

describe('account-sync: account', () => {
  it("saves its view when a position's side, size or entry changes, not for a new mark price on every bar, and only what changed", async () => {
    const written: string[][] = [];
    const store = new (class extends MemoryStateStore {
      override setMany(entries: Iterable<readonly [string, unknown]>): Promise<void> {
        const list = [...entries];
        written.push(list.map(([key]) => key));
        return super.setMany(list);
      }
    })();
    const r = await rig({ usePushedSnapshots: false }, store);
    const position = (quantity: number, markPrice: number) =>
      r.system.bus.publish('position.updated', { symbol: 'BTC/USDT', side: 'long', quantity, entryPrice: 100, markPrice, unrealizedPnl: 0, realizedPnl: 0, timestamp: r.clock.now() });
    position(1, 100);
    await r.tick();
    const afterOpen = written.length;
    expect(afterOpen).toBeGreaterThan(0);
    for (const mark of [101, 102, 103]) {
      position(1, mark);
      await r.tick();
    }
    expect(written.length).toBe(afterOpen);
    position(2, 103);
    await r.tick();
    expect(written.length).toBe(afterOpen + 1);
    // The change holds the position that moved, not the whole view.
    expect(written.at(-1)).toEqual(['position:BTC/USDT']);
    expect(await store.get('position:BTC/USDT')).toMatchObject({ quantity: 2, markPrice: 103 });
  });

  it('takes over the view an earlier version saved whole, and moves it to keys of its own', async () => {
    const store = new MemoryStateStore();
    await store.set('view', {
      positions: { 'ETH/USDT': { side: 'long', quantity: 3, entryPrice: 10, seenAt: 1 } },
      orders: { o1: { clientOrderId: 'o1', symbol: 'ETH/USDT', side: 'buy', type: 'market', quantity: 3, status: 'filled', filledQuantity: 3, fee: 0, fillIds: ['f1'], seenAt: 1 } },
      adopted: ['x'],
    });
    const r = await rig({ usePushedSnapshots: false }, store);
    r.clock.advanceBy(10_000);
    await r.sync.whenIdle();
    await r.system.stop();
    expect((await store.keys()).sort()).toEqual(['adopted', 'order:o1', 'position:ETH/USDT']);
    expect(await store.get('adopted')).toEqual(['x']);
  });

  it('says synchronously whether a sync is under way, and is idle once it is done', async () => {
    const r = await rig({ usePushedSnapshots: false });
    expect(r.sync.isIdle()).toBe(true);
    r.clock.advanceBy(10_000);
    expect(r.sync.isIdle()).toBe(false);
    await r.sync.whenIdle();
    expect(r.sync.isIdle()).toBe(true);
    await r.system.stop();
  });

  it('publishes balances and equity at start, every interval, and after fills', async () => {
    const r = await rig({ usePushedSnapshots: false });
    expect(r.of('account.updated')).toEqual([expect.objectContaining({ venue: 'paper', quoteCurrency: 'USDT', equity: 10_000 })]);
    await r.paper.createOrder({ clientOrderId: 'buy-1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 10, reduceOnly: false });
    r.bar(110);
    await r.tick();
    const last = r.of('account.updated').at(-1)!;
    // 9 000 USDT left plus 10 BTC valued at the last close.
    expect(last.equity).toBeCloseTo(9_000 + 10 * 110, 9);
    expect(last.balances).toEqual(expect.arrayContaining([expect.objectContaining({ asset: 'BTC', total: 10 })]));
    const before = r.of('account.updated').length;
    r.system.bus.publish('order.updated', {
      clientOrderId: 'x',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'market',
      status: 'filled',
      quantity: 1,
      filledQuantity: 1,
      fills: [{ tradeId: 'f', price: 110, quantity: 1, fee: 0, feeCurrency: 'USDT', liquidity: 'taker', timestamp: r.clock.now() }],
      fee: 0,
      timestamp: r.clock.now(),
    });
    await r.sync.whenIdle();
    expect(r.of('account.updated').length).toBe(before + 1);
  });

  it('passes on the account snapshots the paper exchange pushes', async () => {
    const r = await rig();
    const before = r.of('account.updated').length;
    await r.paper.createOrder({ clientOrderId: 'buy-1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false });
    expect(r.of('account.updated').length).toBeGreaterThan(before);
    expect(r.of('account.updated').at(-1)!.equity).toBeCloseTo(10_000, 9);
  });
});

describe('account-sync: margin', () => {
  it('passes on the margin a perpetual holds and needs, pushed and polled alike', async () => {
    const r = await rig();
    const perp = 'BTC/USDT:USDT';
    r.paper.onCandle({ symbol: perp, timeframe: '5m', timestamp: T0, open: 100, high: 100, low: 100, close: 100, volume: 1_000, closed: true });
    await r.paper.createOrder({ clientOrderId: 'perp-1', symbol: perp, side: 'buy', type: 'market', quantity: 10, reduceOnly: false });
    // Unlevered (leverage 1): the whole notional is held; maintenance at the venue's 0.5 % rate.
    const expected = { used: 10 * 100, maintenance: 10 * 100 * 0.005 };
    const pushed = r.of('account.updated').at(-1)!;
    expect(pushed.margin!.used).toBeCloseTo(expected.used, 9);
    expect(pushed.margin!.maintenance).toBeCloseTo(expected.maintenance, 9);
    const before = r.of('account.updated').length;
    await r.tick();
    const polled = r.of('account.updated').slice(before).at(-1)!;
    expect(polled.margin!.used).toBeCloseTo(expected.used, 9);
    expect(polled.margin!.maintenance).toBeCloseTo(expected.maintenance, 9);
  });

  it('a spot account has no margin', async () => {
    const r = await rig();
    await r.paper.createOrder({ clientOrderId: 'buy-1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false });
    await r.tick();
    expect(r.of('account.updated').every((a) => a.margin === undefined)).toBe(true);
  });
});

describe('account-sync: positions', () => {
  it('hands a venue position the trade manager does not hold to it, after the grace period and two checks', async () => {
    const r = await rig();
    await r.paper.createOrder({ clientOrderId: 'manual', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 2, reduceOnly: false });
    managerPosition(r, 'flat', 0);
    await r.tick(); // 10 s: still in the startup grace
    expect(r.of('position.reconcile')).toHaveLength(0);
    await r.tick(); // 20 s: first strike
    expect(r.of('position.reconcile')).toHaveLength(0);
    expect(r.sync.discrepancies).toEqual([expect.objectContaining({ kind: 'unknown_position', symbol: 'BTC/USDT' })]);
    await r.tick(); // second strike: acted on
    expect(r.of('position.reconcile')).toEqual([
      expect.objectContaining({ action: 'adopt', venue: 'paper', symbol: 'BTC/USDT', side: 'long', quantity: 2, price: 100 }),
    ]);
    expect(r.of('system.alert').map((a) => a.code)).toContain('RECONCILE_POSITION_UNKNOWN');
    // Until the manager answers with a position, the same gap is not acted on again.
    await r.tick();
    await r.tick();
    expect(r.of('position.reconcile')).toHaveLength(1);
    managerPosition(r, 'long', 2);
    await r.tick();
    await r.tick();
    expect(r.of('position.reconcile')).toHaveLength(1);
    expect(r.sync.discrepancies).toEqual([]);
  });

  it('stays quiet while the books and the venue agree', async () => {
    const r = await rig();
    await r.paper.createOrder({ clientOrderId: 'm', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 2, reduceOnly: false });
    managerPosition(r, 'long', 2.005); // within the 0.5 % tolerance
    for (let i = 0; i < 5; i++) await r.tick();
    expect(r.of('position.reconcile')).toHaveLength(0);
    expect(r.of('system.alert')).toHaveLength(0);
  });

  it('tells the trade manager to book out a position the venue no longer holds', async () => {
    const r = await rig();
    managerPosition(r, 'long', 3);
    for (let i = 0; i < 3; i++) await r.tick();
    expect(r.of('position.reconcile')).toEqual([expect.objectContaining({ action: 'resolve', side: 'long', quantity: 3, price: 100 })]);
    expect(r.of('system.alert').map((a) => a.code)).toContain('RECONCILE_POSITION_MISSING');
  });

  it('waits while orders of the symbol are changing', async () => {
    const r = await rig({ reconcile: { startupGraceMs: 0, confirmations: 1, orderGraceMs: 30_000 } });
    managerPosition(r, 'long', 3);
    r.system.bus.publish('order.requested', { clientOrderId: 'e', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 3, reduceOnly: false, purpose: 'entry', timestamp: r.clock.now() });
    await r.tick();
    expect(r.of('position.reconcile')).toHaveLength(0);
    await r.tick(30_000);
    expect(r.of('position.reconcile')).toHaveLength(1);
  });
});

describe('account-sync: orders', () => {
  it('flags an open venue order nobody on the bus placed, once', async () => {
    const r = await rig();
    await r.paper.createOrder({ clientOrderId: 'by-hand', symbol: 'BTC/USDT', side: 'buy', type: 'limit', price: 90, quantity: 1, reduceOnly: false });
    r.system.bus.publish('order.requested', { clientOrderId: 'ours', symbol: 'BTC/USDT', side: 'buy', type: 'limit', price: 80, quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: r.clock.now() });
    await r.paper.createOrder({ clientOrderId: 'ours', symbol: 'BTC/USDT', side: 'buy', type: 'limit', price: 80, quantity: 1, reduceOnly: false });
    for (let i = 0; i < 5; i++) await r.tick();
    const adopted = r.of('order.updated').filter((u) => u.purpose === 'adopt');
    expect(adopted).toEqual([expect.objectContaining({ clientOrderId: 'by-hand', status: 'accepted', price: 90 })]);
    expect(r.of('system.alert').filter((a) => a.code === 'RECONCILE_ORDER_UNKNOWN')).toHaveLength(1);
  });

  it('publishes the final state, with unseen fills, of an order the bus still thinks open', async () => {
    const r = await rig();
    const placed = await r.paper.createOrder({ clientOrderId: 'quiet', symbol: 'BTC/USDT', side: 'buy', type: 'limit', price: 95, quantity: 1, reduceOnly: false });
    r.system.bus.publish('order.updated', { ...placed, purpose: 'entry', tradeId: 't9', fills: [], remainingQuantity: undefined, timestamp: r.clock.now() } as never);
    r.bar(96, 94); // fills at the venue; nothing reaches the bus
    for (let i = 0; i < 4; i++) await r.tick();
    const final = r.of('order.updated').filter((u) => u.clientOrderId === 'quiet').at(-1)!;
    expect(final).toMatchObject({ status: 'filled', purpose: 'entry', tradeId: 't9', filledQuantity: 1 });
    expect(final.fills).toEqual([expect.objectContaining({ price: 95, quantity: 1 })]);
    expect(r.of('system.alert').map((a) => a.code)).toContain('RECONCILE_ORDER_RESOLVED');
  });
});
