import { MemoryStateStore, VirtualClock, type BuiltinEvents } from '@tradebus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { HISTORY_SEGMENT_SIZE as SEGMENT } from './agent.js';
import { BAR, T0, startHarness, type Harness } from './test-support/harness.js';

/** A memory store that counts writes per key and can refuse the next write of one key. */
class CountingStore extends MemoryStateStore {
  readonly writes = new Map<string, number>();
  refuseNext: string | undefined;

  /** Changes written, each one durable write however many keys it holds. */
  changes = 0;

  override async setMany(entries: Iterable<readonly [string, unknown]>): Promise<void> {
    const list = [...entries];
    if (list.some(([key]) => key === this.refuseNext)) {
      const key = this.refuseNext;
      this.refuseNext = undefined;
      throw new Error(`disk full while writing ${key}`);
    }
    this.changes++;
    // Deletions are not writes of a value.
    for (const [key, value] of list) if (value !== undefined) this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    return super.setMany(list);
  }

  count(key: string): number {
    return this.writes.get(key) ?? 0;
  }

  /** What a process killed right now would find on disk. */
  async copy(): Promise<CountingStore> {
    const copy = new CountingStore();
    for (const key of await this.keys()) await copy.set(key, await this.get(key));
    copy.writes.clear();
    return copy;
  }
}

const sizeOf = async (store: MemoryStateStore, key: string): Promise<number> => JSON.stringify(await store.get(key)).length;

let harnesses: Harness[] = [];
afterEach(async () => {
  for (const x of harnesses) await x.stop();
  harnesses = [];
});

async function start(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const x = await startHarness(...args);
  harnesses.push(x);
  return x;
}

async function stop(x: Harness): Promise<void> {
  harnesses = harnesses.filter((y) => y !== x);
  await x.stop();
}

const decisionsOf = (x: Harness, signalId: string): Array<BuiltinEvents['signal.decided']> =>
  x.of('signal.decided').filter((d) => d.signalId === signalId && d.decision !== 'outcome');

describe('trade manager: what it saves', () => {
  it("takes the venue's equity from account.updated without a save of its own, and keeps it with the next save", async () => {
    const store = new CountingStore();
    const h = await start({ equity: { source: 'account' } }, { store });
    const before = store.count('state');
    await h.account(12_345);
    await h.account(12_400);
    // Sizing uses it at once; account sync sends it again after a restart anyway.
    expect(h.tm.snapshot().equity).toBe(12_400);
    expect(store.count('state')).toBe(before);
    await stop(h);
    expect(store.count('state')).toBeGreaterThan(before);
    expect(((await store.get<{ risk: { accountEquity?: number } }>('state'))!).risk.accountEquity).toBe(12_400);
  });

  it('saves a state of the same size however many signals it has decided, and still recognises an old one after a restart', async () => {
    const store = new CountingStore();
    const clock = new VirtualClock(T0);
    const h = await start({}, { store, clock });
    const sizes: number[] = [];
    for (let i = 1; i <= 5_200; i++) {
      // Nothing to close: each is decided (rejected) and remembered, and the state saved.
      await h.signal({ id: `s${i}`, side: 'flat' });
      if (i % 1_300 === 0) sizes.push(await sizeOf(store, 'state'));
    }
    expect(decisionsOf(h, 's5200')).toHaveLength(1);
    // Holding 5 000 ids in the state would make it about 30 kB; it holds fewer than SEGMENT of them.
    expect(Math.max(...sizes)).toBeLessThan(1_000);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(SEGMENT * 8);
    const remembered = h.tm.remembered().signals;
    expect(remembered.length).toBeGreaterThanOrEqual(5_000);
    expect(remembered.length).toBeLessThan(5_000 + SEGMENT);
    expect(remembered.at(-1)).toBe('s5200');
    expect(remembered).not.toContain('s1');
    const segments = (await store.keys()).filter((k) => k.startsWith('seen-signals:'));
    expect(segments.length).toBeLessThanOrEqual(Math.ceil(5_000 / SEGMENT) + 1);
    // Each id was written once, into its segment, not once per save; the oldest segments are gone.
    const segmentWrites = [...store.writes].filter(([k]) => k.startsWith('seen-signals:'));
    expect(segmentWrites).toHaveLength(Math.floor(5_200 / SEGMENT));
    expect(segmentWrites.every(([, n]) => n === 1)).toBe(true);
    expect(segments).not.toContain('seen-signals:0');

    await stop(h);
    const again = await start({}, { store, clock });
    expect(again.tm.remembered().signals).toEqual(remembered);
    const old = { id: 's1000', strategyId: 'alpha', symbol: 'BTC/USDT', side: 'long' as const, confidence: 1, price: 100, reason: 'redelivered', timestamp: clock.now() };
    again.system.bus.publish('signal.generated', old);
    await again.idle();
    expect(decisionsOf(again, 's1000')).toHaveLength(0);
    expect(again.requests()).toHaveLength(0);
  });

  it('keeps the track record as a log of closed trades, each written once, no longer than its window needs', async () => {
    const store = new CountingStore();
    const clock = new VirtualClock(T0);
    const config = { trackRecord: { window: 10 } };
    const h = await start(config, { store, clock });
    const roundTrip = async (i: number): Promise<void> => {
      h.venue.price = 100;
      await h.signal({ price: 100, stopLoss: 98 });
      h.venue.price = i % 3 === 0 ? 99 : 101;
      await h.signal({ side: 'flat', price: h.venue.price });
    };
    const sizes: number[] = [];
    for (let i = 0; i < 40; i++) {
      clock.advanceBy(1_000);
      await roundTrip(i);
      sizes.push(await sizeOf(store, 'state'));
    }
    expect(h.of('trade.closed')).toHaveLength(40);
    expect(h.tm.snapshot().trackRecord.strategies.alpha!.map((t) => t.tradeId)).toEqual(h.of('trade.closed').slice(-10).map((t) => t.tradeId));
    // Eight trades per segment, each segment written once; those the window no longer needs are deleted.
    const logWrites = [...store.writes].filter(([k]) => k.startsWith('trade-log:'));
    expect(logWrites).toHaveLength(5);
    expect(logWrites.every(([, n]) => n === 1)).toBe(true);
    expect((await store.keys()).filter((k) => k.startsWith('trade-log:')).length).toBeLessThanOrEqual(2);
    expect(Math.max(...sizes.slice(20))).toBeLessThan(Math.max(...sizes.slice(0, 20)) + 500);

    // Trades closed at one moment are kept in the window by id, whichever segment they are in.
    clock.advanceBy(1_000);
    for (let i = 0; i < 24; i++) await roundTrip(i);
    const before = h.tm.snapshot().trackRecord;
    expect(before.strategies.alpha).toHaveLength(10);
    await stop(h);
    const again = await start(config, { store, clock });
    expect(again.tm.snapshot().trackRecord).toEqual(before);
    expect(again.tm.remembered().closedTrades).toEqual(h.tm.remembered().closedTrades);
  });

  it('saves bars, last prices and counterfactual progress on a clock interval and on stop, not on every candle', async () => {
    const store = new CountingStore();
    const clock = new VirtualClock(T0);
    const config = { counterfactual: { enabled: true, maxBars: 50 }, marketStateSaveIntervalMs: 3_600_000 };
    const h = await start(config, { store, clock });
    await h.signal({ price: 100, stopLoss: 90 });
    // A long is open already: rejected, and followed to its outcome.
    const rejected = await h.signal({ price: 100, stopLoss: 80, takeProfit: 120 });
    expect(h.decision(rejected.id)).toMatchObject({ decision: 'rejected' });
    const followed = `counterfactual:${rejected.id}`;
    expect(store.count(followed)).toBe(1);
    const close = (k: number): number => 100 + k / 10;
    for (let k = 1; k <= 11; k++) await h.candle({ high: close(k) + 0.5, low: close(k) - 0.5, close: close(k) });
    // 55 minutes of candles: nothing of the market written, the positions still published each bar.
    expect(store.count('market')).toBe(0);
    expect(store.count(followed)).toBe(1);
    expect(h.of('position.updated').at(-1)).toMatchObject({ markPrice: close(11) });
    for (let k = 12; k <= 20; k++) await h.candle({ high: close(k) + 0.5, low: close(k) - 0.5, close: close(k) });
    expect(store.count('market')).toBe(1);
    expect(store.count(followed)).toBe(2);

    await stop(h);
    expect(store.count('market')).toBe(2);
    const market = await store.get<Record<string, { bars: number[][]; last: number; lastBarTime: number }>>('market');
    expect(market!['BTC/USDT']!.last).toBe(close(20));
    expect(market!['BTC/USDT']!.lastBarTime).toBe(T0 + 19 * BAR);
    expect(market!['BTC/USDT']!.bars.at(-1)).toEqual([close(20) + 0.5, close(20) - 0.5, close(20)]);
    expect(await store.get(followed)).toMatchObject({ signalId: rejected.id, barsLeft: 30 });

    const again = await start(config, { store, clock, autoFill: false });
    // The position republished at startup is marked at the last close before the stop.
    expect(again.of('position.updated')).toEqual([expect.objectContaining({ symbol: 'BTC/USDT', side: 'long', markPrice: close(20) })]);
    await again.candle({ high: 121, low: 100, close: 119 });
    expect(again.of('signal.decided').find((d) => d.decision === 'outcome')).toMatchObject({ signalId: rejected.id, outcome: { exitReason: 'take_profit', exitPrice: 120 } });
    // An outcome is published once: its key is gone before the decision goes out.
    expect(await store.get(followed)).toBeUndefined();
  });

  it('reads the state saved by the previous version and saves it in the new layout', async () => {
    const source = new CountingStore();
    const clock = new VirtualClock(T0);
    const h = await start({}, { store: source, clock });
    h.venue.price = 100;
    await h.signal({ id: 'closed-1', price: 100, stopLoss: 98 });
    h.venue.price = 103;
    await h.signal({ id: 'closed-2', side: 'flat', price: 103 });
    h.venue.price = 100;
    await h.signal({ id: 'open-1', price: 100, stopLoss: 97 });
    const before = h.tm.snapshot();
    const remembered = h.tm.remembered();
    await stop(h);

    // The old layout: everything under one key, the id lists inside the book.
    const current = (await source.get<{ book: object; risk: object }>('state'))!;
    const old = new CountingStore();
    await old.set('counterfactuals', [{ signalId: 'followed-1', strategyId: 'alpha', symbol: 'BTC/USDT', side: 'long', entry: 100, stop: 90, target: 130, barsLeft: 7, since: clock.now() }]);
    await old.set('state', {
      version: 1,
      book: { ...current.book, seenSignals: remembered.signals, closedTrades: remembered.closedTrades },
      risk: current.risk,
      trackRecord: before.trackRecord,
    });
    const again = await start({}, { store: old, clock, autoFill: false });
    const after = again.tm.snapshot();
    expect(after.book).toEqual(before.book);
    expect(after.risk).toEqual(before.risk);
    expect(after.trackRecord).toEqual(before.trackRecord);
    expect(again.tm.remembered()).toEqual(remembered);
    expect(await old.get('state')).toMatchObject({ version: 2 });
    expect(await old.keys()).not.toContain('trackRecord');
    expect(await old.get('counterfactual:followed-1')).toMatchObject({ barsLeft: 7 });
    expect(await old.keys()).not.toContain('counterfactuals');
    again.system.bus.publish('signal.generated', { id: 'closed-1', strategyId: 'alpha', symbol: 'BTC/USDT', side: 'long', confidence: 1, price: 100, reason: 'redelivered', timestamp: clock.now() });
    await again.idle();
    expect(decisionsOf(again, 'closed-1')).toHaveLength(0);
    // Saved in the new layout: a second start from it restores the same.
    await stop(again);
    const third = await start({}, { store: old, clock, autoFill: false });
    expect(third.tm.snapshot().trackRecord).toEqual(before.trackRecord);
    expect(third.tm.remembered()).toEqual(remembered);
  });

  it('reads the track record of an earlier build of this layout (a full key plus the trades closed since)', async () => {
    const source = new CountingStore();
    const clock = new VirtualClock(T0);
    const h = await start({}, { store: source, clock });
    for (let i = 0; i < 3; i++) {
      clock.advanceBy(1_000);
      h.venue.price = 100;
      await h.signal({ price: 100, stopLoss: 98 });
      h.venue.price = 101 + i;
      await h.signal({ side: 'flat', price: h.venue.price });
    }
    const before = h.tm.snapshot().trackRecord;
    await stop(h);
    const { tradeLog: _log, ...state } = (await source.get<Record<string, unknown>>('state'))!;
    const closed = h.of('trade.closed');
    const earlier = new CountingStore();
    // The full record held the first two trades; the third came after it was written.
    await earlier.set('trackRecord', { ...before, strategies: { alpha: before.strategies.alpha!.slice(0, 2) } });
    await earlier.set('state', { ...state, trackRecordTail: [{ ...closed[2]!, strategyId: 'alpha' }] });
    const again = await start({}, { store: earlier, clock, autoFill: false });
    expect(again.tm.snapshot().trackRecord).toEqual(before);
    expect(await earlier.keys()).not.toContain('trackRecord');
    await stop(again);
    const third = await start({}, { store: earlier, clock, autoFill: false });
    expect(third.tm.snapshot().trackRecord).toEqual(before);
  });

  it('refuses to start on a state written by a newer version instead of trading with empty books', async () => {
    const store = new MemoryStateStore();
    await store.set('state', { version: 99 });
    const h = await start({}, { store });
    expect(h.system.agent('tm').state).toBe('failed');
    expect(h.of('system.alert').find((a) => a.code === 'AGENT_FAILED')!.message).toMatch(/version 99, which this version cannot read/);
    expect(await store.get('state')).toEqual({ version: 99 });
  });

  it('writes a history segment and the state that lists it as one change: a refused change leaves nothing of itself, a restart nothing half-remembered', async () => {
    const store = new CountingStore();
    const clock = new VirtualClock(T0);
    const h = await start({}, { store, clock });
    for (let i = 1; i < SEGMENT; i++) await h.signal({ id: `s${i}`, side: 'flat' });
    expect((await store.keys()).filter((k) => k.startsWith('seen-signals:'))).toEqual([]);
    // The next id fills a segment: the change holding the segment and the state is refused whole.
    store.refuseNext = 'state';
    const filling = `s${SEGMENT}`;
    await h.signal({ id: filling, side: 'flat' });
    expect(h.of('system.alert').map((a) => a.code)).toContain('TRADE_MANAGER_STATE_NOT_SAVED');
    expect(decisionsOf(h, filling)).toHaveLength(0);
    expect(await store.get('seen-signals:0')).toBeUndefined();
    const disk = await store.copy();

    // The process going on: the next save carries the refused segment with it.
    await h.signal({ id: 'next', side: 'flat' });
    expect(await store.get('seen-signals:0')).toHaveLength(SEGMENT);
    expect((await store.get<{ seenSignals: { recent: string[] } }>('state'))!.seenSignals.recent).toContain('next');
    await stop(h);

    // The process dies here; a new one starts on what is on disk.
    const again = await start({}, { store: disk, clock });
    expect(again.tm.remembered().signals).toEqual(Array.from({ length: SEGMENT - 1 }, (_, i) => `s${i + 1}`));
    expect(await disk.keys()).not.toContain('seen-signals:0');
    const redeliver = (id: string): void => {
      again.system.bus.publish('signal.generated', { id, strategyId: 'alpha', symbol: 'BTC/USDT', side: 'flat', confidence: 1, price: 100, reason: 'redelivered', timestamp: clock.now() });
    };
    redeliver('s10');
    redeliver(filling);
    await again.idle();
    expect(decisionsOf(again, 's10')).toHaveLength(0);
    expect(decisionsOf(again, filling)).toEqual([expect.objectContaining({ decision: 'rejected' })]);
    expect(await disk.get('seen-signals:0')).toHaveLength(SEGMENT);
  });
  it('takes an acknowledgement without waiting for a write; a restart recovers one lost in a crash, a stop saves it', async () => {
    const store = new CountingStore();
    const clock = new VirtualClock(T0);
    const h = await start({}, { store, clock, autoFill: false });
    await h.signal({ price: 100, stopLoss: 95 });
    const cid = h.requests('entry')[0]!.clientOrderId;
    type Saved = { book: { orders: Record<string, { status: string; acknowledged: boolean }> } };
    expect((await store.get<Saved>('state'))!.book.orders[cid]).toMatchObject({ status: 'requested', acknowledged: false });
    expect(h.tm.snapshot().book.orders[cid]).toMatchObject({ status: 'accepted', acknowledged: true });
    expect(h.tm.isIdle()).toBe(true);

    // Killed now: the next manager sends the unfinished intent again and learns the order's state.
    const again = await start({}, { store: await store.copy(), clock, autoFill: false });
    expect(again.requests('entry')).toEqual([expect.objectContaining({ clientOrderId: cid })]);
    expect(again.tm.snapshot().book.orders[cid]).toMatchObject({ status: 'accepted', acknowledged: true });

    await stop(h);
    expect((await store.get<Saved>('state'))!.book.orders[cid]).toMatchObject({ status: 'accepted', acknowledged: true });
  });
});

describe('trade manager: the event queue', () => {
  it('handles a candle that changes nothing to save before the delivery returns, and says when it is idle', async () => {
    const h = await start();
    expect(h.tm.isIdle()).toBe(true);
    await h.signal({ price: 100, stopLoss: 95 });
    expect(h.tm.isIdle()).toBe(true);
    const published = h.of('position.updated').length;
    h.clock.advanceBy(BAR);
    h.system.bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '5m', timestamp: h.clock.now() - BAR, open: 100, high: 102, low: 99, close: 101, volume: 1 });
    // No await: handled, published and idle already.
    expect(h.tm.isIdle()).toBe(true);
    expect(h.of('position.updated')).toHaveLength(published + 1);
    expect(h.of('position.updated').at(-1)).toMatchObject({ markPrice: 101 });

    // A signal must be saved before its decision goes out: not idle until then.
    h.system.bus.publish('signal.generated', { id: 'late', strategyId: 'alpha', symbol: 'ETH/USDT', side: 'long', confidence: 1, price: 50, reason: 'test', timestamp: h.clock.now() });
    expect(h.tm.isIdle()).toBe(false);
    expect(decisionsOf(h, 'late')).toHaveLength(0);
    await h.tm.whenIdle();
    expect(h.tm.isIdle()).toBe(true);
    expect(decisionsOf(h, 'late')).toEqual([expect.objectContaining({ decision: 'accepted' })]);
  });

  it('handles events that arrive while a state is being saved after it, in arrival order', async () => {
    const h = await start({}, { autoFill: false });
    await h.signal({ price: 100, stopLoss: 95 });
    const [entry] = h.requests('entry');
    // The fill must be saved before anything it causes goes out.
    h.venue.fill(entry!.clientOrderId, 100);
    expect(h.tm.isIdle()).toBe(false);
    // A candle through the stop arrives meanwhile: it waits, and then finds the trade open.
    h.clock.advanceBy(BAR);
    h.system.bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '5m', timestamp: h.clock.now(), open: 100, high: 100, low: 90, close: 94, volume: 1 });
    expect(h.requests('stop_loss')).toHaveLength(0);
    await h.tm.whenIdle();
    expect(h.of('trade.opened')).toHaveLength(1);
    expect(h.requests('stop_loss')).toEqual([expect.objectContaining({ type: 'market', side: 'sell', quantity: 20 })]);
  });
});
