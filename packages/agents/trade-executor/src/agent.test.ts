import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStateStore, StateLog, VirtualClock, createSystem, type BuiltinEvents, type StateStore, type TradebusSystem } from '@tradebus/core';
import {
  InsufficientFundsError,
  NetworkError,
  PaperExchange,
  RateLimitError,
  type ExecutionProvider,
  type Order,
  type OrderRequest,
  type Provider,
} from '@tradebus/providers';
import { afterEach, describe, expect, it } from 'vitest';
import { agent, canTransition, isFinal, type TradeExecutorAgent, type TradeExecutorConfigInput } from './index.js';

const T0 = Date.UTC(2024, 0, 1);
/** A venue that answers a market order at once (at the last close, no spread, no volume cap): these tests are about the agent, not the fill model. */
const AT_ONCE = { marketFillOnCandle: 'close', spreadBps: 0, participation: 0 } as const;

type Update = BuiltinEvents['order.updated'];
type Request = BuiltinEvents['order.requested'];

/**
 * Puts faults between the executor and a real paper exchange: a lost response after the venue
 * placed the order, a refusal before it did, or a hang. Everything else reaches the exchange.
 */
class FaultyVenue implements ExecutionProvider {
  readonly id = 'faulty';
  /** Per call of createOrder, what goes wrong (consumed in order). */
  createFaults: Array<'lost-response' | 'lost-request' | 'rate-limited' | 'network-before' | 'hang-after-placing' | 'hang-before-placing' | 'no-funds'> = [];
  lookupFaults = 0;
  createCalls = 0;
  fetchCalls = 0;

  constructor(readonly paper: PaperExchange) {}

  async createOrder(request: OrderRequest): Promise<Order> {
    this.createCalls++;
    const fault = this.createFaults.shift();
    if (fault === 'rate-limited') throw new RateLimitError('faulty', '429', { retryAfterMs: 1_000 });
    if (fault === 'network-before') throw new NetworkError('faulty', 'connection refused');
    if (fault === 'no-funds') throw new InsufficientFundsError('faulty', 'balance too low');
    if (fault === 'lost-request') throw new NetworkError('faulty', 'timeout, request may have been sent', { outcomeUnknown: true });
    if (fault === 'hang-before-placing') return new Promise<Order>(() => undefined);
    const order = await this.paper.createOrder(request);
    if (fault === 'lost-response') throw new NetworkError('faulty', 'socket hang up after send', { outcomeUnknown: true });
    if (fault === 'hang-after-placing') return new Promise<Order>(() => undefined);
    return order;
  }
  cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    return this.paper.cancelOrder(clientOrderId, symbol);
  }
  async fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined> {
    this.fetchCalls++;
    if (this.lookupFaults > 0) {
      this.lookupFaults--;
      throw new NetworkError('faulty', 'timeout');
    }
    return this.paper.fetchOrder(clientOrderId, symbol);
  }
  fetchOpenOrders(symbol?: string): Promise<Order[]> {
    return this.paper.fetchOpenOrders(symbol);
  }
  fetchMyTrades(symbol: string, since?: number, limit?: number) {
    return this.paper.fetchMyTrades(symbol, since, limit);
  }
}

/** A live-kind provider around the faulty venue; `push` decides whether order updates are pushed. */
function faultyProvider(venue: FaultyVenue, push: boolean): Provider {
  return {
    id: 'faulty',
    kind: 'ccxt',
    venue: 'faulty',
    execution: venue,
    account: venue.paper,
    events: push ? venue.paper : undefined,
    close: async () => undefined,
  };
}

interface Rig {
  system: TradebusSystem;
  clock: VirtualClock;
  paper: PaperExchange;
  ex: TradeExecutorAgent;
  updates: Update[];
  idle(): Promise<void>;
  request(over?: Partial<Request>): Promise<Request>;
  candle(close: number, range?: number): Promise<void>;
  stop(): Promise<void>;
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.stop().catch(() => undefined);
  rigs = [];
});

let seq = 0;

async function rig(
  config: Partial<TradeExecutorConfigInput> = {},
  options: { provider?: (paper: PaperExchange) => Provider; store?: StateStore; paper?: PaperExchange; clock?: VirtualClock } = {},
): Promise<Rig> {
  const clock = options.clock ?? new VirtualClock(T0);
  const paper = options.paper ?? new PaperExchange({ ...AT_ONCE, id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0.001, taker: 0.001 } });
  const provider = options.provider?.(paper) ?? paper;
  const store = options.store ?? new MemoryStateStore();
  const system = createSystem({
    clock,
    validateOnPublish: true,
    heartbeatIntervalMs: 24 * 3_600_000,
    stateStore: () => store,
    services: { 'provider:venue': provider },
    agents: [{ id: 'ex', definition: agent, config: { provider: 'venue', mode: 'paper', ...config } }],
  });
  const updates: Update[] = [];
  system.bus.subscribe('order.updated', (e) => void updates.push(e.payload));
  await system.start();
  const ex = system.agent<TradeExecutorAgent>('ex');
  let bar = T0 - 300_000;
  const r: Rig = {
    system,
    clock,
    paper,
    ex,
    updates,
    idle: () => ex.whenIdle(),
    async request(over = {}) {
      const req: Request = {
        clientOrderId: `c${++seq}`,
        symbol: 'BTC/USDT',
        side: 'buy',
        type: 'market',
        quantity: 1,
        reduceOnly: false,
        purpose: 'entry',
        tradeId: 't1',
        timestamp: clock.now(),
        ...over,
      };
      system.bus.publish('order.requested', req);
      await ex.whenIdle();
      return req;
    },
    async candle(close, range = 1) {
      bar += 300_000;
      if (clock.now() < bar + 300_000) clock.advanceTo(bar + 300_000);
      system.bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '5m', timestamp: bar, open: close, high: close + range, low: close - range, close, volume: 100 });
      await ex.whenIdle();
    },
    stop: async () => {
      await system.stop();
    },
  };
  rigs.push(r);
  return r;
}

const statuses = (updates: Update[], cid: string) => updates.filter((u) => u.clientOrderId === cid).map((u) => u.status);

describe('order state machine', () => {
  it('allows forward moves and skipping states, refuses going back', () => {
    expect(canTransition('requested', 'submitted')).toBe(true);
    expect(canTransition('submitted', 'filled')).toBe(true);
    expect(canTransition('partially_filled', 'partially_filled')).toBe(true);
    expect(canTransition('accepted', 'submitted')).toBe(false);
    expect(canTransition('filled', 'accepted')).toBe(false);
    expect(canTransition('requested', 'filled')).toBe(false);
    for (const s of ['filled', 'cancelled', 'rejected', 'expired'] as const) expect(isFinal(s)).toBe(true);
  });
});

describe('trade executor in paper mode', () => {
  it('does not throttle a paper venue: a burst over the rate limit is placed within its moment, so a replay waiting for the executor can move on', async () => {
    const r = await rig({ rateLimit: { capacity: 1, refillPerSecond: 1 } });
    await r.candle(100);
    const at = r.clock.now();
    const ids = ['b1', 'b2', 'b3'].map((clientOrderId) => {
      r.system.bus.publish('order.requested', { clientOrderId, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', tradeId: clientOrderId, timestamp: at });
      return clientOrderId;
    });
    // The clock does not move: on a virtual clock a wait for a token would never end.
    await r.ex.whenIdle();
    expect(r.clock.now()).toBe(at);
    for (const id of ids) expect(statuses(r.updates, id)).toEqual(['submitted', 'accepted', 'filled']);
    expect(r.ex.isIdle()).toBe(true);
  });

  it('feeds bus candles to the paper exchange and publishes the order through to its fill', async () => {
    const r = await rig();
    await r.candle(100);
    const req = await r.request();
    expect(statuses(r.updates, req.clientOrderId)).toEqual(['submitted', 'accepted', 'filled']);
    const filled = r.updates.at(-1)!;
    const venueTrades = await r.paper.fetchMyTrades('BTC/USDT');
    expect(filled).toMatchObject({ purpose: 'entry', tradeId: 't1', filledQuantity: 1, averagePrice: 100 });
    expect(filled.fills).toEqual(venueTrades.map(({ symbol: _s, side: _d, venueOrderId: _v, clientOrderId: _c, ...fill }) => fill));
    // Resting orders match on the next bars that reach the bus.
    const stop = await r.request({ side: 'sell', type: 'stop_market', stopPrice: 95, quantity: 1, reduceOnly: true, purpose: 'stop_loss' });
    await r.candle(99);
    expect(statuses(r.updates, stop.clientOrderId)).toEqual(['submitted', 'accepted']);
    await r.candle(94);
    expect(statuses(r.updates, stop.clientOrderId).at(-1)).toBe('filled');
  });

  it('never places a client order id twice, and answers a repeated intent with the order and all its fills', async () => {
    const r = await rig();
    await r.candle(100);
    const req = await r.request();
    r.system.bus.publish('order.requested', req);
    await r.idle();
    expect(await r.paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    const last = r.updates.at(-1)!;
    expect(last).toMatchObject({ clientOrderId: req.clientOrderId, status: 'filled' });
    expect(last.fills).toHaveLength(1);
  });

  it('refuses to run paper mode on a provider that could place real orders', async () => {
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock: new VirtualClock(T0), quoteCurrency: 'USDT', balances: { USDT: 1 } });
    const system = createSystem({
      services: { 'provider:venue': faultyProvider(new FaultyVenue(paper), true) },
      agents: [{ id: 'ex', definition: agent, config: { provider: 'venue', mode: 'paper' } }],
    });
    await expect(system.agent('ex').start()).rejects.toMatchObject({ code: 'EXECUTOR_CONFIG', message: expect.stringMatching(/could place real orders/) });
  });

  it('cancels a resting order on request', async () => {
    const r = await rig();
    await r.candle(100);
    const req = await r.request({ type: 'limit', price: 90 });
    r.system.bus.publish('order.cancel_requested', { clientOrderId: req.clientOrderId, symbol: 'BTC/USDT', reason: 'kill switch', timestamp: r.clock.now() });
    await r.idle();
    expect(statuses(r.updates, req.clientOrderId)).toEqual(['submitted', 'accepted', 'cancelled']);
    expect(await r.paper.fetchOpenOrders()).toEqual([]);
  });

  it('rejects stale entry intents but still places old exits', async () => {
    const r = await rig({ maxRequestAgeMs: 60_000 });
    await r.candle(100);
    r.clock.advanceBy(120_000);
    const entry = await r.request({ timestamp: r.clock.now() - 90_000 });
    expect(r.updates.filter((u) => u.clientOrderId === entry.clientOrderId)).toEqual([
      expect.objectContaining({ status: 'rejected', reason: expect.stringMatching(/90000 ms old/) }),
    ]);
    await r.request();
    const exit = await r.request({ side: 'sell', purpose: 'exit', reduceOnly: true, timestamp: r.clock.now() - 90_000 });
    expect(statuses(r.updates, exit.clientOrderId).at(-1)).toBe('filled');
  });
});

describe('trade executor in disabled mode', () => {
  it('rejects every intent with a reason and never touches the venue', async () => {
    const venue = new FaultyVenue(new PaperExchange({ ...AT_ONCE, id: 'p', clock: new VirtualClock(T0), quoteCurrency: 'USDT', balances: { USDT: 10_000 } }));
    const r = await rig({ mode: 'disabled' }, { provider: () => faultyProvider(venue, true) });
    const req = await r.request();
    expect(r.updates).toEqual([expect.objectContaining({ clientOrderId: req.clientOrderId, status: 'rejected', reason: expect.stringMatching(/execution is disabled/) })]);
    expect(venue.createCalls + venue.fetchCalls).toBe(0);
  });
});

describe('trade executor retries', () => {
  async function faulty(push = true, config: Partial<TradeExecutorConfigInput> = {}) {
    const clock = new VirtualClock(T0);
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 } });
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
    const venue = new FaultyVenue(paper);
    const r = await rig({ mode: 'live', retry: { maxAttempts: 4, initialDelayMs: 100, maxDelayMs: 1_000, factor: 2 }, ...config }, { clock, paper, provider: () => faultyProvider(venue, push) });
    return { r, venue };
  }

  /** Publishes without waiting, then moves virtual time until the executor has settled. */
  async function requestThroughBackoff(r: Rig, over: Partial<Request> = {}): Promise<string> {
    const cid = `c${++seq}`;
    r.system.bus.publish('order.requested', { clientOrderId: cid, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: r.clock.now(), ...over });
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      r.clock.advanceBy(100);
    }
    await r.idle();
    return cid;
  }

  it('after a lost response it finds the order at the venue instead of placing it again', async () => {
    const { r, venue } = await faulty();
    venue.createFaults = ['lost-response'];
    const cid = await requestThroughBackoff(r);
    expect(venue.createCalls).toBe(1);
    expect(venue.fetchCalls).toBeGreaterThanOrEqual(1);
    expect(await r.paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    expect(statuses(r.updates, cid).at(-1)).toBe('filled');
  });

  it('retries a rate-limited placement once the venue has no such order', async () => {
    const { r, venue } = await faulty();
    venue.createFaults = ['rate-limited', 'network-before'];
    const cid = await requestThroughBackoff(r);
    expect(venue.createCalls).toBe(3);
    expect(await r.paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    expect(statuses(r.updates, cid).at(-1)).toBe('filled');
  });

  it('does not retry what the venue refused', async () => {
    const { r, venue } = await faulty();
    venue.createFaults = ['no-funds'];
    const cid = await requestThroughBackoff(r);
    expect(venue.createCalls).toBe(1);
    expect(r.updates.filter((u) => u.clientOrderId === cid).at(-1)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/insufficient funds/) });
  });

  it('keeps an order of unknown outcome open, and declares it rejected once the venue never shows it', async () => {
    const { r, venue } = await faulty(true, { unknownOutcomeTimeoutMs: 10_000, pollIntervalMs: 1_000 });
    venue.createFaults = ['lost-request', 'lost-request', 'lost-request', 'lost-request'];
    const cid = await requestThroughBackoff(r);
    expect(statuses(r.updates, cid)).toEqual(['submitted']);
    expect(r.ex.order(cid)!.outcomeUnknownSince).toBeDefined();
    for (let t = 0; t < 11; t++) {
      r.clock.advanceBy(1_000);
      await r.idle();
    }
    expect(r.updates.filter((u) => u.clientOrderId === cid).at(-1)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/never placed/) });
  });

  it('polls fetchOrder for updates when the venue does not push them', async () => {
    const { r } = await faulty(false, { pollIntervalMs: 1_000 });
    const cid = await requestThroughBackoff(r, { type: 'limit', price: 95 });
    expect(statuses(r.updates, cid)).toEqual(['submitted', 'accepted']);
    r.paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0, open: 100, high: 100, low: 94, close: 96, volume: 10, closed: true });
    r.clock.advanceBy(1_000);
    await r.idle();
    const last = r.updates.at(-1)!;
    expect(last).toMatchObject({ clientOrderId: cid, status: 'filled', filledQuantity: 1 });
    expect(last.fills).toHaveLength(1);
    expect(last.fills[0]!.price).toBe(95);
  });

  it('refuses an illegal transition reported by the venue and does not publish it', async () => {
    const { r, venue } = await faulty(false, { pollIntervalMs: 1_000 });
    const cid = await requestThroughBackoff(r);
    expect(statuses(r.updates, cid).at(-1)).toBe('filled');
    const real = venue.fetchOrder.bind(venue);
    venue.fetchOrder = async (id, symbol) => ({ ...(await real(id, symbol))!, status: 'accepted' });
    // A poll happens only for open orders; make this one look open to the poller once.
    (r.ex as unknown as { orders: Map<string, { status: string }> }).orders.get(cid)!.status = 'partially_filled';
    const before = r.updates.length;
    r.clock.advanceBy(1_000);
    await r.idle();
    expect(r.ex.refusedTransitions).toBe(1);
    expect(r.updates.slice(before).some((u) => u.status === 'accepted')).toBe(false);
  });

  it('carries out a cancel that arrives while the order is still being placed', async () => {
    const { r, venue } = await faulty(true, { rateLimit: { capacity: 1, refillPerSecond: 1 } });
    await r.request({ clientOrderId: 'first', type: 'limit', price: 90, quantity: 0.1 });
    r.system.bus.publish('order.requested', { clientOrderId: 'second', symbol: 'BTC/USDT', side: 'buy', type: 'limit', price: 90, quantity: 0.1, reduceOnly: false, purpose: 'entry', timestamp: r.clock.now() });
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    r.system.bus.publish('order.cancel_requested', { clientOrderId: 'second', symbol: 'BTC/USDT', reason: 'kill switch', timestamp: r.clock.now() });
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    // Still waiting for a rate-limit token, so the cancel is noted, not sent.
    expect(venue.createCalls).toBe(1);
    expect(r.ex.order('second')!.cancelRequested).toBe('kill switch');
    for (let t = 0; t < 3; t++) {
      r.clock.advanceBy(1_000);
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    }
    await r.idle();
    expect(statuses(r.updates, 'second')).toEqual(['submitted', 'accepted', 'cancelled']);
    expect((await r.paper.fetchOpenOrders()).map((o) => o.clientOrderId)).toEqual(['first']);
  });

  it('never places an order whose cancel overtook it', async () => {
    const { r, venue } = await faulty(true);
    r.system.bus.publish('order.cancel_requested', { clientOrderId: 'late', symbol: 'BTC/USDT', reason: 'kill switch', timestamp: r.clock.now() });
    await r.idle();
    await r.request({ clientOrderId: 'late', type: 'limit', price: 90 });
    expect(venue.createCalls).toBe(0);
    expect(r.updates.filter((u) => u.clientOrderId === 'late')).toEqual([
      expect.objectContaining({ status: 'cancelled', reason: 'cancelled before it was placed (kill switch)' }),
    ]);
  });

  it('throttles venue calls with a token bucket on the agent clock', async () => {
    const { r, venue } = await faulty(true, { rateLimit: { capacity: 2, refillPerSecond: 1 } });
    for (let i = 0; i < 4; i++) {
      r.system.bus.publish('order.requested', { clientOrderId: `burst-${i}`, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 0.1, reduceOnly: false, purpose: 'exit', timestamp: r.clock.now() });
    }
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(venue.createCalls).toBe(2);
    r.clock.advanceBy(1_000);
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(venue.createCalls).toBe(3);
    r.clock.advanceBy(1_000);
    await r.idle();
    expect(venue.createCalls).toBe(4);
  });
});

describe('trade executor across a restart', () => {
  async function crashDuringPlacement(fault: 'hang-after-placing' | 'hang-before-placing') {
    const clock = new VirtualClock(T0);
    const store = new MemoryStateStore();
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 } });
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
    const venue = new FaultyVenue(paper);
    venue.createFaults = [fault];
    // No push stream: the only news of the order would have been the answer that never came.
    const first = await rig({ mode: 'live' }, { clock, paper, store, provider: () => faultyProvider(venue, false) });
    first.system.bus.publish('order.requested', { clientOrderId: 'crash-1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: clock.now() });
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
    expect((await store.get<{ status: string }>('order:crash-1'))?.status).toBe('submitted');
    // The process dies with the venue call outstanding; a new executor starts on the same store.
    await first.system.stop(100);
    const second = await rig({ mode: 'live' }, { clock, paper, store, provider: () => faultyProvider(venue, false) });
    await second.idle();
    return { second, venue, paper };
  }

  it('finds an order placed just before the crash and does not place it again', async () => {
    const { second, venue, paper } = await crashDuringPlacement('hang-after-placing');
    expect(venue.createCalls).toBe(1);
    expect(await paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    expect(statuses(second.updates, 'crash-1').at(-1)).toBe('filled');
  });

  it('asks the venue before placing an intent from before its start that it has no record of', async () => {
    const clock = new VirtualClock(T0);
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 } });
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
    const venue = new FaultyVenue(paper);
    const intent: Request = { clientOrderId: 'sent-before', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'exit', timestamp: clock.now() };
    const first = await rig({ mode: 'live' }, { clock, paper, provider: () => faultyProvider(venue, true) });
    first.system.bus.publish('order.requested', intent);
    await first.idle();
    await first.stop();
    expect(venue.createCalls).toBe(1);
    // A new executor whose store lost the record (a new machine, a store moved aside) gets the
    // same intent again, e.g. from a manager that never heard the answer.
    clock.advanceBy(1_000);
    const second = await rig({ mode: 'live' }, { clock, paper, provider: () => faultyProvider(venue, true) });
    second.system.bus.publish('order.requested', intent);
    await second.idle();
    expect(venue.createCalls).toBe(1);
    expect(await paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    expect(statuses(second.updates, 'sent-before').at(-1)).toBe('filled');
  });

  it('tells again, after a restart, what became of orders that finished just before it', async () => {
    const clock = new VirtualClock(T0);
    const store = new MemoryStateStore();
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 } });
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
    const venue = new FaultyVenue(paper);
    const first = await rig({ mode: 'live' }, { clock, paper, store, provider: () => faultyProvider(venue, true) });
    await first.request({ clientOrderId: 'recent' });
    clock.advanceBy(20 * 60_000);
    await first.request({ clientOrderId: 'later' });
    await first.stop();
    clock.advanceBy(60_000);
    const second = await rig({ mode: 'live', restateFinishedWithinMs: 600_000 }, { clock, paper, store, provider: () => faultyProvider(venue, true) });
    await second.idle();
    // Only the order that finished within the window, with every fill, marked as told before.
    expect(second.updates.map((u) => [u.clientOrderId, u.status, u.fills.length, u.restated])).toEqual([['later', 'filled', 1, true]]);
    expect(venue.createCalls).toBe(2);
    await second.stop();
    const third = await rig({ mode: 'live', restateFinishedWithinMs: 0 }, { clock, paper, store, provider: () => faultyProvider(venue, true) });
    await third.idle();
    expect(third.updates).toEqual([]);
  });

  it('places an order the venue never received, once', async () => {
    const { second, venue, paper } = await crashDuringPlacement('hang-before-placing');
    expect(venue.createCalls).toBe(2);
    expect(await paper.fetchMyTrades('BTC/USDT')).toHaveLength(1);
    expect(statuses(second.updates, 'crash-1').at(-1)).toBe('filled');
  });
});

describe('trade executor on a push venue: cost per event', () => {
  async function pushVenue(config: Partial<TradeExecutorConfigInput> = {}, store?: StateStore) {
    const clock = new VirtualClock(T0);
    const paper = new PaperExchange({ ...AT_ONCE, id: 'p', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 } });
    paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
    const venue = new FaultyVenue(paper);
    const r = await rig(
      { mode: 'live', pollIntervalMs: 1_000, unknownOutcomeTimeoutMs: 10_000, retry: { maxAttempts: 2, initialDelayMs: 100, maxDelayMs: 1_000, factor: 2 }, ...config },
      { clock, paper, provider: () => faultyProvider(venue, true), ...(store !== undefined ? { store } : {}) },
    );
    return { r, venue, clock };
  }

  it('runs no poll timer until an order has an unknown outcome, polls that order alone, and stops once none has', async () => {
    const { r, venue, clock } = await pushVenue();
    const quiet = clock.pendingTimers;
    await r.request({ clientOrderId: 'known' });
    expect(statuses(r.updates, 'known').at(-1)).toBe('filled');
    clock.advanceBy(60_000);
    await r.idle();
    expect(clock.pendingTimers).toBe(quiet);
    expect(venue.fetchCalls).toBe(0);

    venue.createFaults = ['lost-request', 'lost-request'];
    r.system.bus.publish('order.requested', { clientOrderId: 'lost', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: clock.now() });
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.advanceBy(100);
    }
    await r.idle();
    expect(r.ex.order('lost')!.outcomeUnknownSince).toBeDefined();
    expect(clock.pendingTimers).toBe(quiet + 1);
    const looked = venue.fetchCalls;
    clock.advanceBy(1_000);
    await r.idle();
    expect(venue.fetchCalls).toBe(looked + 1);

    for (let t = 0; t < 10; t++) {
      clock.advanceBy(1_000);
      await r.idle();
    }
    expect(statuses(r.updates, 'lost').at(-1)).toBe('rejected');
    expect(clock.pendingTimers).toBe(quiet);
    const settled = venue.fetchCalls;
    clock.advanceBy(60_000);
    await r.idle();
    expect(venue.fetchCalls).toBe(settled);
  });

  it('forgets the oldest finished orders as orders finish, so its store does not grow', async () => {
    const store = new MemoryStateStore();
    const { r } = await pushVenue({ keepFinishedOrders: 3 }, store);
    for (let i = 1; i <= 6; i++) await r.request({ clientOrderId: `done-${i}`, quantity: 0.1 });
    expect(statuses(r.updates, 'done-6').at(-1)).toBe('filled');
    expect((await store.keys()).sort()).toEqual(['order:done-4', 'order:done-5', 'order:done-6']);
    expect(r.ex.order('done-3')).toBeUndefined();
    expect(r.ex.order('done-4')).toMatchObject({ status: 'filled' });
  });

  it('says whether anything is queued, running or unsaved without waiting', async () => {
    const { r, clock } = await pushVenue();
    expect(r.ex.isIdle()).toBe(true);
    r.system.bus.publish('order.requested', { clientOrderId: 'busy', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 0.1, reduceOnly: false, purpose: 'entry', timestamp: clock.now() });
    expect(r.ex.isIdle()).toBe(false);
    await r.ex.whenIdle();
    expect(r.ex.isIdle()).toBe(true);
    expect(statuses(r.updates, 'busy').at(-1)).toBe('filled');
  });
});

describe('trade executor writes', () => {
  it('has the intent on disk before the venue call, and announces every change only once it is on disk too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-executor-'));
    const log = await StateLog.open({ dir, fsync: 'always' });
    try {
      const store = log.namespace('ex');
      let atVenueCall: { status?: string; syncs: number } | undefined;
      const onDisk = async (): Promise<{ status: string } | undefined> => {
        // What a restart would read: a fresh log over the same files.
        await log.flush();
        return (await store.get<{ status: string }>('order:once')) ?? undefined;
      };
      const r = await rig({ mode: 'live' }, {
        store,
        provider: (paper) => {
          const venue = new FaultyVenue(paper);
          const create = venue.createOrder.bind(venue);
          venue.createOrder = async (request) => {
            atVenueCall = { status: (await store.get<{ status: string }>('order:once'))?.status, syncs: log.stats().syncs };
            return create(request);
          };
          return faultyProvider(venue, true);
        },
      });
      // Bytes of state not yet durable when each update goes out: none, in this one-order run.
      const announced: Array<{ status: string; unsynced: number }> = [];
      r.system.bus.subscribe('order.updated', (e) => void announced.push({ status: e.payload.status, unsynced: log.stats().queuedBytes }));
      r.paper.onCandle({ symbol: 'BTC/USDT', timeframe: '5m', timestamp: T0 - 300_000, open: 100, high: 100, low: 100, close: 100, volume: 10, closed: true });
      const before = log.stats().syncs;
      const req = await r.request({ clientOrderId: 'once' });
      expect(atVenueCall).toEqual({ status: 'submitted', syncs: before + 1 });
      expect(statuses(r.updates, req.clientOrderId)).toEqual(['submitted', 'accepted', 'filled']);
      expect((await onDisk())?.status).toBe('filled');
      expect(announced).toEqual(['submitted', 'accepted', 'filled'].map((status) => ({ status, unsynced: 0 })));
      // The venue's answers (accepted, then filled) are written in one turn and share one sync.
      expect(log.stats().syncs - before).toBe(2);
      expect(await store.get('order:once')).toMatchObject({ status: 'filled', filledQuantity: 1, fills: [expect.objectContaining({ price: 100 })] });
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
