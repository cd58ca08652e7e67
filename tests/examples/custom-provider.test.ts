import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WallClock, createSystem, type CandleEvent } from '@tradebus/core';
import priceWatchdog from '@tradebus/agent-price-watchdog';
import {
  BadResponseError,
  BadSymbolError,
  ExchangeUnavailableError,
  InsufficientFundsError,
  NetworkError,
  NotSupportedError,
  OrderNotFoundError,
  PaperExchange,
  ProviderError,
  RateLimitError,
  type Candle,
  type OrderRequest,
} from '@tradebus/providers';
import { startDemoVenue, type DemoVenue } from '../../examples/custom-provider/src/demo-venue.js';
import { DemoVenueProvider } from '../../examples/custom-provider/src/demo-venue-provider.js';
import { startExample, type RunningExample } from '../../examples/custom-provider/src/run.js';
import { until } from './support.js';

// examples/custom-provider and the guide docs/writing-a-provider.md: a provider of one's own,
// against a venue on 127.0.0.1, used by the built-in agents.
const FIVE_MINUTES = 300_000;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function venueAndProvider(options: { timeoutMs?: number; stepMs?: number } = {}): Promise<{ venue: DemoVenue; provider: DemoVenueProvider }> {
  const venue = await startDemoVenue({ historyBars: 50, stepMs: options.stepMs ?? 20, stepsPerBar: 2 });
  cleanups.push(() => venue.close());
  const provider = new DemoVenueProvider({ id: 'demo', baseUrl: venue.url, pollIntervalMs: 25, timeoutMs: options.timeoutMs ?? 2_000 });
  cleanups.push(() => provider.close());
  return { venue, provider };
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err) {
    return err as ProviderError;
  }
  throw new Error('expected the call to fail');
}

const posts = (venue: DemoVenue): number => venue.requests.filter((r) => r.startsWith('POST /api/orders')).length;
const buy = (clientOrderId: string, quantity = 0.5): OrderRequest => ({ clientOrderId, symbol: 'ETH/BTC', side: 'buy', type: 'market', quantity, reduceOnly: false });

describe('examples/custom-provider', () => {
  it('feeds the price watchdog in a createSystem: candle.closed once per bar, exactly the venue’s bars', async () => {
    const { venue, provider } = await venueAndProvider();
    const system = createSystem({
      // A provider is a named service; the watchdog's config names it.
      services: { 'provider:demo': provider },
      agents: [{ id: 'prices', definition: priceWatchdog, config: { provider: 'demo', symbols: ['eth-btc'], timeframes: ['5m'], ticks: false } }],
    });
    cleanups.push(() => system.stop());
    const closed: CandleEvent[] = [];
    const forming: CandleEvent[] = [];
    const bus = system.createBus('test');
    bus.subscribe('candle.closed', (e) => void closed.push(e.payload));
    bus.subscribe('candle.updated', (e) => void forming.push(e.payload));
    await system.start();
    await until('ten closed bars', async () => (closed.length >= 10 ? true : undefined), 20_000);
    await system.stop();

    // Real ETH/BTC candles from examples/data, as the venue served them, under the unified symbol.
    const served = new Map(venue.closedBars().map((b) => [b.t, b]));
    for (const [i, bar] of closed.entries()) {
      const source = served.get(bar.timestamp)!;
      expect(bar).toEqual({ symbol: 'ETH/BTC', timeframe: '5m', timestamp: source.t, open: source.o, high: source.h, low: source.l, close: source.c, volume: source.v });
      if (i > 0) expect(bar.timestamp - closed[i - 1]!.timestamp).toBe(FIVE_MINUTES);
    }
    // Forming updates come before their bar closes, and never after.
    expect(forming.length).toBeGreaterThan(0);
    for (const update of forming) {
      const close = closed.find((c) => c.timestamp === update.timestamp);
      if (close !== undefined) expect(update.high).toBeLessThanOrEqual(close.high);
    }
    expect(system.agent('prices').state).toBe('stopped');
  });

  it('runs tradebus.yaml from code: the built-in agents trade on the venue through the provider', { timeout: 60_000 }, async () => {
    const example: RunningExample = await startExample({
      env: { TRADEBUS_API_PORT: '0', TRADEBUS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tradebus-example-custom-provider-')), TRADEBUS_API_TOKEN: 'custom-provider-example-token' },
      // The strategy's first long on this data comes 28 bars after this start.
      venue: { historyBars: 120, stepMs: 40, stepsPerBar: 2 },
      pollIntervalMs: 50,
    });
    cleanups.push(() => example.stop());
    const requested: string[] = [];
    const filled: Array<{ clientOrderId: string; venueOrderId?: string | undefined }> = [];
    const bus = example.running.system.createBus('test');
    const placeable: string[] = [];
    const rejectedTypes = new Set<string>();
    bus.subscribe('order.requested', (e) => {
      requested.push(e.payload.clientOrderId);
      if (e.payload.type === 'market' || e.payload.type === 'limit') placeable.push(e.payload.clientOrderId);
    });
    bus.subscribe('order.updated', (e) => {
      if (e.payload.status === 'rejected') rejectedTypes.add(e.payload.type);
    });
    bus.subscribe('order.updated', (e) => {
      if (e.payload.status === 'filled') filled.push({ clientOrderId: e.payload.clientOrderId, venueOrderId: e.payload.venueOrderId });
    });

    // A signal on real candles becomes an order intent, and the executor places it on the venue.
    const first = await until('a filled order', async () => filled[0], 45_000);
    expect(requested).toContain(first.clientOrderId);
    const atVenue = await example.provider.fetchOrder(first.clientOrderId, 'ETH/BTC');
    expect(atVenue).toMatchObject({ clientOrderId: first.clientOrderId, venueOrderId: first.venueOrderId, status: 'filled' });
    // One POST per client order id: nothing was placed twice. The entry's stop and target go no
    // further than the provider, which refuses trigger orders before calling the venue (the
    // manager then watches those levels itself).
    const posted = example.venue.requests.filter((r) => r.startsWith('POST /api/orders')).length;
    expect(posted).toBe(new Set(placeable).size);
    expect(rejectedTypes.size === 0 || [...rejectedTypes].every((t) => t !== 'market' && t !== 'limit')).toBe(true);

    const status = (await (await fetch(`${example.running.apiUrl}/agents/status`)).json()) as { agents: Array<{ agentId: string; status: string }> };
    expect(status.agents.map((a) => [a.agentId, a.status]).sort()).toEqual([
      ['executor', 'ok'],
      ['manager', 'ok'],
      ['prices', 'ok'],
      ['strategies', 'ok'],
    ]);
  });

  it('drives a paper exchange built in code, as the guide shows', async () => {
    // A market that stands still, so the price the paper exchange fills at is known.
    const { provider } = await venueAndProvider({ stepMs: 3_600_000 });
    const paper = new PaperExchange({ id: 'paper', clock: new WallClock(), quoteCurrency: 'BTC', balances: { BTC: 1 }, symbols: ['ETH/BTC'] });
    const feed = new AbortController();
    paper.linkMarketData(provider, () => feed.abort());
    const fed = paper.attach(provider, ['ETH/BTC'], feed.signal, '5m');
    let attempt = 0;
    const order = await until('a fill on the paper exchange', async () => {
      // Refused until the first tick is in: the exchange has no price before.
      const placed = await paper.createOrder({ clientOrderId: `paper-${attempt++}`, symbol: 'ETH/BTC', side: 'buy', type: 'market', quantity: 1, reduceOnly: false });
      return placed.status === 'filled' ? placed : undefined;
    });
    const ticker = await provider.fetchTicker('ETH/BTC');
    expect(order.averagePrice).toBe(ticker.ask);
    expect((await paper.fetchBalances()).find((b) => b.asset === 'ETH')?.total).toBe(1);
    await paper.close();
    await fed;
    expect(feed.signal.aborted).toBe(true);
  });

  describe('the provider contracts', () => {
    it('createOrder is idempotent on clientOrderId, also after a timeout whose outcome was unknown', async () => {
      const { venue, provider } = await venueAndProvider({ timeoutMs: 300 });
      const a = await provider.createOrder(buy('demo-1'));
      const again = await provider.createOrder(buy('demo-1'));
      expect(again.venueOrderId).toBe(a.venueOrderId);
      expect(a).toMatchObject({ clientOrderId: 'demo-1', symbol: 'ETH/BTC', status: 'filled', filledQuantity: 0.5, remainingQuantity: 0 });
      expect(posts(venue)).toBe(1);

      // The venue takes the order but answers too late: the outcome is unknown.
      venue.failNext({ delayMs: 800 }, { method: 'POST' });
      const lost = await failure(provider.createOrder(buy('demo-2')));
      expect(lost).toBeInstanceOf(NetworkError);
      expect(lost).toMatchObject({ retryable: true, outcomeUnknown: true });
      // Repeating the same request finds the order instead of placing a second one.
      const found = await provider.createOrder(buy('demo-2'));
      expect(found).toMatchObject({ clientOrderId: 'demo-2', status: 'filled' });
      expect(posts(venue)).toBe(2);
      // A second provider (a restarted process) also finds it by client order id.
      const restarted = new DemoVenueProvider({ baseUrl: venue.url });
      expect((await restarted.createOrder(buy('demo-2'))).venueOrderId).toBe(found.venueOrderId);
      expect(posts(venue)).toBe(2);
    });

    it('fetchOrder by client id, cancel, balances and own trades', async () => {
      const { provider } = await venueAndProvider();
      expect(await provider.fetchOrder('never-placed', 'ETH/BTC')).toBeUndefined();
      const missing = await failure(provider.cancelOrder('never-placed', 'ETH/BTC'));
      expect(missing).toBeInstanceOf(OrderNotFoundError);
      expect(missing.retryable).toBe(false);

      const before = await provider.fetchBalances();
      const order = await provider.createOrder(buy('demo-3', 1.25));
      const after = await provider.fetchBalances();
      expect(after.find((b) => b.asset === 'ETH')).toMatchObject({ free: 1.25, used: 0, total: 1.25 });
      const spent = before.find((b) => b.asset === 'BTC')!.total - after.find((b) => b.asset === 'BTC')!.total;
      expect(spent).toBeCloseTo(1.25 * order.averagePrice! + order.fee, 10);
      const trades = await provider.fetchMyTrades('ETH/BTC');
      expect(trades).toEqual([expect.objectContaining({ clientOrderId: 'demo-3', side: 'buy', quantity: 1.25, price: order.averagePrice, fee: order.fee, liquidity: 'taker' })]);

      // A resting limit order can be cancelled, and its funds come back.
      const resting = await provider.createOrder({ clientOrderId: 'demo-4', symbol: 'ETH/BTC', side: 'buy', type: 'limit', price: 0.001, quantity: 1, reduceOnly: false });
      expect(resting.status).toBe('accepted');
      expect((await provider.fetchOpenOrders('ETH/BTC')).map((o) => o.clientOrderId)).toEqual(['demo-4']);
      expect((await provider.cancelOrder('demo-4', 'ETH/BTC')).status).toBe('cancelled');
      expect((await provider.fetchBalances()).find((b) => b.asset === 'BTC')!.used).toBeCloseTo(0, 12);
    });

    it('failures are ProviderErrors that say whether to retry', async () => {
      const { venue, provider } = await venueAndProvider();
      venue.failNext({ status: 503, body: '<html>maintenance</html>' });
      const down = await failure(provider.fetchTicker('ETH/BTC'));
      expect(down).toBeInstanceOf(ExchangeUnavailableError);
      expect(down).toMatchObject({ retryable: true, outcomeUnknown: false });

      venue.failNext({ status: 502 }, { method: 'POST' });
      const downOnOrder = await failure(provider.createOrder(buy('demo-5')));
      expect(downOnOrder).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', outcomeUnknown: true });

      venue.failNext({ status: 429, headers: { 'retry-after': '2' } });
      const limited = await failure(provider.fetchTicker('ETH/BTC'));
      expect(limited).toBeInstanceOf(RateLimitError);
      expect((limited as RateLimitError).retryAfterMs).toBe(2_000);

      venue.failNext({ status: 200, body: '{"market":"ETH-BTC","last":' });
      expect(await failure(provider.fetchTicker('ETH/BTC'))).toBeInstanceOf(BadResponseError);
      venue.failNext({ status: 200, body: '{"market":"ETH-BTC","last":"cheap","bid":"1","ask":"1","time":1}' });
      const shape = await failure(provider.fetchTicker('ETH/BTC'));
      expect(shape).toBeInstanceOf(BadResponseError);
      expect(shape.message).toContain('last: expected a decimal string');

      const funds = await failure(provider.createOrder(buy('demo-6', 1_000)));
      expect(funds).toBeInstanceOf(InsufficientFundsError);
      expect(funds.retryable).toBe(false);

      const symbol = await failure(provider.fetchTicker('ETH/BTX'));
      expect(symbol).toBeInstanceOf(BadSymbolError);
      expect(symbol.message).toContain("Did you mean 'ETH/BTC'");

      const requestsBefore = venue.requests.length;
      const stop = await failure(provider.createOrder({ ...buy('demo-7'), type: 'stop_market', stopPrice: 0.2 }));
      expect(stop).toBeInstanceOf(NotSupportedError);
      expect(venue.requests.length).toBe(requestsBefore);
    });

    it('streams survive a retryable failure and end without throwing when their signal aborts or the provider closes', async () => {
      const { venue, provider } = await venueAndProvider();
      const controller = new AbortController();
      const candles = provider.watchCandles('ETH/BTC', '5m', controller.signal)[Symbol.asyncIterator]();
      const seen: Candle[] = [(await candles.next()).value as Candle];
      venue.failNext({ status: 503 }, { count: 2 });
      while (!seen.some((c) => c.closed)) seen.push((await candles.next()).value as Candle);
      controller.abort();
      expect(await candles.next()).toEqual({ done: true, value: undefined });

      const ticks = provider.watchTicks('ETH/BTC', new AbortController().signal)[Symbol.asyncIterator]();
      expect(((await ticks.next()).value as { symbol: string }).symbol).toBe('ETH/BTC');
      const pending = ticks.next();
      await provider.close();
      expect(await pending).toEqual({ done: true, value: undefined });
    });
  });
});
