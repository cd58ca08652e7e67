import { z } from 'zod';
import { WallClock, formatZodIssues, silentLogger, untilAborted, type Clock, type Logger } from '@tradebus/core';
import {
  AuthenticationError,
  BadResponseError,
  ExchangeError,
  ExchangeUnavailableError,
  InsufficientFundsError,
  InvalidOrderError,
  NetworkError,
  NotSupportedError,
  OrderNotFoundError,
  ProviderError,
  RateLimitError,
  SymbolResolver,
  timeframeToMs,
  validateOrderRequest,
  type AccountProvider,
  type Balance,
  type Candle,
  type ExecutionProvider,
  type Market,
  type MarketDataProvider,
  type MyTrade,
  type Order,
  type OrderBookTop,
  type OrderRequest,
  type Position,
  type Tick,
  type Ticker,
} from '@tradebus/providers';

/**
 * A provider for DemoVenue (./demo-venue.ts), written against the contracts of
 * @tradebus/providers: market data, execution and account. It is the pattern for any venue:
 *
 * - every answer is checked with a zod schema before it is used (`request`);
 * - every failure becomes a ProviderError subclass that says whether to retry (`retryable`) and,
 *   for calls that change state, whether the venue may have acted anyway (`outcomeUnknown`);
 * - orders are keyed by client order id: createOrder is idempotent, fetchOrder looks orders up by it;
 * - streams poll on the injected clock and end quietly when their AbortSignal aborts.
 */

export interface DemoVenueProviderOptions {
  /** The name agents use for it (`provider: demo`); the service is `provider:<id>`. */
  id?: string;
  baseUrl: string;
  clock?: Clock;
  logger?: Logger;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Pause between two polls of a stream. */
  pollIntervalMs?: number;
}

// ------------------------------------------------------------------ the venue's answers, validated

const decimal = z
  .string()
  .regex(/^-?\d+(\.\d+)?(e-?\d+)?$/i, 'expected a decimal string')
  .transform(Number);
const epochMs = z.number().int().nonnegative();

const marketsSchema = z.object({
  markets: z.array(
    z.object({ id: z.string().min(1), base: z.string().min(1), quote: z.string().min(1), status: z.string(), tickSize: decimal, lotSize: decimal, minQty: decimal }),
  ),
});
const candlesSchema = z.object({
  candles: z.array(z.object({ t: epochMs, o: decimal, h: decimal, l: decimal, c: decimal, v: decimal, closed: z.boolean() })),
});
const tickerSchema = z.object({ market: z.string(), last: decimal, bid: decimal, ask: decimal, time: epochMs });
const fillSchema = z.object({
  id: z.string().min(1),
  clientId: z.string(),
  market: z.string(),
  side: z.enum(['buy', 'sell']),
  price: decimal,
  qty: decimal,
  fee: decimal,
  feeAsset: z.string(),
  liquidity: z.enum(['maker', 'taker']),
  time: epochMs,
});
const orderSchema = z.object({
  id: z.string().min(1),
  clientId: z.string().min(1),
  market: z.string(),
  side: z.enum(['buy', 'sell']),
  type: z.enum(['market', 'limit']),
  qty: decimal,
  price: decimal.optional(),
  status: z.enum(['open', 'filled', 'cancelled', 'rejected']),
  filledQty: decimal,
  avgPrice: decimal.optional(),
  fee: decimal,
  feeAsset: z.string(),
  fills: z.array(fillSchema),
  createdAt: epochMs,
  updatedAt: epochMs,
});
const ordersSchema = z.object({ orders: z.array(orderSchema) });
const fillsSchema = z.object({ fills: z.array(fillSchema) });
const balancesSchema = z.object({ balances: z.array(z.object({ asset: z.string().min(1), free: decimal, locked: decimal })) });
const venueErrorSchema = z.object({ error: z.string(), message: z.string().optional() });

type VenueOrder = z.output<typeof orderSchema>;

/** The venue's order statuses in Tradebus terms. */
const STATUS: Record<VenueOrder['status'], Order['status']> = { open: 'accepted', filled: 'filled', cancelled: 'cancelled', rejected: 'rejected' };
const TIMEFRAMES = new Set(['5m']);

export class DemoVenueProvider implements MarketDataProvider, ExecutionProvider, AccountProvider {
  /** Not one of the built-in kinds: it shows in messages, e.g. when an agent asks for a role it lacks. */
  readonly kind = 'demo-venue';
  readonly id: string;
  readonly venue = 'demo-venue';
  private readonly baseUrl: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly pollIntervalMs: number;
  private markets: { list: Market[]; resolver: SymbolResolver; venueIds: Map<string, string> } | undefined;
  /** Orders placed by this process, so a repeated createOrder costs no second POST. */
  private readonly placed = new Map<string, Order>();
  private readonly closing = new AbortController();

  constructor(options: DemoVenueProviderOptions) {
    this.id = options.id ?? 'demo';
    this.baseUrl = options.baseUrl;
    this.clock = options.clock ?? new WallClock();
    this.logger = (options.logger ?? silentLogger()).child({ provider: this.id });
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  // The roles this object plays, as agents look them up on a registered provider.
  get marketData(): MarketDataProvider {
    return this;
  }
  get execution(): ExecutionProvider {
    return this;
  }
  get account(): AccountProvider {
    return this;
  }

  /** Ends every stream and refuses further calls. Idempotent. */
  async close(): Promise<void> {
    this.closing.abort();
  }

  // ---------------------------------------------------------------- market data

  async loadMarkets(reload = false): Promise<Market[]> {
    if (this.markets !== undefined && !reload) return this.markets.list;
    const { markets } = await this.request(marketsSchema, 'GET', '/api/markets');
    const list: Market[] = markets.map((m) => ({
      symbol: `${m.base}/${m.quote}`,
      base: m.base,
      quote: m.quote,
      settle: m.quote,
      type: 'spot',
      contractSize: 1,
      active: m.status === 'trading',
      precision: { price: m.tickSize, amount: m.lotSize },
      limits: { amount: { min: m.minQty }, price: {}, cost: {} },
      maker: 0.001,
      taker: 0.001,
    }));
    this.markets = {
      list,
      // Accepts `eth/btc`, `ETH-BTC`, `ETHBTC`...; an unknown symbol is a BadSymbolError with near matches.
      resolver: new SymbolResolver(
        markets.map((m) => ({ symbol: `${m.base}/${m.quote}`, id: m.id })),
        this.id,
      ),
      venueIds: new Map(markets.map((m) => [`${m.base}/${m.quote}`, m.id])),
    };
    return list;
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    const { unified, venueId } = await this.resolve(symbol);
    const t = await this.request(tickerSchema, 'GET', '/api/ticker', { query: { market: venueId } });
    return { symbol: unified, timestamp: t.time, last: t.last, bid: t.bid, ask: t.ask };
  }

  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    // The venue has no order book endpoint; its ticker carries the best bid and ask.
    const t = await this.fetchTicker(symbol);
    return { symbol: t.symbol, timestamp: t.timestamp, bid: t.bid, ask: t.ask };
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    const { unified } = await this.resolve(symbol);
    return this.candles(unified, timeframe, { since, limit });
  }

  async *watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    const { unified } = await this.resolve(symbol);
    let last: Tick | undefined;
    for await (const ticker of this.poll(signal, `ticker ${unified}`, () => this.fetchTicker(unified))) {
      const tick: Tick = { symbol: unified, price: ticker.last, bid: ticker.bid, ask: ticker.ask, timestamp: ticker.timestamp };
      // Polling sees the same ticker more than once: pass on changes only.
      if (last !== undefined && last.timestamp === tick.timestamp && last.price === tick.price) continue;
      last = tick;
      yield tick;
    }
  }

  /**
   * Forming updates and exactly one closed bar per period. After the first poll it asks for
   * everything since the last closed bar, so a slow poll never skips one.
   */
  async *watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    const { unified } = await this.resolve(symbol);
    const tfMs = timeframeToMs(timeframe);
    let lastClosed: number | undefined;
    let lastForming: Candle | undefined;
    const fetchNew = () => this.candles(unified, timeframe, lastClosed === undefined ? { limit: 2 } : { since: lastClosed + tfMs });
    for await (const batch of this.poll(signal, `candles ${unified} ${timeframe}`, fetchNew)) {
      if (lastClosed === undefined) {
        // Watchers start from the current bar: what closed before is history (fetchOHLCV).
        lastClosed = batch.filter((c) => c.closed).at(-1)?.timestamp ?? Number.NEGATIVE_INFINITY;
      }
      for (const candle of batch) {
        // Nothing more once the consumer has left, not even the rest of this batch.
        if (signal.aborted) return;
        if (candle.timestamp <= lastClosed) continue;
        if (candle.closed) {
          lastClosed = candle.timestamp;
          lastForming = undefined;
          yield candle;
        } else if (!sameBar(lastForming, candle)) {
          lastForming = candle;
          yield candle;
        }
      }
    }
  }

  // ---------------------------------------------------------------- execution

  async createOrder(request: OrderRequest): Promise<Order> {
    // Checked before anything leaves the process: a rejected request never reaches the venue.
    const req = validateOrderRequest(request, this.id);
    if (req.type !== 'market' && req.type !== 'limit') throw new NotSupportedError(this.id, `order type '${req.type}'`);
    if (req.timeInForce !== undefined && req.timeInForce !== 'GTC') throw new NotSupportedError(this.id, `time in force '${req.timeInForce}'`);
    const { unified, venueId } = await this.resolve(req.symbol);

    // Idempotent on clientOrderId: an order that exists is returned, never placed again. This
    // also covers a retry after a timeout whose outcome was unknown.
    if (this.placed.has(req.clientOrderId)) return (await this.fetchOrder(req.clientOrderId, unified)) ?? this.placed.get(req.clientOrderId)!;
    const existing = await this.fetchOrder(req.clientOrderId, unified);
    if (existing !== undefined) return existing;

    let placed: VenueOrder;
    try {
      // Spot: reduceOnly has no meaning here and is not sent.
      placed = await this.request(orderSchema, 'POST', '/api/orders', {
        mutating: true,
        body: { clientId: req.clientOrderId, market: venueId, side: req.side, type: req.type, qty: String(req.quantity), price: req.price === undefined ? undefined : String(req.price) },
      });
    } catch (err) {
      // Someone (another process, an earlier attempt) placed it first: that order is the answer.
      if (err instanceof ProviderError && err.details?.venueCode === 'DUPLICATE_CLIENT_ID') {
        const order = await this.fetchOrder(req.clientOrderId, unified);
        if (order !== undefined) return order;
      }
      throw err;
    }
    const order = this.toOrder(placed, unified, req.reduceOnly);
    this.placed.set(order.clientOrderId, order);
    return order;
  }

  async cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    const { unified } = await this.resolve(symbol);
    try {
      return this.toOrder(await this.request(orderSchema, 'DELETE', `/api/orders/${encodeURIComponent(clientOrderId)}`, { mutating: true }), unified);
    } catch (err) {
      // Already filled or cancelled: the order as it is now is the answer.
      if (err instanceof ProviderError && err.details?.venueCode === 'ORDER_CLOSED') {
        const order = await this.fetchOrder(clientOrderId, unified);
        if (order !== undefined) return order;
      }
      throw err;
    }
  }

  async fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined> {
    const { unified } = await this.resolve(symbol);
    try {
      return this.toOrder(await this.request(orderSchema, 'GET', `/api/orders/${encodeURIComponent(clientOrderId)}`), unified, this.placed.get(clientOrderId)?.reduceOnly);
    } catch (err) {
      // The venue never saw it: that is an answer, not an error.
      if (err instanceof OrderNotFoundError) return undefined;
      throw err;
    }
  }

  async fetchOpenOrders(symbol?: string): Promise<Order[]> {
    const target = symbol === undefined ? undefined : await this.resolve(symbol);
    const { orders } = await this.request(ordersSchema, 'GET', '/api/orders', { query: { status: 'open', market: target?.venueId } });
    return Promise.all(orders.map(async (o) => this.toOrder(o, target?.unified ?? (await this.unifiedOf(o.market)))));
  }

  async fetchMyTrades(symbol: string, since?: number, limit?: number): Promise<MyTrade[]> {
    const { unified, venueId } = await this.resolve(symbol);
    const { fills } = await this.request(fillsSchema, 'GET', '/api/fills', { query: { market: venueId, since, limit } });
    return fills.map((f) => ({
      symbol: unified,
      side: f.side,
      clientOrderId: f.clientId,
      tradeId: f.id,
      price: f.price,
      quantity: f.qty,
      fee: Math.abs(f.fee),
      feeCurrency: f.feeAsset,
      liquidity: f.liquidity,
      timestamp: f.time,
    }));
  }

  // ---------------------------------------------------------------- account

  async fetchBalances(): Promise<Balance[]> {
    const { balances } = await this.request(balancesSchema, 'GET', '/api/balances');
    return balances.map((b) => ({ asset: b.asset, free: b.free, used: b.locked, total: b.free + b.locked })).filter((b) => b.total !== 0);
  }

  /** A spot venue holds balances, not positions (as the ccxt provider does for spot). */
  async fetchPositions(): Promise<Position[]> {
    return [];
  }

  // ---------------------------------------------------------------- internals

  private async resolve(symbol: string): Promise<{ unified: string; venueId: string }> {
    await this.loadMarkets();
    const unified = this.markets!.resolver.resolve(symbol);
    return { unified, venueId: this.markets!.venueIds.get(unified)! };
  }

  private async unifiedOf(venueId: string): Promise<string> {
    await this.loadMarkets();
    return this.markets!.resolver.tryResolve(venueId) ?? venueId;
  }

  private async candles(symbol: string, timeframe: string, range: { since?: number | undefined; limit?: number | undefined }): Promise<Candle[]> {
    if (!TIMEFRAMES.has(timeframe)) throw new NotSupportedError(this.id, `timeframe '${timeframe}' (the venue has ${[...TIMEFRAMES].join(', ')})`);
    const venueId = this.markets!.venueIds.get(symbol)!;
    const { candles } = await this.request(candlesSchema, 'GET', '/api/candles', { query: { market: venueId, interval: timeframe, since: range.since, limit: range.limit } });
    return candles.map((c) => ({ symbol, timeframe, timestamp: c.t, open: c.o, high: c.h, low: c.l, close: c.c, volume: c.v, closed: c.closed }));
  }

  /**
   * Calls `fetch` every pollIntervalMs until `signal` aborts or the provider closes, yielding
   * each result. A retryable failure waits (doubling, or the venue's Retry-After) and polls
   * again; any other error ends the stream with that error, for the consumer to handle.
   */
  private async *poll<T>(signal: AbortSignal, what: string, read: () => Promise<T>): AsyncIterable<T> {
    let backoffMs = this.pollIntervalMs;
    let first = true;
    while (!signal.aborted && !this.closing.signal.aborted) {
      if (!first && !(await this.sleep(backoffMs, signal))) return;
      first = false;
      let result: T;
      try {
        // A consumer that leaves does not wait for a request in flight.
        const outcome = await untilAborted(read(), signal);
        if (outcome === undefined) return;
        result = outcome.value;
      } catch (err) {
        if (signal.aborted || this.closing.signal.aborted) return;
        if (!(err instanceof ProviderError) || !err.retryable) throw err;
        backoffMs = Math.min(Math.max(backoffMs * 2, err instanceof RateLimitError ? (err.retryAfterMs ?? 0) : 0), 30_000);
        this.logger.warn({ stream: what, code: err.code, waitMs: backoffMs }, 'stream request failed; retrying');
        continue;
      }
      backoffMs = this.pollIntervalMs;
      yield result;
    }
  }

  /** Waits on the injected clock; false when the wait was cut short by an abort. */
  private sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const stop = (): void => {
        timer.cancel();
        resolve(false);
      };
      const timer = this.clock.setTimeout(() => {
        signal.removeEventListener('abort', stop);
        this.closing.signal.removeEventListener('abort', stop);
        resolve(true);
      }, ms);
      if (signal.aborted || this.closing.signal.aborted) return stop();
      signal.addEventListener('abort', stop, { once: true });
      this.closing.signal.addEventListener('abort', stop, { once: true });
    });
  }

  /** One HTTP request: timeout, error mapping, and the answer checked against `schema`. */
  private async request<S extends z.ZodType>(
    schema: S,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { query?: Record<string, string | number | undefined>; body?: unknown; mutating?: boolean } = {},
  ): Promise<z.output<S>> {
    const mutating = options.mutating ?? false;
    const what = `${method} ${path}`;
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const res = await fetch(url, {
        method,
        headers: options.body === undefined ? undefined : { 'content-type': 'application/json' },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.any([timeout, this.closing.signal]),
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      // No answer: for an order, the venue may have received it all the same.
      const detail = timeout.aborted ? `no answer within ${this.timeoutMs} ms` : this.closing.signal.aborted ? 'provider closed' : (err as Error).message;
      throw new NetworkError(this.id, `${what}: ${detail}`, { cause: err, outcomeUnknown: mutating });
    }
    if (status < 200 || status > 299) throw this.httpError(what, status, text, headers, mutating);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new BadResponseError(this.id, `${what}: the answer is not JSON (${text.slice(0, 80)})`, { cause: err, outcomeUnknown: mutating });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = formatZodIssues(parsed.error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
      throw new BadResponseError(this.id, `${what}: ${issues.slice(0, 3).join('; ')}`, { cause: parsed.error, outcomeUnknown: mutating });
    }
    return parsed.data;
  }

  /** An HTTP error status as the ProviderError that tells the caller what to do. */
  private httpError(what: string, status: number, text: string, headers: Headers, mutating: boolean): ProviderError {
    let body: z.output<typeof venueErrorSchema> | undefined;
    try {
      body = venueErrorSchema.parse(JSON.parse(text));
    } catch {
      body = undefined;
    }
    const detail = `${what}: HTTP ${status}${body ? ` ${body.error}${body.message ? `: ${body.message}` : ''}` : ''}`;
    const details = { venueCode: body?.error, status };
    if (status === 429) {
      const retryAfter = Number(headers.get('retry-after'));
      return new RateLimitError(this.id, detail, { details, retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1_000 : undefined });
    }
    // A server error says nothing about whether an order went through.
    if (status >= 500) return new ExchangeUnavailableError(this.id, detail, { details, outcomeUnknown: mutating });
    if (status === 401 || status === 403) return new AuthenticationError(this.id, detail, { details });
    switch (body?.error) {
      case 'ORDER_NOT_FOUND':
        return new OrderNotFoundError(this.id, detail, { details });
      case 'INSUFFICIENT_BALANCE':
        return new InsufficientFundsError(this.id, detail, { details });
      case 'INVALID_ORDER':
        return new InvalidOrderError(this.id, detail, { details });
      default:
        return new ExchangeError(this.id, detail, { details });
    }
  }

  private toOrder(o: VenueOrder, symbol: string, reduceOnly = false): Order {
    const quantity = o.qty;
    return {
      clientOrderId: o.clientId,
      venueOrderId: o.id,
      symbol,
      side: o.side,
      type: o.type,
      status: o.status === 'open' && o.filledQty > 0 ? 'partially_filled' : STATUS[o.status],
      quantity,
      filledQuantity: o.filledQty,
      remainingQuantity: o.status === 'open' ? Math.max(0, quantity - o.filledQty) : 0,
      averagePrice: o.avgPrice,
      price: o.price,
      reduceOnly,
      timeInForce: o.type === 'limit' ? 'GTC' : undefined,
      fills: o.fills.map((f) => ({ tradeId: f.id, price: f.price, quantity: f.qty, fee: Math.abs(f.fee), feeCurrency: f.feeAsset, liquidity: f.liquidity, timestamp: f.time })),
      fee: Math.abs(o.fee),
      feeCurrency: o.feeAsset,
      createdAt: o.createdAt,
      updatedAt: o.updatedAt,
    };
  }
}


function sameBar(a: Candle | undefined, b: Candle): boolean {
  return a !== undefined && a.timestamp === b.timestamp && a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}
