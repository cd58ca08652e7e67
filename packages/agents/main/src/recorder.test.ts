import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventBus, EventCatalogue, LocalTransport, VirtualClock, builtinEvents, openDataStore, silentLogger, type BuiltinEvents, type DataStore } from '@tradebus/core';
import { HistoryRecorder } from './recorder.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setUp(): Promise<{ data: DataStore; publisher: EventBus<BuiltinEvents>; recorderBus: EventBus<BuiltinEvents>; clock: VirtualClock }> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-recorder-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  // The default durability: each write is acknowledged by the next batched sync.
  const data = await openDataStore({ dir, fsync: 'batch', fsyncIntervalMs: 50 });
  cleanup.push(() => data.close());
  const transport = new LocalTransport();
  await transport.connect();
  const clock = new VirtualClock(1_700_000_000_000);
  const common = { transport, catalogue: new EventCatalogue(builtinEvents), clock };
  const recorderBus = new EventBus<BuiltinEvents>({ ...common, source: 'recorder' });
  const publisher = new EventBus<BuiltinEvents>({ ...common, source: 'manager' });
  const recorder = new HistoryRecorder(data, recorderBus, silentLogger());
  recorder.start();
  cleanup.push(async () => recorder.stop());
  return { data, publisher, recorderBus, clock };
}

const position = (symbol: string, mark: number, timestamp: number): BuiltinEvents['position.updated'] => ({
  symbol,
  side: 'long',
  quantity: 1,
  entryPrice: 100,
  markPrice: mark,
  unrealizedPnl: mark - 100,
  realizedPnl: 0,
  timestamp,
});

describe('HistoryRecorder', () => {
  it('starts each write as its event arrives instead of waiting for the previous one to be durable', async () => {
    const { data, publisher, recorderBus, clock } = await setUp();
    const settledBefore: number[] = [];
    let settled = 0;
    const upsert = data.positions.upsert.bind(data.positions);
    vi.spyOn(data.positions, 'upsert').mockImplementation((p) => {
      settledBefore.push(settled);
      return upsert(p).finally(() => settled++);
    });

    // A burst of mark-to-market updates, as ticks produce them.
    for (let i = 0; i < 200; i++) publisher.publish('position.updated', position(`S${i % 5}/USDT`, 100 + i, clock.now() + i));
    await recorderBus.idle();

    expect(settledBefore).toHaveLength(200);
    // Serially, write n would have started after n earlier writes were durable.
    expect(Math.max(...settledBefore)).toBe(0);
    const stored = await data.positions.list();
    expect(stored.map((p) => [p.symbol, p.markPrice])).toEqual([
      ['S0/USDT', 295],
      ['S1/USDT', 296],
      ['S2/USDT', 297],
      ['S3/USDT', 298],
      ['S4/USDT', 299],
    ]);
  });

  it("keeps each order's states in order when request and fill are published back to back", async () => {
    const { data, publisher, recorderBus, clock } = await setUp();
    const t = clock.now();
    for (let i = 0; i < 50; i++) {
      const id = `o${i}`;
      publisher.publish('order.requested', { clientOrderId: id, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', strategyId: 'ema', timestamp: t + i });
      publisher.publish('order.updated', {
        clientOrderId: id,
        symbol: 'BTC/USDT',
        side: 'buy',
        type: 'market',
        status: 'filled',
        quantity: 1,
        filledQuantity: 1,
        averagePrice: 100,
        fills: [{ tradeId: `f${i}`, price: 100, quantity: 1, fee: 0.1, feeCurrency: 'USDT', liquidity: 'taker', timestamp: t + i }],
        fee: 0.1,
        reduceOnly: false,
        timestamp: t + i,
      });
    }
    await recorderBus.idle();

    expect(await data.orders.listOpen()).toEqual([]);
    for (const id of ['o0', 'o1', 'o49']) {
      expect((await data.orders.history(id)).map((o) => o.status)).toEqual(['requested', 'filled']);
      expect(await data.orders.get(id)).toMatchObject({ status: 'filled', purpose: 'entry', strategyId: 'ema', filledQuantity: 1 });
    }
    expect(recorderBus.stats.errors).toBe(0);
  });
});
