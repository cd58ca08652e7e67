import { BaseAgent, CurrencyConverter, toError, type AgentContext, type BuiltinEvents, type Envelope, type TimerHandle, refuseColdChanges } from '@tradebus/core';
import { ATR } from '@tradebus/indicators';
import {
  QTY_EPSILON,
  averageEntryPrice,
  averageExitPrice,
  direction,
  feeInQuote,
  openQuantity,
  pnlPct,
  quoteOf,
  roundDown,
  realizedPnl,
  tradeExposure,
  tradeRisk,
  unrealizedPnl,
} from './accounting.js';
import { RegimeDetector, SignalAggregator, TrackRecord, type ClosedTrade, type TrackRecordSnapshot } from '@tradebus/strategies';

export { HISTORY_SEGMENT_SIZE, TradeManagerStateError } from './persistence.js';
import { decideBatch, exitDecision, type BatchOutcome, type TradeDecision } from './aggregation.js';
import type { TradeManagerConfig } from './config.js';
import { advanceCounterfactual } from './counterfactual.js';
import { exitFor, trailStop, type PriceRange } from './exits.js';
import { IdMemory } from './id-memory.js';
import {
  COUNTERFACTUAL_PREFIX,
  HISTORY_SEGMENT_SIZE,
  MARKET_KEY,
  GATES_KEY,
  booksChange,
  restoreState,
  type MarketState,
} from './persistence.js';
import type { SegmentedLog, SegmentedLogPolicy } from './segmented-log.js';
import { adoptedTradeIdFor, clientOrderIdFor, tradeIdFor } from './ids.js';
import { RiskRules, initialRisk, type RiskAction } from './risk.js';
import { riskTransitions } from './risk-alerts.js';
import { FLATTEN, MARGIN, SafetyActions } from './safety-actions.js';
import { EntryGates, type EntryGatesSnapshot } from './entry-gates.js';
import { ALLOCATION_KEY, Allocator } from './allocator.js';
import { AdxReadings, PATTERNS_KEY, RejectionPatterns } from './second-chance.js';
import { hotSettings } from './hot-settings.js';
import type { PortfolioPosition } from './portfolio.js';
import { defaultStop, defaultTarget, sizeEntry, sizingFor, type EdgeStats } from './sizing.js';
import {
  emptyBook,
  isTerminal,
  type Book,
  type Breaker,
  type Counterfactual,
  type OrderPurpose,
  type OrderRecord,
  type OrderRequest,
  type OrderUpdate,
  type PositionSide,
  type RiskSnapshot,
  type TradeRecord,
} from './state.js';
import { timeframeMs } from './timeframes.js';

type Signal = BuiltinEvents['signal.generated'];
type Candle = BuiltinEvents['candle.closed'];

/** The risk.state fields that are published at once when they change. */
interface RiskFacts {
  killSwitch: boolean;
  reducingOnly: boolean;
  openPositions: number;
  breakers: Breaker[];
  sizeMultiplier: number;
  numbers: number[];
  at: number;
}

const INTENT_RETRY_MS = 5_000;

const BREAKER_NAMES = ['dailyLoss', 'drawdown', 'consecutiveLosses'] as const;
const sameBreaker = (a: Breaker | undefined, b: Breaker): boolean => a !== undefined && a.tripped === b.tripped && a.reason === b.reason && a.until === b.until;
/** Equal to 8 significant digits: float noise in a sum of P&Ls is not news. */
const nearlyEqual = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 5e-9 * Math.max(Math.abs(a), Math.abs(b)) || (Number.isNaN(a) && Number.isNaN(b));

/**
 * The clearing house between strategies and the venue. It turns signals into sized order intents
 * under the risk rules, books fills into trades and positions, manages exits, and says why it took
 * or refused every signal. It is the only writer of its books; everything it knows arrives as
 * events, and everything it decides leaves as events.
 *
 * All events are handled one at a time, in arrival order, through one queue: a fill can never be
 * booked halfway through a signal decision, and the state an event changed is saved before the
 * intents it produced are published. An event that changes nothing that must be saved (most
 * candles) is handled and its events published before the bus delivery returns.
 */
export class TradeManagerAgent extends BaseAgent<TradeManagerConfig> {
  private book: Book = emptyBook();
  private seenSignals!: IdMemory;
  private closedTrades!: IdMemory;
  /** Closed trades of the track record, persisted as a log; the record itself is rebuilt from it on start. */
  private tradeLog!: SegmentedLog<ClosedTrade>;
  /** Trades per strategy in `tradeLog`. */
  private tradeLogCounts = new Map<string, number>();
  /** Writes and deletes that go with the next save: an earlier layout's keys, or a change the store refused. */
  private unsaved = new Map<string, unknown>();
  private risk!: RiskRules;
  private trackRecord!: TrackRecord;
  private aggregator!: SignalAggregator;
  /** The settings `aggregator` was built from: it is rebuilt when a live change replaced them. */
  private aggregatorSettings: TradeManagerConfig['aggregation'] | undefined;
  private regime: RegimeDetector | undefined;
  /** ADX per symbol and what rejected signals would have earned: second-chance boosts. */
  private adx!: AdxReadings;
  private patterns!: RejectionPatterns;
  private allocator!: Allocator;
  private markets: Record<string, MarketState> = {};
  private gates!: EntryGates;
  private safety!: SafetyActions;
  /** Last prices of every pair seen, traded or not: what converts a symbol's quote into the account currency. */
  private readonly rates = new CurrencyConverter();
  /** The quote currency of the account whose equity is used, once one reported. */
  private reportedCurrency: string | undefined;
  private readonly atr = new Map<string, ATR>();
  /** When each symbol's position was last published, so snapshots repeat only what has gone quiet. */
  private readonly positionAnnouncedAt = new Map<string, number>();
  /** Rejected signals followed to their outcome, per symbol. */
  private counterfactuals = new Map<string, Counterfactual[]>();
  private counterfactualCount = 0;
  /** Followed signals to write (new ones) and keys to delete (outcome published), before the outbox goes out. */
  private counterfactualWrites = new Map<string, Counterfactual>();
  private counterfactualDeletes = new Set<string>();
  /** Trades that are pending, open or closing; rebuilt after changed(). */
  private active: TradeRecord[] | undefined;
  /** Events waiting for their turn, three entries each: what, handler, argument (no object per event). */
  private readonly queue: unknown[] = [];
  private queueHead = 0;
  /** True while events are handled or their state saved: a new event then waits in `queue`. */
  private busy = false;
  private drainedWaiters: Array<() => void> = [];
  /** Must be saved before the events in the outbox go out. */
  private dirty = { state: false };
  /** The books changed in a way a restart recovers by itself (see changedSoftly). */
  private softChanged = false;
  /** Bars, last prices and counterfactual progress changed since they were saved (saved on a clock interval). */
  private derivedChanged = false;
  private derivedSavedAt = 0;
  /** Events waiting for the save of the state that produced them: type, payload, type, payload... */
  private outbox: unknown[] = [];
  private scheduleStale = true;
  /** The settings the housekeeping timer was last worked out with: a live change works it out again. */
  private scheduledWith: TradeManagerConfig | undefined;
  private housekeeping: TimerHandle | undefined;
  private housekeepingAt: number | undefined;
  private lastHousekeepingAt: number | undefined;
  private lastRisk: RiskFacts | undefined;
  /** Clock time of the last risk evaluation, made after the last event with the books as it left them. */
  private evaluatedAt: number | undefined;

  constructor(context: AgentContext<TradeManagerConfig>) {
    super(context);
  }

  // ---------------------------------------------------------------- lifecycle

  protected override async initialize(): Promise<void> {
    const now = this.clock.now();
    this.tradeLogCounts = new Map();
    this.trackRecord = new TrackRecord(this.config.trackRecord);
    const restored = await restoreState(this.store, this.trackRecord, this.tradeLogPolicy());
    this.book = restored.book;
    // The rules read the settings through `live`, so a change applied while running (onReconfigure)
    // is what the very next decision uses, with nothing rebuilt and no state lost.
    const live = this.liveConfig();
    this.risk = new RiskRules(live, restored.risk ?? initialRisk(now, this.config.equity.initial));
    this.seenSignals = restored.seenSignals;
    this.closedTrades = restored.closedTrades;
    this.tradeLog = restored.tradeLog;
    this.markets = restored.markets;
    this.gates = new EntryGates(live, restored.gates as EntryGatesSnapshot | undefined, this.logger);
    this.safety = new SafetyActions({
      config: live,
      gates: this.gates,
      book: () => this.book,
      activeTrades: () => this.activeTrades(),
      valuation: (t) => ({ risk: tradeRisk(t) * (this.valueOfQuote(t.symbol) ?? 1), notional: this.positionValue(t) }),
      requestExit: (t, reason, purpose) => this.requestExit(t, reason, purpose),
      cancelOrder: (o, reason) => this.cancelOrder(o, reason),
      placeProtection: (t) => this.placeProtection(t),
      alert: (level, code, message, details) => this.alert(level, code, message, details),
      publishRiskState: (force) => this.publishRiskState(force),
    });
    this.unsaved = new Map(restored.pending);
    this.atr.clear();
    for (const [symbol, m] of Object.entries(this.markets)) {
      const atr = this.atrFor(symbol);
      for (const [high, low, close] of m.bars) atr.update({ high, low, close });
    }
    this.counterfactuals = new Map();
    this.counterfactualCount = 0;
    this.counterfactualWrites = new Map();
    this.counterfactualDeletes = new Set();
    for (const cf of restored.counterfactuals) this.follow(cf);
    if (this.unsaved.size > 0) this.changed();
    this.derivedChanged = false;
    this.derivedSavedAt = now;
    this.active = undefined;
    this.scheduleStale = true;
    this.lastRisk = undefined;
    this.evaluatedAt = undefined;
    this.aggregator = new SignalAggregator(this.config.aggregation, { path: 'aggregation' });
    this.aggregatorSettings = this.config.aggregation;
    // Kept whether or not the regime factor is on: the second-chance trend boost and the
    // rejection patterns read it, and either can be switched on while running.
    this.regime = new RegimeDetector(this.config.regime, { path: 'regime' });
    this.adx = new AdxReadings(() => this.config.aggregation.secondChance.adx.period);
    this.patterns = new RejectionPatterns(() => this.config.aggregation.secondChance.pattern.window);
    // Learned again from new outcomes when missing or unreadable: it only ever boosts.
    this.patterns.restore(await this.store.get<unknown>(PATTERNS_KEY));
    this.allocator = new Allocator({
      config: () => this.config,
      equity: () => this.equity(),
      activeTrades: () => this.activeTrades(),
      lastPrice: (symbol) => this.markets[symbol]?.last,
      atr: (symbol) => this.atr.get(symbol)?.value,
      valueOfQuote: (symbol) => this.valueOfQuote(symbol),
      expectancy: (strategyId) => this.trackRecord.stats(strategyId),
    });
    this.allocator.restore(await this.store.get<unknown>(ALLOCATION_KEY));
    const open = this.activeTrades();
    if (open.length > 0 || restored.found) {
      this.logger.info({ trades: open.length, orders: Object.keys(this.book.orders).length }, 'state restored');
    }
  }

  protected run(): void {
    this.subscribe('signal.generated', (e) => this.enqueue('signal.generated', this.onSignal, e));
    this.subscribe('order.updated', (e) => this.enqueue('order.updated', this.onOrderUpdated, e));
    this.subscribe('candle.closed', (e) => this.enqueue('candle.closed', this.onCandle, e.payload));
    this.subscribe('price.tick', (e) => this.enqueue('price.tick', this.onTick, e.payload));
    this.subscribe('account.updated', (e) => this.enqueue('account.updated', this.onAccount, e.payload));
    this.subscribe('risk.command', (e) => this.enqueue('risk.command', this.onRiskCommand, e));
    this.subscribe('market.snapshot', (e) => this.enqueue('market.snapshot', this.onMarketSnapshot, e.payload));
    if (this.config.invariants.intervalMs > 0) {
      this.every(this.config.invariants.intervalMs, () => this.enqueue('invariants', () => this.safety.checkInvariants(), undefined), { skipMissed: true });
    }
    this.subscribe('position.reconcile', (e) => this.enqueue('position.reconcile', this.onReconcile, e));
    if (this.config.positionSnapshotIntervalMs > 0) {
      // A snapshot announces the books as they are: one after a jump of the clock says it all.
      // It waits a microtask: when a replay moves the clock to a new bar, the bar comes first and
      // its own position updates make the snapshot's repeats unnecessary.
      this.every(
        this.config.positionSnapshotIntervalMs,
        async () => {
          await Promise.resolve();
          await this.enqueue('snapshot', this.publishPositionSnapshot, undefined);
        },
        { skipMissed: true },
      );
    }
    void this.enqueue('startup', this.onStartup, undefined);
  }

  protected override async cleanup(): Promise<void> {
    await this.whenIdle();
    // Bars, last prices and counterfactual progress are saved on a clock interval while running;
    // a normal stop saves them too, so a restart continues exactly where this run stopped.
    if (this.derivedChanged || this.softChanged || this.saveDue()) {
      this.busy = true;
      try {
        if (!(await this.save(true))) this.outbox = [];
      } finally {
        this.busy = false;
        this.notifyDrained();
      }
    }
  }

  /** The current settings, whichever config is in force when a property is read. */
  private liveConfig(): TradeManagerConfig {
    return new Proxy({} as TradeManagerConfig, {
      get: (_target, key) => (this.config as unknown as Record<PropertyKey, unknown>)[key],
      has: (_target, key) => key in this.config,
    });
  }

  /**
   * Applies a change of the live settings (hotSettings): the rules read them through liveConfig,
   * so the new values hold from the next event on; the base class swaps the config once this
   * returns. Settings read once at start are refused, naming the key; cross-field sense the
   * schema cannot see is checked here.
   */
  protected override async onReconfigure(next: TradeManagerConfig, previous: TradeManagerConfig): Promise<void> {
    refuseColdChanges(previous, next, hotSettings);
    const v = next.sizing.volatility;
    if (v.minMultiplier > v.maxMultiplier) {
      throw new Error(`sizing.volatility.minMultiplier (${v.minMultiplier}) is above sizing.volatility.maxMultiplier (${v.maxMultiplier}): keep min at or below max`);
    }
    const ladder = [...next.breakers.drawdownLadder].sort((a, b) => a.drawdownPct - b.drawdownPct);
    for (let i = 1; i < ladder.length; i++) {
      if (ladder[i]!.sizeMultiplier > ladder[i - 1]!.sizeMultiplier) {
        throw new Error(`breakers.drawdownLadder: the step at ${ladder[i]!.drawdownPct} % sizes up (× ${ladder[i]!.sizeMultiplier}) from the one at ${ladder[i - 1]!.drawdownPct} % (× ${ladder[i - 1]!.sizeMultiplier}): a deeper drawdown must not size up`);
      }
    }
    // A decision under way finishes with the settings it started with; the next one has the new
    // ones. Time stops and retries are planned again with the next event (scheduledWith).
    await this.whenIdle();
    this.lastRisk = undefined;
    this.logger.info({ changes: changedKeys(previous, next) }, 'live settings changed');
  }

  /** Resolves once every event received so far has been handled and its state saved (tests, replays). */
  async whenIdle(): Promise<void> {
    while (this.busy) await new Promise<void>((resolve) => this.drainedWaiters.push(resolve));
  }

  /** True when no event is queued or being handled and nothing that must be saved is unsaved. */
  isIdle(): boolean {
    return !this.busy;
  }

  /** Keeps a strategy's closed trades in the log while the track record's window may need them. */
  private tradeLogPolicy(): SegmentedLogPolicy<ClosedTrade> {
    return {
      droppable: (oldest) => {
        const window = this.trackRecord.config.window;
        const inOldest = new Map<string, number>();
        for (const t of oldest) inOldest.set(t.strategyId ?? '', (inOldest.get(t.strategyId ?? '') ?? 0) + 1);
        for (const [strategyId, n] of inOldest) if ((this.tradeLogCounts.get(strategyId) ?? 0) - n < window) return false;
        // Trades closed at the same time are kept in the window by id, not by arrival: ask the record.
        const held = new Set<string>();
        for (const list of Object.values(this.trackRecord.toJSON().strategies)) for (const t of list) held.add(t.tradeId);
        return oldest.every((t) => !held.has(t.tradeId));
      },
      added: (t) => this.tradeLogCounts.set(t.strategyId ?? '', (this.tradeLogCounts.get(t.strategyId ?? '') ?? 0) + 1),
      dropped: (trades) => {
        for (const t of trades) this.tradeLogCounts.set(t.strategyId ?? '', (this.tradeLogCounts.get(t.strategyId ?? '') ?? 0) - 1);
      },
    };
  }

  /** A copy of the books, for tests and the API. */
  snapshot(): { book: Book; risk: RiskSnapshot; trackRecord: TrackRecordSnapshot; equity: number } {
    return structuredClone({ book: this.book, risk: this.risk.state, trackRecord: this.trackRecord.toJSON(), equity: this.equity() });
  }

  /** The ids of the signals decided and the trades closed that the manager remembers, oldest first (tests). */
  remembered(): { signals: string[]; closedTrades: string[] } {
    return { signals: this.seenSignals.list(), closedTrades: this.closedTrades.list() };
  }

  // ---------------------------------------------------------------- the event queue

  /**
   * Hands an event to the queue. When nothing else is queued and the event leaves nothing that
   * must be saved, it is handled and what it publishes goes out before this returns. Otherwise the
   * returned promise settles once it has been handled and its state saved (a transport that
   * acknowledges deliveries waits for that).
   */
  private enqueue<A>(what: string, handle: (arg: A) => void, arg: A): void | Promise<void> {
    this.queue.push(what, handle, arg);
    if (this.busy) return new Promise<void>((resolve) => this.drainedWaiters.push(resolve));
    this.busy = true;
    for (;;) {
      this.handleQueued();
      if (this.batchDue() || this.saveDue()) return this.continueAsync();
      this.release();
      if (this.queueEmpty()) break;
    }
    this.busy = false;
    this.notifyDrained();
    return undefined;
  }

  /** The part of the queue's work that waits: a batch of signals to collect, a save. */
  private async continueAsync(): Promise<void> {
    try {
      for (;;) {
        if (this.batchDue()) {
          // Signals published together (one bar close) arrive one after the other in the same
          // turn: let them all in, then decide them as one batch.
          await Promise.resolve();
          this.handleQueued();
          this.decideQueuedBatch();
        }
        if (this.saveDue() && !(await this.save(false))) {
          // Nothing derived from an unsaved state leaves the agent: a restart must not find
          // intents at the venue that its books do not hold. The state is saved again with the
          // next event; unacknowledged intents are sent again by the housekeeping timer.
          this.outbox = [];
        }
        this.release();
        if (this.queueEmpty() && !this.batchDue()) return;
        this.handleQueued();
      }
    } finally {
      this.busy = false;
      this.notifyDrained();
    }
  }

  private queueEmpty(): boolean {
    return this.queueHead >= this.queue.length;
  }

  private handleQueued(): void {
    const queue = this.queue;
    while (this.queueHead < queue.length) {
      const what = queue[this.queueHead] as string;
      const handle = queue[this.queueHead + 1] as (arg: unknown) => void;
      const arg = queue[this.queueHead + 2];
      this.queueHead += 3;
      if (this.queueHead === queue.length) {
        queue.length = 0;
        this.queueHead = 0;
      }
      try {
        // Day roll-over, cooldowns and breaker expiry first: a decision must see the rules as they
        // stand now. The last event left them evaluated for the books as they are; only time moves them.
        const now = this.clock.now();
        if (now !== this.evaluatedAt && this.risk.evaluate(now, this.equity())) this.changed();
        handle.call(this, arg);
      } catch (err) {
        this.handlerFailed(what, err);
      }
      this.afterEvent(what);
    }
  }

  private decideQueuedBatch(): void {
    if (!this.batchDue()) return;
    try {
      this.decideBatch();
    } catch (err) {
      this.handlerFailed('signal.generated', err);
    }
    this.afterEvent('signal.generated');
  }

  private handlerFailed(what: string, err: unknown): void {
    this.recordError(err);
    this.logger.error({ err: toError(err), in: what }, 'trade manager handler failed');
    this.alert('error', 'TRADE_MANAGER_HANDLER_FAILED', `Handling ${what} failed: ${toError(err).message}`);
  }

  /** A batch of signals waits for its decision (aggregation without a window decides once the queue is empty). */
  private batchDue(): boolean {
    return this.config.aggregationWindowMs === 0 && this.book.batch.length > 0;
  }

  private saveDue(): boolean {
    if (this.dirty.state || this.unsaved.size > 0 || this.counterfactualWrites.size > 0 || this.counterfactualDeletes.size > 0) return true;
    return (this.derivedChanged || this.softChanged) && this.intervalUp();
  }

  /** Time to save what is saved on the clock interval. */
  private intervalUp(): boolean {
    return this.clock.now() - this.derivedSavedAt >= this.config.marketStateSaveIntervalMs;
  }

  /** Publishes what the handled events produced and sets the timer for what is due with time alone. */
  private release(): void {
    try {
      this.drainOutbox();
      if (this.scheduleStale || this.scheduledWith !== this.config) this.reschedule();
    } catch (err) {
      // The queue must never stop: a publish refused here, e.g. by a transport closed during
      // shutdown, is logged and counted; unsent intents are sent again after a restart.
      this.recordError(err);
      this.logger.error({ err: toError(err) }, 'trade manager could not publish');
    }
  }

  private notifyDrained(): void {
    if (this.drainedWaiters.length === 0) return;
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Writes what must be on disk before the outbox goes out, and the derived market state when its
   * interval is up (or `everything`), as one change: one durable write, all of it or nothing.
   * Returns false, with the failure reported, when the store refused it; what was not written is
   * kept and goes with the next save.
   */
  private async save(everything: boolean): Promise<boolean> {
    const intervalUp = everything || this.intervalUp();
    const books = this.dirty.state || (this.softChanged && intervalUp);
    const derived = this.derivedChanged && intervalUp;
    const change = this.unsaved;
    this.unsaved = new Map();
    if (books) {
      for (const [key, value] of booksChange({ book: this.book, risk: this.risk.state, seenSignals: this.seenSignals, closedTrades: this.closedTrades, tradeLog: this.tradeLog })) {
        change.set(key, value);
      }
    }
    // Progress of every followed signal (bars left) goes with the market state.
    if (derived) for (const list of this.counterfactuals.values()) for (const cf of list) this.counterfactualWrites.set(cf.signalId, cf);
    for (const [signalId, cf] of this.counterfactualWrites) change.set(COUNTERFACTUAL_PREFIX + signalId, cf);
    for (const key of this.counterfactualDeletes) change.set(key, undefined);
    this.counterfactualWrites.clear();
    this.counterfactualDeletes.clear();
    if (derived) change.set(MARKET_KEY, this.markets);
    if (derived) change.set(PATTERNS_KEY, this.patterns.toJSON());
    // An entry waiting for the trade it replaces is durable before that trade's exit goes out.
    const allocation = this.allocator.takeSnapshot();
    if (allocation !== undefined) change.set(ALLOCATION_KEY, allocation);
    const gates = derived ? this.gates.takeSnapshot() : undefined;
    if (gates !== undefined) change.set(GATES_KEY, gates);
    if (books) {
      this.dirty.state = false;
      this.softChanged = false;
    }
    if (derived) this.derivedChanged = false;
    if (intervalUp) this.derivedSavedAt = this.clock.now();
    if (change.size === 0) return true;
    try {
      await this.store.setMany(change);
      return true;
    } catch (err) {
      // Nothing of the change is on disk: all of it goes again with the next save, under newer
      // values where the books moved on meanwhile.
      for (const [key, value] of this.unsaved) change.set(key, value);
      this.unsaved = change;
      this.dirty.state = true;
      this.recordError(err);
      this.logger.error({ err: toError(err) }, 'trade manager state not saved');
      this.alert('critical', 'TRADE_MANAGER_STATE_NOT_SAVED', `State could not be saved: ${toError(err).message}. Intents of this event were not sent; check the data directory.`);
      return false;
    }
  }

  /**
   * Events produced while handling an event wait here until the state that produced them is
   * saved: an intent never reaches the executor before the books that know about it are on disk.
   */
  private emit<K extends keyof BuiltinEvents & string>(type: K, payload: BuiltinEvents[K]): void {
    this.outbox.push(type, payload);
  }

  private drainOutbox(): void {
    if (this.outbox.length === 0) return;
    const out = this.outbox;
    this.outbox = [];
    for (let i = 0; i < out.length; i += 2) this.publish(out[i] as keyof BuiltinEvents & string, out[i + 1] as never);
  }

  /** One timer for everything that is due with time alone: intent retries, exit retries, time stops, limit timeouts, aggregation windows. */
  private reschedule(): void {
    this.scheduleStale = false;
    this.scheduledWith = this.config;
    const now = this.clock.now();
    let due: number | undefined;
    const at = (t: number | undefined): void => {
      if (t !== undefined && (due === undefined || t < due)) due = t;
    };
    for (const o of Object.values(this.book.orders)) {
      if (isTerminal(o.status)) continue;
      if (!o.acknowledged) at(o.updatedAt + INTENT_RETRY_MS);
      if (o.cancelRequestedAt !== undefined) at(o.cancelRequestedAt + this.config.exits.exitRetryMs);
    }
    const working = new Set<string>();
    for (const o of Object.values(this.book.orders)) if (o.request.purpose !== 'entry' && !isTerminal(o.status)) working.add(o.tradeId);
    for (const t of this.activeTrades()) {
      // An exit order still working (filling bar by bar under a volume cap, or a protective order
      // being cancelled) moves on with its own updates: only an exit with nothing working retries.
      if ((t.status === 'closing' || t.pendingExit !== undefined) && !working.has(t.id)) {
        at((t.lastExitAttemptAt ?? t.pendingExit?.since ?? now) + this.config.exits.exitRetryMs);
      }
      if (t.status === 'open' && this.config.exits.timeStopMs > 0 && t.openedAt !== undefined) {
        at(now + t.openedAt + this.config.exits.timeStopMs - this.marketNow(t.symbol));
      }
      const entry = this.liveOrder(t.entryOrderId);
      if (entry?.request.type === 'limit' && entry.cancelRequestedAt === undefined) at(t.requestedAt + this.config.entry.timeoutMs);
    }
    if (this.book.batch.length > 0 && this.book.batchSince !== undefined) at(this.book.batchSince + this.config.aggregationWindowMs);
    // Something overdue that the last run could not settle waits a second rather than spinning.
    if (due !== undefined && due <= now && this.lastHousekeepingAt === now) due = now + 1_000;
    if (due === this.housekeepingAt) return;
    this.housekeeping?.cancel();
    this.housekeeping = undefined;
    this.housekeepingAt = due;
    if (due !== undefined) {
      this.housekeeping = this.after(Math.max(0, due - now), () => {
        this.housekeeping = undefined;
        this.housekeepingAt = undefined;
        this.scheduleStale = true;
        void this.enqueue('housekeeping', this.onHousekeeping, undefined);
      });
    }
  }

  /**
   * Marks the books changed: they are saved before anything else is published, and the cached
   * list of active trades and the housekeeping timer are worked out again. Every change to the
   * books (a trade's status included) calls it.
   */
  private changed(): void {
    this.dirty.state = true;
    this.active = undefined;
    this.scheduleStale = true;
  }

  /** A change a restart recovers by itself: saved with the next save, on the clock interval or on stop. */
  private changedSoftly(): void {
    this.softChanged = true;
    this.active = undefined;
    this.scheduleStale = true;
  }

  private onStartup(): void {
    this.changed();
    // Intents the executor may never have seen (published just before a crash, or while it was
    // down) go out again; it recognises their client order ids and answers with the order's state.
    for (const order of Object.values(this.book.orders)) {
      if (isTerminal(order.status)) continue;
      this.emit('order.requested', order.request);
      if (order.cancelRequestedAt !== undefined) {
        const now = this.clock.now();
        this.emit('order.cancel_requested', { clientOrderId: order.request.clientOrderId, symbol: order.request.symbol, reason: order.cancelReason ?? 'cancel not confirmed before a restart', tradeId: order.tradeId, timestamp: now });
      }
    }
    this.publishAllPositions();
    this.publishRiskState(true);
  }

  private onHousekeeping(): void {
    const now = this.clock.now();
    this.lastHousekeepingAt = now;
    for (const order of Object.values(this.book.orders)) {
      if (!order.acknowledged && !isTerminal(order.status) && now - order.updatedAt >= INTENT_RETRY_MS) {
        order.updatedAt = now;
        this.changed();
        this.logger.warn({ clientOrderId: order.request.clientOrderId }, 'no answer from the executor yet; sending the intent again');
        this.emit('order.requested', order.request);
      }
      // A cancel without an answer goes out again (cancelOrder spaces the attempts).
      if (order.cancelRequestedAt !== undefined && !isTerminal(order.status)) this.cancelOrder(order, order.cancelReason ?? 'cancel not confirmed');
    }
    for (const trade of this.activeTrades()) this.manageTrade(trade, undefined);
    if (this.book.batch.length > 0 && this.book.batchSince !== undefined && now >= this.book.batchSince + this.config.aggregationWindowMs) {
      this.decideBatch();
    }
  }

  // ---------------------------------------------------------------- signals

  private onSignal(event: Envelope<'signal.generated', Signal>): void {
    const signal = event.payload;
    if (this.seenSignals.has(signal.id)) {
      this.logger.debug({ signalId: signal.id }, 'signal already decided, ignored');
      return;
    }
    this.seenSignals.add(signal.id);
    this.changed();
    const now = this.clock.now();
    const early: string[] = [];
    if (this.config.symbols !== undefined && !this.config.symbols.includes(signal.symbol)) early.push(`${signal.symbol} is not in the traded symbols`);
    if (this.config.maxSignalAgeMs > 0 && now - signal.timestamp > this.config.maxSignalAgeMs) {
      early.push(`signal is ${now - signal.timestamp} ms old, the limit is ${this.config.maxSignalAgeMs} ms`);
    }
    if (early.length > 0) {
      this.reject(signal, early, undefined);
      return;
    }
    this.book.batch.push(signal);
    this.book.batchSince ??= now;
  }

  /** Decides the signals collected so far as one batch (everything published for one bar close, typically). */
  private decideBatch(): void {
    const signals = this.book.batch;
    if (signals.length === 0) return;
    this.book.batch = [];
    this.book.batchSince = undefined;
    this.changed();
    // A signal against an open position is that position's exit: entry rules (minimum confidence,
    // ranking, conflicts) never keep a position open past its strategy's exit.
    const exits = signals.filter((s) => this.closesPosition(s));
    for (const signal of exits) this.decide(exitDecision(signal));
    const entries = exits.length === 0 ? signals : signals.filter((s) => !exits.includes(s));
    if (entries.length > 0) this.decideEntries(entries);
  }

  /** Entry signals through aggregation, then each decision through the entry rules. */
  private decideEntries(signals: Signal[], price?: number): void {
    if (this.aggregatorSettings !== this.config.aggregation) {
      this.aggregator = new SignalAggregator(this.config.aggregation, { path: 'aggregation' });
      this.aggregatorSettings = this.config.aggregation;
    }
    const outcome: BatchOutcome = decideBatch(this.aggregator, signals, {
      now: this.clock.now(),
      trackRecord: this.trackRecord,
      ...(this.regime !== undefined ? { regime: this.regime } : {}),
      adx: this.adx,
      rejectionPatterns: this.patterns,
    });
    for (const r of outcome.rejected) this.reject(r.signal, r.reasons, undefined, r.adjustments);
    // With allocation on, entries are decided highest bid first, each taking from the budget.
    const ordered = this.allocator.startRound(price === undefined ? outcome.decisions : outcome.decisions.map((d) => ({ ...d, price })));
    try {
      for (const decision of ordered) this.decide(decision);
    } finally {
      this.allocator.endRound();
    }
  }

  /** Flat, or (with exitOnOppositeSignal) opposite to a trade open on the symbol; `aggregation.exits: filter` leaves them to aggregation. */
  private closesPosition(signal: Signal): boolean {
    if (this.config.aggregation.exits !== 'pass') return false;
    if (signal.side === 'flat') return true;
    if (!this.config.exitOnOppositeSignal) return false;
    return this.activeTrades().some((t) => t.symbol === signal.symbol && t.side !== signal.side);
  }

  private decide(decision: TradeDecision): void {
    const now = this.clock.now();
    const active = this.activeTrades().filter((t) => t.symbol === decision.symbol);
    if (decision.side === 'flat') {
      if (active.length === 0) return this.rejectAll(decision, ['no position to close']);
      for (const t of active) this.requestExit(t, 'signal', 'exit');
      return this.acceptAll(decision, ['closes the position'], undefined, undefined);
    }
    const side: PositionSide = decision.side;
    if (active.some((t) => t.side === side)) return this.rejectAll(decision, [`a ${side} position on ${decision.symbol} is already open`]);
    const opposite = active.filter((t) => t.side !== side);
    if (opposite.length > 0) {
      if (!this.config.exitOnOppositeSignal) return this.rejectAll(decision, [`an opposite position on ${decision.symbol} is open`]);
      for (const t of opposite) this.requestExit(t, 'opposite signal', 'exit');
      const signal = decision.signals[0]!;
      if (this.config.reverseOnOppositeSignal || signal.metadata?.reverse === true) {
        // The new position waits for the old one to be closed: two orders in flight could leave
        // the account with both, or with neither when one fails.
        (this.book.reversals ??= {})[decision.symbol] = signal;
        this.changed();
        return this.acceptAll(decision, ['closes the opposite position (an exit: entry rules do not apply); opens its own once that is closed'], undefined, undefined);
      }
      return this.acceptAll(decision, ['closes the opposite position (an exit: entry rules do not apply); no reversal (reverseOnOppositeSignal: false)'], undefined, undefined);
    }

    const reasons: string[] = [];
    if (side === 'short' && !this.config.allowShort) reasons.push('short positions are disabled (allowShort: false)');
    const equity = this.equity();
    reasons.push(...this.risk.entryBlockers(now, decision.symbol, this.activeTrades().length, equity));
    reasons.push(...this.gates.preBlockers(decision.symbol));
    const market = this.markets[decision.symbol];
    const entryPrice = decision.price > 0 ? decision.price : (market?.last ?? 0);
    if (!(entryPrice > 0)) reasons.push(`no price known for ${decision.symbol}`);
    const open = this.openPositions();
    const exposure = this.exposure(open);
    // Sizing works in the symbol's quote currency: equity and what is already used, converted.
    const quoteValue = this.valueOfQuote(decision.symbol);
    if (quoteValue === undefined || !(quoteValue > 0)) {
      const quote = quoteOf(decision.symbol).quote;
      const account = this.accountCurrency() ?? '';
      reasons.push(
        `no price converts ${quote} into the account currency ${account}: the manager needs candles or ticks of ${quote}/${account} (or of a pair through one other currency); add that market to the data it receives, or set equity.currency`,
      );
    }
    const inQuote = quoteValue !== undefined && quoteValue > 0 ? 1 / quoteValue : 1;
    const sizing = sizeEntry(this.config, {
      symbol: decision.symbol,
      strategyId: decision.strategyId,
      side,
      entryPrice: entryPrice > 0 ? entryPrice : 1,
      stopLoss: decision.stopLoss,
      takeProfit: decision.takeProfit,
      confidence: decision.confidence,
      atr: this.atr.get(decision.symbol)?.value,
      equity: equity * inQuote,
      edge: this.edgeFor(decision.strategyId),
      symbolExposure: (exposure.bySymbol[decision.symbol] ?? 0) * inQuote,
      totalExposure: exposure.total * inQuote,
      heat: this.heat() * inQuote,
      scale: [{ factor: this.risk.sizeMultiplier(equity), note: 'drawdown ladder' }, ...this.gates.scale({ symbol: decision.symbol, side }, open)],
      venue: this.gates.precision(decision.symbol),
    });
    reasons.push(...sizing.rejections);
    if (sizing.rejections.length === 0 && quoteValue !== undefined) {
      const candidate = { symbol: decision.symbol, side, value: sizing.quantity * entryPrice * quoteValue };
      reasons.push(...this.gates.blockers(candidate, open, equity));
    }
    if (reasons.length > 0) {
      for (const signal of decision.signals) this.reject(signal, reasons, { stop: sizing.stopLoss, target: sizing.takeProfit, entry: entryPrice }, decision.adjustments);
      return;
    }
    const admission = this.allocator.admit(decision, { quantity: sizing.quantity, stopLoss: sizing.stopLoss, entryPrice, quoteValue: quoteValue ?? 1 });
    if (admission.kind === 'refuse') {
      for (const signal of decision.signals) this.reject(signal, admission.reasons, { stop: sizing.stopLoss, target: sizing.takeProfit, entry: entryPrice }, decision.adjustments);
      return;
    }
    if (admission.kind === 'replace') {
      this.requestExit(admission.trade, 'reallocated', 'exit');
      return this.acceptAll(decision, admission.reasons, undefined, undefined);
    }
    sizing.notes.push(...admission.reasons);

    const tradeId = tradeIdFor(decision.signals.map((s) => s.id));
    if (this.book.trades[tradeId] !== undefined || this.closedTrades.has(tradeId)) {
      this.logger.warn({ tradeId }, 'trade for these signals exists already; not opening another');
      return this.rejectAll(decision, [`trade ${tradeId} for these signals exists already`]);
    }
    const trade: TradeRecord = {
      id: tradeId,
      symbol: decision.symbol,
      side,
      status: 'pending',
      strategyId: decision.strategyId,
      signalId: decision.signals[0]?.id,
      signalIds: decision.signals.map((s) => s.id),
      adopted: false,
      plannedQuantity: sizing.quantity,
      plannedEntryPrice: entryPrice,
      entryQuantity: 0,
      entryValue: 0,
      exitQuantity: 0,
      exitValue: 0,
      fees: 0,
      stopLoss: sizing.stopLoss,
      initialStop: sizing.stopLoss,
      takeProfit: sizing.takeProfit,
      trailingActive: false,
      requestedAt: now,
      openedPublished: false,
      exitRevision: 0,
      stopRevision: 0,
      targetRevision: 0,
      realizedPnl: 0,
    };
    this.book.trades[tradeId] = trade;
    this.changed();
    this.risk.onEntry(now);
    this.allocator.opened(tradeId, decision.confidence);
    const e = this.config.entry;
    const limitPrice = e.type === 'limit' ? entryPrice * (1 - (direction(side) * e.limitOffsetBps) / 10_000) : undefined;
    const order = this.newOrder(trade, 'entry', {
      side: side === 'long' ? 'buy' : 'sell',
      type: e.type,
      quantity: sizing.quantity,
      price: limitPrice,
      reduceOnly: false,
      timeInForce: e.type === 'limit' ? 'GTC' : undefined,
      signalId: trade.signalId,
      strategyId: trade.strategyId,
    });
    trade.entryOrderId = order.request.clientOrderId;
    this.emit('order.requested', order.request);
    this.acceptAll(decision, sizing.notes, order.request.clientOrderId, sizing.quantity);
    this.publishRiskState(false);
  }

  private acceptAll(decision: TradeDecision, reasons: string[], clientOrderId: string | undefined, quantity: number | undefined): void {
    const now = this.clock.now();
    for (const s of decision.signals) {
      this.emit('signal.decided', {
        signalId: s.id,
        strategyId: s.strategyId,
        symbol: s.symbol,
        side: s.side,
        decision: 'accepted',
        reasons: s.id === decision.signals[0]!.id ? reasons : [...reasons, `merged into ${decision.signals[0]!.id}`],
        clientOrderId,
        quantity,
        ...(s.id === decision.signals[0]!.id ? this.decidedDetails(s.id, decision.adjustments) : {}),
        timestamp: now,
      });
    }
  }

  private rejectAll(decision: TradeDecision, reasons: string[]): void {
    for (const s of decision.signals) this.reject(s, reasons, undefined);
  }

  /** Publishes the rejection and starts following what the signal would have done. */
  private reject(
    signal: Signal,
    reasons: string[],
    levels: { stop: number | undefined; target?: number | undefined; entry: number } | undefined,
    adjustments?: TradeDecision['adjustments'],
  ): void {
    const now = this.clock.now();
    this.emit('signal.decided', {
      signalId: signal.id,
      strategyId: signal.strategyId,
      symbol: signal.symbol,
      side: signal.side,
      decision: 'rejected',
      reasons,
      ...this.decidedDetails(signal.id, adjustments),
      timestamp: now,
    });
    const cf = this.config.counterfactual;
    if (!cf.enabled || signal.side === 'flat') return;
    if (this.counterfactualCount >= cf.maxTracked) {
      this.logger.debug({ signalId: signal.id }, 'too many rejected signals followed; this one is not');
      return;
    }
    const side: PositionSide = signal.side;
    const entry = levels?.entry ?? signal.price;
    if (!(entry > 0)) return;
    const atr = this.atr.get(signal.symbol)?.value;
    const settings = sizingFor(this.config, signal.strategyId);
    const stop = signal.stopLoss ?? levels?.stop ?? defaultStop(settings, side, entry, atr);
    const target = signal.takeProfit ?? levels?.target ?? defaultTarget(settings, side, entry, stop);
    // Following asks which level a rejected signal would have met first; without a stop there is no question.
    if (stop === undefined || !(direction(side) * (entry - stop) > 0)) return;
    const followed: Counterfactual = { signalId: signal.id, strategyId: signal.strategyId, symbol: signal.symbol, side, entry, stop, target, barsLeft: cf.maxBars, since: now };
    this.follow(followed);
    this.counterfactualWrites.set(followed.signalId, followed);
    this.patterns.rejected(followed.signalId, this.regime?.regime(signal.symbol));
  }

  /** The optional fields of signal.decided: second-chance factors, and the auction's account of an entry. */
  private decidedDetails(signalId: string, adjustments: TradeDecision['adjustments']): Pick<BuiltinEvents['signal.decided'], 'adjustments' | 'allocation'> {
    const allocation = this.allocator.details(signalId);
    return { ...(adjustments !== undefined && adjustments.length > 0 ? { adjustments } : {}), ...(allocation !== undefined ? { allocation } : {}) };
  }

  // ---------------------------------------------------------------- orders and fills

  private newOrder(
    trade: TradeRecord,
    purpose: OrderPurpose,
    spec: Omit<OrderRequest, 'clientOrderId' | 'symbol' | 'purpose' | 'tradeId' | 'timestamp'>,
  ): OrderRecord {
    const now = this.clock.now();
    let clientOrderId: string;
    if (purpose === 'entry') clientOrderId = clientOrderIdFor(trade.id, 'entry', 0);
    else if (purpose === 'stop_loss' || purpose === 'trailing_stop') clientOrderId = clientOrderIdFor(trade.id, 'stop_loss', trade.stopRevision++);
    else if (purpose === 'take_profit' && spec.type !== 'market') clientOrderId = clientOrderIdFor(trade.id, 'take_profit', trade.targetRevision++);
    else clientOrderId = clientOrderIdFor(trade.id, 'exit', trade.exitRevision++);
    const request: OrderRequest = {
      clientOrderId,
      symbol: trade.symbol,
      purpose,
      tradeId: trade.id,
      timestamp: now,
      ...Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)),
    } as OrderRequest;
    const record: OrderRecord = {
      request,
      tradeId: trade.id,
      status: 'requested',
      filledQuantity: 0,
      fillIds: [],
      acknowledged: false,
      updatedAt: now,
    };
    this.book.orders[clientOrderId] = record;
    this.changed();
    return record;
  }

  private onOrderUpdated(event: Envelope<'order.updated', OrderUpdate>): void {
    const u = event.payload;
    const order = this.book.orders[u.clientOrderId];
    if (order === undefined) {
      // A finished order told again after a restart: booked before the trade left the book.
      if (u.restated === true) return;
      if (u.purpose === 'adopt') this.trackAdoptedOrder(u);
      else if (u.tradeId !== undefined && this.closedTrades.has(u.tradeId) && u.fills.length > 0) {
        this.alert('critical', 'FILL_AFTER_TRADE_CLOSED', `Order ${u.clientOrderId} filled ${u.filledQuantity} ${u.symbol} after its trade ${u.tradeId} was closed: the venue position may differ from the books until account-sync reconciles it.`, { clientOrderId: u.clientOrderId });
      }
      return;
    }
    const now = this.clock.now();
    const trade = this.book.trades[order.tradeId];
    order.acknowledged = true;
    order.updatedAt = now;
    if (u.reason !== undefined) order.reason = u.reason;
    let filled = 0;
    for (const fill of u.fills) {
      if (order.fillIds.includes(fill.tradeId)) continue;
      order.fillIds.push(fill.tradeId);
      filled += fill.quantity;
      if (trade === undefined) continue;
      trade.fees += feeInQuote(trade.symbol, fill.fee, fill.feeCurrency, fill.price);
      // A fee taken from the coins bought (spot venues do that) leaves fewer of them: the position
      // is what arrived, or the exit would try to sell coins that are not there.
      const net = order.request.side === 'buy' && fill.feeCurrency === quoteOf(trade.symbol).base ? Math.max(0, fill.quantity - fill.fee) : fill.quantity;
      const filledAt = fill.timestamp > 0 ? fill.timestamp : now;
      if (order.request.purpose === 'entry' || order.request.purpose === 'adopt') {
        trade.entryQuantity += net;
        trade.entryValue += net * fill.price;
        if (trade.entryFilledAt === undefined || filledAt < trade.entryFilledAt) trade.entryFilledAt = filledAt;
      } else {
        trade.exitQuantity += net;
        trade.exitValue += net * fill.price;
        if (trade.exitFilledAt === undefined || filledAt > trade.exitFilledAt) trade.exitFilledAt = filledAt;
      }
      // A fill is the latest price only when nothing later was seen: a fill reported after the bar
      // it happened in (a venue that reports once its books are written) does not undo that bar.
      const market = (this.markets[trade.symbol] ??= { timeframe: this.config.timeframe ?? '', bars: [] });
      if (market.lastAt === undefined || fill.timestamp >= market.lastAt) {
        market.last = fill.price;
        market.lastAt = fill.timestamp;
      }
    }
    const filledBefore = order.filledQuantity;
    order.filledQuantity = Math.max(order.filledQuantity, u.filledQuantity);
    if (!isTerminal(order.status)) order.status = u.status;
    else if (u.status !== order.status) this.logger.warn({ clientOrderId: u.clientOrderId, from: order.status, to: u.status }, 'update after a final state ignored');
    // A fill or a final state is saved before anything that follows from it is published. An
    // acknowledgement or a working status alone need not wait for a write: after a crash every
    // unfinished intent is sent again and the executor answers with the order as it stands.
    if (filled > 0 || order.filledQuantity !== filledBefore || isTerminal(order.status)) this.changed();
    else this.changedSoftly();
    if (trade === undefined) return;
    if (trade.status === 'closed' || trade.status === 'cancelled') {
      if (filled > 0) {
        this.alert('critical', 'FILL_AFTER_TRADE_CLOSED', `Order ${u.clientOrderId} filled ${filled} ${trade.symbol} after trade ${trade.id} ended: account-sync will reconcile the venue position.`);
      }
      this.retire(trade);
      return;
    }
    if (u.status === 'rejected' && order.request.purpose !== 'entry') {
      this.alert('error', 'EXIT_ORDER_REJECTED', `${order.request.purpose} order ${u.clientOrderId} for ${trade.symbol} was rejected: ${u.reason ?? 'no reason given'}`, { tradeId: trade.id });
    }
    this.advanceTrade(trade, order);
    if (filled > 0) this.publishPosition(trade.symbol);
  }

  /** Moves a trade along its lifecycle after one of its orders changed. */
  private advanceTrade(trade: TradeRecord, order: OrderRecord): void {
    const now = this.clock.now();
    const purpose = order.request.purpose;
    if (purpose === 'entry') {
      if (trade.status === 'pending' && trade.entryQuantity > 0) {
        trade.status = trade.pendingExit !== undefined ? 'closing' : 'open';
        trade.openedAt = trade.entryFilledAt ?? now;
        this.changed();
      }
      if (isTerminal(order.status)) {
        if (trade.entryQuantity <= 0) {
          trade.status = 'cancelled';
          trade.closedAt = now;
          this.changed();
          this.retire(trade);
          this.logger.info({ tradeId: trade.id, reason: order.reason }, 'entry ended without a fill');
          if (order.status === 'rejected') {
            this.alert('warning', 'ENTRY_REJECTED', `Entry ${order.request.clientOrderId} for ${trade.symbol} was rejected: ${order.reason ?? 'no reason given'}`, { tradeId: trade.id });
          }
          return;
        }
        if (!trade.openedPublished) {
          trade.openedPublished = true;
          this.emit('trade.opened', {
            tradeId: trade.id,
            symbol: trade.symbol,
            side: trade.side,
            quantity: trade.entryQuantity,
            entryPrice: averageEntryPrice(trade),
            stopLoss: trade.stopLoss,
            takeProfit: trade.takeProfit,
            strategyId: trade.strategyId,
            signalId: trade.signalId,
            fees: trade.fees,
            openedAt: trade.openedAt ?? now,
          });
        }
        if (trade.status === 'open') this.placeProtection(trade);
      }
    }
    if (this.isFlat(trade) && trade.entryQuantity > 0 && this.entryDone(trade)) {
      const protective = purpose === 'stop_loss' || purpose === 'trailing_stop' || (purpose === 'take_profit' && order.request.type !== 'market');
      const reason = protective ? this.exitReasonOf(trade, order) : (trade.pendingExit?.reason ?? this.exitReasonOf(trade, order));
      this.closeTrade(trade, reason);
      return;
    }
    if (trade.status === 'closing') {
      this.continueExit(trade);
      return;
    }
    if (trade.status === 'open' && isTerminal(order.status) && (purpose === 'stop_loss' || purpose === 'trailing_stop' || purpose === 'take_profit')) {
      // A protective order that ended without closing the trade (replaced, cancelled by the venue,
      // refused): put it back if the venue should hold one.
      this.placeProtection(trade);
    }
  }

  private entryDone(trade: TradeRecord): boolean {
    const entry = trade.entryOrderId !== undefined ? this.book.orders[trade.entryOrderId] : undefined;
    return entry === undefined || isTerminal(entry.status);
  }

  private exitReasonOf(trade: TradeRecord, order: OrderRecord): string {
    switch (order.request.purpose) {
      case 'stop_loss':
      case 'trailing_stop':
        return trade.trailingActive ? 'trailing_stop' : 'stop_loss';
      case 'take_profit':
        return 'take_profit';
      default:
        return trade.pendingExit?.reason === FLATTEN || trade.pendingExit?.reason === MARGIN ? trade.pendingExit.reason : 'exit';
    }
  }

  private liveOrder(id: string | undefined): OrderRecord | undefined {
    if (id === undefined) return undefined;
    const order = this.book.orders[id];
    return order !== undefined && !isTerminal(order.status) ? order : undefined;
  }

  /** Stop-loss and take-profit orders at the venue, when configured, for what is open. */
  private placeProtection(trade: TradeRecord): void {
    if (!this.config.exits.protectiveOrdersAtVenue || trade.status !== 'open') return;
    const qty = this.closableQuantity(trade);
    if (qty === 0) return;
    const exitSide = trade.side === 'long' ? 'sell' : 'buy';
    const reduceOnly = this.config.exits.reduceOnly;
    const orders: OrderRecord[] = [];
    if (trade.stopLoss !== undefined && this.liveOrder(trade.stopOrderId) === undefined && !this.recentlyFailed(trade.stopOrderId)) {
      const o = this.newOrder(trade, trade.trailingActive ? 'trailing_stop' : 'stop_loss', {
        side: exitSide,
        type: 'stop_market',
        quantity: qty,
        stopPrice: trade.stopLoss,
        reduceOnly,
      });
      trade.stopOrderId = o.request.clientOrderId;
      orders.push(o);
    }
    if (trade.takeProfit !== undefined && this.liveOrder(trade.targetOrderId) === undefined && !this.recentlyFailed(trade.targetOrderId)) {
      const o = this.newOrder(trade, 'take_profit', { side: exitSide, type: 'take_profit', quantity: qty, stopPrice: trade.takeProfit, reduceOnly });
      trade.targetOrderId = o.request.clientOrderId;
      orders.push(o);
    }
    this.publishAfterPersist(orders);
  }

  /** A protective order the venue refused is not sent again and again; the manager watches that level itself. */
  private recentlyFailed(id: string | undefined): boolean {
    const o = id === undefined ? undefined : this.book.orders[id];
    return o !== undefined && o.status === 'rejected';
  }

  private publishAfterPersist(orders: OrderRecord[]): void {
    for (const o of orders) this.emit('order.requested', o.request);
  }

  private cancelOrder(order: OrderRecord, reason: string): void {
    if (isTerminal(order.status)) return;
    const now = this.clock.now();
    if (order.cancelRequestedAt !== undefined && now - order.cancelRequestedAt < this.config.exits.exitRetryMs) return;
    order.cancelRequestedAt = now;
    order.cancelReason = reason;
    this.changed();
    this.emit('order.cancel_requested', { clientOrderId: order.request.clientOrderId, symbol: order.request.symbol, reason, tradeId: order.tradeId, timestamp: now });
  }

  /** Starts closing a trade: cancel what protects it at the venue first, then send the exit. */
  private requestExit(trade: TradeRecord, reason: string, purpose: OrderPurpose): void {
    if (trade.status === 'closed' || trade.status === 'cancelled') return;
    if (trade.pendingExit !== undefined) return;
    trade.pendingExit = { reason, purpose, since: this.clock.now() };
    if (trade.status === 'open') trade.status = 'closing';
    this.changed();
    this.continueExit(trade);
  }

  private continueExit(trade: TradeRecord): void {
    const exit = trade.pendingExit;
    if (exit === undefined) return;
    const entry = this.liveOrder(trade.entryOrderId);
    if (entry !== undefined) this.cancelOrder(entry, `closing trade: ${exit.reason}`);
    if (trade.status === 'pending') return;
    let waiting = false;
    for (const id of [trade.stopOrderId, trade.targetOrderId]) {
      const o = this.liveOrder(id);
      if (o !== undefined) {
        this.cancelOrder(o, `closing trade: ${exit.reason}`);
        waiting = true;
      }
    }
    if (waiting) return;
    const working = Object.values(this.book.orders).some(
      (o) => o.tradeId === trade.id && !isTerminal(o.status) && o.request.purpose !== 'entry',
    );
    if (working) return;
    const qty = this.closableQuantity(trade);
    if (qty === 0) return;
    const now = this.clock.now();
    if (trade.lastExitAttemptAt !== undefined && now - trade.lastExitAttemptAt < this.config.exits.exitRetryMs) return;
    trade.lastExitAttemptAt = now;
    const order = this.newOrder(trade, exit.purpose, {
      side: trade.side === 'long' ? 'sell' : 'buy',
      type: 'market',
      quantity: qty,
      reduceOnly: this.config.exits.reduceOnly,
    });
    this.publishAfterPersist([order]);
  }

  private stepOf(symbol: string): number | undefined {
    return this.config.sizing.markets[symbol]?.quantityStep ?? this.config.sizing.quantityStep;
  }

  /** The open quantity on the venue's quantity step (a float sum of fills may sit a hair off it). */
  private closableQuantity(trade: TradeRecord): number {
    const open = openQuantity(trade);
    const rounded = roundDown(open, this.stepOf(trade.symbol));
    return rounded > 0 ? rounded : open;
  }

  /**
   * Nothing left to sell: no open quantity, or, after an exit, less than one quantity step (dust
   * the venue would refuse to trade). Dust stays at the venue and out of the trade's P&L, which is
   * computed from fills alone.
   */
  private isFlat(trade: TradeRecord): boolean {
    const open = openQuantity(trade);
    if (open === 0) return true;
    const step = this.stepOf(trade.symbol);
    return step !== undefined && trade.exitQuantity > 0 && open < step - 1e-12;
  }

  private closeTrade(trade: TradeRecord, reason: string): void {
    const now = this.clock.now();
    const closedAt = trade.exitFilledAt ?? now;
    trade.status = 'closed';
    trade.closedAt = closedAt;
    trade.exitReason = reason;
    this.changed();
    const pnl = realizedPnl(trade);
    trade.realizedPnl = pnl;
    const pct = pnlPct(pnl, trade);
    for (const id of [trade.stopOrderId, trade.targetOrderId, trade.entryOrderId]) {
      const o = this.liveOrder(id);
      if (o !== undefined) this.cancelOrder(o, 'trade closed');
    }
    this.emit('trade.closed', {
      tradeId: trade.id,
      symbol: trade.symbol,
      side: trade.side,
      quantity: trade.entryQuantity,
      entryPrice: averageEntryPrice(trade),
      exitPrice: averageExitPrice(trade) ?? averageEntryPrice(trade),
      pnl,
      pnlPct: pct,
      fees: trade.fees,
      strategyId: trade.strategyId,
      exitReason: reason,
      openedAt: trade.openedAt ?? trade.requestedAt,
      closedAt,
    });
    this.risk.onTradeClosed(now, trade.symbol, pnl * (this.valueOfQuote(trade.symbol) ?? 1));
    if (trade.strategyId !== undefined && !trade.adopted) {
      const closed: ClosedTrade = { tradeId: trade.id, strategyId: trade.strategyId, symbol: trade.symbol, side: trade.side, pnl, pnlPct: pct, closedAt };
      if (this.trackRecord.record(closed)) this.tradeLog.append(closed);
    }
    const replacement = this.allocator.closed(trade.id);
    this.retire(trade);
    this.publishPosition(trade.symbol);
    this.continueReversal(trade.symbol);
    if (replacement !== undefined) {
      // The entry that outbid this trade (exit reason reallocated), decided again now that its budget is free.
      this.decideEntries([replacement], this.markets[replacement.symbol]?.last);
      this.allocator.settled(replacement.id);
    }
  }

  /** Opens the position a reversal asked for, once nothing is left open on its symbol. */
  private continueReversal(symbol: string): void {
    const signal = this.book.reversals?.[symbol];
    if (signal === undefined || this.activeTrades().some((t) => t.symbol === symbol)) return;
    delete this.book.reversals![symbol];
    this.changed();
    // An entry like any other (aggregation, limits, sizing), at the price of now.
    this.decideEntries([signal], this.markets[symbol]?.last);
  }

  /** Drops a finished trade from the books once none of its orders can still change. */
  private retire(trade: TradeRecord): void {
    this.closedTrades.add(trade.id);
    const orders = Object.values(this.book.orders).filter((o) => o.tradeId === trade.id);
    // Kept while a cancel is still in flight, so its answer finds the trade.
    if (orders.every((o) => isTerminal(o.status))) {
      delete this.book.trades[trade.id];
      for (const o of orders) delete this.book.orders[o.request.clientOrderId];
    }
    this.changed();
  }

  private trackAdoptedOrder(u: OrderUpdate): void {
    const known = this.book.adoptedOrders[u.clientOrderId];
    if (isTerminal(u.status)) {
      if (known !== undefined) {
        delete this.book.adoptedOrders[u.clientOrderId];
        this.changed();
      }
      return;
    }
    this.book.adoptedOrders[u.clientOrderId] = {
      clientOrderId: u.clientOrderId,
      symbol: u.symbol,
      side: u.side,
      status: u.status,
      quantity: u.quantity,
      filledQuantity: u.filledQuantity,
      seenAt: known?.seenAt ?? this.clock.now(),
    };
    this.changed();
  }

  // ---------------------------------------------------------------- market data and exits

  private onCandle(candle: Candle): void {
    this.rates.update(candle.symbol, candle.close);
    if (this.config.symbols !== undefined && !this.config.symbols.includes(candle.symbol)) return;
    let market = this.markets[candle.symbol];
    const wanted = this.config.timeframe ?? (market !== undefined && market.timeframe !== '' ? market.timeframe : candle.timeframe);
    if (candle.timeframe !== wanted) return;
    if (market === undefined) this.markets[candle.symbol] = market = { timeframe: wanted, bars: [] };
    else market.timeframe = wanted;
    if (market.lastBarTime !== undefined && candle.timestamp <= market.lastBarTime) return;
    market.lastBarTime = candle.timestamp;
    const closeTime = candle.timestamp + (timeframeMs(candle.timeframe) ?? 0);
    market.last = candle.close;
    market.lastAt = closeTime;
    const keep = this.config.sizing.volatility.atrPeriod + 1;
    // The oldest bar's array is reused for the newest: nothing allocated per candle.
    const bar = market.bars.length >= keep ? market.bars.shift()! : ([0, 0, 0] as [number, number, number]);
    bar[0] = candle.high;
    bar[1] = candle.low;
    bar[2] = candle.close;
    market.bars.push(bar);
    if (market.bars.length > keep) market.bars.splice(0, market.bars.length - keep);
    this.atrFor(candle.symbol).update(candle);
    this.regime?.update(candle);
    this.adx.update(candle.symbol, candle);
    this.gates.onClose(candle.symbol, closeTime, candle.close);
    this.derivedChanged = true;
    const range: PriceRange = { high: candle.high, low: candle.low, close: candle.close };
    this.followCounterfactuals(candle.symbol, range, closeTime);
    return this.onPrice(candle.symbol, range, closeTime, true);
  }

  private onTick(tick: BuiltinEvents['price.tick']): void {
    this.rates.update(tick.symbol, tick.price);
    if (this.config.symbols !== undefined && !this.config.symbols.includes(tick.symbol)) return;
    const market = (this.markets[tick.symbol] ??= { timeframe: this.config.timeframe ?? '', bars: [] });
    market.last = tick.price;
    market.lastAt = tick.timestamp;
    return this.onPrice(tick.symbol, { high: tick.price, low: tick.price, close: tick.price }, tick.timestamp, false);
  }

  private onPrice(symbol: string, range: PriceRange, observedUntil: number, barClose: boolean): void {
    let any = false;
    for (const trade of this.activeTrades()) {
      if (trade.symbol !== symbol) continue;
      any = true;
      this.manageTrade(trade, { range, observedUntil, barClose });
    }
    if (any) this.publishPosition(symbol);
  }

  /** Exit rules for one trade on a new price (or on the timer, with no price). */
  private manageTrade(trade: TradeRecord, price: { range: PriceRange; observedUntil: number; barClose: boolean } | undefined): void {
    const now = this.clock.now();
    // A limit entry not (fully) filled in time is cancelled; a partial fill stays as the position.
    const entry = this.liveOrder(trade.entryOrderId);
    if (entry !== undefined && entry.request.type === 'limit' && now - trade.requestedAt >= this.config.entry.timeoutMs) {
      this.cancelOrder(entry, 'limit entry not filled in time');
    }
    if (trade.status === 'pending') {
      if (trade.pendingExit !== undefined) this.continueExit(trade);
      return;
    }
    if (trade.status === 'closing') {
      this.continueExit(trade);
      return;
    }
    if (trade.status !== 'open') return;
    const marketNow = price?.observedUntil ?? this.marketNow(trade.symbol);
    // A range from before the fill says nothing about this trade.
    if (price !== undefined && trade.openedAt !== undefined && price.observedUntil <= trade.openedAt) return;
    const venue = { stop: this.liveOrder(trade.stopOrderId) !== undefined, target: this.liveOrder(trade.targetOrderId) !== undefined };
    const close = price?.range.close ?? this.markets[trade.symbol]?.last;
    const range = price?.range ?? (close !== undefined ? { high: close, low: close, close } : undefined);
    if (range === undefined) {
      // No price yet (a restart before the first bar): only the clock can close the trade.
      const tooOld = this.config.exits.timeStopMs > 0 && trade.openedAt !== undefined && marketNow - trade.openedAt >= this.config.exits.timeStopMs;
      if (tooOld) this.requestExit(trade, 'time_stop', 'exit');
      return;
    }
    // Levels as they stood before this bar: a bar's low may have come before its high, so a stop
    // trailed up by this bar's high applies from the next bar on.
    const trigger = exitFor(this.config, trade, range, marketNow, venue);
    if (trigger !== undefined) {
      this.requestExit(trade, trigger.reason, trigger.purpose);
      return;
    }
    if (price !== undefined) {
      const stopBefore = trade.stopLoss;
      if (trailStop(this.config, trade, price.range, this.atr.get(trade.symbol)?.value)) {
        this.changed();
        if (price.barClose) this.replaceVenueStop(trade, stopBefore);
      }
    }
  }

  /** The latest market time seen on `symbol` (the clock before any): trade times and time stops count in it. */
  private marketNow(symbol: string): number {
    return this.markets[symbol]?.lastAt ?? this.clock.now();
  }

  private replaceVenueStop(trade: TradeRecord, previousStop: number | undefined): void {
    const live = this.liveOrder(trade.stopOrderId);
    if (live === undefined || trade.stopLoss === undefined || previousStop === undefined) return;
    const venueStop = live.request.stopPrice ?? previousStop;
    const movedPct = (Math.abs(trade.stopLoss - venueStop) / venueStop) * 100;
    if (movedPct < this.config.exits.trailing.venueUpdateStepPct) return;
    // Cancel first, place the new stop once the venue confirms (advanceTrade → placeProtection):
    // two live stops could both trigger and sell twice.
    this.cancelOrder(live, 'trailing stop moved');
  }

  private follow(cf: Counterfactual): void {
    const list = this.counterfactuals.get(cf.symbol);
    if (list === undefined) this.counterfactuals.set(cf.symbol, [cf]);
    else list.push(cf);
    this.counterfactualCount++;
  }

  /**
   * Moves the rejected signals followed on `symbol` one bar on. Their progress is saved with the
   * market state; an outcome is saved before it is published, so it is never published twice.
   */
  private followCounterfactuals(symbol: string, range: PriceRange, closeTime: number): void {
    const list = this.counterfactuals.get(symbol);
    if (list === undefined || list.length === 0) return;
    const now = this.clock.now();
    let kept = 0;
    for (const cf of list) {
      if (closeTime <= cf.since) {
        list[kept++] = cf;
        continue;
      }
      this.derivedChanged = true;
      const outcome = advanceCounterfactual(cf, range);
      if (outcome === undefined) {
        list[kept++] = cf;
        continue;
      }
      this.counterfactualWrites.delete(cf.signalId);
      this.counterfactualDeletes.add(COUNTERFACTUAL_PREFIX + cf.signalId);
      this.patterns.outcome({ signalId: cf.signalId, strategyId: cf.strategyId, symbol: cf.symbol, pnlPct: outcome.pnlPct, closedAt: now });
      this.emit('signal.decided', {
        signalId: cf.signalId,
        strategyId: cf.strategyId,
        symbol: cf.symbol,
        side: cf.side,
        decision: 'outcome',
        reasons: [`would have closed at ${outcome.exitReason}`],
        outcome: { exitPrice: outcome.exitPrice, pnlPct: outcome.pnlPct, exitReason: outcome.exitReason, closedAt: now },
        timestamp: now,
      });
    }
    this.counterfactualCount -= list.length - kept;
    list.length = kept;
  }

  // ---------------------------------------------------------------- account, risk commands, reconciliation

  private onAccount(account: BuiltinEvents['account.updated']): void {
    if (this.config.equity.venue !== undefined && account.venue !== this.config.equity.venue) return;
    const watch = this.gates.onAccount(account);
    if (watch !== undefined) this.safety.watchMargin(watch);
    if (this.config.equity.source === 'internal') return;
    this.reportedCurrency = account.quoteCurrency;
    if (this.risk.state.accountEquity !== account.equity) {
      this.risk.state.accountEquity = account.equity;
      // The venue's equity comes again from account sync after a restart: no save of its own.
      // Peaks and day-start equity derived from it are saved when risk.evaluate moves them.
      this.changedSoftly();
    }
  }

  private onMarketSnapshot(snapshot: BuiltinEvents['market.snapshot']): void {
    const { added, removed } = this.gates.onSnapshot(snapshot);
    this.derivedChanged = true;
    if (this.config.universe.follow && (added.length > 0 || removed.length > 0)) {
      this.logger.info({ venue: snapshot.venue, added, removed }, 'tradable universe changed: no new entries on symbols that left it');
    }
  }

  private onRiskCommand(event: Envelope<'risk.command', BuiltinEvents['risk.command']>): void {
    const { action, reason, by } = event.payload;
    const changed = this.risk.command(action as RiskAction, this.equity());
    this.changed();
    const flatten = action === 'flatten' || (action === 'kill' && this.config.killSwitch.flatten);
    this.alert(action === 'kill' || flatten ? 'warning' : 'info', `RISK_${action.toUpperCase()}`, `Risk command '${action}' by ${by}: ${reason}`);
    if (action === 'kill' || flatten) {
      for (const trade of this.activeTrades()) {
        const entry = this.liveOrder(trade.entryOrderId);
        if (entry !== undefined) this.cancelOrder(entry, `kill switch: ${reason}`);
      }
    }
    if (flatten) this.safety.flattenAll(`${action} by ${by}: ${reason}`);
    if (changed) this.publishRiskState(true);
  }

  private onReconcile(event: Envelope<'position.reconcile', BuiltinEvents['position.reconcile']>): void {
    const r = event.payload;
    const now = this.clock.now();
    if (r.action === 'adopt') {
      const id = adoptedTradeIdFor(r.venue, r.symbol, r.side, r.timestamp);
      if (this.book.trades[id] !== undefined || this.closedTrades.has(id)) return;
      const atr = this.atr.get(r.symbol)?.value;
      const stop = defaultStop(this.config.sizing, r.side, r.price, atr);
      const trade: TradeRecord = {
        id,
        symbol: r.symbol,
        side: r.side,
        status: 'open',
        strategyId: undefined,
        signalIds: [],
        adopted: true,
        plannedQuantity: r.quantity,
        plannedEntryPrice: r.price,
        entryQuantity: r.quantity,
        entryValue: r.quantity * r.price,
        exitQuantity: 0,
        exitValue: 0,
        fees: 0,
        stopLoss: stop,
        initialStop: stop,
        takeProfit: defaultTarget(this.config.sizing, r.side, r.price, stop),
        trailingActive: false,
        requestedAt: now,
        openedAt: now,
        openedPublished: true,
        exitRevision: 0,
        stopRevision: 0,
        targetRevision: 0,
        realizedPnl: 0,
      };
      this.book.trades[id] = trade;
      this.changed();
      this.alert('warning', 'POSITION_ADOPTED', `Adopted a ${r.side} position of ${r.quantity} ${r.symbol} found at ${r.venue}: ${r.reason}. It is now managed ${stop === undefined ? 'without a stop (sizing.defaultStopPct is 0)' : `with stop ${stop}`}.`, { tradeId: id });
      this.emit('trade.opened', {
        tradeId: id,
        symbol: r.symbol,
        side: r.side,
        quantity: r.quantity,
        entryPrice: r.price,
        stopLoss: trade.stopLoss,
        takeProfit: trade.takeProfit,
        fees: 0,
        openedAt: now,
      });
      this.placeProtection(trade);
      this.publishPosition(r.symbol);
      return;
    }
    // resolve: the venue no longer holds what the books say; book it out at the given price.
    let missing = r.quantity;
    const trades = this.activeTrades()
      .filter((t) => t.symbol === r.symbol && t.side === r.side && openQuantity(t) > 0)
      .sort((a, b) => (b.openedAt ?? 0) - (a.openedAt ?? 0));
    for (const trade of trades) {
      if (missing <= QTY_EPSILON) break;
      const q = Math.min(openQuantity(trade), missing);
      missing -= q;
      trade.exitQuantity += q;
      trade.exitValue += q * r.price;
      this.changed();
      if (openQuantity(trade) === 0) {
        for (const id of [trade.stopOrderId, trade.targetOrderId]) {
          const o = this.liveOrder(id);
          if (o !== undefined) this.cancelOrder(o, 'position gone at the venue');
        }
        this.closeTrade(trade, 'reconciled');
      }
    }
    this.alert('warning', 'POSITION_RESOLVED', `Booked out ${r.quantity - missing} ${r.symbol} (${r.side}) the venue no longer holds: ${r.reason}`);
    this.publishPosition(r.symbol);
  }

  // ---------------------------------------------------------------- portfolio numbers and publishing

  /** Pending, open and closing trades; cached until the next changed(). */
  private activeTrades(): TradeRecord[] {
    if (this.active === undefined) {
      const active: TradeRecord[] = [];
      for (const id in this.book.trades) {
        const t = this.book.trades[id]!;
        if (t.status === 'pending' || t.status === 'open' || t.status === 'closing') active.push(t);
      }
      this.active = active;
    }
    return this.active;
  }

  private equity(): number {
    const source = this.config.equity.source;
    const account = this.risk.state.accountEquity;
    if (source !== 'internal' && account !== undefined) return account;
    let equity = this.config.equity.initial + this.risk.state.realizedPnl;
    for (const t of this.activeTrades()) equity += (unrealizedPnl(t, this.markets[t.symbol]?.last) + realizedPnl(t)) * (this.valueOfQuote(t.symbol) ?? 1);
    return equity;
  }

  /** The currency equity is counted in; undefined while unknown (then every quote counts as it). */
  private accountCurrency(): string | undefined {
    return this.config.equity.currency ?? (this.config.equity.source === 'internal' ? undefined : this.reportedCurrency);
  }

  /** What one unit of `symbol`'s quote currency is worth in the account currency; undefined when no price says. */
  private valueOfQuote(symbol: string): number | undefined {
    const account = this.accountCurrency();
    if (account === undefined) return 1;
    return this.rates.rate(quoteOf(symbol).quote, account);
  }

  /** What a trade's position is worth in the account currency, at its symbol's last price. */
  private positionValue(t: TradeRecord): number {
    return tradeExposure(t, this.markets[t.symbol]?.last) * (this.valueOfQuote(t.symbol) ?? 1);
  }

  private totalExposure(): number {
    let total = 0;
    for (const t of this.activeTrades()) total += this.positionValue(t);
    return total;
  }

  /** Open and pending trades as the portfolio rules see them: value in the account currency. */
  private openPositions(): PortfolioPosition[] {
    return this.activeTrades().map((t) => ({ symbol: t.symbol, side: t.side, value: this.positionValue(t) }));
  }

  private exposure(open: readonly PortfolioPosition[] = this.openPositions()): { total: number; bySymbol: Record<string, number> } {
    const bySymbol: Record<string, number> = {};
    let total = 0;
    for (const p of open) {
      bySymbol[p.symbol] = (bySymbol[p.symbol] ?? 0) + p.value;
      total += p.value;
    }
    return { total, bySymbol };
  }

  private heat(): number {
    let heat = 0;
    for (const t of this.activeTrades()) heat += tradeRisk(t) * (this.valueOfQuote(t.symbol) ?? 1);
    return heat;
  }

  private edgeFor(strategyId: string): EdgeStats | undefined {
    const stats = this.trackRecord.stats(strategyId);
    if (stats.count === 0) return undefined;
    const avgLoss = Math.abs(stats.averageLossPct);
    const payoff = avgLoss > 0 ? stats.averageWinPct / avgLoss : stats.averageWinPct > 0 ? Infinity : 0;
    return { trades: stats.count, winRate: stats.winRate, payoff };
  }

  private atrFor(symbol: string): ATR {
    let atr = this.atr.get(symbol);
    if (atr === undefined) this.atr.set(symbol, (atr = new ATR(this.config.sizing.volatility.atrPeriod)));
    return atr;
  }

  private publishPosition(symbol: string): void {
    const mark = this.markets[symbol]?.last;
    let net = 0;
    let open = 0;
    let cost = 0;
    let unrealized = 0;
    let realized = 0;
    for (const t of this.activeTrades()) {
      if (t.symbol !== symbol) continue;
      const q = openQuantity(t);
      if (!(q > 0)) continue;
      net += direction(t.side) * q;
      open += q;
      cost += q * averageEntryPrice(t);
      unrealized += unrealizedPnl(t, mark);
      realized += realizedPnl(t);
    }
    const qty = Math.abs(net);
    this.positionAnnouncedAt.set(symbol, this.clock.now());
    this.emit('position.updated', {
      symbol,
      side: qty <= QTY_EPSILON ? 'flat' : net > 0 ? 'long' : 'short',
      quantity: qty <= QTY_EPSILON ? 0 : qty,
      entryPrice: qty <= QTY_EPSILON ? 0 : cost / open,
      markPrice: mark,
      unrealizedPnl: unrealized,
      realizedPnl: realized,
      timestamp: this.clock.now(),
    });
  }

  private publishAllPositions(): void {
    for (const symbol of this.openSymbols()) this.publishPosition(symbol);
  }

  /** Every open position at least once per snapshot interval: those a bar, tick or fill announced within it are not repeated. */
  private publishPositionSnapshot(): void {
    const since = this.clock.now() - this.config.positionSnapshotIntervalMs;
    for (const symbol of this.openSymbols()) if ((this.positionAnnouncedAt.get(symbol) ?? Number.NEGATIVE_INFINITY) <= since) this.publishPosition(symbol);
  }

  private openSymbols(): string[] {
    const symbols: string[] = [];
    for (const t of this.activeTrades()) if (openQuantity(t) > 0 && !symbols.includes(t.symbol)) symbols.push(t.symbol);
    return symbols;
  }

  /** Runs after every event: day roll-over, breakers, and risk.state on change. */
  private afterEvent(what: string): void {
    try {
      const now = this.clock.now();
      const equity = this.equity();
      if (this.risk.evaluate(now, equity)) this.changed();
      this.evaluatedAt = now;
      this.publishRiskState(false, equity);
    } catch (err) {
      this.handlerFailed(what, err);
    }
  }

  /**
   * Publishes risk.state when a switch, a breaker or the number of positions changed, and when
   * only the numbers changed at most every riskStateIntervalMs. The check costs a few
   * comparisons: the numbers are worked out only when they could be published.
   */
  private publishRiskState(force: boolean, knownEquity?: number): void {
    const now = this.clock.now();
    const s = this.risk.state;
    const openPositions = this.activeTrades().length;
    const last = this.lastRisk;
    const equityNow = knownEquity ?? this.equity();
    const sizeMultiplier = this.risk.sizeMultiplier(equityNow);
    const same =
      last !== undefined &&
      last.sizeMultiplier === sizeMultiplier &&
      last.killSwitch === s.killSwitch &&
      last.reducingOnly === s.reducingOnly &&
      last.openPositions === openPositions &&
      sameBreaker(last.breakers[0], s.breakers.dailyLoss) &&
      sameBreaker(last.breakers[1], s.breakers.drawdown) &&
      sameBreaker(last.breakers[2], s.breakers.consecutiveLosses);
    if (!force && same && now - last.at < this.config.riskStateIntervalMs) return;
    const equity = equityNow;
    const exposure = this.totalExposure();
    const heat = equity > 0 ? (this.heat() / equity) * 100 : 0;
    const dailyPnl = this.risk.dailyPnl(equity);
    if (!force && same) {
      const n = last.numbers;
      if (nearlyEqual(equity, n[0]!) && nearlyEqual(s.peakEquity, n[1]!) && nearlyEqual(dailyPnl, n[2]!) && nearlyEqual(exposure, n[3]!) && nearlyEqual(heat, n[4]!)) return;
    }
    const payload = {
      killSwitch: s.killSwitch,
      reducingOnly: s.reducingOnly,
      breakers: this.risk.breakerList(),
      equity,
      peakEquity: s.peakEquity,
      drawdownPct: this.risk.drawdownPct(equity),
      dailyPnl,
      openPositions,
      exposure,
      heat,
      ...(this.config.breakers.drawdownLadder.length > 0 ? { sizeMultiplier } : {}),
      ...this.gates.state(this.openPositions(), equity),
      timestamp: now,
    };
    if (last !== undefined && !same) {
      const before = { ...last, breakers: BREAKER_NAMES.map((name, i) => ({ name, ...last.breakers[i]! })) };
      for (const a of riskTransitions(before, { ...payload, sizeMultiplier })) this.alert(a.level, a.code, a.message, a.details);
    }
    this.lastRisk = {
      killSwitch: s.killSwitch,
      reducingOnly: s.reducingOnly,
      openPositions,
      sizeMultiplier,
      breakers: BREAKER_NAMES.map((name) => ({ ...s.breakers[name] })),
      numbers: [equity, s.peakEquity, dailyPnl, exposure, heat],
      at: now,
    };
    this.emit('risk.state', payload);
  }
}

/** Top-level keys whose settings differ, for the log line of a live change. */
function changedKeys(previous: TradeManagerConfig, next: TradeManagerConfig): string[] {
  return (Object.keys(next) as Array<keyof TradeManagerConfig>).filter((k) => JSON.stringify(previous[k]) !== JSON.stringify(next[k]));
}
