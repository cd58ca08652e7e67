import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type StateStore, type TradebusSystem } from '@tradebus/core';
import {
  ExchangeUnavailableError,
  InsufficientFundsError,
  InvalidOrderError,
  NetworkError,
  RateLimitError,
  PaperExchange,
  type Candle,
  type ExecutionProvider,
  type Order,
  type OrderRequest,
  type Provider,
  type Tick,
} from '@tradebus/providers';
import { afterEach, describe, expect, it } from 'vitest';
import { adverseSlippageBps, agent, tradeExecutorConfigSchema, venueOutcomeOf, type TradeExecutorAgent, type TradeExecutorConfigInput } from './index.js';

const T0 = Date.UTC(2024, 0, 1);
const BAR = 300_000;

type Update = BuiltinEvents['order.updated'];
type Request = BuiltinEvents['order.requested'];
type Alert = BuiltinEvents['system.alert'];

/** A real paper exchange behind a wrapper that throws for the next calls that place or cancel orders. */
class FlakyVenue implements ExecutionProvider {
  readonly id = 'flaky';
  private readonly faults: Array<() => Error> = [];
  createCalls = 0;

  constructor(readonly paper: PaperExchange) {}

  /** The next `n` placements or cancels throw what `make` builds; the venue never sees them. */
  failNext(n: number, make: () => Error = () => new NetworkError('flaky', 'connect ETIMEDOUT')): void {
    for (let i = 0; i < n; i++) this.faults.push(make);
  }

  private fault(): void {
    const make = this.faults.shift();
    if (make !== undefined) throw make();
  }

  async createOrder(request: OrderRequest): Promise<Order> {
    this.createCalls++;
    this.fault();
    return this.paper.createOrder(request);
  }
  async cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    this.fault();
    return this.paper.cancelOrder(clientOrderId, symbol);
  }
  fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined> {
    return this.paper.fetchOrder(clientOrderId, symbol);
  }
  fetchOpenOrders(symbol?: string): Promise<Order[]> {
    return this.paper.fetchOpenOrders(symbol);
  }
  fetchMyTrades(symbol: string, since?: number, limit?: number) {
    return this.paper.fetchMyTrades(symbol, since, limit);
  }
}

function flakyProvider(venue: FlakyVenue): Provider {
  const provider = {
    id: 'flaky',
    kind: 'paper' as const,
    venue: 'paper',
    execution: venue,
    account: venue.paper,
    events: venue.paper,
    onCandle: (c: Candle) => venue.paper.onCandle(c),
    onTick: (t: Tick) => venue.paper.onTick(t),
    close: async () => undefined,
  };
  return provider;
}

interface Rig {
  system: TradebusSystem;
  clock: VirtualClock;
  venue: FlakyVenue;
  ex: TradeExecutorAgent;
  updates: Update[];
  alerts: Alert[];
  request(over?: Partial<Request>): Promise<Request>;
  candle(symbol: string, open: number, close: number): Promise<void>;
  command(action: BuiltinEvents['risk.command']['action']): Promise<void>;
  stop(): Promise<void>;
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.stop().catch(() => undefined);
  rigs = [];
});

let seq = 0;

async function rig(
  config: Partial<TradeExecutorConfigInput>,
  options: { store?: StateStore; clock?: VirtualClock; paper?: PaperExchange; marketFill?: 'close' | 'next_open' } = {},
): Promise<Rig> {
  const clock = options.clock ?? new VirtualClock(T0);
  const paper =
    options.paper ??
    new PaperExchange({
      id: 'paper',
      clock,
      quoteCurrency: 'USDT',
      balances: { USDT: 100_000 },
      fees: { maker: 0, taker: 0 },
      spreadBps: 0,
      participation: 0,
      marketFillOnCandle: options.marketFill ?? 'close',
    });
  const venue = new FlakyVenue(paper);
  const store = options.store ?? new MemoryStateStore();
  const system = createSystem({
    clock,
    validateOnPublish: true,
    heartbeatIntervalMs: 24 * 3_600_000,
    stateStore: () => store,
    services: { 'provider:venue': flakyProvider(venue) },
    agents: [
      {
        id: 'ex',
        definition: agent,
        config: { provider: 'venue', mode: 'paper', retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 10, factor: 1 }, ...config },
      },
    ],
  });
  const updates: Update[] = [];
  const alerts: Alert[] = [];
  system.bus.subscribe('order.updated', (e) => void updates.push(e.payload));
  system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload));
  await system.start();
  const ex = system.agent<TradeExecutorAgent>('ex');
  const bars = new Map<string, number>();
  const r: Rig = {
    system,
    clock,
    venue,
    ex,
    updates,
    alerts,
    async request(over = {}) {
      const req: Request = {
        clientOrderId: `s${++seq}`,
        symbol: 'BTC/USDT',
        side: 'buy',
        type: 'market',
        quantity: 1,
        reduceOnly: false,
        purpose: 'entry',
        timestamp: clock.now(),
        ...over,
      };
      system.bus.publish('order.requested', req);
      await ex.whenIdle();
      return req;
    },
    async candle(symbol, open, close) {
      // The bar that opens now (or the next one for a symbol that had it): orders sent before it see it.
      const bar = Math.max(Math.floor(clock.now() / BAR) * BAR, (bars.get(symbol) ?? -Infinity) + BAR);
      bars.set(symbol, bar);
      if (clock.now() < bar + BAR) clock.advanceTo(bar + BAR);
      const high = Math.max(open, close);
      const low = Math.min(open, close);
      system.bus.publish('candle.closed', { symbol, timeframe: '5m', timestamp: bar, open, high, low, close, volume: 1_000 });
      await ex.whenIdle();
    },
    async command(action) {
      system.bus.publish('risk.command', { action, reason: 'checked the venue', by: 'operator', timestamp: clock.now() });
      await ex.whenIdle();
    },
    stop: async () => {
      await system.stop();
    },
  };
  rigs.push(r);
  return r;
}

const last = (updates: Update[], cid: string) => updates.filter((u) => u.clientOrderId === cid).at(-1);
const codes = (alerts: Alert[]) => alerts.map((a) => a.code).filter((c) => c.startsWith('VENUE_BREAKER') || c.startsWith('SLIPPAGE'));

describe('venue circuit breaker', () => {
  const breaker = { venueBreaker: { failures: 3, windowMs: 60_000, cooldownMs: 30_000 } };

  it('opens after consecutive venue failures, refuses entries while exits and stops still go out, probes after the cooldown and closes on success', async () => {
    const r = await rig(breaker);
    await r.candle('BTC/USDT', 100, 100);
    await r.request({ quantity: 2 });
    r.venue.failNext(3);
    for (let i = 0; i < 2; i++) await r.request();
    expect(codes(r.alerts)).toEqual([]);
    const third = await r.request();
    expect(last(r.updates, third.clientOrderId)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/network failure/) });
    const opened = r.clock.now();
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN']);
    expect(r.alerts.at(-1)).toMatchObject({ level: 'error', agentId: 'ex', details: { to: 'open', failures: 3, probeAt: opened + 30_000 } });

    // Entries are refused without a venue call, with a reason that says when the venue is probed.
    const calls = r.venue.createCalls;
    const refused = await r.request();
    expect(last(r.updates, refused.clientOrderId)).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining(`circuit breaker is open after 3 consecutive venue failures`),
    });
    expect(last(r.updates, refused.clientOrderId)!.reason).toContain(new Date(opened + 30_000).toISOString());
    expect(r.venue.createCalls).toBe(calls);

    // Exits and protective orders are never held back.
    const exit = await r.request({ side: 'sell', quantity: 1, reduceOnly: true, purpose: 'exit' });
    expect(last(r.updates, exit.clientOrderId)).toMatchObject({ status: 'filled', filledQuantity: 1 });
    const stop = await r.request({ side: 'sell', type: 'stop_market', stopPrice: 90, quantity: 1, reduceOnly: true, purpose: 'stop_loss' });
    expect(last(r.updates, stop.clientOrderId)?.status).toBe('accepted');
    expect(r.venue.createCalls).toBe(calls + 2);
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN']);

    // The cooldown ends on the agent's clock: half-open without waiting for a request.
    r.clock.advanceBy(29_999);
    await r.ex.whenIdle();
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN']);
    r.clock.advanceBy(1);
    await r.ex.whenIdle();
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN', 'VENUE_BREAKER_HALF_OPEN']);
    expect(r.alerts.at(-1)).toMatchObject({ level: 'info' });

    const probe = await r.request();
    expect(last(r.updates, probe.clientOrderId)?.status).toBe('filled');
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN', 'VENUE_BREAKER_HALF_OPEN', 'VENUE_BREAKER_CLOSED']);
    expect(r.alerts.at(-1)).toMatchObject({ level: 'info', details: { from: 'half_open', to: 'closed' } });
    const after = await r.request();
    expect(last(r.updates, after.clientOrderId)?.status).toBe('filled');
  });

  it('opens again for another cooldown when the probe fails', async () => {
    const r = await rig(breaker);
    await r.candle('BTC/USDT', 100, 100);
    r.venue.failNext(3);
    for (let i = 0; i < 3; i++) await r.request();
    r.clock.advanceBy(30_000);
    await r.ex.whenIdle();
    r.venue.failNext(1);
    const probe = await r.request();
    expect(last(r.updates, probe.clientOrderId)?.status).toBe('rejected');
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN', 'VENUE_BREAKER_HALF_OPEN', 'VENUE_BREAKER_OPEN']);
    expect(r.alerts.at(-1)).toMatchObject({ details: { from: 'half_open', to: 'open', probeAt: r.clock.now() + 30_000 } });
    const refused = await r.request();
    expect(last(r.updates, refused.clientOrderId)?.reason).toMatch(/circuit breaker is open/);
  });

  it('does not count business rejections, and forgets failures older than its window', async () => {
    const r = await rig(breaker);
    await r.candle('BTC/USDT', 100, 100);
    r.venue.failNext(2);
    r.venue.failNext(1, () => new InsufficientFundsError('flaky', 'balance too low'));
    r.venue.failNext(2);
    for (let i = 0; i < 5; i++) await r.request();
    const rejected = r.updates.filter((u) => u.status === 'rejected');
    expect(rejected).toHaveLength(5);
    expect(rejected[2]!.reason).toMatch(/insufficient funds/);
    // Two failures, a refusal that shows the venue answers, two failures: never three in a row.
    expect(codes(r.alerts)).toEqual([]);
    r.clock.advanceBy(60_000);
    r.venue.failNext(1);
    await r.request();
    expect(codes(r.alerts)).toEqual([]);
    const placed = await r.request();
    expect(last(r.updates, placed.clientOrderId)?.status).toBe('filled');
  });

  it('lets an exit be the probe of a half-open breaker', async () => {
    const r = await rig(breaker);
    await r.candle('BTC/USDT', 100, 100);
    await r.request({ quantity: 2 });
    r.venue.failNext(3);
    for (let i = 0; i < 3; i++) await r.request();
    r.clock.advanceBy(30_000);
    await r.ex.whenIdle();
    const exit = await r.request({ side: 'sell', quantity: 1, reduceOnly: true, purpose: 'exit' });
    expect(last(r.updates, exit.clientOrderId)?.status).toBe('filled');
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN', 'VENUE_BREAKER_HALF_OPEN', 'VENUE_BREAKER_CLOSED']);
  });

  it('reads venue failures from the error: outages and unreadable answers count, refusals show the venue answers, rate limits say neither', () => {
    expect(venueOutcomeOf(new NetworkError('x', 'request timed out', { outcomeUnknown: true }))).toBe('failed');
    expect(venueOutcomeOf(new ExchangeUnavailableError('x', 'maintenance'))).toBe('failed');
    expect(venueOutcomeOf(new Error('socket hang up'))).toBe('failed');
    expect(venueOutcomeOf(new InvalidOrderError('x', 'size below minimum'))).toBe('answered');
    expect(venueOutcomeOf(new InsufficientFundsError('x', 'balance too low'))).toBe('answered');
    expect(venueOutcomeOf(new RateLimitError('x', '429'))).toBe('neutral');
  });

  it('opens on the threshold set while running, counting from then on', async () => {
    const r = await rig({ venueBreaker: { failures: 0 } });
    await r.candle('BTC/USDT', 100, 100);
    r.venue.failNext(3);
    for (let i = 0; i < 3; i++) await r.request();
    expect(codes(r.alerts)).toEqual([]);
    await r.ex.reconfigure(tradeExecutorConfigSchema.parse({
        provider: 'venue',
        mode: 'paper',
        retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 10, factor: 1 },
        venueBreaker: { failures: 2, windowMs: 60_000, cooldownMs: 30_000 },
      }));
    r.venue.failNext(2);
    for (let i = 0; i < 2; i++) await r.request();
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN']);
    expect(r.alerts.find((a) => a.code === 'VENUE_BREAKER_OPEN')?.details).toMatchObject({ failures: 2 });
  });

  it('counts failed cancels too, and stays out of the way when turned off', async () => {
    const r = await rig({ venueBreaker: { failures: 2, windowMs: 60_000, cooldownMs: 30_000 } });
    await r.candle('BTC/USDT', 100, 100);
    const resting = [await r.request({ type: 'limit', price: 90 }), await r.request({ type: 'limit', price: 91 })];
    r.venue.failNext(2);
    for (const order of resting) {
      r.system.bus.publish('order.cancel_requested', { clientOrderId: order.clientOrderId, symbol: 'BTC/USDT', reason: 'signal gone', timestamp: r.clock.now() });
      await r.ex.whenIdle();
    }
    expect(codes(r.alerts)).toEqual(['VENUE_BREAKER_OPEN']);
    expect(r.alerts.find((a) => a.code === 'VENUE_BREAKER_OPEN')?.details).toMatchObject({ failures: 2 });

    const off = await rig({ venueBreaker: { failures: 0 } });
    await off.candle('BTC/USDT', 100, 100);
    // More failures in a row than the default would allow (within the venue's burst of 10 calls).
    off.venue.failNext(6);
    for (let i = 0; i < 6; i++) await off.request();
    const placed = await off.request();
    expect(last(off.updates, placed.clientOrderId)?.status).toBe('filled');
    expect(codes(off.alerts)).toEqual([]);
  });
});

describe('slippage guard', () => {
  const guard = { slippageGuard: { expectedBps: 10, multiple: 5, haltMs: 0 } };

  it('measures adverse slippage as the definition says, for buys and sells', () => {
    // Paid 101 where 100 was expected: 1 % worse = 100 bps; selling at 99 is as bad; better fills are negative.
    expect(adverseSlippageBps('buy', 100, 101)).toBeCloseTo(((101 - 100) / 100) * 1e4, 9);
    expect(adverseSlippageBps('sell', 100, 99)).toBeCloseTo(((100 - 99) / 100) * 1e4, 9);
    expect(adverseSlippageBps('sell', 100, 101)).toBeCloseTo(-100, 9);
  });

  it('halts entries on a symbol after one bad fill, lets other symbols trade and exits go, and lifts the halt on resume', async () => {
    // Market orders fill at the next bar's open: a gap between the close the executor last saw and
    // that open is the slippage.
    const r = await rig(guard, { marketFill: 'next_open' });
    await r.candle('BTC/USDT', 100, 100);
    await r.candle('ETH/USDT', 50, 50);
    const entry = await r.request({ quantity: 2 });
    await r.candle('BTC/USDT', 103, 103);
    const filled = last(r.updates, entry.clientOrderId)!;
    expect(filled.status).toBe('filled');
    const fillPrice = filled.fills[0]!.price;
    const expectedBps = ((fillPrice - 100) / 100) * 1e4;
    expect(expectedBps).toBeGreaterThan(10 * 5);
    expect(codes(r.alerts)).toEqual(['SLIPPAGE_HALT']);
    const halt = r.alerts.find((a) => a.code === 'SLIPPAGE_HALT')!;
    expect(halt.details).toMatchObject({ symbol: 'BTC/USDT', clientOrderId: entry.clientOrderId, referencePrice: 100, fillPrice, limitBps: 50 });
    expect(halt.details!['slippageBps']).toBeCloseTo(expectedBps, 9);

    const refused = await r.request();
    expect(last(r.updates, refused.clientOrderId)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/slippage guard: new entries on BTC\/USDT are halted until a risk.command resume/) });

    // Another symbol trades; its fill at the price it was sent at does not halt it.
    const eth = await r.request({ symbol: 'ETH/USDT' });
    await r.candle('ETH/USDT', 50, 50);
    expect(last(r.updates, eth.clientOrderId)?.status).toBe('filled');

    // An exit on the halted symbol goes out and fills.
    const exit = await r.request({ side: 'sell', quantity: 1, reduceOnly: true, purpose: 'exit' });
    await r.candle('BTC/USDT', 103, 103);
    expect(last(r.updates, exit.clientOrderId)?.status).toBe('filled');
    expect(codes(r.alerts)).toEqual(['SLIPPAGE_HALT']);

    await r.command('resume');
    expect(codes(r.alerts)).toEqual(['SLIPPAGE_HALT', 'SLIPPAGE_HALT_LIFTED']);
    const again = await r.request();
    await r.candle('BTC/USDT', 103, 103);
    expect(last(r.updates, again.clientOrderId)?.status).toBe('filled');
  });

  it('measures against the limit or stop price when the order has one, and lifts a timed halt by itself', async () => {
    const r = await rig({ slippageGuard: { expectedBps: 10, multiple: 5, haltMs: 600_000 } });
    await r.candle('BTC/USDT', 100, 100);
    await r.request({ quantity: 2 });
    // A stop at 99 that the bar gaps through to 95: the fill is judged against the trigger, not the last close.
    const stop = await r.request({ side: 'sell', type: 'stop_market', stopPrice: 99, quantity: 1, reduceOnly: true, purpose: 'stop_loss' });
    await r.candle('BTC/USDT', 95, 95);
    const filled = last(r.updates, stop.clientOrderId)!;
    expect(filled.status).toBe('filled');
    const fillPrice = filled.fills[0]!.price;
    const halt = r.alerts.find((a) => a.code === 'SLIPPAGE_HALT')!;
    expect(halt.details).toMatchObject({ referencePrice: 99, until: r.clock.now() + 600_000 });
    expect(halt.details!['slippageBps']).toBeCloseTo(((99 - fillPrice) / 99) * 1e4, 9);

    const refused = await r.request();
    expect(last(r.updates, refused.clientOrderId)?.reason).toMatch(/slippage guard/);
    r.clock.advanceBy(600_000);
    const placed = await r.request();
    expect(last(r.updates, placed.clientOrderId)?.status).toBe('filled');
    expect(codes(r.alerts)).toEqual(['SLIPPAGE_HALT', 'SLIPPAGE_HALT_LIFTED']);
  });
});

describe('venue safety across a restart', () => {
  it('keeps the open breaker and the halted symbols in one record, and reset_breakers lifts both', async () => {
    const clock = new VirtualClock(T0);
    const store = new MemoryStateStore();
    const config = { venueBreaker: { failures: 2, windowMs: 60_000, cooldownMs: 300_000 }, slippageGuard: { expectedBps: 10, multiple: 5, haltMs: 0 } };
    const first = await rig(config, { clock, store, marketFill: 'next_open' });
    await first.candle('ETH/USDT', 50, 50);
    await first.request({ symbol: 'ETH/USDT' });
    await first.candle('ETH/USDT', 52, 52);
    first.venue.failNext(2);
    await first.request();
    await first.request();
    expect(codes(first.alerts)).toEqual(['SLIPPAGE_HALT', 'VENUE_BREAKER_OPEN']);
    await first.stop();
    expect(await store.keys()).toContain('venue-safety');

    clock.advanceBy(60_000);
    const second = await rig(config, { clock, store, paper: first.venue.paper });
    const btc = await second.request();
    expect(last(second.updates, btc.clientOrderId)?.reason).toMatch(/circuit breaker is open/);
    await second.command('reset_breakers');
    expect(codes(second.alerts)).toEqual(['SLIPPAGE_HALT_LIFTED', 'VENUE_BREAKER_CLOSED']);
    await second.candle('ETH/USDT', 52, 52);
    const eth = await second.request({ symbol: 'ETH/USDT' });
    await second.candle('ETH/USDT', 52, 52);
    expect(last(second.updates, eth.clientOrderId)?.status).toBe('filled');
    expect(await store.get('venue-safety')).toEqual({ breaker: { state: 'closed', failures: [] }, halts: {} });
  });

  it('probes at once after a restart that outlasted the cooldown', async () => {
    const clock = new VirtualClock(T0);
    const store = new MemoryStateStore();
    const config = { venueBreaker: { failures: 2, windowMs: 60_000, cooldownMs: 30_000 } };
    const first = await rig(config, { clock, store });
    await first.candle('BTC/USDT', 100, 100);
    first.venue.failNext(2);
    await first.request();
    await first.request();
    await first.stop();
    expect(codes(first.alerts)).toEqual(['VENUE_BREAKER_OPEN']);

    clock.advanceBy(60_000);
    const second = await rig(config, { clock, store, paper: first.venue.paper });
    await second.ex.whenIdle();
    expect(codes(second.alerts)).toEqual(['VENUE_BREAKER_HALF_OPEN']);
    const probe = await second.request();
    expect(last(second.updates, probe.clientOrderId)?.status).toBe('filled');
    expect(codes(second.alerts)).toEqual(['VENUE_BREAKER_HALF_OPEN', 'VENUE_BREAKER_CLOSED']);
  });
});
