import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ccxt from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import {
  AuthenticationError,
  BadResponseError,
  ExchangeUnavailableError,
  InsufficientFundsError,
  InvalidOrderError,
  NetworkError,
  OrderNotFoundError,
  ProviderError,
  RateLimitError,
} from '../errors.js';
import type { Candle, OrderRequest, Tick } from '../types.js';
import { CcxtProvider } from './provider.js';

// A Binance look-alike on 127.0.0.1: real HTTP through ccxt's fetch, rate limiter, signing,
// error handling and parsing, with the exchange's URLs pointed at the loopback server.

const dataDir = fileURLToPath(new URL('../../test-data/binance/', import.meta.url));
const recorded = JSON.parse(readFileSync(dataDir + 'responses.json', 'utf8'));

function tickSizeMarkets(): Record<string, any> {
  const markets = JSON.parse(readFileSync(dataDir + 'markets.json', 'utf8'));
  for (const m of Object.values<any>(markets)) {
    for (const key of ['amount', 'price', 'base', 'quote']) {
      if (typeof m.precision?.[key] === 'number') m.precision[key] = 10 ** -m.precision[key];
    }
  }
  return markets;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Raw text instead of JSON. */
  raw?: string;
  /** Never answer (until the server closes). */
  hang?: boolean;
  /** Answer after this many ms. */
  delayMs?: number;
}
interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: URLSearchParams;
}
type Route = (req: SeenRequest) => Reply | undefined;

const servers: Server[] = [];
const providers: CcxtProvider[] = [];

afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function venue(route: Route): Promise<{ base: string; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body: new URLSearchParams(data) };
      seen.push(request);
      const reply = route(request) ?? { status: 404, body: { code: -1, msg: 'not found' } };
      if (reply.hang) return;
      const send = (): void => {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.raw ?? JSON.stringify(reply.body ?? {}));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, seen };
}

function binanceAt(base: string, extra: Partial<ConstructorParameters<typeof CcxtProvider>[0]> = {}, timeout = 2_000): CcxtProvider {
  const exchange = new ccxt.binance({ apiKey: 'test-key', secret: 'test-secret', markets: tickSizeMarkets(), timeout, enableRateLimit: true, rateLimit: 1 });
  const api = exchange.urls['api'] as Record<string, string>;
  for (const key of Object.keys(api)) api[key] = base + new URL(api[key]!).pathname;
  const p = new CcxtProvider({ id: 'binance', exchange: 'binance', instance: exchange, ...extra });
  providers.push(p);
  return p;
}

const tickerBody = recorded.fetchTicker[0].httpResponse;
const limitBuy: OrderRequest = { clientOrderId: 'tb-0001', symbol: 'LTC/USDT', side: 'buy', type: 'limit', quantity: 0.2, price: 50, reduceOnly: false };

function catchErr(p: Promise<unknown>): Promise<ProviderError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as ProviderError,
  );
}

describe('CcxtProvider against a loopback Binance', () => {
  it('answers a ticker over real HTTP', async () => {
    const { base, seen } = await venue((r) => (r.path === '/api/v3/ticker/24hr' ? { body: tickerBody } : undefined));
    const t = await binanceAt(base).fetchTicker('BTC/USDT');
    expect(t.last).toBe(73369.84);
    expect(seen[0]!.query.get('symbol')).toBe('BTCUSDT');
  });

  it('a request that times out is a retryable network error; on createOrder the outcome is unknown', async () => {
    const { base } = await venue(() => ({ hang: true }));
    const p = binanceAt(base, { checkExistingBeforeCreate: false }, 300);
    const read = await catchErr(p.fetchTicker('BTC/USDT'));
    expect(read).toBeInstanceOf(NetworkError);
    expect(read).toMatchObject({ code: 'PROVIDER_NETWORK', retryable: true, outcomeUnknown: false });
    const write = await catchErr(p.createOrder(limitBuy));
    expect(write).toBeInstanceOf(NetworkError);
    expect(write.outcomeUnknown).toBe(true);
    expect(write.message).toContain('client order id');
    expect(write.cause).toBeInstanceOf(ccxt.RequestTimeout);
  });

  it('429 is a retryable rate limit with the venue’s Retry-After; 418 says the IP is banned', async () => {
    let status = 429;
    const { base } = await venue(() => ({ status, headers: { 'retry-after': '7' }, body: { code: -1003, msg: 'Too many requests.' } }));
    const p = binanceAt(base);
    const limited = await catchErr(p.fetchTicker('BTC/USDT'));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited).toMatchObject({ code: 'PROVIDER_RATE_LIMITED', retryable: true, retryAfterMs: 7_000 });
    status = 418;
    const banned = await catchErr(p.fetchTicker('BTC/USDT'));
    expect(banned).toBeInstanceOf(RateLimitError);
    expect(banned.details).toMatchObject({ banned: true });
    expect(banned.message).toContain('banned');
  });

  it('5xx answers are a retryable "venue unavailable"', async () => {
    for (const status of [500, 502, 503]) {
      const { base } = await venue(() => ({ status, raw: '<html>Bad gateway</html>', headers: { 'content-type': 'text/html' } }));
      const err = await catchErr(binanceAt(base).fetchTicker('BTC/USDT'));
      expect(err, `HTTP ${status}`).toBeInstanceOf(ExchangeUnavailableError);
      expect(err.retryable).toBe(true);
    }
  });

  it('malformed JSON is a retryable bad response, caught at the validation boundary', async () => {
    const { base } = await venue(() => ({ raw: '{"symbol":"BTCUSDT","lastPrice":"733' }));
    const err = await catchErr(binanceAt(base).fetchTicker('BTC/USDT'));
    expect(err).toBeInstanceOf(BadResponseError);
    expect(err).toMatchObject({ code: 'PROVIDER_BAD_RESPONSE', retryable: true });
    const { base: base2 } = await venue(() => ({ body: [[1, 'x']] }));
    const ohlcv = await catchErr(binanceAt(base2).fetchOHLCV('BTC/USDT', '1h'));
    expect(ohlcv).toBeInstanceOf(BadResponseError);
  });

  it('venue rejections map to non-retryable errors', async () => {
    const cases: Array<[Reply, new (...args: any[]) => ProviderError]> = [
      [{ status: 400, body: { code: -2010, msg: 'Account has insufficient balance for requested action.' } }, InsufficientFundsError],
      [{ status: 401, body: { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' } }, AuthenticationError],
      [{ status: 400, body: { code: -1013, msg: 'Filter failure: LOT_SIZE' } }, InvalidOrderError],
    ];
    for (const [reply, Class] of cases) {
      const { base } = await venue((r) => (r.method === 'POST' ? reply : undefined));
      const err = await catchErr(binanceAt(base, { checkExistingBeforeCreate: false }).createOrder(limitBuy));
      expect(err, JSON.stringify(reply.body)).toBeInstanceOf(Class);
      expect(err.retryable).toBe(false);
      expect(err.outcomeUnknown).toBe(false);
    }
  });

  it('an unknown order: fetchOrder gives undefined, cancelOrder throws OrderNotFoundError', async () => {
    const { base } = await venue((r) =>
      r.method === 'GET' ? { status: 400, body: { code: -2013, msg: 'Order does not exist.' } } : { status: 400, body: { code: -2011, msg: 'Unknown order sent.' } },
    );
    const p = binanceAt(base);
    expect(await p.fetchOrder('tb-missing', 'LTC/USDT')).toBeUndefined();
    const err = await catchErr(p.cancelOrder('tb-missing', 'LTC/USDT'));
    expect(err).toBeInstanceOf(OrderNotFoundError);
    expect(err.retryable).toBe(false);
  });

  describe('idempotent on clientOrderId', () => {
    async function fakeVenue(postDelayMs = 0) {
      const orders = new Map<string, Record<string, unknown>>();
      let nextId = 1000;
      const v = await venue((r) => {
        if (r.path !== '/api/v3/order') return undefined;
        if (r.method === 'GET') {
          const order = orders.get(r.query.get('origClientOrderId') ?? '');
          return order ? { body: order } : { status: 400, body: { code: -2013, msg: 'Order does not exist.' } };
        }
        if (r.method === 'POST') {
          const id = r.body.get('newClientOrderId')!;
          if (orders.has(id)) return { status: 400, body: { code: -2010, msg: 'Duplicate order sent.' } };
          const order = {
            symbol: r.body.get('symbol'),
            orderId: String(nextId++),
            orderListId: '-1',
            clientOrderId: id,
            transactTime: '1700000000000',
            time: '1700000000000',
            updateTime: '1700000000000',
            price: r.body.get('price') ?? '0',
            origQty: r.body.get('quantity'),
            executedQty: '0',
            cummulativeQuoteQty: '0',
            status: 'NEW',
            timeInForce: 'GTC',
            type: r.body.get('type'),
            side: r.body.get('side'),
            fills: [],
          };
          orders.set(id, order);
          return { body: order, delayMs: postDelayMs };
        }
        return undefined;
      });
      return { ...v, orders, posts: () => v.seen.filter((s) => s.method === 'POST').length };
    }

    it('a repeated createOrder returns the existing order; so does one after a restart', async () => {
      const v = await fakeVenue();
      const first = binanceAt(v.base);
      const a = await first.createOrder(limitBuy);
      const b = await first.createOrder(limitBuy);
      const afterRestart = await binanceAt(v.base).createOrder(limitBuy);
      expect(v.posts()).toBe(1);
      expect(a.venueOrderId).toBe('1000');
      expect(b.venueOrderId).toBe('1000');
      expect(afterRestart).toMatchObject({ venueOrderId: '1000', clientOrderId: 'tb-0001', status: 'accepted', quantity: 0.2, price: 50 });
    });

    it('after a timeout with unknown outcome, the retry finds the order instead of placing a second one', async () => {
      const v = await fakeVenue(600);
      const p = binanceAt(v.base, {}, 300);
      const err = await catchErr(p.createOrder(limitBuy));
      expect(err.outcomeUnknown).toBe(true);
      const retried = await p.createOrder(limitBuy);
      expect(retried.venueOrderId).toBe('1000');
      expect(v.posts()).toBe(1);
    });

    it('a Duplicate-order rejection resolves to the existing order', async () => {
      const v = await fakeVenue();
      v.orders.set('tb-0001', { ...recorded.fetchOrder[0].httpResponse, symbol: 'LTCUSDT', clientOrderId: 'tb-0001', orderId: '77' });
      const order = await binanceAt(v.base, { checkExistingBeforeCreate: false }).createOrder(limitBuy);
      expect(order.venueOrderId).toBe('77');
      expect(order.status).toBe('filled');
    });
  });

  describe('streams by polling when websockets are off', () => {
    /** Pulls one item, moving the virtual clock to the provider's next timer while it waits. */
    async function next<T>(it: AsyncIterator<T>, clock: VirtualClock): Promise<T> {
      let settled: IteratorResult<T> | undefined;
      let failure: unknown;
      it.next().then(
        (r) => (settled = r),
        (e: unknown) => (failure = e ?? new Error('rejected')),
      );
      for (let spins = 0; settled === undefined && failure === undefined; spins++) {
        if (spins > 2_000) throw new Error('stream produced nothing');
        await new Promise((r) => setTimeout(r, 2));
        const at = clock.nextTimerAt();
        if (at !== undefined) clock.advanceTo(at);
      }
      if (failure !== undefined) throw failure;
      if (settled!.done) throw new Error('stream ended');
      return settled!.value;
    }

    it('candles: forming updates, then exactly one closed bar per period', async () => {
      const minute = 60_000;
      const t0 = 1_700_000_040_000 - (1_700_000_040_000 % minute);
      const snapshots = [
        [[t0 - minute, 1, 2, 0.5, 1.5, 10], [t0, 1.5, 1.6, 1.4, 1.55, 3]],
        [[t0 - minute, 1, 2, 0.5, 1.5, 10], [t0, 1.5, 1.6, 1.4, 1.55, 3]],
        [[t0 - minute, 1, 2, 0.5, 1.5, 10], [t0, 1.5, 1.7, 1.4, 1.65, 5]],
        [[t0, 1.5, 1.8, 1.4, 1.7, 6], [t0 + minute, 1.7, 1.7, 1.7, 1.7, 1]],
      ];
      let call = 0;
      const { base } = await venue((r) => {
        if (r.path !== '/api/v3/klines') return undefined;
        const rows = snapshots[Math.min(call++, snapshots.length - 1)]!;
        return { body: rows.map((x) => [x[0], String(x[1]), String(x[2]), String(x[3]), String(x[4]), String(x[5]), x[0]! + minute - 1, '0', 1, '0', '0', '0']) };
      });
      const clock = new VirtualClock(t0 + 5_000);
      const p = binanceAt(base, { websocket: false, clock, pollIntervalMs: 1_000 });
      const ac = new AbortController();
      const it = p.watchCandles('BTC/USDT', '1m', ac.signal)[Symbol.asyncIterator]();
      const got: Candle[] = [];
      for (let i = 0; i < 4; i++) got.push(await next(it, clock));
      ac.abort();
      expect(got.map((c) => [c.timestamp, c.closed, c.close])).toEqual([
        [t0, false, 1.55],
        [t0, false, 1.65],
        [t0, true, 1.7],
        [t0 + minute, false, 1.7],
      ]);
      expect((await it.next()).done).toBe(true);
    });

    it('ticks keep flowing after a retryable failure', async () => {
      let call = 0;
      const { base } = await venue((r) => {
        if (r.path !== '/api/v3/ticker/24hr') return undefined;
        call++;
        if (call === 2) return { status: 503, raw: 'maintenance' };
        return { body: { ...tickerBody, lastPrice: String(100 + call), closeTime: String(1_700_000_000_000 + call) } };
      });
      const clock = new VirtualClock(1_700_000_000_000);
      const p = binanceAt(base, { websocket: false, clock, pollIntervalMs: 1_000 });
      const ac = new AbortController();
      const it = p.watchTicks('btcusdt', ac.signal)[Symbol.asyncIterator]();
      const ticks: Tick[] = [await next(it, clock), await next(it, clock)];
      ac.abort();
      expect(ticks.map((t) => t.price)).toEqual([101, 103]);
      expect(ticks[0]).toMatchObject({ symbol: 'BTC/USDT', bid: 73369.83, ask: 73369.84 });
    });
  });
});
