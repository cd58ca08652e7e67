import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * DemoVenue, a small exchange with a JSON REST API on 127.0.0.1: the kind of venue you would
 * write a provider for. It plays real ETH/BTC 5-minute candles (examples/data) in steps of wall
 * time, fills market orders at its bid/ask and limit orders when a bar trades through them, and
 * keeps balances. Its API, all JSON, numbers as decimal strings:
 *
 *   GET    /api/markets                                   { markets: [{ id, base, quote, status, tickSize, lotSize, minQty }] }
 *   GET    /api/candles?market&interval=5m&since&limit    { candles: [{ t, o, h, l, c, v, closed }] }   oldest first, the forming bar last
 *   GET    /api/ticker?market                             { market, last, bid, ask, time }
 *   POST   /api/orders  { clientId, market, side, type, qty, price? }   201 order | 409 DUPLICATE_CLIENT_ID | 400 INVALID_ORDER / INSUFFICIENT_BALANCE
 *   GET    /api/orders/:clientId                          order | 404 ORDER_NOT_FOUND
 *   DELETE /api/orders/:clientId                          order (cancelled) | 404 ORDER_NOT_FOUND | 409 ORDER_CLOSED
 *   GET    /api/orders?market&status=open                 { orders: [...] }
 *   GET    /api/fills?market&since&limit                  { fills: [...] }
 *   GET    /api/balances                                  { balances: [{ asset, free, locked }] }
 *
 * Errors are `{ error: CODE, message }` with an HTTP status. `failNext` makes the next requests
 * fail the way real venues do (5xx, 429, garbage, slow answers), for tests.
 */

const defaultCandles = fileURLToPath(new URL('../../data/binance-ETH-BTC-5m.csv', import.meta.url));
const BAR_MS = 300_000;

interface Bar {
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
}

interface VenueFill {
  id: string;
  clientId: string;
  market: string;
  side: 'buy' | 'sell';
  price: string;
  qty: string;
  fee: string;
  feeAsset: string;
  liquidity: 'maker' | 'taker';
  time: number;
}

interface VenueOrder {
  id: string;
  clientId: string;
  market: string;
  side: 'buy' | 'sell';
  type: 'market' | 'limit';
  qty: string;
  price?: string | undefined;
  status: 'open' | 'filled' | 'cancelled' | 'rejected';
  filledQty: string;
  avgPrice?: string | undefined;
  fee: string;
  feeAsset: string;
  fills: VenueFill[];
  createdAt: number;
  updatedAt: number;
}

export type Fault =
  /** Answer with this status and body (a 5xx, a 429 with Retry-After...). */
  | { status: number; body?: string; headers?: Record<string, string> }
  /** Carry out the request, but answer only after this long (a client with a shorter timeout gives up first). */
  | { delayMs: number };

export interface DemoVenueOptions {
  /** Candle file, CSV `timestamp,open,high,low,close,volume`; default examples/data/binance-ETH-BTC-5m.csv. */
  candlesFile?: string;
  /** The venue's market id; base and quote are its two halves. */
  market?: string;
  /** Closed bars available at start. */
  historyBars?: number;
  /** Wall time between two steps of the market. */
  stepMs?: number;
  /** Steps per bar: the bar forms over the first ones, the last one closes it. */
  stepsPerBar?: number;
  balances?: Record<string, number>;
  /** Fee rate on every fill, charged in the quote currency. */
  fee?: number;
}

export interface DemoVenue {
  readonly url: string;
  /** Closed bars so far, oldest first. */
  closedBars(): Bar[];
  /** Requests received, as `METHOD /path?query`. */
  readonly requests: string[];
  /** The next `count` requests (of `method` only, when given) fail with `fault`. */
  failNext(fault: Fault, options?: { count?: number; method?: 'GET' | 'POST' | 'DELETE' }): void;
  close(): Promise<void>;
}

const dec = (n: number): string => String(Number(n.toFixed(10)));

export async function startDemoVenue(options: DemoVenueOptions = {}): Promise<DemoVenue> {
  const market = options.market ?? 'ETH-BTC';
  const [base, quote] = market.split('-') as [string, string];
  const stepsPerBar = options.stepsPerBar ?? 2;
  const feeRate = options.fee ?? 0.001;
  const bars: Bar[] = readFileSync(options.candlesFile ?? defaultCandles, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [t, o, h, l, c, v] = line.split(',').map(Number) as [number, number, number, number, number, number];
      return { t, o, h, l, c, v };
    });
  let closed = Math.min(options.historyBars ?? 100, bars.length);
  let step = 0;
  const balances = new Map<string, { free: number; locked: number }>(
    Object.entries(options.balances ?? { [quote]: 1, [base]: 0 }).map(([asset, free]) => [asset, { free, locked: 0 }]),
  );
  const orders = new Map<string, VenueOrder>();
  const fills: VenueFill[] = [];
  const faults: Array<{ fault: Fault; method: string | undefined }> = [];
  const requests: string[] = [];
  let nextId = 1;

  /** The bar now forming (up to the current step), or undefined when the data is over. */
  const forming = (): Bar | undefined => {
    const bar = bars[closed];
    if (bar === undefined || step === 0) return undefined;
    const c = bar.o + ((bar.c - bar.o) * step) / stepsPerBar;
    return { t: bar.t, o: bar.o, h: Math.max(bar.o, c), l: Math.min(bar.o, c), c, v: (bar.v * step) / stepsPerBar };
  };
  const lastPrice = (): number => forming()?.c ?? bars[closed - 1]!.c;
  const now = (): number => (bars[closed]?.t ?? bars[closed - 1]!.t + BAR_MS) + (step * BAR_MS) / stepsPerBar;
  const spread = (): { bid: number; ask: number } => ({ bid: lastPrice() * 0.9999, ask: lastPrice() * 1.0001 });
  const balance = (asset: string) => {
    let b = balances.get(asset);
    if (b === undefined) balances.set(asset, (b = { free: 0, locked: 0 }));
    return b;
  };

  function fill(order: VenueOrder, price: number, liquidity: 'maker' | 'taker'): void {
    const qty = Number(order.qty);
    const cost = qty * price;
    const fee = cost * feeRate;
    if (order.side === 'buy') {
      const reserved = order.type === 'limit' ? qty * Number(order.price) * (1 + feeRate) : cost + fee;
      balance(quote).locked -= reserved;
      balance(quote).free += reserved - cost - fee;
      balance(base).free += qty;
    } else {
      balance(base).locked -= qty;
      balance(quote).free += cost - fee;
    }
    const f: VenueFill = {
      id: `f${nextId++}`,
      clientId: order.clientId,
      market,
      side: order.side,
      price: dec(price),
      qty: order.qty,
      fee: dec(fee),
      feeAsset: quote,
      liquidity,
      time: now(),
    };
    fills.push(f);
    Object.assign(order, { status: 'filled', filledQty: order.qty, avgPrice: dec(price), fee: dec(fee), fills: [f], updatedAt: now() });
  }

  function advance(): void {
    if (closed >= bars.length) return;
    step += 1;
    if (step < stepsPerBar) return;
    const bar = bars[closed]!;
    closed += 1;
    step = 0;
    for (const order of orders.values()) {
      if (order.status !== 'open') continue;
      const limit = Number(order.price);
      if ((order.side === 'buy' && bar.l < limit) || (order.side === 'sell' && bar.h > limit)) fill(order, limit, 'maker');
    }
  }
  const timer = setInterval(advance, options.stepMs ?? 100);

  type Reply = { status: number; body: unknown };
  const error = (status: number, code: string, message: string): Reply => ({ status, body: { error: code, message } });

  function placeOrder(input: Record<string, unknown>): Reply {
    const { clientId, side, type } = input;
    const qty = Number(input.qty);
    const price = input.price === undefined ? undefined : Number(input.price);
    if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 36) return error(400, 'INVALID_ORDER', 'clientId: 1 to 36 characters');
    if (orders.has(clientId)) return error(409, 'DUPLICATE_CLIENT_ID', `an order with clientId ${clientId} exists`);
    if (input.market !== market) return error(400, 'UNKNOWN_MARKET', `no market ${String(input.market)}`);
    if (side !== 'buy' && side !== 'sell') return error(400, 'INVALID_ORDER', 'side: buy or sell');
    if (type !== 'market' && type !== 'limit') return error(400, 'INVALID_ORDER', 'type: market or limit');
    if (!(qty >= 0.001) || Math.abs(qty * 1000 - Math.round(qty * 1000)) > 1e-9) return error(400, 'INVALID_ORDER', 'qty: a multiple of 0.001, at least 0.001');
    if (type === 'limit' && !(price !== undefined && price > 0)) return error(400, 'INVALID_ORDER', 'price: required for limit orders');
    const { bid, ask } = spread();
    const reservePrice = type === 'limit' ? price! : ask;
    if (side === 'buy' && balance(quote).free < qty * reservePrice * (1 + feeRate)) return error(400, 'INSUFFICIENT_BALANCE', `not enough ${quote}`);
    if (side === 'sell' && balance(base).free < qty) return error(400, 'INSUFFICIENT_BALANCE', `not enough ${base}`);
    const order: VenueOrder = {
      id: String(nextId++),
      clientId,
      market,
      side,
      type,
      qty: dec(qty),
      price: price === undefined ? undefined : dec(price),
      status: 'open',
      filledQty: '0',
      fee: '0',
      feeAsset: quote,
      fills: [],
      createdAt: now(),
      updatedAt: now(),
    };
    if (side === 'buy') {
      balance(quote).free -= qty * reservePrice * (1 + feeRate);
      balance(quote).locked += qty * reservePrice * (1 + feeRate);
    } else {
      balance(base).free -= qty;
      balance(base).locked += qty;
    }
    orders.set(clientId, order);
    if (type === 'market') fill(order, side === 'buy' ? ask : bid, 'taker');
    else if ((side === 'buy' && price! >= ask) || (side === 'sell' && price! <= bid)) fill(order, side === 'buy' ? ask : bid, 'taker');
    return { status: 201, body: order };
  }

  function cancelOrder(clientId: string): Reply {
    const order = orders.get(clientId);
    if (order === undefined) return error(404, 'ORDER_NOT_FOUND', `no order with clientId ${clientId}`);
    if (order.status !== 'open') return error(409, 'ORDER_CLOSED', `order ${clientId} is ${order.status}`);
    if (order.side === 'buy') {
      const reserved = Number(order.qty) * Number(order.price) * (1 + feeRate);
      balance(quote).locked -= reserved;
      balance(quote).free += reserved;
    } else {
      balance(base).locked -= Number(order.qty);
      balance(base).free += Number(order.qty);
    }
    Object.assign(order, { status: 'cancelled', updatedAt: now() });
    return { status: 200, body: order };
  }

  function route(method: string, url: URL, body: Record<string, unknown>): Reply {
    const q = url.searchParams;
    const path = url.pathname;
    if (method === 'GET' && path === '/api/markets') {
      return { status: 200, body: { markets: [{ id: market, base, quote, status: 'trading', tickSize: '0.000001', lotSize: '0.001', minQty: '0.001' }] } };
    }
    if (method === 'GET' && path === '/api/candles') {
      if (q.get('market') !== market) return error(400, 'UNKNOWN_MARKET', `no market ${q.get('market')}`);
      if (q.get('interval') !== '5m') return error(400, 'BAD_INTERVAL', 'interval: only 5m');
      const since = q.has('since') ? Number(q.get('since')) : undefined;
      const limit = Math.min(Number(q.get('limit') ?? 500), 1_000);
      const current = forming();
      const all = [...bars.slice(0, closed).map((b) => ({ ...b, closed: true })), ...(current ? [{ ...current, closed: false }] : [])];
      const picked = since === undefined ? all.slice(-limit) : all.filter((b) => b.t >= since).slice(0, limit);
      return { status: 200, body: { candles: picked.map((b) => ({ t: b.t, o: dec(b.o), h: dec(b.h), l: dec(b.l), c: dec(b.c), v: dec(b.v), closed: b.closed })) } };
    }
    if (method === 'GET' && path === '/api/ticker') {
      if (q.get('market') !== market) return error(400, 'UNKNOWN_MARKET', `no market ${q.get('market')}`);
      const { bid, ask } = spread();
      return { status: 200, body: { market, last: dec(lastPrice()), bid: dec(bid), ask: dec(ask), time: now() } };
    }
    if (method === 'POST' && path === '/api/orders') return placeOrder(body);
    if (method === 'GET' && path === '/api/orders') {
      const list = [...orders.values()].filter((o) => (!q.has('market') || o.market === q.get('market')) && (q.get('status') !== 'open' || o.status === 'open'));
      return { status: 200, body: { orders: list } };
    }
    const byClientId = /^\/api\/orders\/([^/]+)$/.exec(path);
    if (byClientId) {
      const clientId = decodeURIComponent(byClientId[1]!);
      if (method === 'DELETE') return cancelOrder(clientId);
      const order = orders.get(clientId);
      return order ? { status: 200, body: order } : error(404, 'ORDER_NOT_FOUND', `no order with clientId ${clientId}`);
    }
    if (method === 'GET' && path === '/api/fills') {
      const since = Number(q.get('since') ?? 0);
      const list = fills.filter((f) => (!q.has('market') || f.market === q.get('market')) && f.time >= since).slice(0, Number(q.get('limit') ?? 500));
      return { status: 200, body: { fills: list } };
    }
    if (method === 'GET' && path === '/api/balances') {
      return { status: 200, body: { balances: [...balances].map(([asset, b]) => ({ asset, free: dec(b.free), locked: dec(b.locked) })) } };
    }
    return error(404, 'NOT_FOUND', `${method} ${path} is not part of the API`);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      const send = (status: number, text: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(text);
      };
      const index = faults.findIndex((f) => f.method === undefined || f.method === req.method);
      const fault = index < 0 ? undefined : faults.splice(index, 1)[0]!.fault;
      if (fault !== undefined && 'status' in fault) return send(fault.status, fault.body ?? '{"error":"FAULT","message":"injected"}', fault.headers);
      let body: Record<string, unknown> = {};
      try {
        if (raw !== '') body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return send(400, JSON.stringify({ error: 'BAD_JSON', message: 'the body is not JSON' }));
      }
      const reply = route(req.method ?? 'GET', url, body);
      const answer = (): void => send(reply.status, JSON.stringify(reply.body));
      if (fault !== undefined) setTimeout(answer, fault.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    closedBars: () => bars.slice(0, closed),
    requests,
    failNext(fault, { count = 1, method } = {}) {
      for (let i = 0; i < count; i++) faults.push({ fault, method });
    },
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
