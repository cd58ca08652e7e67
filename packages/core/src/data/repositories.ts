import type { StateStore } from '../agent/store.js';
import type { Envelope } from '../bus/envelope.js';
import type { BuiltinEvents, CandleEvent } from '../events/builtin.js';

/**
 * What the rest of Tradebus asks of storage. The embedded implementation (files under a data
 * directory) is the default; a deployment may provide others (e.g. on NATS JetStream) with the
 * same interfaces. Every write resolves once it is durable; every read sees every write that
 * was issued before it.
 *
 * Record types are the payloads of the built-in events, so what an agent publishes is what it
 * stores and what the REST API returns.
 */

export type SortOrder = 'asc' | 'desc';

/** Queries without a limit return at most this many records. */
export const DEFAULT_QUERY_LIMIT = 1000;

// ---------------------------------------------------------------- orders

export type OrderStatus = BuiltinEvents['order.updated']['status'];

/** Statuses after which an order never changes on the venue. */
export const TERMINAL_ORDER_STATUSES: readonly OrderStatus[] = ['filled', 'cancelled', 'rejected', 'expired'];

export function isTerminalOrderStatus(status: OrderStatus): boolean {
  return TERMINAL_ORDER_STATUSES.includes(status);
}

/** An `order.updated` payload plus what only the intent knew (strategy, signal, time in force). */
export type OrderUpdate = BuiltinEvents['order.updated'] & {
  strategyId?: string | undefined;
  signalId?: string | undefined;
  timeInForce?: BuiltinEvents['order.requested']['timeInForce'];
};

/**
 * The current state of one order. `timestamp` is the time of its latest update, `createdAt` that
 * of its first; `fills` holds every fill seen so far (the events carry only the new ones).
 */
export type OrderRecord = OrderUpdate & { createdAt: number };

export interface OrderQuery {
  symbol?: string | undefined;
  status?: OrderStatus | OrderStatus[] | undefined;
  /** Inclusive bounds on the time of the order's updates. */
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** `desc` (default): most recently updated first. */
  order?: SortOrder | undefined;
}

export interface OrderRepository {
  /**
   * Stores a new state of an order (by `clientOrderId`): the latest state wins, fills accumulate,
   * an update older than the stored state only contributes its fills. Every state stays in the
   * order's history. Resolves with the merged record once it is durable.
   */
  upsert(update: OrderUpdate): Promise<OrderRecord>;
  /**
   * Stores an order intent (status `requested`) before it is sent, so a restart knows about it.
   * Idempotent: if the client order id exists, the stored record is returned unchanged, except
   * that an order first recorded from an update gets the details only the request carries
   * (purpose, trade, strategy, signal, time in force).
   *
   * Writes of both kinds are applied in call order, also when issued without waiting for the
   * previous one: callers may pipeline them and still find an order's states in order.
   */
  recordRequested(request: BuiltinEvents['order.requested']): Promise<OrderRecord>;
  get(clientOrderId: string): Promise<OrderRecord | undefined>;
  /** Orders whose latest status is not terminal, oldest first. Served from memory. */
  listOpen(filter?: { symbol?: string | undefined }): Promise<OrderRecord[]>;
  /** Each order's latest state within the time window, filtered. */
  query(query?: OrderQuery): Promise<OrderRecord[]>;
  /** Every stored state of one order, oldest first. */
  history(clientOrderId: string): Promise<OrderRecord[]>;
}

// ---------------------------------------------------------------- trades

export type TradeRecord = BuiltinEvents['trade.closed'];

export interface TradeQuery {
  symbol?: string | undefined;
  strategyId?: string | undefined;
  /** Inclusive bounds on `closedAt`. */
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** `desc` (default): most recently stored first. */
  order?: SortOrder | undefined;
}

export interface TradeRepository {
  /** Stores a closed trade. Storing the same `tradeId` again does not duplicate it in queries. */
  append(trade: TradeRecord): Promise<void>;
  query(query?: TradeQuery): Promise<TradeRecord[]>;
  get(tradeId: string): Promise<TradeRecord | undefined>;
}

// ---------------------------------------------------------------- positions

export type PositionRecord = BuiltinEvents['position.updated'];

export interface PositionRepository {
  get(symbol: string): Promise<PositionRecord | undefined>;
  /** Every stored position, flat ones included, by symbol. */
  list(): Promise<PositionRecord[]>;
  /** Positions that are not flat. */
  listOpen(): Promise<PositionRecord[]>;
  upsert(position: PositionRecord): Promise<void>;
  remove(symbol: string): Promise<void>;
  /** Replaces every stored position at once (after a reconciliation with the venue). */
  replaceAll(positions: PositionRecord[]): Promise<void>;
}

// ---------------------------------------------------------------- account snapshots

export type AccountSnapshot = BuiltinEvents['account.updated'];

export interface AccountQuery {
  venue?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** `desc` (default): newest first. */
  order?: SortOrder | undefined;
}

export interface AccountRepository {
  append(snapshot: AccountSnapshot): Promise<void>;
  /** The newest snapshot of `venue` (or of any venue). */
  latest(venue?: string): Promise<AccountSnapshot | undefined>;
  query(query?: AccountQuery): Promise<AccountSnapshot[]>;
}

// ---------------------------------------------------------------- candles

export type CandleRecord = CandleEvent;

export interface CandleQuery {
  /** Inclusive bounds on the bar's open time. */
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** `asc` (default): oldest bar first; with `desc` and a limit you get the newest bars. */
  order?: SortOrder | undefined;
}

export interface CandleRepository {
  /** Stores a bar; storing a bar with the same open time again replaces it in queries. */
  append(candle: CandleRecord): Promise<void>;
  appendMany(candles: CandleRecord[]): Promise<void>;
  query(symbol: string, timeframe: string, query?: CandleQuery): Promise<CandleRecord[]>;
  latest(symbol: string, timeframe: string): Promise<CandleRecord | undefined>;
  /** The series stored so far. */
  series(): Promise<Array<{ symbol: string; timeframe: string }>>;
}

// ---------------------------------------------------------------- event journal

export interface JournalQuery {
  /** One event type or pattern (`order.*`, `trade.>`). */
  type?: string | undefined;
  /** Several event types or patterns. */
  types?: string[] | undefined;
  /** Inclusive bounds on the envelope's `ts`. */
  since?: number | undefined;
  until?: number | undefined;
  /** Only entries after / before this journal sequence number (for paging). */
  afterSeq?: number | undefined;
  beforeSeq?: number | undefined;
  limit?: number | undefined;
  /** `desc` (default): newest first. */
  order?: SortOrder | undefined;
}

export interface JournalEntry {
  /** Position in the journal: increases by one per recorded event. */
  seq: number;
  envelope: Envelope;
}

export interface ReplayOptions {
  /** Events with `ts` at or after this time (epoch ms). */
  from?: number | undefined;
  /** Events after this journal sequence number (resume where a previous replay stopped). */
  afterSeq?: number | undefined;
  type?: string | undefined;
  types?: string[] | undefined;
}

export interface EventJournalReader {
  query(query?: JournalQuery): Promise<JournalEntry[]>;
  /** Every matching event in journal order, up to the moment of the call. */
  replay(options?: ReplayOptions): AsyncIterable<JournalEntry>;
}

// ---------------------------------------------------------------- agent state

export interface AgentStateRepository {
  /** The key-value state of one agent; the same object for the same id. */
  forAgent(agentId: string): StateStore;
  /** Agents that have stored state. */
  agents(): Promise<string[]>;
}
