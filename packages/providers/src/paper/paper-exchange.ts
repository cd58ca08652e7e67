import { CurrencyConverter, silentLogger, toError, type Clock, type Fill, type Logger, type StateStore } from '@tradebus/core';
import { BadSymbolError, ExchangeUnavailableError, InsufficientFundsError, InvalidOrderError, NotSupportedError, OrderNotFoundError } from '../errors.js';
import type {
  AccountProvider,
  AccountSnapshot,
  Balance,
  Candle,
  ExecutionEventSource,
  ExecutionListener,
  ExecutionProvider,
  Market,
  MarketDataListener,
  MarketDataProvider,
  MyTrade,
  Order,
  OrderRequest,
  OrderSide,
  Position,
  Provider,
  Tick,
} from '../types.js';
import { isTerminalStatus } from '../types.js';
import { canonicalSymbol, splitSymbol, SymbolResolver } from '../util/symbols.js';
import { timeframeToMs } from '../util/timeframes.js';
import { validateOrderRequest } from '../validation.js';
import { firstReach, pathPoints, type Direction } from './intrabar.js';
import { applyLinearFill } from './linear-fill.js';
import { PaperLedger, type PaperBooksSource, type PaperHeader, type RestoredBooks, type StoredMarket, type StoredPaperOrder } from './ledger.js';

export type SlippageModel =
  | { model: 'none' }
  /** A fixed adverse price move on every taker fill. */
  | { model: 'bps'; bps: number }
  /** `baseBps + impactBps × (quantity / bar volume)`, capped at `maxBps`: larger orders in thinner bars move price more. */
  | { model: 'volume'; baseBps: number; impactBps: number; maxBps: number };

export interface PaperExchangeOptions {
  /** Provider name; also the venue name in account snapshots unless `venue` is given. */
  id?: string;
  venue?: string;
  clock: Clock;
  logger?: Logger;
  /** Currency equity is reported in, e.g. USDT. */
  quoteCurrency: string;
  /** Starting balances by asset. */
  balances: Record<string, number>;
  /** Fee rates as fractions of notional (0.001 = 0.1 %), charged in the quote currency. */
  fees?: { maker: number; taker: number };
  slippage?: SlippageModel;
  /**
   * Caps how much of a resting limit order fills per bar (a share of the bar's volume) or per trade
   * tick (a share of the trade's size); the rest stays open as partially filled. Off when undefined.
   */
  partialFills?: { maxVolumeShare: number } | undefined;
  /**
   * With candles only: a market order fills at the next bar's open (`next_open`, the default: what
   * a trader reacting to a closed bar can get) or at the close of the bar it was placed after
   * (`close`: the decision and the fill at the same price, an optimistic opt-in).
   */
  marketFillOnCandle?: 'close' | 'next_open';
  /**
   * Spread in basis points of the price: taker fills buy at price × (1 + spread/2) and sell at
   * price × (1 − spread/2). Quotes with their own bid and ask (ticks) use those. Default 2.
   */
  spreadBps?: number;
  /**
   * A market order fills at the first price seen at least this long after it was placed: the
   * open of a later bar (`next_open`), the close of a later bar (`close`), or a later tick.
   * Default 0.
   */
  latencyMs?: number;
  /**
   * Market and triggered stop orders fill at most this share of a bar's volume (of a trade tick's
   * size) per bar; the rest carries to the next bars as partial fills. Default 0.1; 0 turns it off.
   */
  participation?: number;
  /**
   * In a bar that reaches several orders of a symbol: `stop_first` (default, pessimistic) fills
   * stops before targets and limits; `path` fills them in the order the bar's path reaches them
   * (open → nearer extreme → farther extreme → close).
   */
  intrabar?: 'stop_first' | 'path';
  /** Funding of perpetual futures (`BASE/QUOTE:QUOTE`); none when absent. */
  funding?: FundingOptions | undefined;
  /** A resting limit order fills when price touches its level (`touch`) or only when it trades beyond (`through`). */
  limitFill?: 'touch' | 'through';
  /** Leverage of linear perpetual symbols (BASE/QUOTE:QUOTE), default 1; per symbol in `leverageBySymbol`. */
  leverage?: number;
  leverageBySymbol?: Record<string, number>;
  /** Maintenance margin rate for liquidation prices of leveraged positions. */
  maintenanceMarginRate?: number;
  /** Only candles of this timeframe drive matching (others just update the last price). Default: the first timeframe seen per symbol. */
  candleTimeframe?: string | undefined;
  /** Symbols the exchange accepts; any BASE/QUOTE symbol when left out. Unknown symbols are reported with near matches. */
  symbols?: string[] | undefined;
  /** `on_change`: an account snapshot after every fill, cancel or liquidation; `every_bar`: also after every closed bar. */
  accountUpdates?: 'on_change' | 'every_bar';
  /**
   * Where the books are kept (balances, positions, orders, fills), e.g. a namespace of the data
   * store's state log. With a store every change is durable before it is reported and a restart
   * continues from the books; call `open()` before use. Without one (backtests) nothing is kept.
   */
  store?: StateStore | undefined;
  /** Finished orders and executions remembered (and answered by client order id); the oldest go first. */
  history?: { orders?: number; trades?: number } | undefined;
}

interface LastPrice {
  price: number;
  bid: number;
  ask: number;
  /** Volume of the last bar, for the volume slippage model. */
  barVolume: number | undefined;
  source: 'tick' | 'candle';
  timestamp: number;
}

interface SpotHolding {
  quantity: number;
  entryPrice: number;
  realizedPnl: number;
}

interface FuturesPosition {
  /** Signed size: positive long, negative short. */
  quantity: number;
  entryPrice: number;
  leverage: number;
  margin: number;
  realizedPnl: number;
  /** Market time since which funding is settled: the position's opening, then the last funding time paid. */
  fundingAt?: number | undefined;
  /** Funding received (positive) or paid (negative) over the books' life. */
  funding?: number | undefined;
}

export interface FundingOptions {
  /** Funding times are multiples of this from 00:00 UTC. Default 8 h. */
  intervalMs?: number;
  /** Rate per funding time when the series has none for it (e.g. 0.0001 = 0.01 %). */
  rate?: number;
  /** Recorded rates, oldest first: each applies at its own funding time. */
  series?: ReadonlyArray<{ time: number; rate: number }>;
}

interface PaperOrder extends Order {
  seq: number;
  triggered: boolean;
  /** Funds held for the order: quote (buys, futures margin) or base (spot sells). */
  reserved: { asset: string; amount: number };
  /** Fills not yet reported in an order update. */
  unreported: Fill[];
  /** Bar (open time) in which a resting order last filled, for the per-bar volume cap. */
  lastBar: number | undefined;
  barFilled: number;
  /** A market order waiting for a price: not before `notBefore`, at a bar's open or close, or a tick. */
  wait?: { notBefore: number; fillAt: 'open' | 'close' } | undefined;
}

/** The bar a symbol is being matched against, kept for the moment it was played in. */
interface BarContext {
  bar: Candle;
  /** Clock time the bar was played at (its close). */
  playedAt: number;
  timeframeMs: number;
  /** Position on the bar's path (0 = open, 3 = close) of the last fill that opened or added to a position in it. */
  entryAt: number | undefined;
}

type Category = 0 | 1 | 2; // stops, liquidation, targets: the order of processing within one bar

interface MarketKind {
  symbol: string;
  base: string;
  quote: string;
  futures: boolean;
}

const EPS = 1e-12;
/**
 * What is left of a balance or holding after an amount moved out of it, with the rounding residue
 * of adding fills in binary floating point (a few 1e-12 on tens of thousands of coins) taken as
 * the zero it is: no venue keeps such a remainder, and a reconciliation would chase it forever.
 */
const settled = (rest: number, moved: number): number => (Math.abs(rest) <= 1e-9 * Math.abs(moved) ? 0 : rest);
const NO_ORDERS: PaperOrder[] = [];

/**
 * A simulated venue for backtests and paper trading. It never sees the network: feed it market
 * data with `onTick` / `onCandle` (or `attach` it to a market data provider) and it matches
 * orders, charges fees and slippage, keeps balances and positions, and reports every change the
 * way a live venue's user stream would. Deterministic: all time comes from the injected clock.
 */
export class PaperExchange implements ExecutionProvider, AccountProvider, ExecutionEventSource, MarketDataListener, Provider {
  readonly kind = 'paper' as const;
  readonly id: string;
  readonly venue: string;
  private linkedMarketData: MarketDataProvider | undefined;
  private unlink: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly opts: Required<Omit<PaperExchangeOptions, 'id' | 'venue' | 'logger' | 'partialFills' | 'candleTimeframe' | 'symbols' | 'leverageBySymbol' | 'store' | 'history' | 'funding'>> &
    Pick<PaperExchangeOptions, 'partialFills' | 'candleTimeframe' | 'leverageBySymbol' | 'funding'>;
  private readonly resolver: SymbolResolver | undefined;
  private readonly balances = new Map<string, { total: number; used: number }>();
  private readonly spot = new Map<string, SpotHolding>();
  private readonly futures = new Map<string, FuturesPosition>();
  private readonly orders = new Map<string, PaperOrder>();
  private readonly openOrders = new Set<PaperOrder>();
  private readonly pendingMarket: PaperOrder[] = [];
  private readonly prices = new Map<string, LastPrice>();
  /** Currencies already reported as impossible to value. */
  private readonly unvalued = new Set<string>();
  private readonly timeframes = new Map<string, string>();
  /** Open time of the last closed bar matched, per symbol. */
  private readonly lastBars = new Map<string, number>();
  /** The last closed bar matched per symbol, while the moment it was played in lasts. */
  private readonly barContexts = new Map<string, BarContext>();
  /** The market time and path position of the fills being made now (a bar's open, a point inside it). */
  private fillTime: { stamp: number; at: number } | undefined;
  private readonly trades: MyTrade[] = [];
  private readonly listeners = new Set<ExecutionListener>();
  private readonly outbox: Array<() => void> = [];
  private flushing = false;
  private readonly marketKinds = new Map<string, MarketKind>();
  private accountDirty = false;
  private seq = 0;
  private tradeSeq = 0;
  private readonly keepTrades: number;
  private readonly ledger: PaperLedger | undefined;
  /** Resolves when the last change is durable; what was reported before it is on disk. */
  private lastDurable: Promise<void> = Promise.resolve();
  private opened: Promise<void> | undefined;
  private booksFailure: Error | undefined;
  /** Reports waiting for their change to be written. */
  private pendingDeliveries = 0;

  constructor(options: PaperExchangeOptions) {
    this.id = options.id ?? 'paper';
    this.venue = options.venue ?? this.id;
    this.clock = options.clock;
    this.logger = (options.logger ?? silentLogger()).child({ provider: this.id });
    this.opts = {
      clock: options.clock,
      quoteCurrency: options.quoteCurrency,
      balances: options.balances,
      fees: options.fees ?? { maker: 0.001, taker: 0.001 },
      slippage: options.slippage ?? { model: 'none' },
      partialFills: options.partialFills,
      marketFillOnCandle: options.marketFillOnCandle ?? 'next_open',
      spreadBps: options.spreadBps ?? 2,
      latencyMs: options.latencyMs ?? 0,
      participation: options.participation ?? 0.1,
      intrabar: options.intrabar ?? 'stop_first',
      limitFill: options.limitFill ?? 'touch',
      leverage: options.leverage ?? 1,
      leverageBySymbol: options.leverageBySymbol,
      maintenanceMarginRate: options.maintenanceMarginRate ?? 0.005,
      candleTimeframe: options.candleTimeframe,
      accountUpdates: options.accountUpdates ?? 'on_change',
      funding: options.funding,
    };
    for (const [asset, amount] of Object.entries(options.balances)) this.balances.set(asset, { total: amount, used: 0 });
    this.resolver = options.symbols ? new SymbolResolver(options.symbols.map(canonicalSymbol), this.id) : undefined;
    this.keepTrades = options.history?.trades ?? 10_000;
    if (options.store !== undefined) this.ledger = new PaperLedger(options.store, options.history?.orders ?? 10_000, this.keepTrades);
  }

  /**
   * Reads the books from the store (or writes the starting balances on a first start). A
   * restarted paper system continues as a real venue would: same balances, positions, resting
   * orders and fills. Without a store there is nothing to read.
   */
  open(): Promise<void> {
    this.opened ??= (async () => {
      if (this.ledger === undefined) return;
      const books = await PaperLedger.restore(this.ledger.store, this.id);
      if (books === undefined) {
        // A first start: the configured balances become the books.
        this.ledger.touched();
        for (const asset of this.balances.keys()) this.ledger.assetChanged(asset);
        await this.ledger.commit(this.booksSource);
        return;
      }
      this.restoreBooks(books);
    })();
    return this.opened;
  }

  private restoreBooks(books: RestoredBooks): void {
    const h = books.header;
    if (h.quoteCurrency !== this.opts.quoteCurrency) {
      this.logger.warn({ stored: h.quoteCurrency, configured: this.opts.quoteCurrency }, 'paper venue books were kept in another quote currency; equity is reported in the configured one');
    }
    if (JSON.stringify(h.initialBalances) !== JSON.stringify(this.opts.balances)) {
      this.logger.warn(
        { started: h.initialBalances, configured: this.opts.balances },
        'paper venue continues from its stored books: configured balances apply to a fresh data directory only',
      );
    }
    this.balances.clear();
    for (const [asset, b] of books.balances) this.balances.set(asset, { ...b });
    for (const [symbol, x] of books.spot) this.spot.set(symbol, { ...x });
    for (const [symbol, p] of books.futures) this.futures.set(symbol, { ...p });
    for (const [symbol, m] of books.markets) {
      const { lastBar, ...price } = m;
      this.prices.set(symbol, { ...price, barVolume: price.barVolume });
      if (lastBar !== undefined) this.lastBars.set(symbol, lastBar);
    }
    this.seq = h.seq;
    this.tradeSeq = h.tradeSeq;
    for (const stored of books.orders) {
      const { pending, ...rest } = stored;
      const order: PaperOrder = { ...rest, unreported: [] };
      this.orders.set(order.clientOrderId, order);
      if (!isTerminalStatus(order.status)) this.openOrders.add(order);
      if (pending === true && !isTerminalStatus(order.status)) this.pendingMarket.push(order);
    }
    this.trades.push(...books.trades);
    this.ledger!.adopt(books);
    this.logger.info(
      { orders: this.openOrders.size, positions: this.positionList().length, trades: books.trades.length },
      'paper venue books restored',
    );
  }

  /** The current value of each part of the books, for the ledger to write what changed. */
  private readonly booksSource: PaperBooksSource = {
    header: (): PaperHeader => ({ version: 2, quoteCurrency: this.opts.quoteCurrency, initialBalances: this.opts.balances, seq: this.seq, tradeSeq: this.tradeSeq }),
    balance: (asset) => this.balances.get(asset),
    spot: (symbol) => this.spot.get(symbol),
    futures: (symbol) => this.futures.get(symbol),
    market: (symbol): StoredMarket | undefined => {
      const price = this.prices.get(symbol);
      return price === undefined ? undefined : { ...price, lastBar: this.lastBars.get(symbol) };
    },
    order: (cid) => this.storedOrder(cid),
  };

  private storedOrder(clientOrderId: string): StoredPaperOrder | undefined {
    const order = this.orders.get(clientOrderId);
    if (order === undefined) return undefined;
    const { unreported: _unreported, ...rest } = order;
    return this.pendingMarket.includes(order) ? { ...rest, pending: true } : rest;
  }

  /** True when no report waits for its change to be written (a replay holds until then). */
  isIdle(): boolean {
    return this.pendingDeliveries === 0;
  }

  /** Resolves once every change made so far is written and reported. */
  async whenIdle(): Promise<void> {
    while (this.pendingDeliveries > 0) await this.lastDurable.catch(() => undefined);
  }

  /** Calls that need the books: refused once a change could not be written, until a restart. */
  private async usable(): Promise<void> {
    if (this.ledger !== undefined) {
      if (this.opened === undefined) throw new ExchangeUnavailableError(this.id, 'its books are not open yet: call open() before trading');
      await this.opened;
    }
    if (this.booksFailure !== undefined) throw this.booksFailure;
  }

  private failBooks(err: unknown): void {
    if (this.booksFailure !== undefined) return;
    this.booksFailure = new ExchangeUnavailableError(
      this.id,
      `the paper venue stopped because its books could not be written (${toError(err).message}); restart once the data directory is writable`,
      { cause: err },
    );
    this.logger.error({ err: toError(err) }, 'paper venue books could not be written: no further orders are taken');
  }

  /** The market data provider whose prices drive this exchange, when linked (see `linkMarketData`). */
  get marketData(): MarketDataProvider | undefined {
    return this.linkedMarketData;
  }

  /**
   * Records which provider's prices drive this exchange, so agents that need market data can use
   * this provider for both; `unlink` runs on close.
   */
  linkMarketData(source: MarketDataProvider, unlink: () => void): void {
    this.unlink?.();
    this.linkedMarketData = source;
    this.unlink = unlink;
  }

  /**
   * Markets as this venue trades them: linear perpetuals (`BASE/QUOTE:QUOTE`) get the leverage
   * of the symbol as their cap (`limits.leverage.max`), 1 ÷ that leverage as the initial margin
   * rate and the configured maintenance margin rate. Price and quantity steps and minimums stay
   * those of the source: the paper venue adds none of its own. Spot markets and inverse
   * contracts (which this venue does not trade) are returned as they are.
   */
  venueMarkets(markets: readonly Market[]): Market[] {
    return markets.map((m) => {
      const { settle } = splitSymbol(m.symbol);
      if (settle === undefined || settle !== m.quote) return m;
      const leverage = this.leverageOf(m.symbol);
      return {
        ...m,
        limits: { ...m.limits, leverage: { min: 1, max: leverage } },
        initialMarginRate: 1 / leverage,
        maintenanceMarginRate: this.opts.maintenanceMarginRate,
      };
    });
  }

  /** A price feed into this exchange failed: logged, since fills stop until it recovers. */
  reportFeedError(err: unknown): void {
    this.logger.error({ err }, 'paper exchange price feed ended with an error; orders will not fill until it is fed again');
  }

  get execution(): ExecutionProvider {
    return this;
  }
  get account(): AccountProvider {
    return this;
  }
  get events(): ExecutionEventSource {
    return this;
  }

  /** A snapshot lists every balance and position: built only when a listener takes account updates. */
  private wantsAccount(): boolean {
    for (const l of this.listeners) if (l.account !== undefined) return true;
    return false;
  }

  subscribe(listener: ExecutionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------- market data in

  /** A quote or trade: triggers and fills against bid/ask (or the trade price when the tick has none). */
  onTick(tick: Tick): void {
    const symbol = canonicalSymbol(tick.symbol);
    const spread = this.quote(tick.price);
    const bid = tick.bid ?? spread.bid;
    const ask = tick.ask ?? spread.ask;
    const prev = this.prices.get(symbol);
    if (this.opts.funding !== undefined) this.settleFunding(symbol, tick.timestamp, tick.price);
    this.prices.set(symbol, { price: tick.price, bid, ask, barVolume: prev?.barVolume, source: 'tick', timestamp: tick.timestamp });
    if (this.pendingMarket.length > 0) this.fillPendingMarket(symbol, (side) => (side === 'buy' ? ask : bid), tick.volume, tick.timestamp, undefined, undefined);
    this.matchTick(symbol, tick.price, bid, ask, tick.volume);
    this.flush();
  }

  /** A bar. Only closed bars match resting orders (using the intrabar path); forming bars update the last price. */
  onCandle(candle: Candle): void {
    const symbol = canonicalSymbol(candle.symbol);
    const tf = this.opts.candleTimeframe ?? this.timeframes.get(symbol) ?? candle.timeframe;
    if (!this.timeframes.has(symbol)) this.timeframes.set(symbol, tf);
    if (!candle.closed || candle.timeframe !== tf) {
      const prev = this.prices.get(symbol);
      if (prev === undefined || prev.source === 'candle') {
        this.prices.set(symbol, { price: candle.close, ...this.quote(candle.close), barVolume: prev?.barVolume, source: 'candle', timestamp: candle.timestamp });
      }
      return;
    }
    const seen = this.lastBars.get(symbol);
    // A bar this venue has matched already (a replay resuming at the moment it was playing) is
    // not matched again: orders placed after it wait for the next one.
    if (seen !== undefined && candle.timestamp <= seen) return;
    this.lastBars.set(symbol, candle.timestamp);
    const tfMs = timeframeToMs(candle.timeframe);
    const context: BarContext = { bar: candle, playedAt: this.clock.now(), timeframeMs: tfMs, entryAt: undefined };
    this.barContexts.set(symbol, context);
    const closeTime = candle.timestamp + tfMs;
    if (this.opts.funding !== undefined) this.settleFunding(symbol, candle.timestamp, candle.open);
    // Orders waiting for this bar's open fill first, as the bar's path starts there.
    if (this.pendingMarket.length > 0) {
      this.fillPendingMarket(symbol, (side) => this.taker(side, candle.open), candle.volume, candle.timestamp, 'open', { stamp: candle.timestamp, at: 0 }, candle.timestamp);
    }
    this.matchBar(symbol, candle, context);
    if (this.pendingMarket.length > 0) {
      this.fillPendingMarket(symbol, (side) => this.taker(side, candle.close), candle.volume, closeTime, 'close', { stamp: closeTime, at: 3 }, candle.timestamp);
    }
    const quote = this.quote(candle.close);
    const last = this.prices.get(symbol);
    if (last === undefined) {
      this.prices.set(symbol, { price: candle.close, ...quote, barVolume: candle.volume, source: 'candle', timestamp: candle.timestamp });
    } else {
      // Updated in place on every bar: nothing outside the exchange holds these records.
      last.price = candle.close;
      last.bid = quote.bid;
      last.ask = quote.ask;
      last.barVolume = candle.volume;
      last.source = 'candle';
      last.timestamp = candle.timestamp;
    }
    if (this.opts.accountUpdates === 'every_bar') this.accountDirty = true;
    this.flush();
  }

  /** MarketDataListener: lets a replay or synthetic feed drive the exchange (`feed.addListener(paper)`). */
  candle(candle: Candle): void {
    this.onCandle(candle);
  }

  tick(tick: Tick): void {
    this.onTick(tick);
  }

  /**
   * Feeds the exchange from a market data provider until `signal` aborts: ticks of `symbols`, and
   * their candles of `timeframe` when given. Resolves when every stream has ended.
   */
  async attach(source: MarketDataProvider, symbols: string[], signal: AbortSignal, timeframe?: string): Promise<void> {
    const pumps: Array<Promise<void>> = [];
    for (const symbol of symbols) {
      pumps.push(
        (async () => {
          for await (const tick of source.watchTicks(symbol, signal)) this.onTick(tick);
        })(),
      );
      if (timeframe !== undefined) {
        pumps.push(
          (async () => {
            for await (const candle of source.watchCandles(symbol, timeframe, signal)) this.onCandle(candle);
          })(),
        );
      }
    }
    await Promise.all(pumps);
  }

  // ---------------------------------------------------------------- execution

  async createOrder(request: OrderRequest): Promise<Order> {
    await this.usable();
    const order = this.createOrderSync(request);
    // Acknowledged once the books holding it are on disk, as a venue acknowledges an order.
    await this.lastDurable;
    return order;
  }

  /** The same as `createOrder`, without the promise: for synchronous backtest drivers. */
  createOrderSync(request: OrderRequest): Order {
    const existing = this.orders.get(request?.clientOrderId);
    if (existing !== undefined) return this.view(existing);
    const req = validateOrderRequest(request, this.id);
    const market = this.market(req.symbol);
    const last = this.prices.get(market.symbol);
    if (last === undefined) {
      throw new InvalidOrderError(this.id, `no market data for ${market.symbol} yet: feed the paper exchange ticks or candles of it before trading`);
    }
    this.checkReduceOnly(req, market);
    // Placed in the moment the position opened: the rest of that bar is matched against it below,
    // as a venue holding it from the entry on would have; a level the bar crossed fills there.
    const catchUp = this.catchUpContext(req, market.symbol);
    if (catchUp === undefined) this.checkTrigger(req, last.price);
    const now = this.clock.now();
    const order: PaperOrder = {
      clientOrderId: req.clientOrderId,
      venueOrderId: `paper-${++this.seq}`,
      symbol: market.symbol,
      side: req.side,
      type: req.type,
      status: 'accepted',
      quantity: req.quantity,
      filledQuantity: 0,
      remainingQuantity: req.quantity,
      averagePrice: undefined,
      price: req.price,
      stopPrice: req.stopPrice,
      reduceOnly: req.reduceOnly,
      timeInForce: req.timeInForce ?? (req.type === 'market' ? undefined : 'GTC'),
      fills: [],
      fee: 0,
      feeCurrency: market.quote,
      reason: undefined,
      createdAt: now,
      updatedAt: now,
      seq: this.seq,
      triggered: false,
      reserved: { asset: market.quote, amount: 0 },
      unreported: [],
      lastBar: undefined,
      barFilled: 0,
    };
    this.placeOrder(order, market, last);
    if (catchUp !== undefined && !isTerminalStatus(order.status) && this.openOrders.has(order)) this.catchUp(order, market, catchUp);
    this.flush();
    return this.view(order);
  }

  async cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    await this.usable();
    const order = this.orders.get(clientOrderId);
    if (order === undefined || order.symbol !== this.market(symbol).symbol) throw new OrderNotFoundError(this.id, `${clientOrderId} on ${symbol}`);
    if (!isTerminalStatus(order.status)) {
      this.finish(order, 'cancelled', 'cancelled by request');
      this.flush();
    }
    const view = this.view(order);
    await this.lastDurable;
    return view;
  }

  async fetchOrder(clientOrderId: string, _symbol: string): Promise<Order | undefined> {
    await this.usable();
    const order = this.orders.get(clientOrderId);
    return order === undefined ? undefined : this.view(order);
  }

  async fetchOpenOrders(symbol?: string): Promise<Order[]> {
    await this.usable();
    const s = symbol === undefined ? undefined : this.market(symbol).symbol;
    return [...this.openOrders].filter((o) => s === undefined || o.symbol === s).sort((a, b) => a.seq - b.seq).map((o) => this.view(o));
  }

  async fetchMyTrades(symbol: string, since?: number, limit?: number): Promise<MyTrade[]> {
    const s = this.market(symbol).symbol;
    const list = this.trades.filter((t) => t.symbol === s && (since === undefined || t.timestamp >= since));
    return limit === undefined ? list : list.slice(-limit);
  }

  // ---------------------------------------------------------------- account

  async fetchBalances(): Promise<Balance[]> {
    return this.balanceList();
  }

  async fetchPositions(symbols?: string[]): Promise<Position[]> {
    const wanted = symbols === undefined ? undefined : new Set(symbols.map((s) => this.market(s).symbol));
    return this.positionList().filter((p) => wanted === undefined || wanted.has(p.symbol));
  }

  /** Balances, positions and equity now, the payload of `account.updated`. */
  accountSnapshot(): AccountSnapshot {
    const positions = this.positionList();
    const futuresUnrealized = positions.filter((p) => this.isFutures(p.symbol)).reduce((s, p) => s + p.unrealizedPnl, 0);
    const spotUnrealized = positions.filter((p) => !this.isFutures(p.symbol)).reduce((s, p) => s + p.unrealizedPnl, 0);
    return {
      venue: this.venue,
      quoteCurrency: this.opts.quoteCurrency,
      equity: this.equity(),
      balances: this.balanceList(),
      positions,
      unrealizedPnl: futuresUnrealized + spotUnrealized,
      margin: this.margin(),
      timestamp: this.clock.now(),
    };
  }

  /**
   * Margin of the perpetuals books in the account currency, as `accountSnapshot().margin`:
   * `used` is what positions hold plus what open orders on perpetuals hold (their opening margin
   * and taker fee); `maintenance` is Σ |quantity| × mark × maintenanceMarginRate, the margin
   * below which the positions are liquidated. Undefined while no perpetual is open or ordered.
   */
  margin(): { used: number; maintenance: number } | undefined {
    let any = false;
    let used = 0;
    let maintenance = 0;
    const value = this.valuer();
    for (const [symbol, p] of this.futures) {
      if (p.quantity === 0) continue;
      any = true;
      const quote = splitSymbol(symbol).quote;
      used += value(quote, p.margin);
      maintenance += value(quote, this.maintenanceOf(symbol, p));
    }
    for (const o of this.openOrders) {
      if (!this.isFutures(o.symbol)) continue;
      any = true;
      used += value(o.reserved.asset, o.reserved.amount);
    }
    return any ? { used, maintenance } : undefined;
  }

  /** Maintenance margin of a position at the last price (the entry price before any), in its quote. */
  private maintenanceOf(symbol: string, p: FuturesPosition): number {
    const mark = this.prices.get(symbol)?.price ?? p.entryPrice;
    return Math.abs(p.quantity) * mark * this.opts.maintenanceMarginRate;
  }

  /**
   * What the account is worth in the quote currency (as `accountSnapshot().equity`): balances at
   * the last prices plus futures' unrealised P&L. Cheap enough to sample on every bar.
   */
  equity(): number {
    let equity = 0;
    const value = this.valuer();
    for (const [symbol, p] of this.futures) {
      if (p.quantity === 0) continue;
      const mark = this.prices.get(symbol)?.price;
      if (mark !== undefined) equity += value(splitSymbol(symbol).quote, (mark - p.entryPrice) * p.quantity);
    }
    for (const [asset, b] of this.balances) {
      if (Math.abs(b.total) <= EPS && b.used <= EPS) continue;
      equity += value(asset, b.total);
    }
    return equity;
  }

  /** What one unit of `asset` is worth in the account currency at the last prices; undefined when nothing converts it. */
  rateToAccount(asset: string): number | undefined {
    return this.valueIn(asset, this.opts.quoteCurrency) ?? this.converter().rate(asset, this.opts.quoteCurrency);
  }

  /**
   * Values amounts in the account currency at the last prices: directly, else through one
   * currency in between (built once per valuer, on first need); an asset nothing converts counts
   * as 0 and is reported once.
   */
  private valuer(): (asset: string, amount: number) => number {
    let converter: CurrencyConverter | undefined;
    const currency = this.opts.quoteCurrency;
    return (asset, amount) => {
      let rate = this.valueIn(asset, currency);
      if (rate === undefined) {
        converter ??= this.converter();
        rate = converter.rate(asset, currency);
      }
      if (rate === undefined) {
        this.warnUnvalued(asset);
        return 0;
      }
      return amount * rate;
    };
  }

  /** Conversions through one currency in between, from every last price. */
  private converter(): CurrencyConverter {
    const converter = new CurrencyConverter();
    for (const [symbol, last] of this.prices) converter.update(symbol, last.price);
    return converter;
  }

  /** Said once per currency: equity without it is wrong, and the report built on it too. */
  private warnUnvalued(asset: string): void {
    if (this.prices.size === 0 || this.unvalued.has(asset)) return;
    this.unvalued.add(asset);
    const pair = `${asset}/${this.opts.quoteCurrency}`;
    this.logger.warn(
      { asset, quoteCurrency: this.opts.quoteCurrency, pair },
      `no price converts ${asset} into ${this.opts.quoteCurrency}: it counts as 0 in equity until one does; add ${pair} (or a pair through one other currency) to the market data, or set quoteCurrency to ${asset}`,
    );
  }

  async close(): Promise<void> {
    this.unlink?.();
    this.unlink = undefined;
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- placement

  private placeOrder(order: PaperOrder, market: MarketKind, last: LastPrice): void {
    const immediate = order.type === 'market' || (order.type === 'limit' && this.marketable(order, last));
    if (order.type === 'limit' && immediate && order.timeInForce === 'PO') {
      throw new InvalidOrderError(this.id, `post-only order ${order.clientOrderId} would immediately match and take`);
    }
    if (immediate) {
      const ref = order.side === 'buy' ? last.ask : last.bid;
      const price = order.type === 'market' ? this.slipped(order.side, ref, order.quantity, last.barVolume) : this.boundedByLimit(order, this.slipped(order.side, ref, order.quantity, last.barVolume));
      this.requireFunds(order, market, price, false);
      this.register(order);
      const now = this.clock.now();
      if (order.type === 'market' && ((last.source === 'candle' && this.opts.marketFillOnCandle === 'next_open') || this.opts.latencyMs > 0)) {
        // Waits for the first price at or after the latency: a later bar's open (or close), or a tick.
        this.waitForPrice(order, market, price, now + this.opts.latencyMs);
        return;
      }
      let quantity = order.quantity;
      if (order.type === 'market' && last.source === 'candle') {
        // At the close of the bar it follows: no more of it than that bar's volume allows.
        quantity = this.capped(order, quantity, last.barVolume, last.timestamp);
      }
      this.fillChecked(order, market, quantity, price, 'taker');
      if (!isTerminalStatus(order.status) && order.remainingQuantity > 0) this.waitForPrice(order, market, price, now);
      return;
    }
    if (order.timeInForce === 'IOC' || order.timeInForce === 'FOK') {
      this.register(order);
      this.finish(order, 'expired', `${order.timeInForce} order could not fill immediately`);
      return;
    }
    const refPrice = order.type === 'stop_market' || order.type === 'take_profit' ? order.stopPrice! : order.price!;
    this.requireFunds(order, market, refPrice, true);
    this.register(order);
    this.reserve(order, market, refPrice);
  }

  private register(order: PaperOrder): void {
    this.orders.set(order.clientOrderId, order);
    this.openOrders.add(order);
    this.emitOrder(order);
  }

  private marketable(order: PaperOrder, last: LastPrice): boolean {
    return order.side === 'buy' ? order.price! >= last.ask : order.price! <= last.bid;
  }

  private boundedByLimit(order: PaperOrder, price: number): number {
    if (order.price === undefined) return price;
    return order.side === 'buy' ? Math.min(price, order.price) : Math.max(price, order.price);
  }

  /** Stops and take-profits that would trigger at once are rejected, as venues do. */
  private checkTrigger(req: OrderRequest, price: number): void {
    if (req.stopPrice === undefined) return;
    const dir = triggerDirection(req.type, req.side);
    if (dir === undefined) return;
    if (dir === 'up' ? price >= req.stopPrice : price <= req.stopPrice) {
      throw new InvalidOrderError(this.id, `${req.type} ${req.side} order ${req.clientOrderId} would trigger immediately (last price ${price}, trigger ${req.stopPrice})`);
    }
  }

  private checkReduceOnly(req: OrderRequest, market: MarketKind): void {
    if (!req.reduceOnly) return;
    const position = this.signedPosition(market);
    const reduces = req.side === 'sell' ? position > EPS : position < -EPS;
    if (!reduces) {
      throw new InvalidOrderError(this.id, `reduce-only ${req.side} order ${req.clientOrderId} has no ${req.side === 'sell' ? 'long' : 'short'} ${market.symbol} position to reduce`);
    }
  }

  // ---------------------------------------------------------------- funds

  private leverageOf(symbol: string): number {
    return this.opts.leverageBySymbol?.[symbol] ?? this.opts.leverage;
  }

  private balance(asset: string): { total: number; used: number } {
    // Handed out to be changed, as often as not: the books write it with the next change.
    this.ledger?.assetChanged(asset);
    let b = this.balances.get(asset);
    if (b === undefined) this.balances.set(asset, (b = { total: 0, used: 0 }));
    return b;
  }

  private free(asset: string): number {
    const b = this.balance(asset);
    return b.total - b.used;
  }

  /** What an order needs held: quote for buys and futures margin, base for spot sells. */
  private requirement(order: PaperOrder, market: MarketKind, price: number, quantity: number): { asset: string; amount: number } {
    if (market.futures) {
      const opening = order.reduceOnly ? 0 : this.openingQuantity(market, order.side, quantity);
      return { asset: market.quote, amount: (opening * price) / this.leverageOf(market.symbol) + quantity * price * this.opts.fees.taker };
    }
    if (order.side === 'buy') return { asset: market.quote, amount: quantity * price * (1 + this.opts.fees.taker) };
    return { asset: market.base, amount: quantity };
  }

  private requireFunds(order: PaperOrder, market: MarketKind, price: number, resting: boolean): void {
    const need = this.requirement(order, market, price, order.quantity);
    if (!market.futures && order.side === 'sell' && order.reduceOnly) return;
    if (need.amount > this.free(need.asset) + EPS) {
      throw new InsufficientFundsError(
        this.id,
        `${order.clientOrderId} needs ${round(need.amount)} ${need.asset}${resting ? ' held while it rests' : ''}, ${round(this.free(need.asset))} available`,
      );
    }
  }

  private reserve(order: PaperOrder, market: MarketKind, price: number): void {
    const need = this.requirement(order, market, price, order.remainingQuantity);
    order.reserved = need;
    this.balance(need.asset).used += need.amount;
  }

  private release(order: PaperOrder): void {
    if (order.reserved.amount <= 0) return;
    const b = this.balance(order.reserved.asset);
    b.used = Math.max(0, settled(b.used - order.reserved.amount, order.reserved.amount));
    order.reserved = { asset: order.reserved.asset, amount: 0 };
  }

  // ---------------------------------------------------------------- matching

  /** A market order (or the rest of one) waits for a price: not before `notBefore`, at a bar's open or close per the fill mode. */
  private waitForPrice(order: PaperOrder, market: MarketKind, price: number, notBefore: number): void {
    order.wait = { notBefore, fillAt: this.opts.marketFillOnCandle === 'next_open' ? 'open' : 'close' };
    this.reserve(order, market, price);
    if (!this.pendingMarket.includes(order)) this.pendingMarket.push(order);
  }

  /**
   * Fills the market orders of `symbol` waiting for a price, with one seen at `time`: a tick
   * (`point` undefined) or a bar's open or close. Each fills up to the participation cap of the
   * bar (or tick); what is left waits for the next one.
   */
  private fillPendingMarket(
    symbol: string,
    priceFor: (side: OrderSide) => number,
    volume: number | undefined,
    time: number,
    point: 'open' | 'close' | undefined,
    fillTime: { stamp: number; at: number } | undefined,
    bar?: number,
  ): void {
    for (let i = 0; i < this.pendingMarket.length; ) {
      const order = this.pendingMarket[i]!;
      const wait = order.wait;
      if (order.symbol !== symbol || (wait !== undefined && (time < wait.notBefore || (point !== undefined && wait.fillAt !== point)))) {
        i++;
        continue;
      }
      this.pendingMarket.splice(i, 1);
      if (isTerminalStatus(order.status)) continue;
      order.wait = undefined;
      const market = this.market(symbol);
      this.release(order);
      const quantity = this.capped(order, order.remainingQuantity, volume, bar);
      const price = this.slipped(order.side, priceFor(order.side), quantity, volume);
      this.withFillTime(fillTime, () => this.fillChecked(order, market, quantity, price, 'taker'));
      // The rest waits for the next bar (or tick): after this one, whatever the latency was.
      if (!isTerminalStatus(order.status) && order.remainingQuantity > 0) this.waitForPrice(order, market, price, time + 1);
    }
  }

  /** Runs `fills` with the market time and path position their fills are stamped with. */
  private withFillTime(time: { stamp: number; at: number } | undefined, fills: () => void): void {
    const before = this.fillTime;
    this.fillTime = time;
    try {
      fills();
    } finally {
      this.fillTime = before;
    }
  }

  /**
   * How much of `quantity` may fill now under the participation cap: a share of the bar's volume
   * (less what the order filled earlier in the same bar), or of a trade tick's size. All of it
   * when the cap is off or the volume unknown.
   */
  private capped(order: PaperOrder, quantity: number, volume: number | undefined, bar: number | undefined): number {
    const share = this.opts.participation;
    if (!(share > 0) || volume === undefined || !(volume > 0)) return quantity;
    if (bar !== undefined && order.lastBar !== bar) {
      order.lastBar = bar;
      order.barFilled = 0;
    }
    const room = share * volume - (bar !== undefined ? order.barFilled : 0);
    let q = Math.min(quantity, Math.max(0, room));
    if (q < quantity) {
      // A part fills in the order's own lot size (as many decimals as its quantity has), as a
      // venue fills in its lot step: the parts add up to the order, with no dust left over.
      const scale = 10 ** decimalsOf(order.quantity);
      q = Math.floor(q * scale + 1e-9) / scale;
    }
    if (bar !== undefined) order.barFilled += q;
    return q;
  }

  /** Half the spread around `mid`: where a taker buys (ask) and sells (bid). */
  private quote(mid: number): { bid: number; ask: number } {
    const half = this.opts.spreadBps / 20_000;
    return { bid: mid * (1 - half), ask: mid * (1 + half) };
  }

  /** What a taker pays (buy) or gets (sell) where the mid price is `price`. */
  private taker(side: OrderSide, price: number): number {
    const half = this.opts.spreadBps / 20_000;
    return side === 'buy' ? price * (1 + half) : price * (1 - half);
  }

  private matchTick(symbol: string, price: number, bid: number, ask: number, volume: number | undefined): void {
    const market = this.market(symbol);
    const strict = this.opts.limitFill === 'through';
    const candidates = this.candidates(symbol);
    for (const order of candidates) {
      if (isTerminalStatus(order.status) || this.category(order) !== 0) continue;
      const dir = triggerDirection(order.type, order.side)!;
      if (!(dir === 'up' ? price >= order.stopPrice! : price <= order.stopPrice!)) continue;
      order.triggered = true;
      if (order.type === 'stop_limit') {
        if (this.limitReachedAtQuote(order, bid, ask, strict)) this.fillResting(order, market, order.price!, 'taker', volume, undefined);
        continue;
      }
      this.release(order);
      this.fillChecked(order, market, order.remainingQuantity, this.slipped(order.side, order.side === 'buy' ? ask : bid, order.remainingQuantity, undefined), 'taker');
    }
    this.checkLiquidation(market, (level, dir) => ((dir === 'down' ? price <= level : price >= level) ? level : undefined));
    for (const order of candidates) {
      if (isTerminalStatus(order.status) || this.category(order) !== 2) continue;
      if (order.type === 'take_profit') {
        const dir = triggerDirection(order.type, order.side)!;
        if (!(dir === 'up' ? price >= order.stopPrice! : price <= order.stopPrice!)) continue;
        this.release(order);
        this.fillChecked(order, market, order.remainingQuantity, this.slipped(order.side, order.side === 'buy' ? ask : bid, order.remainingQuantity, undefined), 'taker');
        continue;
      }
      if (this.limitReachedAtQuote(order, bid, ask, strict) || (order.side === 'buy' ? price < order.price! : price > order.price!)) {
        this.fillResting(order, market, order.price!, 'maker', volume, undefined);
      }
    }
  }

  private limitReachedAtQuote(order: PaperOrder, bid: number, ask: number, strict: boolean): boolean {
    if (order.side === 'buy') return strict ? ask < order.price! : ask <= order.price!;
    return strict ? bid > order.price! : bid >= order.price!;
  }

  private matchBar(symbol: string, bar: Candle, context: BarContext): void {
    const candidates = this.candidates(symbol);
    // Nothing rests and nothing can be liquidated (spot, or no futures position): nothing to match.
    if (candidates.length === 0 && this.futures.size === 0) return;
    const market = this.market(symbol);
    const points = pathPoints(bar);
    const strict = this.opts.limitFill === 'through';
    // Fills inside the bar are stamped with their moment on its path (open + a share of its length).
    const at = (position: number): { stamp: number; at: number } => ({ stamp: bar.timestamp + Math.floor(Math.min(0.999, position / 3) * context.timeframeMs), at: position });
    // A stop-limit triggered in this bar has had its chance to fill in the rest of the bar already.
    const triggeredHere = new Set<PaperOrder>();
    type Planned = { order: PaperOrder; at: number; price: number };
    const plan = (category: Category | 'all'): Planned[] => {
      const out: Planned[] = [];
      for (const order of candidates) {
        // An order waiting for the next price as a market order (the rest of a capped stop) is not matched here.
        if (isTerminalStatus(order.status) || order.wait !== undefined || (category !== 'all' && this.category(order) !== category) || triggeredHere.has(order)) continue;
        if (order.type === 'limit' || (order.type === 'stop_limit' && order.triggered)) {
          const reach = firstReach(points, order.price!, order.side === 'buy' ? 'down' : 'up', 0, strict);
          if (reach) out.push({ order, at: reach.at, price: order.price! });
          continue;
        }
        const reach = firstReach(points, order.stopPrice!, triggerDirection(order.type, order.side)!);
        if (reach) out.push({ order, at: reach.at, price: reach.price });
      }
      return out.sort((a, b) => a.at - b.at || a.order.seq - b.order.seq);
    };

    const stopReached = ({ order, at: position, price }: Planned): void => {
      order.triggered = true;
      if (order.type === 'stop_limit') {
        triggeredHere.add(order);
        // Once triggered the order is a limit order: it fills at once if the trigger price is
        // within its limit, otherwise later in the bar if the path comes back to the limit.
        const marketableNow = order.side === 'buy' ? price <= order.price! : price >= order.price!;
        if (marketableNow) {
          this.withFillTime(at(position), () => this.fillResting(order, market, this.boundedByLimit(order, price), 'taker', undefined, undefined));
        } else {
          const later = firstReach(points, order.price!, order.side === 'buy' ? 'down' : 'up', position, strict);
          if (later) this.withFillTime(at(later.at), () => this.fillResting(order, market, order.price!, 'maker', undefined, undefined));
        }
        return;
      }
      this.triggered(order, market, price, bar.volume, bar.timestamp, at(position));
    };
    const targetReached = ({ order, at: position, price }: Planned): void => {
      if (order.type === 'take_profit') this.triggered(order, market, price, bar.volume, bar.timestamp, at(position));
      else this.withFillTime(at(position), () => this.fillResting(order, market, price, 'maker', bar.volume, bar.timestamp));
    };

    if (this.opts.intrabar === 'path') {
      this.checkLiquidation(market, (level, dir) => firstReach(points, level, dir)?.price);
      for (const planned of plan('all')) {
        if (isTerminalStatus(planned.order.status) || planned.order.wait !== undefined) continue;
        if (this.category(planned.order) === 0) stopReached(planned);
        else targetReached(planned);
      }
      return;
    }
    for (const planned of plan(0)) {
      if (!isTerminalStatus(planned.order.status) && planned.order.wait === undefined) stopReached(planned);
    }
    this.checkLiquidation(market, (level, dir) => firstReach(points, level, dir)?.price);
    for (const planned of plan(2)) {
      if (!isTerminalStatus(planned.order.status) && planned.order.wait === undefined) targetReached(planned);
    }
  }

  /**
   * A stop or take-profit reached at `level` (or at the open past it): it becomes a market order,
   * paying the spread and slippage, up to the participation cap of the bar; the rest waits for the
   * next bar like any market order.
   */
  private triggered(order: PaperOrder, market: MarketKind, level: number, volume: number | undefined, bar: number | undefined, time: { stamp: number; at: number }): void {
    order.triggered = true;
    this.release(order);
    const quantity = this.capped(order, order.remainingQuantity, volume, bar);
    const price = this.slipped(order.side, this.taker(order.side, level), quantity, volume);
    this.withFillTime(time, () => this.fillChecked(order, market, quantity, price, 'taker'));
    if (!isTerminalStatus(order.status) && order.remainingQuantity > 0) this.waitForPrice(order, market, price, time.stamp + 1);
  }

  /**
   * The bar an order placed now belongs to, when it is placed in the moment a position of its
   * symbol opened inside the bar just played: a protective order sent in reaction to the entry's
   * fill, which a venue holding it from the entry on would have matched against the rest of that bar.
   */
  private catchUpContext(req: OrderRequest, symbol: string): BarContext | undefined {
    const context = this.barContexts.get(symbol);
    if (context === undefined || context.entryAt === undefined || context.playedAt !== this.clock.now()) return undefined;
    if (!req.reduceOnly) return undefined;
    return req.type === 'stop_market' || req.type === 'take_profit' || req.type === 'limit' ? context : undefined;
  }

  /** Matches a resting order just placed against the rest of the bar its position opened in. */
  private catchUp(order: PaperOrder, market: MarketKind, context: BarContext): void {
    const points = pathPoints(context.bar);
    const from = context.entryAt!;
    const at = (position: number): { stamp: number; at: number } => ({ stamp: context.bar.timestamp + Math.floor(Math.min(0.999, position / 3) * context.timeframeMs), at: position });
    if (order.type === 'limit') {
      const reach = firstReach(points, order.price!, order.side === 'buy' ? 'down' : 'up', from, this.opts.limitFill === 'through');
      if (reach !== undefined && reach.at > from) this.withFillTime(at(reach.at), () => this.fillResting(order, market, order.price!, 'maker', context.bar.volume, context.bar.timestamp));
      return;
    }
    const reach = firstReach(points, order.stopPrice!, triggerDirection(order.type, order.side)!, from);
    if (reach !== undefined) this.triggered(order, market, reach.price, context.bar.volume, context.bar.timestamp, at(reach.at));
  }

  /** Open orders of a symbol in placement order, as a snapshot (orders placed while matching wait for the next price). */
  private candidates(symbol: string): PaperOrder[] {
    if (this.openOrders.size === 0) return NO_ORDERS;
    // The set keeps insertion order, which is placement order.
    const out: PaperOrder[] = [];
    for (const o of this.openOrders) if (o.symbol === symbol && (this.pendingMarket.length === 0 || !this.pendingMarket.includes(o))) out.push(o);
    return out;
  }

  private category(order: PaperOrder): Category {
    if ((order.type === 'stop_market' || order.type === 'stop_limit') && !order.triggered) return 0;
    return 2;
  }

  /** A resting limit order (or triggered stop-limit) fills, capped by the volume share when partial fills are on. */
  private fillResting(order: PaperOrder, market: MarketKind, price: number, liquidity: 'maker' | 'taker', volume: number | undefined, bar: number | undefined): void {
    let quantity = order.remainingQuantity;
    const share = this.opts.partialFills?.maxVolumeShare;
    if (share !== undefined && volume !== undefined && liquidity === 'maker') {
      if (bar !== undefined && order.lastBar !== bar) {
        order.lastBar = bar;
        order.barFilled = 0;
      }
      const cap = share * volume - (bar !== undefined ? order.barFilled : 0);
      quantity = Math.min(quantity, Math.max(0, cap));
      if (quantity <= EPS) return;
      if (bar !== undefined) order.barFilled += quantity;
    }
    const reservedBefore = order.reserved.amount;
    const remainingBefore = order.remainingQuantity;
    this.release(order);
    this.fillChecked(order, market, quantity, price, liquidity);
    // The unfilled rest keeps its share of the hold.
    if (!isTerminalStatus(order.status) && remainingBefore > 0) {
      const keep = reservedBefore * (order.remainingQuantity / remainingBefore);
      order.reserved = { asset: order.reserved.asset, amount: keep };
      this.balance(order.reserved.asset).used += keep;
    }
  }

  /** Fills after re-checking reduce-only and funds against the state at this moment. */
  private fillChecked(order: PaperOrder, market: MarketKind, quantity: number, price: number, liquidity: 'maker' | 'taker'): void {
    let qty = quantity;
    if (order.reduceOnly) {
      const position = Math.abs(this.signedPosition(market));
      const reduces = order.side === 'sell' ? this.signedPosition(market) > EPS : this.signedPosition(market) < -EPS;
      if (!reduces) {
        this.finish(order, 'expired', 'reduce-only order has no position left to reduce');
        return;
      }
      qty = Math.min(qty, position);
    }
    const need = this.requirement(order, market, price, qty);
    const skipFundsCheck = !market.futures && order.side === 'sell' && order.reduceOnly;
    if (!skipFundsCheck && need.amount > this.free(need.asset) + EPS) {
      this.finish(order, 'expired', `insufficient funds when the order came to fill: needs ${round(need.amount)} ${need.asset}, ${round(this.free(need.asset))} available`);
      return;
    }
    const before = this.signedPosition(market);
    this.fill(order, market, qty, price, liquidity);
    // Like venues do, reduce-only orders go once their position is closed (the other leg of a
    // stop/target pair, the remainder of this order).
    if (Math.abs(before) > EPS && Math.abs(this.signedPosition(market)) <= EPS) {
      for (const o of this.candidates(market.symbol)) if (o.reduceOnly) this.finish(o, 'expired', 'position closed; reduce-only order dropped');
    }
  }

  // ---------------------------------------------------------------- fills and accounting

  private fill(order: PaperOrder, market: MarketKind, quantity: number, price: number, liquidity: 'maker' | 'taker'): void {
    if (quantity <= EPS) return;
    // Stamped with when in the market it happened (a bar's open, a point inside it), not when the bar was played.
    const now = this.fillTime?.stamp ?? this.clock.now();
    const opening = this.openingQuantity(market, order.side, quantity) > EPS;
    const notional = quantity * price;
    const fee = notional * (liquidity === 'maker' ? this.opts.fees.maker : this.opts.fees.taker);
    if (market.futures) this.applyFuturesFill(market, order.side, quantity, price, fee);
    else this.applySpotFill(market, order.side, quantity, price, fee);
    const fill: Fill = { tradeId: `paper-t-${++this.tradeSeq}`, price, quantity, fee, feeCurrency: market.quote, liquidity, timestamp: now };
    const filledBefore = order.filledQuantity;
    order.filledQuantity = filledBefore + quantity;
    order.remainingQuantity = Math.max(0, order.quantity - order.filledQuantity);
    if (order.remainingQuantity <= EPS * order.quantity) order.remainingQuantity = 0;
    order.averagePrice = ((order.averagePrice ?? 0) * filledBefore + notional) / order.filledQuantity;
    order.fee += fee;
    order.fills.push(fill);
    order.unreported.push(fill);
    order.updatedAt = now;
    this.recordTrade({ ...fill, symbol: market.symbol, side: order.side, venueOrderId: order.venueOrderId, clientOrderId: order.clientOrderId });
    const context = this.barContexts.get(market.symbol);
    if (opening && context !== undefined && context.playedAt === this.clock.now()) context.entryAt = this.fillTime?.at ?? 3;
    if (order.remainingQuantity === 0) {
      order.status = 'filled';
      this.release(order);
      this.openOrders.delete(order);
    } else {
      order.status = 'partially_filled';
    }
    this.emitOrder(order);
    this.accountDirty = true;
  }

  private applySpotFill(market: MarketKind, side: OrderSide, quantity: number, price: number, fee: number): void {
    const quote = this.balance(market.quote);
    const base = this.balance(market.base);
    const holding = this.spot.get(market.symbol) ?? { quantity: 0, entryPrice: 0, realizedPnl: 0 };
    if (side === 'buy') {
      quote.total -= quantity * price + fee;
      base.total += quantity;
      holding.entryPrice = (holding.entryPrice * holding.quantity + quantity * price) / (holding.quantity + quantity);
      holding.quantity += quantity;
    } else {
      base.total = settled(base.total - quantity, quantity);
      quote.total += quantity * price - fee;
      const closed = Math.min(quantity, holding.quantity);
      holding.realizedPnl += closed * (price - holding.entryPrice) - fee;
      holding.quantity = settled(holding.quantity - closed, closed);
      if (holding.quantity <= EPS) holding.quantity = 0;
    }
    this.spot.set(market.symbol, holding);
  }

  private applyFuturesFill(market: MarketKind, side: OrderSide, quantity: number, price: number, fee: number): void {
    const wallet = this.balance(market.quote);
    const leverage = this.leverageOf(market.symbol);
    const pos = this.futures.get(market.symbol) ?? { quantity: 0, entryPrice: 0, leverage, margin: 0, realizedPnl: 0 };
    // Funding is owed for funding times after the position was opened.
    if (pos.quantity === 0) pos.fundingAt = this.fillTime?.stamp ?? this.clock.now();
    const signed = side === 'buy' ? quantity : -quantity;
    wallet.total -= fee;
    pos.realizedPnl -= fee;
    const { pnl, opened } = applyLinearFill(pos, wallet, signed, price, leverage);
    pos.realizedPnl += pnl;
    if (opened) pos.leverage = leverage;
    this.futures.set(market.symbol, pos);
  }

  /**
   * Pays or collects funding for every funding time in (fundingAt, time] while `symbol`'s
   * perpetual position is open: a long pays quantity × mark × rate when the rate is positive, a
   * short receives it. The mark is the first price at or after the funding time.
   */
  private settleFunding(symbol: string, time: number, mark: number): void {
    const pos = this.futures.get(symbol);
    if (pos === undefined || pos.quantity === 0 || pos.fundingAt === undefined) return;
    const funding = this.opts.funding!;
    const interval = funding.intervalMs ?? 8 * 3_600_000;
    let due = (Math.floor(pos.fundingAt / interval) + 1) * interval;
    if (due > time) return;
    const wallet = this.balance(splitSymbol(symbol).quote);
    for (; due <= time; due += interval) {
      const rate = fundingRateAt(funding, due);
      const payment = -pos.quantity * mark * rate;
      wallet.total += payment;
      pos.realizedPnl += payment;
      pos.funding = (pos.funding ?? 0) + payment;
      pos.fundingAt = due;
    }
    this.ledger?.symbolChanged(symbol);
    this.accountDirty = true;
  }

  /** Funding received (positive) or paid (negative) per perpetual, over the books' life. */
  fundingBySymbol(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [symbol, p] of this.futures) if (p.funding !== undefined && p.funding !== 0) out[symbol] = p.funding;
    return out;
  }

  /** Isolated-margin liquidation: the position is closed at its liquidation price and its margin is lost. */
  private checkLiquidation(market: MarketKind, reached: (level: number, direction: Direction) => number | undefined): void {
    if (!market.futures) return;
    const pos = this.futures.get(market.symbol);
    if (pos === undefined || pos.quantity === 0) return;
    const liq = this.liquidationPrice(pos);
    const price = reached(liq, pos.quantity > 0 ? 'down' : 'up');
    if (price === undefined) return;
    const quantity = Math.abs(pos.quantity);
    const wallet = this.balance(market.quote);
    const loss = pos.margin;
    wallet.total -= loss;
    wallet.used = Math.max(0, wallet.used - pos.margin);
    pos.realizedPnl -= loss;
    const side: OrderSide = pos.quantity > 0 ? 'sell' : 'buy';
    pos.quantity = 0;
    pos.margin = 0;
    const now = this.clock.now();
    const id = `liquidation-${++this.seq}`;
    const fill: Fill = { tradeId: `paper-t-${++this.tradeSeq}`, price: liq, quantity, fee: 0, feeCurrency: market.quote, liquidity: 'taker', timestamp: now };
    const order: PaperOrder = {
      clientOrderId: id,
      venueOrderId: id,
      symbol: market.symbol,
      side,
      type: 'market',
      status: 'filled',
      quantity,
      filledQuantity: quantity,
      remainingQuantity: 0,
      averagePrice: liq,
      reduceOnly: true,
      fills: [fill],
      fee: 0,
      feeCurrency: market.quote,
      reason: `liquidated at ${round(liq)}: the position's margin (${round(loss)} ${market.quote}) is lost`,
      createdAt: now,
      updatedAt: now,
      seq: this.seq,
      triggered: true,
      reserved: { asset: market.quote, amount: 0 },
      unreported: [fill],
      lastBar: undefined,
      barFilled: 0,
    };
    this.orders.set(id, order);
    this.recordTrade({ ...fill, symbol: market.symbol, side, venueOrderId: id, clientOrderId: id });
    this.logger.warn({ symbol: market.symbol, price: liq }, 'paper position liquidated');
    this.emitOrder(order);
    this.accountDirty = true;
    // Reduce-only orders of the symbol have nothing left to reduce.
    for (const o of this.candidates(market.symbol)) if (o.reduceOnly) this.finish(o, 'expired', 'position liquidated');
  }

  /**
   * Isolated margin: the price at which the position's margin plus its unrealised P&L is down to
   * the maintenance margin at that price, Q·E/L + Q·(P − E) = Q·P·m for a long, so
   * P = E·(1 − 1/L)/(1 − m), and E·(1 + 1/L)/(1 + m) for a short (as linear perpetual venues
   * compute it, without their tiers and fees).
   */
  private liquidationPrice(pos: FuturesPosition): number {
    const mmr = this.opts.maintenanceMarginRate;
    const lev = pos.leverage;
    return pos.quantity > 0 ? (pos.entryPrice * (1 - 1 / lev)) / (1 - mmr) : (pos.entryPrice * (1 + 1 / lev)) / (1 + mmr);
  }

  private finish(order: PaperOrder, status: 'cancelled' | 'expired' | 'rejected', reason: string): void {
    this.release(order);
    order.status = status;
    order.reason = reason;
    order.updatedAt = this.clock.now();
    this.openOrders.delete(order);
    const i = this.pendingMarket.indexOf(order);
    if (i >= 0) this.pendingMarket.splice(i, 1);
    this.emitOrder(order);
    this.accountDirty = true;
  }

  // ---------------------------------------------------------------- reporting

  private view(order: PaperOrder): Order {
    return {
      clientOrderId: order.clientOrderId,
      venueOrderId: order.venueOrderId,
      symbol: order.symbol,
      side: order.side,
      type: order.type,
      status: order.status,
      quantity: order.quantity,
      filledQuantity: order.filledQuantity,
      remainingQuantity: order.remainingQuantity,
      averagePrice: order.averagePrice,
      price: order.price,
      stopPrice: order.stopPrice,
      reduceOnly: order.reduceOnly,
      timeInForce: order.timeInForce,
      fills: order.fills.map((f) => ({ ...f })),
      fee: order.fee,
      feeCurrency: order.feeCurrency,
      reason: order.reason,
      createdAt: order.createdAt,
      updatedAt: order.updatedAt,
    };
  }

  /** Keeps the newest executions (fetchMyTrades); the books on disk keep the same ones. */
  private recordTrade(trade: MyTrade): void {
    this.trades.push(trade);
    const dropped = this.ledger !== undefined ? this.ledger.tradeAdded(trade) : Math.max(0, this.trades.length - this.keepTrades);
    if (dropped > 0) this.trades.splice(0, dropped);
  }

  private emitOrder(order: PaperOrder): void {
    if (this.ledger !== undefined) {
      for (const cid of this.ledger.orderChanged(order.clientOrderId, order.symbol, isTerminalStatus(order.status))) this.orders.delete(cid);
    }
    const update = { order: this.view(order), fills: order.unreported.splice(0) };
    this.outbox.push(() => {
      for (const l of this.listeners) l.order?.(update);
    });
  }

  /**
   * Delivers queued updates after the state change that caused them is complete, so a listener
   * that places an order from inside a callback never sees (or mutates) a half-applied fill.
   */
  private flush(): void {
    if (this.accountDirty && !this.wantsAccount()) this.accountDirty = false;
    if (this.accountDirty) {
      this.accountDirty = false;
      const snapshot = this.accountSnapshot();
      this.outbox.push(() => {
        for (const l of this.listeners) l.account?.(snapshot);
      });
    }
    if (this.ledger !== undefined) {
      const durable = this.ledger.commit(this.booksSource);
      if (durable === undefined && this.outbox.length === 0) return;
      // What the change made is reported once it is on disk, in the order the changes were made.
      const batch = this.outbox.splice(0);
      const after = durable ?? this.lastDurable;
      this.lastDurable = after;
      this.pendingDeliveries++;
      after.then(
        () => {
          this.pendingDeliveries--;
          this.deliver(batch);
        },
        (err: unknown) => {
          this.pendingDeliveries--;
          this.failBooks(err);
        },
      );
      return;
    }
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.outbox.length > 0) {
        const deliver = this.outbox.shift()!;
        try {
          deliver();
        } catch (err) {
          this.logger.error({ err }, 'paper exchange listener threw');
        }
        if (this.accountDirty && this.outbox.length === 0) {
          this.accountDirty = false;
          const snapshot = this.accountSnapshot();
          this.outbox.push(() => {
            for (const l of this.listeners) l.account?.(snapshot);
          });
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private deliver(batch: Array<() => void>): void {
    for (const deliver of batch) {
      try {
        deliver();
      } catch (err) {
        this.logger.error({ err }, 'paper exchange listener threw');
      }
    }
  }

  private balanceList(): Balance[] {
    const out: Balance[] = [];
    for (const [asset, b] of this.balances) {
      if (Math.abs(b.total) <= EPS && b.used <= EPS) continue;
      out.push({ asset, free: b.total - b.used, used: b.used, total: b.total });
    }
    return out.sort((a, b) => a.asset.localeCompare(b.asset));
  }

  private positionList(): Position[] {
    const now = this.clock.now();
    const out: Position[] = [];
    for (const [symbol, h] of this.spot) {
      if (h.quantity <= EPS) continue;
      const mark = this.prices.get(symbol)?.price;
      out.push({
        symbol,
        side: 'long',
        quantity: h.quantity,
        entryPrice: h.entryPrice,
        markPrice: mark,
        unrealizedPnl: mark === undefined ? 0 : (mark - h.entryPrice) * h.quantity,
        realizedPnl: h.realizedPnl,
        leverage: 1,
        timestamp: now,
      });
    }
    for (const [symbol, p] of this.futures) {
      if (p.quantity === 0) continue;
      const mark = this.prices.get(symbol)?.price;
      out.push({
        symbol,
        side: p.quantity > 0 ? 'long' : 'short',
        quantity: Math.abs(p.quantity),
        entryPrice: p.entryPrice,
        markPrice: mark,
        unrealizedPnl: mark === undefined ? 0 : (mark - p.entryPrice) * p.quantity,
        realizedPnl: p.realizedPnl,
        leverage: p.leverage,
        liquidationPrice: this.liquidationPrice(p),
        marginMode: 'isolated',
        margin: p.margin,
        maintenanceMargin: this.maintenanceOf(symbol, p),
        timestamp: now,
      });
    }
    return out.sort((a, b) => a.symbol.localeCompare(b.symbol));
  }

  /** Price of one unit of `asset` in `currency`, from the last prices seen (direct or inverted pair). */
  private valueIn(asset: string, currency: string): number | undefined {
    if (asset === currency) return 1;
    const direct = this.prices.get(`${asset}/${currency}`)?.price;
    if (direct !== undefined) return direct;
    const inverse = this.prices.get(`${currency}/${asset}`)?.price;
    return inverse !== undefined && inverse > 0 ? 1 / inverse : undefined;
  }

  private isFutures(symbol: string): boolean {
    return symbol.includes(':');
  }

  private signedPosition(market: MarketKind): number {
    return market.futures ? (this.futures.get(market.symbol)?.quantity ?? 0) : (this.spot.get(market.symbol)?.quantity ?? 0);
  }

  /** Quantity of an order that would open or add to a position (the rest closes one). */
  private openingQuantity(market: MarketKind, side: OrderSide, quantity: number): number {
    const pos = this.signedPosition(market);
    const closing = side === 'buy' ? Math.max(0, -pos) : Math.max(0, pos);
    return Math.max(0, quantity - closing);
  }

  private slipped(side: OrderSide, price: number, quantity: number, barVolume: number | undefined): number {
    const s = this.opts.slippage;
    let bps = 0;
    if (s.model === 'bps') bps = s.bps;
    else if (s.model === 'volume') bps = Math.min(s.maxBps, s.baseBps + (barVolume && barVolume > 0 ? s.impactBps * (quantity / barVolume) : 0));
    return side === 'buy' ? price * (1 + bps / 10_000) : price * (1 - bps / 10_000);
  }

  private market(input: string): MarketKind {
    let known = this.marketKinds.get(input);
    if (known === undefined) {
      known = this.describeMarket(input);
      // Looked up on every bar: inputs are the few symbols traded, so the cache stays small.
      if (this.marketKinds.size < 10_000) this.marketKinds.set(input, known);
    }
    return known;
  }

  private describeMarket(input: string): MarketKind {
    const symbol = this.resolver ? this.resolver.resolve(input) : canonicalSymbol(input);
    const { base, quote, settle } = splitSymbol(symbol);
    if (quote === '') throw new BadSymbolError(this.id, input, this.resolver?.suggest(input) ?? []);
    if (settle !== undefined && settle !== quote) {
      throw new NotSupportedError(this.id, `inverse contract ${symbol} (margin in ${settle})`);
    }
    return { symbol, base, quote, futures: settle !== undefined };
  }
}

function triggerDirection(type: string, side: OrderSide): Direction | undefined {
  if (type === 'stop_market' || type === 'stop_limit') return side === 'buy' ? 'up' : 'down';
  if (type === 'take_profit') return side === 'buy' ? 'down' : 'up';
  return undefined;
}

function round(x: number): number {
  return Math.round(x * 1e8) / 1e8;
}

/** Decimals of a quantity as written (0.125 → 3), at most 12. */
function decimalsOf(x: number): number {
  for (let d = 0; d <= 12; d++) if (Math.abs(Math.round(x * 10 ** d) - x * 10 ** d) < 1e-9 * Math.max(1, x * 10 ** d)) return d;
  return 12;
}

/** The recorded rate of the funding time `time`, else the configured one, else 0. */
function fundingRateAt(funding: FundingOptions, time: number): number {
  const series = funding.series;
  if (series !== undefined && series.length > 0) {
    let lo = 0;
    let hi = series.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = series[mid]!.time;
      if (t === time) return series[mid]!.rate;
      if (t < time) lo = mid + 1;
      else hi = mid - 1;
    }
  }
  return funding.rate ?? 0;
}
