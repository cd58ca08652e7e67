import { TradebusError, type StateStore } from '@tradebus/core';
import { z } from 'zod';
import { isTerminalStatus, type MyTrade, type Order } from '../types.js';

/**
 * The paper exchange's books on disk, kept like a real venue keeps them: every change of
 * balances, positions, orders and fills is written as one change of its state store before the
 * exchange reports it, so a restarted paper system finds exactly what it acknowledged, and an
 * executor asking for a client order id gets the order it placed before the crash.
 *
 * Keys: `header` (counters, starting balances), `balance:<asset>`, `spot:<symbol>`,
 * `futures:<symbol>`, `market:<symbol>` (last price, last bar matched), `order:<client order id>`
 * per order (finished ones up to `keepFinishedOrders`), `trade:<trade id>` per execution (the
 * newest `keepTrades`).
 */

/** What the books hold besides balances, positions, markets, orders and trades. */
export interface PaperHeader {
  version: 2;
  quoteCurrency: string;
  /** The balances the books started from, to tell an operator when the configured ones differ. */
  initialBalances: Record<string, number>;
  seq: number;
  tradeSeq: number;
}

export interface StoredBalance {
  total: number;
  used: number;
}

export interface StoredSpot {
  quantity: number;
  entryPrice: number;
  realizedPnl: number;
}

export interface StoredFutures {
  quantity: number;
  entryPrice: number;
  leverage: number;
  margin: number;
  realizedPnl: number;
}

/** The last price of a symbol and the open time of the last closed bar matched (a bar seen again after a restart is not matched twice). */
export interface StoredMarket {
  price: number;
  bid: number;
  ask: number;
  barVolume?: number | undefined;
  source: 'tick' | 'candle';
  timestamp: number;
  lastBar?: number | undefined;
}

/** Where the ledger reads the current value of what changed. */
export interface PaperBooksSource {
  header(): PaperHeader;
  balance(asset: string): StoredBalance | undefined;
  spot(symbol: string): StoredSpot | undefined;
  futures(symbol: string): StoredFutures | undefined;
  market(symbol: string): StoredMarket | undefined;
  order(clientOrderId: string): StoredPaperOrder | undefined;
}

/** An order as the exchange keeps it, matching state included. */
export interface StoredPaperOrder extends Order {
  seq: number;
  triggered: boolean;
  reserved: { asset: string; amount: number };
  lastBar: number | undefined;
  barFilled: number;
  /** Waiting for the next bar's open (market orders with `marketFillOnCandle: next_open`). */
  pending?: boolean;
}

export interface RestoredBooks {
  header: PaperHeader;
  balances: Map<string, StoredBalance>;
  spot: Map<string, StoredSpot>;
  futures: Map<string, StoredFutures>;
  markets: Map<string, StoredMarket>;
  /** Every stored order, oldest placement first. */
  orders: StoredPaperOrder[];
  /** Stored executions, oldest first. */
  trades: MyTrade[];
}

const HEADER_KEY = 'header';
const BALANCE_PREFIX = 'balance:';
const SPOT_PREFIX = 'spot:';
const FUTURES_PREFIX = 'futures:';
const MARKET_PREFIX = 'market:';
const ORDER_PREFIX = 'order:';
const TRADE_PREFIX = 'trade:';

const headerSchema = z.object({ version: z.literal(2), quoteCurrency: z.string(), initialBalances: z.record(z.string(), z.number()), seq: z.number(), tradeSeq: z.number() });

export class PaperBooksError extends TradebusError {
  constructor(message: string) {
    super('PAPER_BOOKS_UNREADABLE', message);
  }
}

/**
 * Tracks what changed since the last write and turns it into one change of the store: only the
 * balances, positions, markets, orders and trades touched, so a change costs the same with ten
 * symbols as with five hundred.
 */
export class PaperLedger {
  private readonly dirtyAssets = new Set<string>();
  private readonly dirtySymbols = new Set<string>();
  private readonly dirtyOrders = new Set<string>();
  private readonly newTrades: MyTrade[] = [];
  private readonly forgotten: string[] = [];
  private readonly finished = new Set<string>();
  private readonly tradeIds: string[] = [];
  private tradeHead = 0;
  private changed = false;

  constructor(
    readonly store: StateStore,
    private readonly keepFinishedOrders: number,
    private readonly keepTrades: number,
  ) {}

  /** Reads the books; undefined when the store holds none yet (a first start). */
  static async restore(store: StateStore, venue: string): Promise<RestoredBooks | undefined> {
    const raw = await store.get<unknown>(HEADER_KEY);
    if (raw === undefined) return undefined;
    const parsed = headerSchema.safeParse(raw);
    if (!parsed.success) {
      throw new PaperBooksError(`The stored books of paper venue '${venue}' are not readable (${parsed.error.issues[0]?.message ?? 'invalid'}): restore the data directory from a backup, or start over on a fresh one.`);
    }
    const books: RestoredBooks = { header: parsed.data as PaperHeader, balances: new Map(), spot: new Map(), futures: new Map(), markets: new Map(), orders: [], trades: [] };
    const maps: Array<[string, Map<string, unknown>]> = [
      [BALANCE_PREFIX, books.balances],
      [SPOT_PREFIX, books.spot],
      [FUTURES_PREFIX, books.futures],
      [MARKET_PREFIX, books.markets],
    ];
    for (const key of await store.keys()) {
      const value = await store.get<unknown>(key);
      if (value === undefined) continue;
      if (key.startsWith(ORDER_PREFIX)) books.orders.push(value as StoredPaperOrder);
      else if (key.startsWith(TRADE_PREFIX)) books.trades.push(value as MyTrade);
      else for (const [prefix, map] of maps) if (key.startsWith(prefix)) map.set(key.slice(prefix.length), value);
    }
    books.orders.sort((a, b) => a.seq - b.seq);
    books.trades.sort((a, b) => a.timestamp - b.timestamp || tradeNumber(a.tradeId) - tradeNumber(b.tradeId));
    return books;
  }

  /** Takes in what was restored, so pruning goes on where it stopped. */
  adopt(books: RestoredBooks): void {
    for (const o of books.orders) if (isTerminalStatus(o.status)) this.finished.add(o.clientOrderId);
    for (const t of books.trades) this.tradeIds.push(t.tradeId);
  }

  /** A balance was touched. */
  assetChanged(asset: string): void {
    this.dirtyAssets.add(asset);
    this.changed = true;
  }

  /** A symbol's position or market changed. */
  symbolChanged(symbol: string): void {
    this.dirtySymbols.add(symbol);
    this.changed = true;
  }

  /** An order changed (placed, filled, finished); returns the finished orders forgotten to make room. */
  orderChanged(clientOrderId: string, symbol: string, terminal: boolean): string[] {
    this.dirtyOrders.add(clientOrderId);
    this.dirtySymbols.add(symbol);
    this.changed = true;
    if (!terminal || this.finished.has(clientOrderId)) return [];
    this.finished.add(clientOrderId);
    // The oldest finished orders are forgotten, as a venue's order history ends somewhere.
    const dropped: string[] = [];
    for (const cid of this.finished) {
      if (this.finished.size <= this.keepFinishedOrders) break;
      this.finished.delete(cid);
      this.dirtyOrders.delete(cid);
      this.forgotten.push(ORDER_PREFIX + cid);
      dropped.push(cid);
    }
    return dropped;
  }

  /** An execution; returns how many of the oldest ones the exchange should drop from memory. */
  tradeAdded(trade: MyTrade): number {
    this.newTrades.push(trade);
    this.tradeIds.push(trade.tradeId);
    this.changed = true;
    let dropped = 0;
    while (this.tradeIds.length - this.tradeHead > this.keepTrades) {
      this.forgotten.push(TRADE_PREFIX + this.tradeIds[this.tradeHead++]!);
      dropped++;
    }
    if (this.tradeHead > 4096 && this.tradeHead * 2 > this.tradeIds.length) {
      this.tradeIds.splice(0, this.tradeHead);
      this.tradeHead = 0;
    }
    return dropped;
  }

  /** Something of the header changed (a first start writes it whole). */
  touched(): void {
    this.changed = true;
  }

  /** Writes everything changed since the last call as one change; undefined when nothing changed. */
  commit(source: PaperBooksSource): Promise<void> | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    const change: Array<[string, unknown]> = [[HEADER_KEY, source.header()]];
    for (const asset of this.dirtyAssets) change.push([BALANCE_PREFIX + asset, source.balance(asset)]);
    for (const symbol of this.dirtySymbols) {
      change.push([SPOT_PREFIX + symbol, source.spot(symbol)], [FUTURES_PREFIX + symbol, source.futures(symbol)], [MARKET_PREFIX + symbol, source.market(symbol)]);
    }
    for (const cid of this.dirtyOrders) {
      const stored = source.order(cid);
      if (stored !== undefined) change.push([ORDER_PREFIX + cid, stored]);
    }
    for (const t of this.newTrades) change.push([TRADE_PREFIX + t.tradeId, t]);
    for (const key of this.forgotten) change.push([key, undefined]);
    this.dirtyAssets.clear();
    this.dirtySymbols.clear();
    this.dirtyOrders.clear();
    this.newTrades.length = 0;
    this.forgotten.length = 0;
    return this.store.setMany(change);
  }
}

function tradeNumber(tradeId: string): number {
  const n = Number(/(\d+)$/.exec(tradeId)?.[1]);
  return Number.isFinite(n) ? n : 0;
}
