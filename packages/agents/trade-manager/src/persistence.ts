import { TradebusError, type StateStore } from '@tradebus/core';
import { TrackRecord, type ClosedTrade, type TrackRecordSnapshot } from '@tradebus/strategies';
import { IdMemory, type IdMemorySnapshot } from './id-memory.js';
import { SegmentedLog, type SegmentedLogPolicy, type SegmentedLogSnapshot } from './segmented-log.js';
import { emptyBook, type Book, type Counterfactual, type RiskSnapshot } from './state.js';

/**
 * How the trade manager's books are laid out in its state store. Everything one event changed
 * goes to the store as one change (`setMany`): the main key, history segments it lists, segments
 * it no longer lists, followed signals, all or nothing after a crash, in one durable write.
 */

export const STATE_KEY = 'state';
export const MARKET_KEY = 'market';
/** Returns the portfolio rules measure on, saved with the market state. */
export const GATES_KEY = 'gates';
/** Where an earlier version kept every followed rejected signal, in one array. */
const LEGACY_COUNTERFACTUALS_KEY = 'counterfactuals';
/** Each followed rejected signal under its own key: following one more costs one small write. */
export const COUNTERFACTUAL_PREFIX = 'counterfactual:';
/** Where an earlier build kept the whole track record. */
const LEGACY_TRACK_RECORD_KEY = 'trackRecord';
const TRADE_LOG_PREFIX = 'trade-log:';
/** Closed trades per segment of the track record's log. */
const TRADE_LOG_SEGMENT_SIZE = 8;
const SEEN_SIGNALS_PREFIX = 'seen-signals:';
const CLOSED_TRADES_PREFIX = 'closed-trades:';
/** Signals and closed trades remembered, so a redelivered one is recognised. */
const SEEN_LIMIT = 5_000;
/** Ids per segment key; the main key carries fewer than this many of each kind. */
export const HISTORY_SEGMENT_SIZE = 16;

/**
 * What the manager keeps under its main key. It holds what is live (trades, their orders, risk
 * state) and the newest entries of what grows with history; older history lives in segment keys
 * written once (SegmentedLog), so a save costs the same after a year as after a day.
 */
export interface PersistedState {
  version: 2;
  book: Book;
  risk: RiskSnapshot;
  seenSignals: IdMemorySnapshot;
  closedTrades: IdMemorySnapshot;
  /** The closed trades the track record is rebuilt from (those within its window per strategy). */
  tradeLog?: SegmentedLogSnapshot<ClosedTrade>;
  /** Layout of an earlier build of version 2: a full track record key plus the trades closed since. */
  trackRecordTail?: ClosedTrade[];
}

/** The layout before version 2: everything under one key, history lists included. */
interface PersistedStateV1 {
  version: 1;
  book: Book & { seenSignals?: string[]; closedTrades?: string[] };
  risk: RiskSnapshot;
  trackRecord: TrackRecordSnapshot;
}

export interface MarketState {
  timeframe: string;
  /** Last bars (high/low/close), enough to rebuild the ATR after a restart. */
  bars: Array<[number, number, number]>;
  last?: number | undefined;
  /** Market time of `last`: a bar's close, a tick's or a fill's time. */
  lastAt?: number | undefined;
  lastBarTime?: number | undefined;
}

export class TradeManagerStateError extends TradebusError {
  constructor(message: string) {
    super('TRADE_MANAGER_STATE', message);
  }
}

export interface RestoredState {
  /** False when the store held no books (a first start). */
  found: boolean;
  book: Book;
  /** Undefined on a first start: the rules begin from the configured equity. */
  risk: RiskSnapshot | undefined;
  seenSignals: IdMemory;
  closedTrades: IdMemory;
  tradeLog: SegmentedLog<ClosedTrade>;
  markets: Record<string, MarketState>;
  /** What the entry gates saved (checked by them when read). */
  gates: unknown;
  /** Followed rejected signals, each once. */
  counterfactuals: Counterfactual[];
  /** Keys to write and delete with the first save: the layout of an earlier version moving to this one. */
  pending: Array<[string, unknown]>;
}

/**
 * Reads the books back, in any layout an earlier version wrote. The closed trades of the log are
 * recorded into `trackRecord` as they are read.
 */
export async function restoreState(store: StateStore, trackRecord: TrackRecord, tradeLogPolicy: SegmentedLogPolicy<ClosedTrade>): Promise<RestoredState> {
  const keys = await store.keys();
  const saved = await store.get<PersistedState | PersistedStateV1 | { version: unknown }>(STATE_KEY);
  const pending: Array<[string, unknown]> = [];
  const loadMemory = (prefix: string, snapshot: IdMemorySnapshot | undefined): Promise<IdMemory> =>
    IdMemory.load(store, keys, prefix, SEEN_LIMIT, HISTORY_SEGMENT_SIZE, snapshot);
  const loadTradeLog = (snapshot: SegmentedLogSnapshot<ClosedTrade> | undefined): Promise<SegmentedLog<ClosedTrade>> =>
    SegmentedLog.load(store, keys, TRADE_LOG_PREFIX, TRADE_LOG_SEGMENT_SIZE, tradeLogPolicy, snapshot);
  /** Takes over a track record saved whole (earlier layouts): its trades start the log, oldest first. */
  const startTradeLog = (log: SegmentedLog<ClosedTrade>, record: TrackRecord): void => {
    const trades: ClosedTrade[] = [];
    for (const [strategyId, list] of Object.entries(record.toJSON().strategies)) for (const t of list) trades.push({ ...t, strategyId });
    trades.sort((a, b) => a.closedAt - b.closedAt);
    for (const t of trades) if (trackRecord.record(t)) log.append(t);
  };

  let restored: Omit<RestoredState, 'markets' | 'gates' | 'counterfactuals' | 'pending'>;
  if (saved === undefined) {
    restored = {
      found: false,
      book: emptyBook(),
      risk: undefined,
      seenSignals: await loadMemory(SEEN_SIGNALS_PREFIX, undefined),
      closedTrades: await loadMemory(CLOSED_TRADES_PREFIX, undefined),
      tradeLog: await loadTradeLog(undefined),
    };
  } else if (saved.version === 2) {
    const state = saved as PersistedState;
    const tradeLog = await loadTradeLog(state.tradeLog);
    if (state.tradeLog !== undefined) {
      for (const trade of tradeLog.items()) trackRecord.record(trade);
    } else {
      const full = await store.get<TrackRecordSnapshot>(LEGACY_TRACK_RECORD_KEY);
      if (full !== undefined) startTradeLog(tradeLog, TrackRecord.fromJSON(full, trackRecord.config));
      // Recording is idempotent per trade id: a tail entry the full record holds counts once.
      for (const trade of state.trackRecordTail ?? []) if (trackRecord.record(trade)) tradeLog.append(trade);
      pending.push([LEGACY_TRACK_RECORD_KEY, undefined]);
    }
    restored = {
      found: true,
      book: { ...emptyBook(), ...state.book },
      risk: state.risk,
      seenSignals: await loadMemory(SEEN_SIGNALS_PREFIX, state.seenSignals),
      closedTrades: await loadMemory(CLOSED_TRADES_PREFIX, state.closedTrades),
      tradeLog,
    };
  } else if (saved.version === 1) {
    const state = saved as PersistedStateV1;
    const { seenSignals = [], closedTrades = [], ...book } = state.book;
    const seen = await loadMemory(SEEN_SIGNALS_PREFIX, undefined);
    const closed = await loadMemory(CLOSED_TRADES_PREFIX, undefined);
    for (const id of seenSignals) seen.add(id);
    for (const id of closedTrades) closed.add(id);
    const tradeLog = await loadTradeLog(undefined);
    startTradeLog(tradeLog, TrackRecord.fromJSON(state.trackRecord, trackRecord.config));
    // Written in the new layout by the first save (the startup event makes one).
    restored = { found: true, book: { ...emptyBook(), ...book }, risk: state.risk, seenSignals: seen, closedTrades: closed, tradeLog };
  } else {
    throw new TradeManagerStateError(
      `The saved trade manager state has version ${JSON.stringify(saved.version)}, which this version cannot read: it was written by a newer Tradebus. Run that version again, or move the agent's state away to start with empty books.`,
    );
  }

  const counterfactuals: Counterfactual[] = [];
  const followed = new Set<string>();
  for (const key of keys) {
    if (!key.startsWith(COUNTERFACTUAL_PREFIX)) continue;
    const cf = await store.get<Counterfactual>(key);
    if (cf === undefined || followed.has(cf.signalId)) continue;
    followed.add(cf.signalId);
    counterfactuals.push(cf);
  }
  if (keys.includes(LEGACY_COUNTERFACTUALS_KEY)) {
    for (const cf of (await store.get<Counterfactual[]>(LEGACY_COUNTERFACTUALS_KEY)) ?? []) {
      if (followed.has(cf.signalId)) continue;
      followed.add(cf.signalId);
      counterfactuals.push(cf);
      pending.push([COUNTERFACTUAL_PREFIX + cf.signalId, cf]);
    }
    pending.push([LEGACY_COUNTERFACTUALS_KEY, undefined]);
  }
  const markets = (await store.get<Record<string, MarketState>>(MARKET_KEY)) ?? {};
  const gates = await store.get<unknown>(GATES_KEY);
  return { ...restored, markets, gates, counterfactuals, pending };
}

/** The main key and the history segments sealed with it, as entries of one change. */
export function booksChange(parts: {
  book: Book;
  risk: RiskSnapshot;
  seenSignals: IdMemory;
  closedTrades: IdMemory;
  tradeLog: SegmentedLog<ClosedTrade>;
}): Array<[string, unknown]> {
  const entries: Array<[string, unknown]> = [];
  const seals = [parts.seenSignals.seal(), parts.closedTrades.seal(), parts.tradeLog.seal()];
  for (const seal of seals) for (const w of seal.writes) entries.push([w.key, w.items]);
  // Segments the main key stops listing go in the same change: all of it lands or none.
  const dropped = seals.flatMap((seal) => seal.commit());
  const state: PersistedState = {
    version: 2,
    book: parts.book,
    risk: parts.risk,
    seenSignals: parts.seenSignals.snapshot(),
    closedTrades: parts.closedTrades.snapshot(),
    tradeLog: parts.tradeLog.snapshot(),
  };
  entries.push([STATE_KEY, state]);
  for (const key of dropped) entries.push([key, undefined]);
  return entries;
}
