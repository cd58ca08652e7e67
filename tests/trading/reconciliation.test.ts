import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock, createSystem, type BuiltinEvents, type Envelope, type TradebusSystem } from '@tradebus/core';
import { PaperExchange } from '@tradebus/providers';
import { agent as tradeManager, type TradeManagerAgent } from '@tradebus/agent-trade-manager';
import { agent as tradeExecutor, type TradeExecutorAgent } from '@tradebus/agent-trade-executor';
import { agent as accountSync, type AccountSyncAgent } from '@tradebus/agent-account-sync';

/** A venue that answers a market order at once (at the last close, no spread, no volume cap): these tests are about reconciliation, not the fill model. */
const AT_ONCE = { marketFillOnCandle: 'close', spreadBps: 0, participation: 0 } as const;

const T0 = Date.UTC(2024, 0, 1);
const BAR = 300_000;

interface Rig {
  system: TradebusSystem;
  clock: VirtualClock;
  paper: PaperExchange;
  manager: TradeManagerAgent;
  events: Envelope[];
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  /** Publishes the next 5-minute bar and lets every agent finish with it. */
  bar(close: number, low?: number, high?: number, open?: number): Promise<void>;
}

let system: TradebusSystem | undefined;
afterEach(async () => {
  await system?.stop();
  system = undefined;
});

/** Trade manager, paper executor and account-sync on one paper exchange; candles published by the test. */
async function rig(before?: (paper: PaperExchange) => Promise<void>): Promise<Rig> {
  const clock = new VirtualClock(T0);
  const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0.001, taker: 0.001 }, ...AT_ONCE });
  paper.onCandle({ symbol: 'ETH/USDT', timeframe: '5m', timestamp: T0 - BAR, open: 100, high: 100, low: 100, close: 100, volume: 1_000, closed: true });
  await before?.(paper);
  system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    services: { 'provider:paper': paper },
    agents: [
      {
        id: 'manager',
        definition: tradeManager,
        config: {
          equity: { initial: 10_000 },
          aggregation: { minConfidence: 0 },
          sizing: { rewardRisk: 2, defaultStopPct: 5 },
          exits: { protectiveOrdersAtVenue: true },
          positionSnapshotIntervalMs: 60_000,
        },
      },
      { id: 'executor', definition: tradeExecutor, config: { provider: 'paper', mode: 'paper' } },
      {
        id: 'account',
        definition: accountSync,
        config: { provider: 'paper', intervalMs: 60_000, reconcile: { startupGraceMs: 120_000, confirmations: 2, orderGraceMs: 30_000 } },
      },
    ],
  });
  const events: Envelope[] = [];
  system.bus.subscribe('>', (e) => {
    if (e.type !== 'agent.heartbeat' && e.type !== 'agent.status') events.push(e);
  });
  await system.start();
  const manager = system.agent<TradeManagerAgent>('manager');
  const executor = system.agent<TradeExecutorAgent>('executor');
  const sync = system.agent<AccountSyncAgent>('account');
  const idle = async () => {
    for (let i = 0; i < 4; i++) {
      await manager.whenIdle();
      await executor.whenIdle();
      await sync.whenIdle();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  let barTime = T0;
  const s = system;
  return {
    system: s,
    clock,
    paper,
    manager,
    events,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.payload as never),
    async bar(close, low = close, high = close, open = close) {
      // Minute steps, so the agents' timers (syncs, snapshots) fire in order within the bar.
      for (let t = 60_000; t <= BAR; t += 60_000) {
        clock.advanceTo(barTime + t);
        await idle();
      }
      s.bus.publish('candle.closed', { symbol: 'ETH/USDT', timeframe: '5m', timestamp: barTime, open, high, low, close, volume: 1_000 });
      barTime += BAR;
      await idle();
    },
  };
}

describe('account-sync and the trade manager reconcile through the bus', () => {
  it('a position found at the venue is adopted, protected with a stop, and closed by it', async () => {
    const r = await rig(async (paper) => {
      await paper.createOrder({ clientOrderId: 'by-hand', symbol: 'ETH/USDT', side: 'buy', type: 'market', quantity: 2, reduceOnly: false });
    });
    for (let i = 0; i < 4; i++) await r.bar(100);
    const [adopt] = r.of('position.reconcile');
    expect(adopt).toMatchObject({ action: 'adopt', venue: 'paper', symbol: 'ETH/USDT', side: 'long', quantity: 2, price: 100 });
    const opened = r.of('trade.opened');
    expect(opened).toEqual([expect.objectContaining({ symbol: 'ETH/USDT', side: 'long', quantity: 2, entryPrice: 100, stopLoss: 95, takeProfit: 110 })]);
    expect(opened[0]!.strategyId).toBeUndefined();
    expect(r.of('system.alert').map((a) => a.code)).toEqual(expect.arrayContaining(['RECONCILE_POSITION_UNKNOWN', 'POSITION_ADOPTED']));
    const open = await r.paper.fetchOpenOrders('ETH/USDT');
    expect(open.map((o) => [o.type, o.stopPrice])).toEqual([
      ['stop_market', 95],
      ['take_profit', 110],
    ]);
    // Books and venue agree now: nothing more to reconcile.
    for (let i = 0; i < 4; i++) await r.bar(100);
    expect(r.of('position.reconcile')).toHaveLength(1);
    await r.bar(94.5, 94, 100, 99);
    expect(r.of('trade.closed')).toEqual([expect.objectContaining({ tradeId: opened[0]!.tradeId, exitReason: 'stop_loss', exitPrice: 95 })]);
    expect(await r.paper.fetchPositions()).toEqual([]);
    expect(await r.paper.fetchOpenOrders()).toEqual([]);
  });

  it('a position gone from the venue is booked out of the trade manager', async () => {
    const r = await rig();
    await r.bar(100);
    r.system.bus.publish('signal.generated', { id: 's1', strategyId: 'alpha', symbol: 'ETH/USDT', side: 'long', confidence: 1, price: 100, stopLoss: 98, reason: 'test', timestamp: r.clock.now() });
    await r.bar(100);
    const [opened] = r.of('trade.opened');
    expect(opened).toBeDefined();
    // Someone closes the position at the venue, outside the system (reduce-only: the protective
    // orders hold the coins, and the venue drops them once the position is gone).
    await r.paper.createOrder({ clientOrderId: 'closed-by-hand', symbol: 'ETH/USDT', side: 'sell', type: 'market', quantity: opened!.quantity, reduceOnly: true });
    for (let i = 0; i < 5; i++) await r.bar(101);
    expect(r.of('position.reconcile')).toEqual([expect.objectContaining({ action: 'resolve', side: 'long', quantity: opened!.quantity })]);
    expect(r.of('trade.closed')).toEqual([expect.objectContaining({ tradeId: opened!.tradeId, exitReason: 'reconciled' })]);
    expect(r.of('system.alert').map((a) => a.code)).toEqual(expect.arrayContaining(['RECONCILE_POSITION_MISSING', 'POSITION_RESOLVED']));
    expect(r.manager.snapshot().book.trades).toEqual({});
    expect(await r.paper.fetchOpenOrders()).toEqual([]);
  });
});
