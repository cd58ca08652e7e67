import type { z } from 'zod';
import type { BuiltinEvents, Fill, orderSide, orderStatus, orderType } from '@tradebus/core';

/**
 * The contracts every provider fulfils. Shapes follow the built-in events of @tradebus/core so an
 * agent maps a provider result to an event field by field: an `Order` is an `order.updated`
 * payload minus the bookkeeping fields, a `Tick` is a `price.tick`, a closed `Candle` a
 * `candle.closed`. Prices and quantities are plain numbers in the market's units; timestamps are
 * epoch milliseconds.
 */

export type OrderSide = z.output<typeof orderSide>;
export type OrderType = z.output<typeof orderType>;
export type OrderStatus = z.output<typeof orderStatus>;
export type TimeInForce = 'GTC' | 'IOC' | 'FOK' | 'PO';
export type { Fill };

/** Statuses after which an order never changes again. */
export const TERMINAL_ORDER_STATUSES: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['filled', 'cancelled', 'rejected', 'expired']);

export function isTerminalStatus(status: OrderStatus): boolean {
  return TERMINAL_ORDER_STATUSES.has(status);
}

export interface Range {
  min?: number | undefined;
  max?: number | undefined;
}

export interface Market {
  /** Unified symbol: `BASE/QUOTE` for spot, `BASE/QUOTE:SETTLE` for perpetual swaps (ccxt convention). */
  symbol: string;
  base: string;
  quote: string;
  /** Currency of margin and PnL for derivatives; the quote for spot. */
  settle: string;
  type: 'spot' | 'swap' | 'future' | 'option';
  /** True for USDT-style contracts whose PnL is in the quote currency; undefined for spot. */
  linear?: boolean | undefined;
  /** Base units per contract (1 for spot). Quantities in orders are in contracts. */
  contractSize: number;
  active: boolean;
  /** Tick sizes (not digit counts): price step and quantity step. Undefined when the venue does not say. */
  precision: { price?: number | undefined; amount?: number | undefined };
  limits: { amount: Range; price: Range; cost: Range; leverage?: Range | undefined };
  /** Fee rates as fractions (0.001 = 0.1 %). */
  maker?: number | undefined;
  taker?: number | undefined;
  /** Derivatives: margin an opening position needs, as a share of its notional (1 ÷ leverage), when the venue says. */
  initialMarginRate?: number | undefined;
  /** Derivatives: margin below which a position is liquidated, as a share of its notional, when the venue says. */
  maintenanceMarginRate?: number | undefined;
}

export interface Ticker {
  symbol: string;
  timestamp: number;
  last: number;
  bid?: number | undefined;
  ask?: number | undefined;
  high24h?: number | undefined;
  low24h?: number | undefined;
  baseVolume24h?: number | undefined;
  quoteVolume24h?: number | undefined;
  /** Percent, e.g. 2.5 for +2.5 % over 24 hours. */
  change24hPct?: number | undefined;
}

export interface OrderBookTop {
  symbol: string;
  timestamp: number;
  /** Undefined when that side of the book is empty. */
  bid?: number | undefined;
  bidSize?: number | undefined;
  ask?: number | undefined;
  askSize?: number | undefined;
}

/** A `price.tick` payload plus what a trade print carries. */
export interface Tick {
  symbol: string;
  price: number;
  bid?: number | undefined;
  ask?: number | undefined;
  /** Base quantity of the trade (trade ticks) or undefined (quote ticks). */
  volume?: number | undefined;
  /** Aggressor side of a public trade, when known. */
  side?: OrderSide | undefined;
  tradeId?: string | undefined;
  timestamp: number;
}

/** A `candle.updated` / `candle.closed` payload plus the flag that says which one it is. */
export interface Candle {
  symbol: string;
  timeframe: string;
  /** Open time of the bar. */
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** False while the bar is still forming (an update replaces the previous one of the same bar), true once final. */
  closed: boolean;
}

export interface MarketDataProvider {
  /** The provider's name in the config (`providers.<id>`). */
  readonly id: string;
  /** Markets of the venue. Cached after the first call; `reload` forces a fresh fetch. */
  loadMarkets(reload?: boolean): Promise<Market[]>;
  fetchTicker(symbol: string): Promise<Ticker>;
  fetchOrderBookTop(symbol: string): Promise<OrderBookTop>;
  /**
   * Bars in ascending time order, from `since` (inclusive, bar open time) when given, at most
   * `limit` of them (the newest `limit` when `since` is not given). A bar still forming comes
   * last with `closed: false`.
   */
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]>;
  /** Ticks until `signal` aborts; then the iterator ends without throwing. */
  watchTicks(symbol: string, signal: AbortSignal): AsyncIterable<Tick>;
  /** Forming updates (`closed: false`) and exactly one `closed: true` per finished bar, until `signal` aborts. */
  watchCandles(symbol: string, timeframe: string, signal: AbortSignal): AsyncIterable<Candle>;
  /**
   * The stream of `watchCandles`, pushed: `onCandle` runs synchronously as each bar is played, and
   * a promise it returns holds the source until it settles. Offered by in-process sources (replay,
   * synthetic), where it saves consumers an await per bar. Resolves when the stream ends (data
   * over, or `signal` aborted); rejects with what `onCandle` threw, and the stream ends there.
   */
  pushCandles?(symbol: string, timeframe: string, onCandle: (candle: Candle) => void | Promise<void>, signal: AbortSignal): Promise<void>;
  /** The stream of `watchTicks`, pushed, with the same rules as `pushCandles`. */
  pushTicks?(symbol: string, onTick: (tick: Tick) => void | Promise<void>, signal: AbortSignal): Promise<void>;
  /**
   * True once a finite source (a replay, a synthetic run with a bar count) has played all its
   * data or was stopped: its streams ended for good, and consumers should not reconnect.
   */
  readonly exhausted?: boolean;
}

export interface OrderRequest {
  /** Idempotency key (1–36 chars): a second request with the same id returns the existing order. */
  clientOrderId: string;
  symbol: string;
  side: OrderSide;
  type: OrderType;
  /** Base quantity (contracts for derivatives). */
  quantity: number;
  /** Limit price: required for `limit` and `stop_limit`. */
  price?: number | undefined;
  /** Trigger price: required for `stop_market`, `stop_limit` and `take_profit`. */
  stopPrice?: number | undefined;
  reduceOnly: boolean;
  timeInForce?: TimeInForce | undefined;
}

/** The state of one order; maps 1:1 onto an `order.updated` payload. */
export interface Order {
  clientOrderId: string;
  venueOrderId?: string | undefined;
  symbol: string;
  side: OrderSide;
  type: OrderType;
  status: OrderStatus;
  quantity: number;
  filledQuantity: number;
  remainingQuantity: number;
  averagePrice?: number | undefined;
  price?: number | undefined;
  stopPrice?: number | undefined;
  reduceOnly: boolean;
  timeInForce?: TimeInForce | undefined;
  /**
   * Fills known for this order, oldest first. A live venue often reports only totals on the order
   * itself; `fetchMyTrades` is the complete record there.
   */
  fills: Fill[];
  /** Total fee paid so far, in `feeCurrency`. */
  fee: number;
  feeCurrency?: string | undefined;
  /** Why the order was rejected, cancelled or expired. */
  reason?: string | undefined;
  createdAt: number;
  updatedAt: number;
}

/** One of our own executions, as `fetchMyTrades` returns it. */
export interface MyTrade extends Fill {
  symbol: string;
  side: OrderSide;
  venueOrderId?: string | undefined;
  clientOrderId?: string | undefined;
}

export interface ExecutionProvider {
  readonly id: string;
  /**
   * Places an order. Idempotent on `clientOrderId`: when an order with that id already exists the
   * existing order is returned and nothing new is placed.
   */
  createOrder(request: OrderRequest): Promise<Order>;
  /** Cancels an open order. Throws OrderNotFoundError when the venue does not know it. */
  cancelOrder(clientOrderId: string, symbol: string): Promise<Order>;
  /** The order with this client order id, or undefined when the venue has never seen it. */
  fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined>;
  fetchOpenOrders(symbol?: string): Promise<Order[]>;
  fetchMyTrades(symbol: string, since?: number, limit?: number): Promise<MyTrade[]>;
}

export interface Balance {
  asset: string;
  free: number;
  used: number;
  total: number;
}

export interface Position {
  symbol: string;
  side: 'long' | 'short';
  /** Absolute size in base units (contracts × contract size). */
  quantity: number;
  entryPrice: number;
  markPrice?: number | undefined;
  unrealizedPnl: number;
  realizedPnl?: number | undefined;
  leverage?: number | undefined;
  liquidationPrice?: number | undefined;
  marginMode?: 'isolated' | 'cross' | undefined;
  /** Margin held for the position, in the settle currency. */
  margin?: number | undefined;
  /** Margin the position needs to stay open (below it, it is liquidated), in the settle currency. */
  maintenanceMargin?: number | undefined;
  timestamp: number;
}

export interface AccountProvider {
  readonly id: string;
  /** Assets with a non-zero total. */
  fetchBalances(): Promise<Balance[]>;
  /** Open positions (derivatives, or spot holdings for the paper exchange); flat positions are left out. */
  fetchPositions(symbols?: string[]): Promise<Position[]>;
}

/** An order change as a venue pushes it: the order after the change and the fills that caused it. */
export interface OrderUpdate {
  order: Order;
  /** Fills new since the previous update of this order (the `fills` field of `order.updated`). */
  fills: Fill[];
}

/** Maps onto `account.updated`. */
export interface AccountSnapshot {
  venue: string;
  quoteCurrency: string;
  /** Balances plus unrealised PnL, in `quoteCurrency`. */
  equity: number;
  balances: Balance[];
  positions: Position[];
  unrealizedPnl: number;
  /**
   * Derivatives accounts: margin held by open positions and orders (`used`) and margin the open
   * positions need to stay open (`maintenance`), in `quoteCurrency`. Undefined without derivatives.
   */
  margin?: { used: number; maintenance: number } | undefined;
  timestamp: number;
}

export interface ExecutionListener {
  order?(update: OrderUpdate): void;
  account?(snapshot: AccountSnapshot): void;
}

/** A provider that pushes order and account changes as they happen (the paper exchange does). */
export interface ExecutionEventSource {
  /** Returns the function that unsubscribes. Listeners run synchronously, in subscription order. */
  subscribe(listener: ExecutionListener): () => void;
}

/** Synchronous delivery of every market data record, before any `watch*` consumer sees it. */
export interface MarketDataListener {
  candle?(candle: Candle): void;
  tick?(tick: Tick): void;
  /** Missing bars found in the data (replay): reported, never filled in. */
  gap?(gap: DataGap): void;
  /**
   * Called once every record of one moment has gone out and its consumers took it, before the
   * clock moves on. A returned promise holds the replay until it settles: a backtest waits here
   * until the agents are idle.
   */
  step?(time: number): void | Promise<void>;
  /**
   * A listener that reports what it did asynchronously (a paper venue whose reports wait for its
   * books to be written) says whether it is done: the records of a moment reach consumers only
   * once every listener is, so agents see the venue's reports of a bar before the bar itself,
   * exactly as with a venue that reports at once.
   */
  isIdle?(): boolean;
  whenIdle?(): Promise<void>;
}

export interface DataGap {
  symbol: string;
  timeframe: string;
  /** Open time of the first missing bar. */
  from: number;
  /** Open time of the last missing bar. */
  to: number;
  missingBars: number;
}

/**
 * A market data source that can drive a simulation directly (replay, synthetic). A paper exchange
 * attached here sees each bar before strategies do, so orders placed on a bar's close are matched
 * from the next bar on: no look-ahead.
 */
export interface MarketDataFeed {
  addListener(listener: MarketDataListener): () => void;
  /** The symbols the feed will play, when known before it starts (a paper exchange checks it can value them). */
  readonly symbols?: readonly string[] | undefined;
}

/** A built-in kind, or the kind a custom provider definition names (`ProviderDefinition.kind`). */
export type ProviderKind = 'ccxt' | 'paper' | 'replay' | 'synthetic' | (string & {});

/**
 * What `createProvider` returns: one object per configured provider, with the roles it can play.
 * An agent registered with a provider name checks the role it needs (`requireMarketData(p)`...).
 */
export interface Provider {
  readonly id: string;
  readonly kind: ProviderKind;
  /** Venue name for `account.updated` / `market.snapshot` (e.g. `binance`, `paper`). */
  readonly venue: string;
  readonly marketData?: MarketDataProvider | undefined;
  readonly execution?: ExecutionProvider | undefined;
  readonly account?: AccountProvider | undefined;
  /** Present when the provider pushes order/account changes; poll `fetchOrder` otherwise. */
  readonly events?: ExecutionEventSource | undefined;
  /** Present on simulated data sources (replay, synthetic). */
  readonly feed?: MarketDataFeed | undefined;
  /**
   * Present on a venue that trades another provider's markets on its own terms (paper): the
   * markets of `marketData` as this venue trades them (its leverage cap and margin rates).
   * Whoever describes the markets traded here passes `marketData.loadMarkets()` through it.
   */
  venueMarkets?(markets: readonly Market[]): Market[];
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

/** The fields of an `order.updated` event that come from the venue's view of the order. */
export function orderUpdateFields(order: Order): Omit<BuiltinEvents['order.updated'], 'fills' | 'timestamp' | 'purpose' | 'tradeId'> {
  return {
    clientOrderId: order.clientOrderId,
    venueOrderId: order.venueOrderId,
    symbol: order.symbol,
    side: order.side,
    type: order.type,
    status: order.status,
    quantity: order.quantity,
    filledQuantity: order.filledQuantity,
    averagePrice: order.averagePrice,
    price: order.price,
    stopPrice: order.stopPrice,
    reduceOnly: order.reduceOnly,
    fee: order.fee,
    reason: order.reason,
  };
}
