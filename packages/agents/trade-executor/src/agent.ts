import { BaseAgent, TradebusError, builtinEvents, fastSafeParse, toError, type AgentContext, type BuiltinEvents, type Fill, type TimerHandle, refuseColdChanges } from '@tradebus/core';
import {
  orderUpdateFields,
  type Candle,
  type ExecutionProvider,
  type Order,
  type OrderRequest as VenueOrderRequest,
  type Provider,
  type Tick,
} from '@tradebus/providers';
import type { TradeExecutorConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { canTransition, isFinal, type OrderStatus } from './order-state.js';
import { SlippageGuard, type SymbolHalt } from './slippage-guard.js';
import { TokenBucket } from './token-bucket.js';
import { VenueBreaker, venueOutcomeOf, type VenueBreakerSnapshot, type VenueBreakerTransition } from './venue-breaker.js';

export type OrderRequest = BuiltinEvents['order.requested'];
type CancelRequest = BuiltinEvents['order.cancel_requested'];

/** What the executor remembers about one client order id; persisted before every venue call. */
export interface ExecutedOrder {
  request: OrderRequest;
  status: OrderStatus;
  venueOrderId?: string | undefined;
  filledQuantity: number;
  averagePrice?: number | undefined;
  fee: number;
  /** Every fill published so far, oldest first: republished in full when the manager asks again. */
  fills: Fill[];
  /** The venue reports totals only for this order; fills are derived from changes of the totals. */
  synthesizedFills: boolean;
  reason?: string | undefined;
  receivedAt: number;
  updatedAt: number;
  /** Placement failed in a way that leaves open whether the venue has the order. */
  outcomeUnknownSince?: number | undefined;
  /** A cancel that arrived while the order was being placed; carried out once placement is done. */
  cancelRequested?: string | undefined;
  /** What the slippage guard measures this order's fills against, fixed when it is first sent. */
  referencePrice?: number | undefined;
}

/** The venue breaker and the symbols halted for slippage: one small record, written when either changes. */
export interface VenueSafetyState {
  breaker: VenueBreakerSnapshot;
  halts: Record<string, SymbolHalt>;
}

/** A provider the executor can feed market data to (the paper exchange). */
interface MarketDataSink {
  onTick(tick: Tick): void;
  onCandle(candle: Candle): void;
}

const KEY_PREFIX = 'order:';
const SAFETY_KEY = 'venue-safety';
const riskCommandSchema = builtinEvents['risk.command'];
const requestSchema = builtinEvents['order.requested'];
// Every order passes here; a well-formed one without zod (which still explains every refusal).
const parseRequest = fastSafeParse(requestSchema);
const cancelSchema = builtinEvents['order.cancel_requested'];

/** Buckets per venue object: executors sharing a provider share its limit. */
const buckets = new WeakMap<object, TokenBucket>();

export class ExecutorConfigError extends TradebusError {
  constructor(message: string) {
    super('EXECUTOR_CONFIG', message);
  }
}

/**
 * Places the trade manager's order intents at a venue, exactly once each. Every client order id
 * is written to the store before the venue is called, so after a crash the executor asks the venue
 * what became of each order in flight instead of placing it again; retries happen only for errors
 * that are safe to retry, and each retry first asks the venue whether the order exists.
 */
export class TradeExecutorAgent extends BaseAgent<TradeExecutorConfig> {
  private provider!: Provider;
  private execution: ExecutionProvider | undefined;
  private bucket!: TokenBucket;
  private readonly orders = new Map<string, ExecutedOrder>();
  private readonly inFlight = new Set<string>();
  /** Orders whose placement outcome is unknown: looked up on the poll timer even when the venue pushes updates. */
  private readonly unknown = new Set<string>();
  /** Finished orders in the order they finished; the oldest are forgotten beyond keepFinishedOrders. */
  private readonly finished = new Set<string>();
  private pollTimer: TimerHandle | undefined;
  /** Store writes and deletes queued or running. */
  private pendingWrites = 0;
  /** What the last write of each record stored, and when that write is done. */
  private readonly written = new WeakMap<ExecutedOrder, { state: string; done: Promise<void> }>();
  private started = false;
  /** Cancels for ids not seen yet: the intent may still be queued behind others. */
  private readonly earlyCancels = new Map<string, string>();
  private writes: Promise<void> = Promise.resolve();
  private ready: Promise<void> = Promise.resolve();
  private unsubscribeProvider: (() => void) | undefined;
  private polling: Promise<void> | undefined;
  private illegalTransitions = 0;
  /** Per lane (requests of a symbol, cancels of a symbol), the last one queued: the next starts after it. */
  private readonly lanes = new Map<string, Promise<void>>();
  /** Clock time this run started: an intent from before it may have been placed by an earlier run. */
  private startedAt = Number.NEGATIVE_INFINITY;
  private breaker!: VenueBreaker;
  private guard!: SlippageGuard;
  /** Wakes an open breaker when its cooldown is over, so the half-open alert does not wait for a request. */
  private probeTimer: TimerHandle | undefined;
  /** Last price seen per symbol (price.tick, candle.closed): the slippage reference of orders without a price. */
  private readonly lastPrices = new Map<string, number>();

  constructor(context: AgentContext<TradeExecutorConfig>) {
    super(context);
  }

  protected override async initialize(): Promise<void> {
    const c = this.config;
    this.orders.clear();
    this.inFlight.clear();
    this.unknown.clear();
    this.finished.clear();
    this.lastPrices.clear();
    const safety = await this.store.get<VenueSafetyState>(SAFETY_KEY);
    // Both read their settings through a live view, so a change applied while running holds from
    // the next order on and their state (failures, halts) is kept.
    this.breaker = new VenueBreaker(this.liveSection('venueBreaker'), (t) => this.onBreakerTransition(t), safety?.breaker);
    this.guard = new SlippageGuard(this.liveSection('slippageGuard'), safety?.halts);
    const done: ExecutedOrder[] = [];
    for (const key of await this.store.keys()) {
      if (!key.startsWith(KEY_PREFIX)) continue;
      const record = await this.store.get<ExecutedOrder>(key);
      if (record === undefined) continue;
      this.orders.set(record.request.clientOrderId, record);
      if (isFinal(record.status)) done.push(record);
      else if (record.outcomeUnknownSince !== undefined) this.unknown.add(record.request.clientOrderId);
    }
    done.sort((a, b) => a.updatedAt - b.updatedAt);
    for (const record of done) this.finished.add(record.request.clientOrderId);
    if (c.mode === 'disabled' && !this.services.has(`provider:${c.provider}`)) {
      // Never touches a venue, so it does not need one.
      this.provider = { id: c.provider, kind: 'paper', venue: 'none', close: async () => undefined };
      this.bucket = new TokenBucket(this.clock, c.rateLimit.capacity, c.rateLimit.refillPerSecond);
      return;
    }
    this.provider = this.services.get<Provider>(`provider:${c.provider}`);
    this.execution = this.provider.execution;
    if (c.mode !== 'disabled' && this.execution === undefined) {
      throw new ExecutorConfigError(`Provider '${c.provider}' cannot execute orders: give the executor a provider with execution (paper or an exchange with API keys).`);
    }
    if (c.mode === 'paper' && this.provider.kind !== 'paper') {
      throw new ExecutorConfigError(
        `mode 'paper' needs a paper provider, but '${c.provider}' is a ${this.provider.kind} provider that could place real orders. Use a provider of kind 'paper', or set mode: 'live' if real orders are intended.`,
      );
    }
    if (c.mode === 'paper' && c.feedMarketData === true && !isSink(this.provider)) {
      throw new ExecutorConfigError(`Provider '${c.provider}' does not accept market data; set feedMarketData: false.`);
    }
    let bucket = buckets.get(this.provider);
    if (bucket === undefined) buckets.set(this.provider, (bucket = this.newBucket(c)));
    this.bucket = bucket;
  }

  /** The venue's request limit; a paper venue has none (rateLimit applies to real venues). */
  private newBucket(c: TradeExecutorConfig): TokenBucket {
    return this.provider.kind === 'paper' ? TokenBucket.unlimited(this.clock) : new TokenBucket(this.clock, c.rateLimit.capacity, c.rateLimit.refillPerSecond);
  }

  /** One section of the settings, read from whichever config is in force when a property is read. */
  private liveSection<K extends 'venueBreaker' | 'slippageGuard'>(key: K): TradeExecutorConfig[K] {
    return new Proxy({} as TradeExecutorConfig[K], {
      get: (_target, name) => (this.config[key] as Record<PropertyKey, unknown>)[name],
      has: (_target, name) => name in this.config[key],
    });
  }

  /**
   * Applies live settings (hotSettings): retries are read per request, the venue breaker and the
   * slippage guard through liveSection; a new rate limit replaces the venue's token bucket with a
   * full one of the new capacity (requests waiting on the old one are served by it).
   */
  protected override onReconfigure(next: TradeExecutorConfig, previous: TradeExecutorConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    if (next.retry.initialDelayMs > next.retry.maxDelayMs) {
      throw new Error(`retry.initialDelayMs (${next.retry.initialDelayMs}) is above retry.maxDelayMs (${next.retry.maxDelayMs}): keep the first delay at or below the longest`);
    }
    if (JSON.stringify(next.rateLimit) !== JSON.stringify(previous.rateLimit)) {
      const bucket = this.newBucket(next);
      this.bucket = bucket;
      buckets.set(this.provider, bucket);
    }
    this.logger.info({ rateLimit: next.rateLimit, retry: next.retry, venueBreaker: next.venueBreaker, slippageGuard: next.slippageGuard }, 'live settings changed');
  }

  protected run(): void {
    this.startedAt = this.clock.now();
    let release!: () => void;
    this.started = false;
    this.pollTimer = undefined;
    this.ready = new Promise<void>((resolve) => (release = () => {
      this.started = true;
      resolve();
    }));
    // Requests are handled one after another per symbol, in the order they came (an exit never
    // overtakes its entry), and so are cancels, on a lane of their own so that a cancel reaches an
    // order still being placed (it is noted and carried out once placement is done). Symbols do
    // not wait for each other: a burst of intents shares its durable writes.
    this.subscribe('order.requested', async (e) => {
      await this.ready;
      await this.inLane(symbolOf(e.payload), () => this.onRequest(e.payload));
    });
    this.subscribe('order.cancel_requested', async (e) => {
      await this.ready;
      await this.inLane(`cancel:${symbolOf(e.payload)}`, () => this.onCancel(e.payload));
    });
    this.subscribe('risk.command', (e) => this.onRiskCommand(e.payload));
    const feed = this.config.feedMarketData === 'auto' ? this.provider.marketData === undefined : this.config.feedMarketData;
    const sink = this.config.mode === 'paper' && feed && isSink(this.provider) ? this.provider : undefined;
    const prices = this.guard.enabled ? this.lastPrices : undefined;
    if (sink !== undefined || prices !== undefined) {
      // Synchronous, in bus order: the paper exchange sees each bar before any order decided on it,
      // and an order's slippage reference is the last price before it.
      this.subscribe('candle.closed', (e) => {
        prices?.set(e.payload.symbol, e.payload.close);
        sink?.onCandle({ ...e.payload, closed: true });
      });
      this.subscribe('price.tick', (e) => {
        prices?.set(e.payload.symbol, e.payload.price);
        sink?.onTick(e.payload);
      });
    }
    this.probeTimer = undefined;
    this.scheduleProbe();
    if (this.config.mode !== 'disabled' && this.provider.events !== undefined) {
      this.unsubscribeProvider = this.provider.events.subscribe({ order: (u) => this.onVenueUpdate(u.order, u.fills) });
    }
    this.prune();
    this.updatePolling();
    this.background('startup-reconciliation', async () => {
      try {
        await this.reconcileOnStart();
      } finally {
        release();
      }
    });
  }

  protected override async cleanup(): Promise<void> {
    this.unsubscribeProvider?.();
    this.unsubscribeProvider = undefined;
    // Writes started while waiting are waited for too.
    for (let writes = this.writes; ; writes = this.writes) {
      await writes;
      if (writes === this.writes) break;
    }
  }

  /** Runs `work` after everything queued before it on the same lane has settled. */
  private inLane(lane: string, work: () => Promise<void>): Promise<void> {
    const before = this.lanes.get(lane);
    const done = before === undefined ? work() : before.then(work);
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(lane, settled);
    void settled.then(() => {
      if (this.lanes.get(lane) === settled) this.lanes.delete(lane);
    });
    return done;
  }

  /** The executor's view of an order, for tests and the API. */
  order(clientOrderId: string): ExecutedOrder | undefined {
    const o = this.orders.get(clientOrderId);
    return o === undefined ? undefined : structuredClone(o);
  }

  get refusedTransitions(): number {
    return this.illegalTransitions;
  }

  /** True when no event is queued or being handled, no poll is running and every write has landed. */
  isIdle(): boolean {
    return this.started && this.pendingWrites === 0 && this.polling === undefined && this.bus.stats.pending === 0;
  }

  /** Resolves once every event received so far has been handled and its state written (tests, replays). */
  async whenIdle(): Promise<void> {
    for (;;) {
      const writes = this.writes;
      await this.ready;
      await this.bus.idle();
      await this.polling;
      await writes;
      if (writes === this.writes && this.bus.stats.pending === 0 && this.polling === undefined) return;
    }
  }

  // ---------------------------------------------------------------- intents

  private async onRequest(payload: OrderRequest): Promise<void> {
    const parsed = parseRequest(payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.alert('error', 'ORDER_REQUEST_INVALID', `Refused an invalid order.requested: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`, {
        clientOrderId: (payload as { clientOrderId?: unknown })?.clientOrderId,
      });
      return;
    }
    const request = parsed.data;
    const known = this.orders.get(request.clientOrderId);
    if (known !== undefined) {
      if (!sameOrder(known.request, request)) {
        this.alert('error', 'CLIENT_ORDER_ID_REUSED', `Client order id ${request.clientOrderId} was requested again with different terms; the first order stands and nothing new is placed.`, {
          clientOrderId: request.clientOrderId,
        });
      }
      // The sender did not see our answer (a restart, a redelivery): tell it again, with every fill.
      this.publishState(known, known.fills);
      return;
    }
    const now = this.clock.now();
    const record: ExecutedOrder = {
      request,
      status: 'requested',
      filledQuantity: 0,
      fee: 0,
      fills: [],
      synthesizedFills: false,
      receivedAt: now,
      updatedAt: now,
    };
    this.orders.set(request.clientOrderId, record);
    if (this.config.mode === 'disabled') return this.refuse(record, 'execution is disabled (mode: disabled): no order was sent to the venue');
    const early = this.earlyCancels.get(request.clientOrderId);
    if (early !== undefined) {
      this.earlyCancels.delete(request.clientOrderId);
      return this.refuse(record, `cancelled before it was placed (${early})`, 'cancelled');
    }
    const age = now - request.timestamp;
    if (request.purpose === 'entry' && this.config.maxRequestAgeMs > 0 && age > this.config.maxRequestAgeMs) {
      return this.refuse(record, `entry intent is ${age} ms old (limit ${this.config.maxRequestAgeMs} ms): not placed on stale information`);
    }
    let probe = false;
    if (isEntry(request)) {
      const halt = this.guard.halted(request.symbol, now, (symbol, h) => this.onHaltExpired(symbol, h));
      if (halt !== undefined) {
        const until = halt.until !== undefined ? `until ${new Date(halt.until).toISOString()}` : 'until a risk.command resume or reset_breakers';
        return this.refuse(
          record,
          `slippage guard: new entries on ${request.symbol} are halted ${until}, after a fill of order ${halt.clientOrderId} ${halt.slippageBps.toFixed(1)} bps worse than its reference (limit ${halt.limitBps} bps)`,
        );
      }
      const admitted = this.breaker.admitEntry(now);
      if ('refused' in admitted) return this.refuse(record, admitted.refused);
      probe = admitted.probe;
    } else {
      // Exits and protective orders always go out; on a half-open breaker one of them may be the probe.
      probe = this.breaker.admitOther(now).probe;
    }
    // An intent from before this run (redelivered, or sent again by a manager that restarted) whose
    // record is gone may still have reached the venue: ask before placing it.
    await this.place(record, request.timestamp < this.startedAt, probe);
  }

  private async refuse(record: ExecutedOrder, reason: string, status: 'rejected' | 'cancelled' = 'rejected'): Promise<void> {
    record.status = status;
    record.reason = reason;
    record.updatedAt = this.clock.now();
    await this.persist(record);
    this.publishState(record, []);
    this.logger.warn({ clientOrderId: record.request.clientOrderId, reason }, 'order intent rejected');
  }

  /**
   * Places an order, retrying only what is safe to retry. `lookFirst` asks the venue before the
   * first attempt too (an order that may already have been sent before a restart).
   */
  private async place(record: ExecutedOrder, lookFirst: boolean, probe = false): Promise<void> {
    const cid = record.request.clientOrderId;
    const exec = this.execution!;
    this.inFlight.add(cid);
    try {
      if (record.status === 'requested') {
        record.status = 'submitted';
        record.updatedAt = this.clock.now();
      }
      record.referencePrice ??= record.request.price ?? record.request.stopPrice ?? this.lastPrices.get(record.request.symbol);
      // Durable before the venue hears of it: a restart finds this id and asks before placing.
      await this.persist(record);
      this.publishState(record, []);
      const r = this.config.retry;
      let outcomeUnknown = false;
      let lastError: unknown;
      for (let attempt = 1; attempt <= r.maxAttempts; attempt++) {
        if (attempt > 1 || lookFirst) {
          const found = await this.lookup(record);
          if (found === 'failed') {
            outcomeUnknown = true;
            await this.clock.sleep(backoff(r, attempt));
            continue;
          }
          if (found !== undefined) {
            this.applyOrder(record, found, undefined);
            return;
          }
        }
        await this.bucket.take();
        try {
          const order = await exec.createOrder(venueRequest(record.request));
          this.breaker.record('answered', this.clock.now());
          this.applyOrder(record, order, undefined);
          record.outcomeUnknownSince = undefined;
          return;
        } catch (err) {
          lastError = err;
          this.breaker.record(venueOutcomeOf(err), this.clock.now(), toError(err).message);
          const failure = providerFailure(err);
          if (failure !== undefined && !failure.retryable && !failure.outcomeUnknown) {
            this.reject(record, toError(err).message);
            return;
          }
          // Anything else may or may not have reached the venue.
          if (failure === undefined || failure.outcomeUnknown) outcomeUnknown = true;
          if (failure?.retryAfterMs !== undefined) this.bucket.pause(failure.retryAfterMs);
          this.logger.warn({ err: toError(err), clientOrderId: cid, attempt }, 'order placement failed; will look the order up and retry');
          if (attempt < r.maxAttempts) await this.clock.sleep(backoff(r, attempt));
        }
      }
      if (outcomeUnknown) {
        record.outcomeUnknownSince ??= this.clock.now();
        record.reason = `placement outcome unknown after ${r.maxAttempts} attempts: ${toError(lastError).message}`;
        this.alert('error', 'ORDER_OUTCOME_UNKNOWN', `Order ${cid} (${record.request.symbol}) may or may not be at the venue: ${toError(lastError).message}. It is looked up every ${this.config.pollIntervalMs} ms and never placed twice.`, {
          clientOrderId: cid,
        });
      } else {
        this.reject(record, `not placed after ${r.maxAttempts} attempts: ${toError(lastError).message}`);
      }
    } finally {
      // Ended without the venue deciding the probe (rate-limited throughout): another request probes.
      if (probe) this.breaker.releaseProbe();
      this.inFlight.delete(cid);
      if (record.cancelRequested !== undefined && !isFinal(record.status)) await this.cancel(record, record.cancelRequested);
      await this.persist(record);
    }
  }

  /** The venue's view of an order; 'failed' when the venue could not be asked. */
  private async lookup(record: ExecutedOrder): Promise<Order | undefined | 'failed'> {
    try {
      await this.bucket.take();
      return await this.execution!.fetchOrder(record.request.clientOrderId, record.request.symbol);
    } catch (err) {
      const retryAfter = providerFailure(err)?.retryAfterMs;
      if (retryAfter !== undefined) this.bucket.pause(retryAfter);
      this.logger.warn({ err: toError(err), clientOrderId: record.request.clientOrderId }, 'order lookup failed');
      return 'failed';
    }
  }

  private reject(record: ExecutedOrder, reason: string): void {
    if (isFinal(record.status)) return;
    record.status = 'rejected';
    record.reason = reason;
    record.outcomeUnknownSince = undefined;
    record.updatedAt = this.clock.now();
    this.announce(record, []);
  }

  // ---------------------------------------------------------------- cancels

  private async onCancel(payload: CancelRequest): Promise<void> {
    const parsed = cancelSchema.safeParse(payload);
    if (!parsed.success) {
      this.alert('error', 'CANCEL_REQUEST_INVALID', `Refused an invalid order.cancel_requested: ${parsed.error.issues[0]?.message ?? ''}`);
      return;
    }
    const { clientOrderId, symbol, reason } = parsed.data;
    const record = this.orders.get(clientOrderId);
    if (record === undefined) {
      this.earlyCancels.set(clientOrderId, reason);
      if (this.earlyCancels.size > 1_000) this.earlyCancels.delete(this.earlyCancels.keys().next().value!);
      if (this.config.mode === 'disabled') return;
      // Not seen yet: either the intent is still queued (handled when it arrives) or this store
      // lost it; cancelling at the venue is the safe move for the second case.
      try {
        await this.bucket.take();
        const order = await this.execution!.cancelOrder(clientOrderId, symbol);
        this.breaker.record('answered', this.clock.now());
        this.logger.warn({ clientOrderId }, 'cancelled an order this executor has no record of');
        this.onVenueUpdate(order, order.fills);
      } catch (err) {
        this.breaker.record(venueOutcomeOf(err), this.clock.now(), toError(err).message);
        if (providerFailure(err)?.code !== 'PROVIDER_ORDER_NOT_FOUND') this.logger.warn({ err: toError(err), clientOrderId }, 'cancel of an unknown order failed');
      }
      return;
    }
    if (isFinal(record.status)) {
      this.publishState(record, []);
      return;
    }
    if (this.inFlight.has(clientOrderId)) {
      record.cancelRequested = reason;
      await this.persist(record);
      return;
    }
    await this.cancel(record, reason);
  }

  private async cancel(record: ExecutedOrder, reason: string): Promise<void> {
    const cid = record.request.clientOrderId;
    const r = this.config.retry;
    for (let attempt = 1; attempt <= r.maxAttempts && !isFinal(record.status); attempt++) {
      try {
        await this.bucket.take();
        const order = await this.execution!.cancelOrder(cid, record.request.symbol);
        this.breaker.record('answered', this.clock.now());
        if (order.status === 'cancelled' && order.reason === undefined) order.reason = reason;
        this.applyOrder(record, order, undefined);
        break;
      } catch (err) {
        this.breaker.record(venueOutcomeOf(err), this.clock.now(), toError(err).message);
        const failure = providerFailure(err);
        if (failure?.code === 'PROVIDER_ORDER_NOT_FOUND') {
          const found = await this.lookup(record);
          if (found !== undefined && found !== 'failed') this.applyOrder(record, found, undefined);
          else if (found === undefined && record.status === 'submitted') this.reject(record, `cancelled before the venue accepted it (${reason})`);
          break;
        }
        if (failure !== undefined && !failure.retryable && !failure.outcomeUnknown) {
          this.alert('error', 'CANCEL_FAILED', `Cancel of ${cid} refused by the venue: ${toError(err).message}`, { clientOrderId: cid });
          const found = await this.lookup(record);
          if (found !== undefined && found !== 'failed') this.applyOrder(record, found, undefined);
          break;
        }
        if (failure?.retryAfterMs !== undefined) this.bucket.pause(failure.retryAfterMs);
        if (attempt === r.maxAttempts) {
          this.alert('error', 'CANCEL_FAILED', `Cancel of ${cid} failed after ${attempt} attempts: ${toError(err).message}`, { clientOrderId: cid });
        } else {
          await this.clock.sleep(backoff(r, attempt));
        }
      }
    }
    record.cancelRequested = undefined;
    await this.persist(record);
  }

  // ---------------------------------------------------------------- venue updates

  private onVenueUpdate(order: Order, fills: Fill[] | undefined): void {
    const record = this.orders.get(order.clientOrderId);
    if (record === undefined) {
      // Not placed by us (a liquidation, a manual order): make it visible, flagged for adoption.
      this.logger.warn({ clientOrderId: order.clientOrderId, status: order.status }, 'update for an order this executor did not place');
      this.publish('order.updated', {
        ...orderUpdateFields(order),
        purpose: 'adopt',
        fills: fills ?? [],
        timestamp: this.clock.now(),
      });
      return;
    }
    this.applyOrder(record, order, fills);
  }

  /**
   * Folds the venue's view of an order into the record: new fills (never the same fill twice),
   * then the status if the state machine allows the move. Publishes when something changed.
   */
  private applyOrder(record: ExecutedOrder, order: Order, pushed: Fill[] | undefined): void {
    const cid = record.request.clientOrderId;
    const fresh: Fill[] = [];
    const reported = [...(pushed ?? []), ...order.fills];
    if (reported.length > 0 && !record.synthesizedFills) {
      const seen = new Set(record.fills.map((f) => f.tradeId));
      for (const f of reported) {
        if (seen.has(f.tradeId)) continue;
        seen.add(f.tradeId);
        fresh.push(f);
      }
    } else if (order.filledQuantity > record.filledQuantity + 1e-12) {
      // Totals only: one fill for the change, priced so the averages add up.
      record.synthesizedFills = true;
      const delta = order.filledQuantity - record.filledQuantity;
      const avg = order.averagePrice ?? order.price ?? record.averagePrice ?? 0;
      const before = (record.averagePrice ?? 0) * record.filledQuantity;
      const price = Math.max(0, (avg * order.filledQuantity - before) / delta);
      fresh.push({
        tradeId: `${cid}@${order.filledQuantity}`,
        price: Number.isFinite(price) ? price : avg,
        quantity: delta,
        fee: Math.max(0, order.fee - record.fee),
        feeCurrency: order.feeCurrency ?? '',
        liquidity: 'taker',
        timestamp: order.updatedAt,
      });
    }
    let changed = fresh.length > 0;
    if (order.status !== record.status) {
      if (canTransition(record.status, order.status) || (record.status === 'requested' && canTransition('submitted', order.status))) {
        record.status = order.status;
        changed = true;
      } else {
        this.illegalTransitions++;
        this.logger.warn({ clientOrderId: cid, from: record.status, to: order.status }, 'illegal order state transition refused');
      }
    }
    record.fills.push(...fresh);
    record.filledQuantity = Math.max(record.filledQuantity, order.filledQuantity);
    if (order.averagePrice !== undefined) record.averagePrice = order.averagePrice;
    record.fee = Math.max(record.fee, order.fee);
    if (order.venueOrderId !== undefined) record.venueOrderId = order.venueOrderId;
    if (order.reason !== undefined && order.reason !== record.reason) {
      record.reason = order.reason;
      changed = true;
    }
    if (isFinal(record.status)) record.outcomeUnknownSince = undefined;
    if (!changed) return;
    record.updatedAt = this.clock.now();
    this.announce(record, fresh);
    for (const f of fresh) this.checkSlippage(record, f);
  }

  /**
   * Publishes a change once the record holding it is durable: what the order log and the manager
   * hear of, the executor finds again after a restart, and asks the venue about instead of placing.
   */
  private announce(record: ExecutedOrder, fills: Fill[]): void {
    // The update as it stands now: later changes of the record have their own announcement.
    const update = this.stateOf(record, fills);
    const publish = (): void => {
      try {
        this.publish('order.updated', update);
      } catch (err) {
        // Stopping: the bus is gone. The record is on disk; the next start tells it again.
        this.logger.warn({ err: toError(err), clientOrderId: record.request.clientOrderId }, 'order update not published');
      }
    };
    // Not saved: the alert is out, and the venue still has the truth, asked again after a restart.
    this.persist(record).then(publish, publish);
  }

  private publishState(record: ExecutedOrder, fills: Fill[]): void {
    this.publish('order.updated', this.stateOf(record, fills));
  }

  private stateOf(record: ExecutedOrder, fills: Fill[]): BuiltinEvents['order.updated'] {
    const r = record.request;
    return {
      clientOrderId: r.clientOrderId,
      venueOrderId: record.venueOrderId,
      symbol: r.symbol,
      side: r.side,
      type: r.type,
      status: record.status,
      quantity: r.quantity,
      filledQuantity: record.filledQuantity,
      averagePrice: record.averagePrice,
      price: r.price,
      stopPrice: r.stopPrice,
      reduceOnly: r.reduceOnly,
      purpose: r.purpose,
      tradeId: r.tradeId,
      fills,
      fee: record.fee,
      reason: record.reason,
      timestamp: this.clock.now(),
    };
  }

  // ---------------------------------------------------------------- venue safety

  private checkSlippage(record: ExecutedOrder, fill: Fill): void {
    const r = record.request;
    const halt = this.guard.check(r.symbol, r.side, record.referencePrice, fill.price, r.clientOrderId, this.clock.now());
    if (halt === undefined) return;
    const until = halt.until !== undefined ? `until ${new Date(halt.until).toISOString()}` : 'until a risk.command resume or reset_breakers';
    this.notify(
      'warning',
      'SLIPPAGE_HALT',
      `A ${r.side} fill of ${r.clientOrderId} on ${r.symbol} at ${fill.price} was ${halt.slippageBps.toFixed(1)} bps worse than its reference ${halt.referencePrice} (limit ${halt.limitBps} bps): new entries on ${r.symbol} are halted ${until}; exits still go out.`,
      { symbol: r.symbol, ...halt },
    );
    this.saveSafety();
  }

  private onHaltExpired(symbol: string, halt: SymbolHalt): void {
    this.notify('info', 'SLIPPAGE_HALT_LIFTED', `Entries on ${symbol} are allowed again: the slippage halt of ${this.config.slippageGuard.haltMs} ms is over.`, { symbol, since: halt.since });
    this.saveSafety();
  }

  private onRiskCommand(payload: BuiltinEvents['risk.command']): void {
    const parsed = riskCommandSchema.safeParse(payload);
    if (!parsed.success) {
      this.logger.warn({ issue: parsed.error.issues[0]?.message }, 'invalid risk.command ignored');
      return;
    }
    const { action, by, reason } = parsed.data;
    if (action !== 'resume' && action !== 'reset_breakers') return;
    const lifted = this.guard.resume();
    if (lifted.length > 0) {
      this.notify('info', 'SLIPPAGE_HALT_LIFTED', `Entries on ${lifted.join(', ')} are allowed again (${action} by ${by}: ${reason}).`, { symbols: lifted, action, by });
    }
    const wasClosed = this.breaker.state === 'closed';
    this.breaker.reset(this.clock.now(), `${action} by ${by}: ${reason}`);
    if (lifted.length > 0 && wasClosed) this.saveSafety();
  }

  private onBreakerTransition(t: VenueBreakerTransition): void {
    const venue = this.config.provider;
    const details = { provider: venue, from: t.from, to: t.to, reason: t.reason, failures: t.failures, probeAt: t.probeAt, lastError: t.lastError };
    if (t.to === 'open') {
      this.notify(
        'error',
        'VENUE_BREAKER_OPEN',
        `Venue circuit breaker of '${venue}' opened: ${t.reason}. New entries are refused until it probes the venue at ${new Date(t.probeAt ?? t.at).toISOString()}; exits and protective orders still go out. A risk.command reset_breakers closes it at once.`,
        details,
      );
    } else if (t.to === 'half_open') {
      this.notify('info', 'VENUE_BREAKER_HALF_OPEN', `Venue circuit breaker of '${venue}' is half-open: ${t.reason}.`, details);
    } else {
      this.notify('info', 'VENUE_BREAKER_CLOSED', `Venue circuit breaker of '${venue}' closed (${t.reason}): new entries go to the venue again.`, details);
    }
    this.saveSafety();
    this.scheduleProbe();
  }

  /** Keeps one timer waiting for the end of an open breaker's cooldown, none otherwise. */
  private scheduleProbe(): void {
    this.probeTimer?.cancel();
    this.probeTimer = undefined;
    const at = this.breaker.probeAt;
    if (at === undefined) return;
    const state = this.state;
    // Transitions seen while stopping (calls finishing) are saved; the next start sets its own timer.
    if (state !== 'starting' && state !== 'running' && state !== 'degraded') return;
    // Cooldown over already (it ran out while the executor was stopped): half-open now.
    if (at <= this.clock.now()) return this.breaker.poll(this.clock.now());
    this.probeTimer = this.after(at - this.clock.now(), () => {
      this.probeTimer = undefined;
      this.breaker.poll(this.clock.now());
    });
  }

  /**
   * An alert of the venue guards. They change state inside venue calls and fill handling, so a
   * bus that is gone (stopping) must not turn a venue's answer into an error there.
   */
  private notify(level: 'info' | 'warning' | 'error', code: string, message: string, details: Record<string, unknown>): void {
    try {
      this.alert(level, code, message, details);
    } catch (err) {
      this.logger.warn({ err: toError(err), code, message }, 'alert not published');
    }
  }

  private saveSafety(): void {
    const state: VenueSafetyState = { breaker: this.breaker.snapshot(), halts: this.guard.snapshot() };
    // A failed write has raised its alarm; the state in memory still holds until the next change.
    void this.trackWrite(this.store.set(SAFETY_KEY, state), 'Venue breaker and slippage halts could not be saved').catch(() => undefined);
  }

  // ---------------------------------------------------------------- reconciliation

  /** After a restart: what became of every order that was not finished? */
  private async reconcileOnStart(): Promise<void> {
    if (this.config.mode === 'disabled') return;
    const open = [...this.orders.values()].filter((o) => !isFinal(o.status));
    if (open.length > 0) this.logger.info({ orders: open.length }, 'reconciling orders in flight at the last stop');
    for (const record of open) {
      const found = await this.lookup(record);
      if (found === 'failed') {
        record.outcomeUnknownSince ??= this.clock.now();
        this.track(record);
        continue;
      }
      if (found !== undefined) {
        this.applyOrder(record, found, undefined);
        if (!isFinal(record.status)) this.publishState(record, []);
        continue;
      }
      if (record.status === 'requested' || record.status === 'submitted') {
        // Persisted, never reached the venue: place it now, unless it is an entry gone stale.
        const age = this.clock.now() - record.request.timestamp;
        if (record.request.purpose === 'entry' && this.config.maxRequestAgeMs > 0 && age > this.config.maxRequestAgeMs) {
          this.reject(record, `entry was not placed before a restart and is now ${age} ms old: not placed on stale information`);
        } else {
          await this.place(record, false);
        }
        continue;
      }
      record.outcomeUnknownSince ??= this.clock.now();
      this.track(record);
      this.alert('error', 'ORDER_MISSING_AT_VENUE', `Order ${record.request.clientOrderId} was ${record.status} but the venue no longer knows it.`, {
        clientOrderId: record.request.clientOrderId,
      });
    }
    this.restateRecentlyFinished();
    await this.writes;
  }

  /**
   * Tells again what became of the orders that finished shortly before this start: a crash may
   * have come after the announcement and before the order history or the manager stored it.
   * Announcements are made only once the executor's own record is on disk, so whatever they
   * missed is here; those who have it already recognise it (fills by id, `restated`).
   */
  private restateRecentlyFinished(): void {
    const within = this.config.restateFinishedWithinMs;
    if (within <= 0) return;
    const since = this.clock.now() - within;
    for (const record of this.orders.values()) {
      if (!isFinal(record.status) || record.updatedAt < since) continue;
      this.publish('order.updated', { ...this.stateOf(record, record.fills), restated: true });
    }
  }

  /**
   * The poll timer runs while there is something to poll: always for a venue that does not push
   * order updates, otherwise only while some order's placement outcome is unknown. On a virtual
   * clock that moves minutes per bar an idle timer would fire many times per bar for nothing.
   */
  private updatePolling(): void {
    const state = this.state;
    if (this.config.mode === 'disabled' || (state !== 'starting' && state !== 'running' && state !== 'degraded')) return;
    const needed = this.provider.events === undefined || this.unknown.size > 0;
    if (needed && this.pollTimer === undefined) {
      this.pollTimer = this.every(
        this.config.pollIntervalMs,
        () => {
          if (this.polling !== undefined) return;
          this.polling = this.poll().finally(() => (this.polling = undefined));
          return this.polling;
        },
        // A poll asks the venue how things stand now: one after a jump of the clock is enough.
        { skipMissed: true },
      );
    } else if (!needed && this.pollTimer !== undefined) {
      this.pollTimer.cancel();
      this.pollTimer = undefined;
    }
  }

  /** Polls orders a push stream does not cover: all open ones without push, unknown outcomes always. */
  private async poll(): Promise<void> {
    const push = this.provider.events !== undefined;
    const due: ExecutedOrder[] = [];
    if (push) {
      for (const cid of this.unknown) {
        const record = this.orders.get(cid);
        if (record !== undefined) due.push(record);
      }
    } else {
      due.push(...this.orders.values());
    }
    for (const record of due) {
      const cid = record.request.clientOrderId;
      if (isFinal(record.status) || this.inFlight.has(cid)) continue;
      if (push && record.outcomeUnknownSince === undefined) continue;
      const found = await this.lookup(record);
      if (found === 'failed') continue;
      if (found !== undefined) {
        this.applyOrder(record, found, undefined);
        continue;
      }
      const now = this.clock.now();
      if (record.outcomeUnknownSince !== undefined && now - record.outcomeUnknownSince >= this.config.unknownOutcomeTimeoutMs) {
        this.reject(record, `the venue has no order ${cid} ${Math.round((now - record.outcomeUnknownSince) / 1000)} s after placement failed: it was never placed`);
      }
    }
  }

  /** Keeps the indexes of unknown outcomes and finished orders, and the poll timer, in step with a record that changed. */
  private track(record: ExecutedOrder): void {
    const cid = record.request.clientOrderId;
    const final = isFinal(record.status);
    if (record.outcomeUnknownSince !== undefined && !final) this.unknown.add(cid);
    else this.unknown.delete(cid);
    if (final && !this.finished.has(cid)) {
      this.finished.add(cid);
      this.prune();
    }
    this.updatePolling();
  }

  /** Forgets the oldest finished orders beyond `keepFinishedOrders`; runs as orders finish, a few at a time. */
  private prune(): void {
    let excess = this.finished.size - this.config.keepFinishedOrders;
    if (excess <= 0) return;
    for (const cid of this.finished) {
      if (excess-- <= 0) break;
      this.finished.delete(cid);
      this.orders.delete(cid);
      this.unknown.delete(cid);
      void this.trackWrite(this.store.delete(KEY_PREFIX + cid), `Finished order ${cid} could not be removed from the store`).catch(() => undefined);
    }
  }

  /**
   * Writes the record as it is now. The store keeps writes in the order they are made and each
   * one holds the whole record, so once the returned promise resolves the store holds this state
   * or a later one. Writes made in the same turn share one durable sync.
   */
  private persist(record: ExecutedOrder): Promise<void> {
    const cid = record.request.clientOrderId;
    // Forgotten meanwhile (finished long ago): writing it again would bring it back after a restart.
    if (this.orders.get(cid) !== record) return Promise.resolve();
    this.track(record);
    const state = fingerprint(record);
    const last = this.written.get(record);
    if (last !== undefined && last.state === state) return last.done;
    const done = this.trackWrite(this.store.set(KEY_PREFIX + cid, record), `Order state of ${cid} could not be saved`);
    this.written.set(record, { state, done });
    // A failed write is tried again by the next persist, changed or not.
    done.catch(() => {
      if (this.written.get(record)?.done === done) this.written.delete(record);
    });
    return done;
  }

  /** Counts a write until it settles and raises the alarm when it fails; the returned promise rejects then. */
  private trackWrite(write: Promise<void>, failure: string): Promise<void> {
    this.pendingWrites++;
    const settled = write.then(
      () => {
        this.pendingWrites--;
      },
      (err: unknown) => {
        this.pendingWrites--;
        this.recordError(err);
        this.alert('critical', 'EXECUTOR_STATE_NOT_SAVED', `${failure}: ${toError(err).message}`);
      },
    );
    this.writes = Promise.all([this.writes, settled]).then(() => undefined);
    return write;
  }
}

interface ProviderFailure {
  code: string;
  retryable: boolean;
  outcomeUnknown: boolean;
  retryAfterMs?: number | undefined;
}

/**
 * What a provider error says about retrying, read from its fields rather than its class, so errors
 * from another copy of @tradebus/providers (or rebuilt from the wire) are understood the same way.
 */
function providerFailure(err: unknown): ProviderFailure | undefined {
  if (!(err instanceof TradebusError) || !err.code.startsWith('PROVIDER_')) return undefined;
  const e = err as TradebusError & Partial<ProviderFailure>;
  return { code: e.code, retryable: e.retryable === true, outcomeUnknown: e.outcomeUnknown === true, retryAfterMs: e.retryAfterMs };
}

/** Everything about a record that changes after it was created, in one cheap comparable string. */
function fingerprint(r: ExecutedOrder): string {
  return `${r.status}|${r.filledQuantity}|${r.fills.length}|${r.fee}|${r.averagePrice}|${r.venueOrderId}|${r.reason}|${r.updatedAt}|${r.outcomeUnknownSince}|${r.cancelRequested}|${r.synthesizedFills}`;
}

/** The symbol an intent is about, for its lane; a malformed one gets a lane of its own and is refused there. */
function symbolOf(payload: unknown): string {
  const symbol = (payload as { symbol?: unknown } | null)?.symbol;
  return typeof symbol === 'string' ? symbol : '';
}

/** A new position or an addition to one: what the venue breaker and the slippage guard may hold back. */
function isEntry(r: OrderRequest): boolean {
  return r.purpose === 'entry' && !r.reduceOnly;
}

function isSink(p: unknown): p is MarketDataSink {
  const s = p as Partial<MarketDataSink> | undefined;
  return typeof s?.onCandle === 'function' && typeof s.onTick === 'function';
}

function backoff(r: TradeExecutorConfig['retry'], attempt: number): number {
  return Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** (attempt - 1));
}

function venueRequest(r: OrderRequest): VenueOrderRequest {
  return {
    clientOrderId: r.clientOrderId,
    symbol: r.symbol,
    side: r.side,
    type: r.type,
    quantity: r.quantity,
    price: r.price,
    stopPrice: r.stopPrice,
    reduceOnly: r.reduceOnly,
    timeInForce: r.timeInForce,
  };
}

function sameOrder(a: OrderRequest, b: OrderRequest): boolean {
  return a.symbol === b.symbol && a.side === b.side && a.type === b.type && a.quantity === b.quantity && a.price === b.price && a.stopPrice === b.stopPrice;
}

