import { TradebusError, type StateStore } from '@tradebus/core';
import { z } from 'zod';
import { isTerminalStatus, type MyTrade, type Order } from '../types.js';

/**
 * The paper exchange's books on disk, kept like a real venue keeps them: every change of
 * balances, positions, orders and fills is written as one change of its state store before the
 * exchange reports it, so a restarted paper system finds exactly what it acknowledged, and an
 * executor asking for a client order id gets the order it placed before the crash.
 *
 * Keys: `account` (balances, positions, counters, last prices), `order:<client order id>` per
 * order (finished ones up to `keepFinishedOrders`), `trade:<trade id>` per execution (the newest
 * `keepTrades`).
 */

/** The exchange's state that is not per order or per trade. */
export interface PaperAccountState {
  version: 1;
  quoteCurrency: string;
  /** The balances the books started from, to tell an operator when the configured ones differ. */
  initialBalances: Record<string, number>;
  balances: Record<string, { total: number; used: number }>;
  spot: Record<string, { quantity: number; entryPrice: number; realizedPnl: number }>;
  futures: Record<string, { quantity: number; entryPrice: number; leverage: number; margin: number; realizedPnl: number }>;
  prices: Record<string, { price: number; bid: number; ask: number; barVolume?: number | undefined; source: 'tick' | 'candle'; timestamp: number }>;
  /** Open time of the last closed bar matched per symbol: a bar seen again after a restart is not matched twice. */
  lastBars?: Record<string, number>;
  seq: number;
  tradeSeq: number;
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
  account: PaperAccountState;
  /** Every stored order, oldest placement first. */
  orders: StoredPaperOrder[];
  /** Stored executions, oldest first. */
  trades: MyTrade[];
}

const ACCOUNT_KEY = 'account';
const ORDER_PREFIX = 'order:';
const TRADE_PREFIX = 'trade:';

const accountSchema = z.object({ version: z.literal(1), balances: z.record(z.string(), z.object({ total: z.number(), used: z.number() })) }).passthrough();

/** The books in the store cannot be read: the exchange refuses to start instead of starting over. */
export class PaperBooksError extends TradebusError {
  constructor(message: string) {
    super('PAPER_BOOKS_UNREADABLE', message);
  }
}

/** Tracks what changed since the last write and turns it into one change of the store. */
export class PaperLedger {
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
    const raw = await store.get<unknown>(ACCOUNT_KEY);
    if (raw === undefined) return undefined;
    const parsed = accountSchema.safeParse(raw);
    if (!parsed.success) {
      throw new PaperBooksError(`The stored books of paper venue '${venue}' are not readable (${parsed.error.issues[0]?.message ?? 'invalid'}): restore the data directory from a backup, or start over on a fresh one.`);
    }
    const orders: StoredPaperOrder[] = [];
    const trades: MyTrade[] = [];
    for (const key of await store.keys()) {
      if (key.startsWith(ORDER_PREFIX)) {
        const order = await store.get<StoredPaperOrder>(key);
        if (order !== undefined) orders.push(order);
      } else if (key.startsWith(TRADE_PREFIX)) {
        const trade = await store.get<MyTrade>(key);
        if (trade !== undefined) trades.push(trade);
      }
    }
    orders.sort((a, b) => a.seq - b.seq);
    trades.sort((a, b) => a.timestamp - b.timestamp || tradeNumber(a.tradeId) - tradeNumber(b.tradeId));
    return { account: raw as PaperAccountState, orders, trades };
  }

  /** Takes in what was restored, so pruning goes on where it stopped. */
  adopt(books: RestoredBooks): void {
    for (const o of books.orders) if (isTerminalStatus(o.status)) this.finished.add(o.clientOrderId);
    for (const t of books.trades) this.tradeIds.push(t.tradeId);
  }

  /** An order changed (placed, filled, finished). */
  orderChanged(clientOrderId: string, terminal: boolean): string[] {
    this.dirtyOrders.add(clientOrderId);
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

  /** Balances, positions or prices changed. */
  accountChanged(): void {
    this.changed = true;
  }

  /**
   * Writes everything changed since the last call as one change; undefined when nothing changed.
   * `order` gives an order's stored form by client order id (undefined once it is forgotten).
   */
  commit(account: () => PaperAccountState, order: (clientOrderId: string) => StoredPaperOrder | undefined): Promise<void> | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    const change: Array<[string, unknown]> = [[ACCOUNT_KEY, account()]];
    for (const cid of this.dirtyOrders) {
      const stored = order(cid);
      if (stored !== undefined) change.push([ORDER_PREFIX + cid, stored]);
    }
    for (const t of this.newTrades) change.push([TRADE_PREFIX + t.tradeId, t]);
    for (const key of this.forgotten) change.push([key, undefined]);
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
