import * as ccxt from 'ccxt';
import { nearMatches, silentLogger, TradebusError, WallClock, type Clock, type Logger } from '@tradebus/core';
import { z } from 'zod';
import { AuthenticationError, OrderNotFoundError, ProviderError } from '../errors.js';
import type {
  AccountProvider,
  Balance,
  Candle,
  ExecutionProvider,
  Market,
  MarketDataProvider,
  MyTrade,
  Order,
  OrderBookTop,
  OrderRequest,
  Position,
  Provider,
  Tick,
  Ticker,
} from '../types.js';
import { sleepUnlessAborted, untilAborted } from '../util/async.js';
import { CandleCloser, type OhlcvRow } from '../util/candle-closer.js';
import { SymbolResolver } from '../util/symbols.js';
import { timeframeToMs } from '../util/timeframes.js';
import { validateOrderRequest } from '../validation.js';
import { check, toBalances, toCandles, toCcxtOrderArgs, toMarket, toMyTrade, toOrder, toPosition, toTicker } from './convert.js';
import { mapCcxtError } from './errors.js';
import { credentialEnvNames, credentialsFromEnv, type CcxtCredentials } from './credentials.js';
import {
  ccxtBalanceSchema,
  ccxtMarketSchema,
  ccxtOhlcvSchema,
  ccxtOrderBookSchema,
  ccxtOrderSchema,
  ccxtPositionSchema,
  ccxtTickerSchema,
  ccxtTradeSchema,
} from './schemas.js';

export { credentialEnvNames, credentialsFromEnv, type CcxtCredentials } from './credentials.js';

/**
 * The part of a ccxt exchange instance this provider uses (REST and, on ccxt.pro classes,
 * websocket). Written out rather than taken from ccxt so that this package's types do not pull
 * ccxt's own typings into a consumer's compilation; any `ccxt.Exchange` fits it. Answers are
 * `unknown` because the provider validates every one of them before use.
 */
export interface CcxtExchange {
  /** Settings the provider gives an instance it builds. */
  apiKey?: string | undefined;
  secret?: string | undefined;
  password?: string | undefined;
  enableRateLimit?: boolean | undefined;
  timeout?: number | undefined;
  /** Capability flags by method name (`true`, `false` or `'emulated'`). */
  has: Record<string, boolean | string | undefined>;
  precisionMode?: number | string | undefined;
  setSandboxMode(enabled: boolean): void;
  loadMarkets(reload?: boolean): Promise<unknown>;
  fetchTicker(symbol: string): Promise<unknown>;
  fetchOrderBook(symbol: string, limit?: number): Promise<unknown>;
  fetchOHLCV(symbol: string, timeframe?: string, since?: number, limit?: number): Promise<unknown>;
  createOrder(symbol: string, type: string, side: string, amount: number, price?: number, params?: Record<string, unknown>): Promise<unknown>;
  cancelOrder(id: string, symbol?: string, params?: Record<string, unknown>): Promise<unknown>;
  fetchOrder(id: string, symbol?: string, params?: Record<string, unknown>): Promise<unknown>;
  fetchOpenOrders(symbol?: string): Promise<unknown>;
  fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<unknown>;
  fetchBalance(): Promise<unknown>;
  fetchPositions(symbols?: string[]): Promise<unknown>;
  /** Streams on ccxt.pro classes; REST classes reject, and `has` says which is which. */
  watchTicker(symbol: string): Promise<unknown>;
  watchOHLCV(symbol: string, timeframe?: string): Promise<unknown>;
  close?(): Promise<unknown>;
}

export interface CcxtProviderOptions {
  /** Provider name (`providers.<id>` in the config). */
  id: string;
  /** ccxt exchange id, e.g. `binance`, `kraken`, `bybit`. */
  exchange: string;
  clock?: Clock;
  logger?: Logger;
  /** Credentials; when left out they are read from the environment (see `credentialsFromEnv`). */
  credentials?: CcxtCredentials | undefined;
  env?: Record<string, string | undefined>;
  /** Use the venue's test network (ccxt `setSandboxMode`). */
  sandbox?: boolean;
  /** Default market type for calls that do not name a symbol (balances, open orders): spot, swap, future. */
  defaultType?: 'spot' | 'swap' | 'future' | 'margin' | undefined;
  timeoutMs?: number;
  /** Use ccxt.pro websocket `watch*` methods when the exchange has them. */
  websocket?: boolean;
  /** Poll interval of the REST fallback for streams. */
  pollIntervalMs?: number;
  /** How long after a bar's end a quiet market's bar is closed without a newer bar arriving. */
  candleCloseGraceMs?: number;
  /** Before placing an order, ask the venue whether the client order id already exists (one extra request per order). */
  checkExistingBeforeCreate?: boolean;
  /** Order book depth requested for `fetchOrderBookTop`; some venues only accept particular values. */
  orderBookDepth?: number | undefined;
  /** Extra ccxt `options` (exchange-specific settings). */
  exchangeOptions?: Record<string, unknown>;
  /** A ready ccxt instance instead of building one (advanced use: custom subclasses, offline tests). */
  instance?: CcxtExchange;
}

/** ccxt's exchange ids (an array at runtime, although its typings describe the class map). */
export function ccxtExchangeIds(): string[] {
  const list: unknown = ccxt.exchanges;
  return Array.isArray(list) ? (list as string[]) : Object.keys(list as object);
}

export function assertKnownExchange(exchangeId: string): void {
  const ids = ccxtExchangeIds();
  if (ids.includes(exchangeId)) return;
  const suggestions = nearMatches(exchangeId, ids, 3);
  const hint = suggestions.length > 0 ? ` Did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
  throw new TradebusError('PROVIDER_UNKNOWN_EXCHANGE', `Unknown ccxt exchange '${exchangeId}'.${hint} The ccxt exchange ids are listed at https://docs.ccxt.com.`, {
    details: { exchange: exchangeId, suggestions },
  });
}

type ExchangeClass = new (config: Record<string, unknown>) => CcxtExchange;

function buildInstance(options: CcxtProviderOptions, credentials: CcxtCredentials | undefined): CcxtExchange {
  assertKnownExchange(options.exchange);
  const proClasses = ccxt.pro as unknown as Record<string, ExchangeClass | undefined>;
  const restClasses = ccxt as unknown as Record<string, ExchangeClass | undefined>;
  const Class = (options.websocket !== false ? proClasses[options.exchange] : undefined) ?? restClasses[options.exchange];
  if (Class === undefined) assertKnownExchange(`${options.exchange}?`);
  const config: Record<string, unknown> = {
    enableRateLimit: true,
    timeout: options.timeoutMs ?? 10_000,
    options: { ...(options.defaultType ? { defaultType: options.defaultType } : {}), ...options.exchangeOptions },
  };
  if (credentials) {
    config.apiKey = credentials.apiKey;
    config.secret = credentials.secret;
    if (credentials.password !== undefined) config.password = credentials.password;
  }
  const instance = new Class!(config);
  if (options.sandbox) instance.setSandboxMode(true);
  return instance;
}

const orderIdSchema = z.string().min(1).max(36);

/**
 * Any exchange ccxt supports, behind the Tradebus provider interfaces. REST calls go through
 * ccxt's rate limiter; streams use ccxt.pro websockets where the exchange has them and poll
 * otherwise. Every answer is validated before it is converted, and every ccxt error becomes a
 * ProviderError that says whether to retry.
 */
export class CcxtProvider implements MarketDataProvider, ExecutionProvider, AccountProvider, Provider {
  readonly kind = 'ccxt' as const;
  readonly id: string;
  readonly venue: string;
  readonly exchange: CcxtExchange;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly options: CcxtProviderOptions;
  private readonly hasCredentials: boolean;
  private markets: Map<string, Market> | undefined;
  private resolver: SymbolResolver | undefined;
  private marketsLoading: Promise<Map<string, Market>> | undefined;
  /** Orders this process placed, by client order id, so a repeat request needs no round trip. */
  private readonly placed = new Map<string, Order>();
  private closed = false;

  constructor(options: CcxtProviderOptions) {
    this.options = options;
    this.id = options.id;
    this.venue = options.exchange;
    this.clock = options.clock ?? new WallClock();
    this.logger = (options.logger ?? silentLogger()).child({ provider: options.id, exchange: options.exchange });
    const credentials = options.instance ? undefined : (options.credentials ?? credentialsFromEnv(options.id, options.exchange, options.env));
    this.exchange = options.instance ?? buildInstance(options, credentials);
    this.hasCredentials = options.instance ? Boolean(this.exchange.apiKey) : credentials !== undefined;
  }

  get marketData(): MarketDataProvider {
    return this;
  }
  get execution(): ExecutionProvider {
    return this;
  }
  get account(): AccountProvider {
    return this;
  }
  readonly events = undefined;

  // ---------------------------------------------------------------- market data

  async loadMarkets(reload = false): Promise<Market[]> {
    return [...(await this.marketMap(reload)).values()];
  }

  /** The unified symbol for user input (`btcusdt`, `BTC-USDT`...), or BadSymbolError listing near matches. */
  async resolveSymbol(input: string): Promise<string> {
    await this.marketMap();
    return this.resolver!.resolve(input);
  }

  async market(symbol: string): Promise<Market> {
    const resolved = await this.resolveSymbol(symbol);
    return this.markets!.get(resolved)!;
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    const s = await this.resolveSymbol(symbol);
    const raw = await this.call('fetchTicker', false, (ex) => ex.fetchTicker(s));
    return toTicker(check(ccxtTickerSchema, raw, this.id, `fetchTicker(${s})`), this.clock.now(), this.id);
  }

  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    const s = await this.resolveSymbol(symbol);
    const depth = this.options.orderBookDepth === undefined ? 5 : this.options.orderBookDepth;
    const raw = await this.call('fetchOrderBook', false, (ex) => ex.fetchOrderBook(s, depth));
    const book = check(ccxtOrderBookSchema, raw, this.id, `fetchOrderBook(${s})`);
    const bid = book.bids[0];
    const ask = book.asks[0];
    return { symbol: s, timestamp: book.timestamp ?? this.clock.now(), bid: bid?.[0], bidSize: bid?.[1], ask: ask?.[0], askSize: ask?.[1] };
  }

  async fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    const s = await this.resolveSymbol(symbol);
    const tfMs = timeframeToMs(timeframe);
    const raw = await this.call('fetchOHLCV', false, (ex) => ex.fetchOHLCV(s, timeframe, since, limit));
    const rows = check(ccxtOhlcvSchema, raw, this.id, `fetchOHLCV(${s}, ${timeframe})`);
    return toCandles(rows, s, timeframe, tfMs, this.clock.now());
  }

  async *watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick> {
    const s = await this.resolveSymbol(symbol);
    if (this.canWatch('watchTicker')) {
      yield* this.streamWithRetry(signal, `watchTicker(${s})`, async () => {
        const raw = await untilAborted(this.call('watchTicker', false, (ex) => ex.watchTicker(s)), signal);
        if (raw === undefined) return [];
        const t = toTicker(check(ccxtTickerSchema, raw.value, this.id, `watchTicker(${s})`), this.clock.now(), this.id);
        return [{ symbol: s, price: t.last, bid: t.bid, ask: t.ask, timestamp: t.timestamp }];
      });
      return;
    }
    let last: Tick | undefined;
    let first = true;
    yield* this.streamWithRetry(signal, `poll ticker ${s}`, async () => {
      if (!first && !(await sleepUnlessAborted(this.clock, this.pollIntervalMs, signal))) return [];
      first = false;
      const t = await this.fetchTicker(s);
      const tick: Tick = { symbol: s, price: t.last, bid: t.bid, ask: t.ask, timestamp: t.timestamp };
      if (last && last.timestamp === tick.timestamp && last.price === tick.price && last.bid === tick.bid && last.ask === tick.ask) return [];
      last = tick;
      return [tick];
    });
  }

  async *watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle> {
    const s = await this.resolveSymbol(symbol);
    const tfMs = timeframeToMs(timeframe);
    const closer = new CandleCloser(s, timeframe, tfMs, this.options.candleCloseGraceMs ?? 2_000);
    if (this.canWatch('watchOHLCV')) {
      yield* this.streamWithRetry(signal, `watchOHLCV(${s}, ${timeframe})`, async () => {
        const deadline = closer.nextDeadline();
        const timer = new AbortController();
        const onAbort = (): void => timer.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          const watch = this.call('watchOHLCV', false, (ex) => ex.watchOHLCV(s, timeframe));
          // Wakes up at the bar's deadline so a quiet market still gets its closed bar.
          if (deadline !== undefined) {
            void sleepUnlessAborted(this.clock, Math.max(0, deadline - this.clock.now()), timer.signal).then((elapsed) => {
              if (elapsed) timer.abort();
            });
          }
          const raw = await untilAborted(watch, timer.signal);
          if (raw === undefined) return signal.aborted ? [] : closer.flush(this.clock.now());
          const rows = check(ccxtOhlcvSchema, raw.value, this.id, `watchOHLCV(${s}, ${timeframe})`);
          return closer.update(rows as OhlcvRow[], this.clock.now());
        } finally {
          signal.removeEventListener('abort', onAbort);
          timer.abort();
        }
      });
      return;
    }
    let first = true;
    yield* this.streamWithRetry(signal, `poll ohlcv ${s} ${timeframe}`, async () => {
      if (!first && !(await sleepUnlessAborted(this.clock, this.pollIntervalMs, signal))) return [];
      first = false;
      const raw = await this.call('fetchOHLCV', false, (ex) => ex.fetchOHLCV(s, timeframe, undefined, 3));
      const rows = check(ccxtOhlcvSchema, raw, this.id, `fetchOHLCV(${s}, ${timeframe})`);
      const now = this.clock.now();
      return [...closer.update(rows as OhlcvRow[], now), ...closer.flush(now)];
    });
  }

  // ---------------------------------------------------------------- execution

  async createOrder(request: OrderRequest): Promise<Order> {
    const req = validateOrderRequest(request, this.id);
    this.requireCredentials('createOrder');
    const market = await this.market(req.symbol);
    const normalized: OrderRequest = { ...req, symbol: market.symbol };
    const known = this.placed.get(req.clientOrderId);
    if (known !== undefined) return (await this.fetchOrder(req.clientOrderId, market.symbol)) ?? known;
    if (this.options.checkExistingBeforeCreate !== false) {
      const existing = await this.fetchOrder(req.clientOrderId, market.symbol);
      if (existing !== undefined) {
        this.logger.info({ clientOrderId: req.clientOrderId }, 'order already exists at the venue; not placing it again');
        return existing;
      }
    }
    const args = toCcxtOrderArgs(normalized, market.type !== 'spot');
    let raw: unknown;
    try {
      raw = await this.call('createOrder', true, (ex) => ex.createOrder(market.symbol, args.type, req.side, req.quantity, args.price, args.params));
    } catch (err) {
      // ccxt maps Binance's "Duplicate order sent." to a plain InvalidOrder, hence the message check.
      const duplicate = err instanceof ProviderError && (err.cause instanceof ccxt.DuplicateOrderId || (err.cause instanceof ccxt.InvalidOrder && /duplicate/i.test(err.message)));
      if (duplicate) {
        const existing = await this.fetchOrder(req.clientOrderId, market.symbol);
        if (existing !== undefined) return existing;
      }
      throw err;
    }
    const parsed = ccxtOrderSchema.safeParse(raw);
    let order: Order;
    if (parsed.success) {
      order = toOrder(parsed.data, this.clock.now(), market.quote, normalized);
    } else {
      // The venue accepted the order but answered with less than we need (some venues return
      // only an id): read it back; if that fails too, report what we sent as submitted.
      this.logger.warn({ clientOrderId: req.clientOrderId }, 'createOrder answer incomplete; fetching the order back');
      order = (await this.fetchOrder(req.clientOrderId, market.symbol).catch(() => undefined)) ?? this.submittedOrder(normalized, raw);
    }
    this.placed.set(req.clientOrderId, order);
    return order;
  }

  async cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    orderIdSchema.parse(clientOrderId);
    this.requireCredentials('cancelOrder');
    const market = await this.market(symbol);
    const raw = await this.call('cancelOrder', true, (ex) => ex.cancelOrder('', market.symbol, { clientOrderId }));
    const parsed = ccxtOrderSchema.safeParse(raw);
    if (parsed.success && parsed.data.side !== undefined) {
      const order = toOrder(parsed.data, this.clock.now(), market.quote);
      return { ...order, clientOrderId, status: order.status === 'accepted' || order.status === 'submitted' ? 'cancelled' : order.status };
    }
    const after = await this.fetchOrder(clientOrderId, market.symbol);
    if (after === undefined) throw new OrderNotFoundError(this.id, `${clientOrderId} on ${market.symbol}`);
    return after;
  }

  async fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined> {
    this.requireCredentials('fetchOrder');
    const market = await this.market(symbol);
    // Conditional orders on derivatives live in a separate book on some venues (Binance algo orders).
    const variants: Array<Record<string, unknown>> = market.type === 'spot' ? [{ clientOrderId }] : [{ clientOrderId }, { clientOrderId, trigger: true }];
    for (const params of variants) {
      try {
        const raw = await this.call('fetchOrder', false, (ex) => ex.fetchOrder('', market.symbol, params));
        const order = toOrder(check(ccxtOrderSchema, raw, this.id, `fetchOrder(${clientOrderId})`), this.clock.now(), market.quote);
        return { ...order, clientOrderId };
      } catch (err) {
        if (err instanceof OrderNotFoundError) continue;
        // Venues without conditional-order lookups reject the `trigger` variant: not found there either.
        if (params['trigger'] === true && err instanceof ProviderError && !err.retryable) return undefined;
        throw err;
      }
    }
    return undefined;
  }

  async fetchOpenOrders(symbol?: string): Promise<Order[]> {
    this.requireCredentials('fetchOpenOrders');
    const market = symbol === undefined ? undefined : await this.market(symbol);
    const raw = await this.call('fetchOpenOrders', false, (ex) => ex.fetchOpenOrders(market?.symbol));
    const list = check(z.array(ccxtOrderSchema), raw, this.id, 'fetchOpenOrders');
    const now = this.clock.now();
    return list.map((o) => toOrder(o, now, this.markets?.get(o.symbol)?.quote ?? ''));
  }

  async fetchMyTrades(symbol: string, since?: number, limit?: number): Promise<MyTrade[]> {
    this.requireCredentials('fetchMyTrades');
    const market = await this.market(symbol);
    const raw = await this.call('fetchMyTrades', false, (ex) => ex.fetchMyTrades(market.symbol, since, limit));
    return check(z.array(ccxtTradeSchema), raw, this.id, `fetchMyTrades(${market.symbol})`).map((t) => toMyTrade(t, market.quote));
  }

  // ---------------------------------------------------------------- account

  async fetchBalances(): Promise<Balance[]> {
    this.requireCredentials('fetchBalances');
    const raw = await this.call('fetchBalance', false, (ex) => ex.fetchBalance());
    return toBalances(check(ccxtBalanceSchema, raw, this.id, 'fetchBalance'));
  }

  async fetchPositions(symbols?: string[]): Promise<Position[]> {
    this.requireCredentials('fetchPositions');
    if (!this.exchange.has['fetchPositions'] || this.options.defaultType === 'spot') return [];
    const resolved = symbols === undefined ? undefined : await Promise.all(symbols.map((s) => this.resolveSymbol(s)));
    const raw = await this.call('fetchPositions', false, (ex) => ex.fetchPositions(resolved));
    const now = this.clock.now();
    const out: Position[] = [];
    for (const p of check(z.array(ccxtPositionSchema), raw, this.id, 'fetchPositions')) {
      const position = toPosition(p, now, this.markets?.get(p.symbol)?.contractSize ?? 1);
      if (position !== undefined) out.push(position);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ex = this.exchange as CcxtExchange & { close?: () => Promise<void> };
    if (typeof ex.close === 'function') await ex.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------- internals

  private get pollIntervalMs(): number {
    return this.options.pollIntervalMs ?? 2_000;
  }

  private canWatch(method: 'watchTicker' | 'watchOHLCV'): boolean {
    return this.options.websocket !== false && this.exchange.has[method] === true;
  }

  private requireCredentials(what: string): void {
    if (this.hasCredentials) return;
    const names = credentialEnvNames(this.id, this.venue);
    throw new AuthenticationError(this.id, `${what} needs API credentials; set ${names.apiKey.at(-1)} and ${names.secret.at(-1)} in the environment`);
  }

  private async marketMap(reload = false): Promise<Map<string, Market>> {
    if (this.markets !== undefined && !reload) return this.markets;
    if (this.marketsLoading !== undefined) return this.marketsLoading;
    this.marketsLoading = (async () => {
      const raw = await this.call('loadMarkets', false, (ex) => ex.loadMarkets(reload));
      const map = new Map<string, Market>();
      const entries: Array<{ symbol: string; id?: string }> = [];
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        const parsed = ccxtMarketSchema.safeParse(value);
        if (!parsed.success) {
          this.logger.warn({ market: key }, 'skipping a market ccxt could not describe');
          continue;
        }
        map.set(parsed.data.symbol, toMarket(parsed.data, Number(this.exchange.precisionMode)));
        entries.push({ symbol: parsed.data.symbol, id: parsed.data.id });
      }
      this.markets = map;
      this.resolver = new SymbolResolver(entries, this.id);
      return map;
    })().finally(() => {
      this.marketsLoading = undefined;
    });
    return this.marketsLoading;
  }

  private async call<T>(method: string, mutating: boolean, fn: (ex: CcxtExchange) => Promise<T>): Promise<T> {
    try {
      return await fn(this.exchange);
    } catch (err) {
      const headers = (this.exchange as unknown as { last_response_headers?: Record<string, unknown> }).last_response_headers;
      const mapped = mapCcxtError(err, { provider: this.id, mutating, responseHeaders: headers ?? undefined });
      this.logger.debug({ method, code: mapped.code, retryable: mapped.retryable }, mapped.message);
      throw mapped;
    }
  }

  /**
   * Runs `step` until `signal` aborts, yielding what it returns. Retryable failures back off
   * (doubling up to 30 s) and the stream goes on; anything else ends the stream with the error.
   */
  private async *streamWithRetry<T>(signal: AbortSignal, what: string, step: () => Promise<T[]>): AsyncIterable<T> {
    let backoff = 500;
    while (!signal.aborted && !this.closed) {
      let items: T[];
      try {
        items = await step();
        backoff = 500;
      } catch (err) {
        // Closing the provider (or the consumer leaving) ends the stream quietly.
        if (signal.aborted || this.closed) return;
        if (err instanceof ProviderError && err.retryable) {
          const wait = err instanceof ProviderError && 'retryAfterMs' in err && typeof err.retryAfterMs === 'number' ? Math.max(err.retryAfterMs, backoff) : backoff;
          this.logger.warn({ stream: what, code: err.code, waitMs: wait }, 'stream error; retrying');
          if (!(await sleepUnlessAborted(this.clock, wait, signal))) return;
          backoff = Math.min(backoff * 2, 30_000);
          continue;
        }
        throw err;
      }
      for (const item of items) {
        if (signal.aborted) return;
        yield item;
      }
    }
  }

  private submittedOrder(req: OrderRequest, raw: unknown): Order {
    const now = this.clock.now();
    const id = raw !== null && typeof raw === 'object' && 'id' in raw ? (raw as { id?: unknown }).id : undefined;
    return {
      clientOrderId: req.clientOrderId,
      venueOrderId: typeof id === 'string' || typeof id === 'number' ? String(id) : undefined,
      symbol: req.symbol,
      side: req.side,
      type: req.type,
      status: 'submitted',
      quantity: req.quantity,
      filledQuantity: 0,
      remainingQuantity: req.quantity,
      price: req.price,
      stopPrice: req.stopPrice,
      reduceOnly: req.reduceOnly,
      timeInForce: req.timeInForce,
      fills: [],
      fee: 0,
      createdAt: now,
      updatedAt: now,
    };
  }
}

