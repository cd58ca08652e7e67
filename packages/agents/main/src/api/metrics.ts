import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DATA_STORE_SERVICE, type DataStore, type StateLogStats, type Subscription, type TradebusSystem } from '@tradebus/core';
import { PipelinePerf, type PerfConfigInput } from './perf.js';

export interface SystemMetricsOptions {
  /** Windows and thresholds of the decision pipeline timings (GET /perf, PERF_SLOW). */
  perf?: PerfConfigInput;
}

/** Orders whose reference price is remembered for their fills; older ones are forgotten first. */
const TRACKED_ORDERS = 4_096;
const FINISHED = new Set(['filled', 'cancelled', 'rejected', 'expired']);

/** Slippage of a fill against its reference in bps, positive when the fill is worse for the side. */
export function adverseSlippageBps(side: 'buy' | 'sell', referencePrice: number, fillPrice: number): number {
  const bps = ((fillPrice - referencePrice) / referencePrice) * 1e4;
  return side === 'buy' ? bps : -bps;
}

/**
 * Prometheus metrics built from bus events, so they cover agents in other processes too.
 */
export class SystemMetrics {
  readonly registry = new Registry();
  private readonly subscriptions: Subscription[] = [];
  private readonly events = new Counter({ name: 'tradebus_events_total', help: 'Events seen on the bus, by type', labelNames: ['type'], registers: [this.registry] });
  private readonly orders = new Counter({ name: 'tradebus_orders_total', help: 'Order updates by status', labelNames: ['status', 'symbol'], registers: [this.registry] });
  private readonly orderRequests = new Counter({ name: 'tradebus_order_requests_total', help: 'Orders requested by the trade manager', labelNames: ['symbol', 'purpose'], registers: [this.registry] });
  private readonly trades = new Counter({ name: 'tradebus_trades_closed_total', help: 'Closed trades', labelNames: ['symbol', 'result'], registers: [this.registry] });
  private readonly realized = new Gauge({ name: 'tradebus_realized_pnl', help: 'Realised P&L of closed trades since start, quote currency', registers: [this.registry] });
  private readonly unrealized = new Gauge({ name: 'tradebus_position_unrealized_pnl', help: 'Unrealised P&L per open position', labelNames: ['symbol'], registers: [this.registry] });
  private readonly positionQty = new Gauge({ name: 'tradebus_position_quantity', help: 'Signed position size per symbol', labelNames: ['symbol'], registers: [this.registry] });
  private readonly equity = new Gauge({ name: 'tradebus_account_equity', help: 'Account equity', labelNames: ['venue'], registers: [this.registry] });
  private readonly alerts = new Counter({ name: 'tradebus_alerts_total', help: 'system.alert events by level and code', labelNames: ['level', 'code'], registers: [this.registry] });
  private readonly handlerLatency = new Histogram({
    name: 'tradebus_handler_duration_seconds',
    help: 'Event handler run time by event type (sampled: one run in 64 per agent)',
    labelNames: ['type'],
    buckets: [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1],
    registers: [this.registry],
  });
  private readonly killSwitch = new Gauge({ name: 'tradebus_kill_switch', help: '1 while the kill switch is on (no new entries), from risk.state', registers: [this.registry] });
  private readonly reducingOnly = new Gauge({ name: 'tradebus_reducing_only', help: '1 while only reducing orders are allowed, from risk.state', registers: [this.registry] });
  private readonly dailyPnl = new Gauge({ name: 'tradebus_daily_pnl', help: "Today's P&L as the trade manager counts it for its daily loss limit, account currency", registers: [this.registry] });
  private readonly drawdown = new Gauge({ name: 'tradebus_drawdown_percent', help: 'Drawdown from peak equity, %', registers: [this.registry] });
  private readonly breakers = new Gauge({ name: 'tradebus_breaker_tripped', help: '1 while the named circuit breaker of the trade manager is tripped', labelNames: ['breaker'], registers: [this.registry] });
  private readonly marginUse = new Gauge({ name: 'tradebus_margin_use_percent', help: 'Margin utilisation, % (maintenance margin over collateral; the venue liquidates at 100); reported for derivatives accounts only', registers: [this.registry] });
  private readonly sizeMultiplier = new Gauge({ name: 'tradebus_size_multiplier', help: "What the drawdown ladder scales new entries by (1: full size)", registers: [this.registry] });
  private readonly slippage = new Gauge({
    name: 'tradebus_fill_slippage_bps',
    help: "Slippage of the last fill per symbol in bps, positive when worse than the order's reference: its limit or stop price, else the last candle close or tick seen before it was requested",
    labelNames: ['symbol'],
    registers: [this.registry],
  });
  private readonly rejected = new Counter({ name: 'tradebus_orders_rejected_total', help: 'Orders the venue or the executor rejected, each counted once', labelNames: ['symbol'], registers: [this.registry] });
  private readonly feedStale = new Gauge({ name: 'tradebus_feed_stale', help: '1 while the price watchdog reports the feed stale (FEED_STALE until FEED_RECOVERED)', labelNames: ['feed'], registers: [this.registry] });
  private readonly feedDown = new Gauge({ name: 'tradebus_feed_disconnected', help: '1 while the feed is disconnected (FEED_DISCONNECTED until FEED_RECONNECTED)', labelNames: ['feed'], registers: [this.registry] });
  /** Pipeline stage timings behind GET /perf, exported as tradebus_pipeline_stage_seconds. */
  readonly perf: PipelinePerf;
  private readonly lastPrice = new Map<string, number>();
  private readonly references = new Map<string, number>();
  private readonly rejectedOrders = new Set<string>();
  private realizedSum = 0;
  private stopTiming: (() => void) | undefined;

  constructor(
    private readonly system: TradebusSystem,
    options: SystemMetricsOptions = {},
  ) {
    this.perf = new PipelinePerf(system, this.registry, options.perf);
    collectDefaultMetrics({ register: this.registry, prefix: 'tradebus_process_' });
    const health = () => system.health.snapshot().agents;
    // Only the instances of a sharded agent carry `instance`: every other agent's series keep their names.
    const instanceLabel = (a: { instance?: string | undefined }) => (a.instance === undefined ? {} : { instance: a.instance });
    new Gauge({
      name: 'tradebus_agent_up',
      help: '1 when the agent is ok or degraded, 0 when starting, failed, down or stopped',
      labelNames: ['agent', 'kind', 'instance'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId, kind: a.kind, ...instanceLabel(a) }, a.status === 'ok' || a.status === 'degraded' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tradebus_agent_status',
      help: '1 for the status each agent is in (ok, degraded, starting, failed, down, stopped), so an alert can tell a failed agent from a silent one',
      labelNames: ['agent', 'kind', 'status', 'instance'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId, kind: a.kind, status: a.status, ...instanceLabel(a) }, 1);
      },
    });
    new Gauge({
      name: 'tradebus_agent_heartbeat_age_seconds',
      help: 'Seconds since the last heartbeat of each agent',
      labelNames: ['agent', 'instance'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId, ...instanceLabel(a) }, a.heartbeatAgeMs / 1000);
      },
    });
    const state = (): StateLogStats | undefined => (system.services.has(DATA_STORE_SERVICE) ? system.services.get<DataStore>(DATA_STORE_SERVICE).stats().state : undefined);
    new Gauge({
      name: 'tradebus_state_queue_fill',
      help: 'Agent state waiting for the disk, as a share of its bound (stateMaxQueuedBytes): above 1 the disk is slower than the agents and further writes wait',
      registers: [this.registry],
      collect() {
        const s = state();
        if (s !== undefined) this.set(s.queueFill);
      },
    });
    new Gauge({
      name: 'tradebus_state_syncs',
      help: 'Group commits (write + fdatasync) of the state log since start; appends per sync is how much they share',
      registers: [this.registry],
      collect() {
        const s = state();
        if (s !== undefined) this.set(s.syncs);
      },
    });
    new Gauge({
      name: 'tradebus_state_appends',
      help: 'Changes appended to the state log since start',
      registers: [this.registry],
      collect() {
        const s = state();
        if (s !== undefined) this.set(s.appends);
      },
    });
    const store = (): DataStore | undefined => (system.services.has(DATA_STORE_SERVICE) ? system.services.get<DataStore>(DATA_STORE_SERVICE) : undefined);
    new Gauge({
      name: 'tradebus_data_backlog_bytes',
      help: 'Bytes of journal, history and agent state accepted and not yet written: a backlog that keeps growing is a disk slower than the system',
      registers: [this.registry],
      collect() {
        const s = store();
        if (s !== undefined) this.set(s.backlogBytes());
      },
    });
    for (const [name, help, field] of [
      ['tradebus_journal_queued_bytes', 'Journal bytes accepted and not yet handed to the operating system', 'queuedBytes'],
      ['tradebus_journal_unsynced_records', 'Journal records written and not yet synced to disk', 'unsynced'],
      ['tradebus_journal_failed_records', 'Events the journal could not record since start (each is logged)', 'failed'],
      ['tradebus_journal_records', 'Events in the journal', 'records'],
    ] as const) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const s = store();
          if (s !== undefined) this.set(s.stats().journal[field]);
        },
      });
    }
    for (const [name, help, field] of [
      ['tradebus_agent_errors', 'Handler and agent errors reported in heartbeats', 'errors'],
      ['tradebus_agent_events_in', 'Events delivered to the agent', 'eventsIn'],
      ['tradebus_agent_events_out', 'Events published by the agent', 'eventsOut'],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['agent', 'instance'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const a of health()) this.set({ agent: a.agentId, ...instanceLabel(a) }, a[field]);
        },
      });
    }
  }

  start(): void {
    this.stopTiming = this.system.onHandlerTiming((type, seconds) => this.handlerLatency.observe({ type }, seconds));
    const bus = this.system.bus;
    this.subscriptions.push(
      bus.subscribe('>', (e) => this.events.inc({ type: e.type })),
      bus.subscribe('order.updated', (e) => this.orders.inc({ status: e.payload.status, symbol: e.payload.symbol })),
      bus.subscribe('order.requested', (e) => this.orderRequests.inc({ symbol: e.payload.symbol, purpose: e.payload.purpose })),
      bus.subscribe('trade.closed', (e) => {
        this.trades.inc({ symbol: e.payload.symbol, result: e.payload.pnl >= 0 ? 'win' : 'loss' });
        this.realizedSum += e.payload.pnl;
        this.realized.set(this.realizedSum);
      }),
      bus.subscribe('position.updated', (e) => {
        const p = e.payload;
        this.unrealized.set({ symbol: p.symbol }, p.unrealizedPnl);
        this.positionQty.set({ symbol: p.symbol }, p.side === 'short' ? -p.quantity : p.side === 'flat' ? 0 : p.quantity);
      }),
      bus.subscribe('account.updated', (e) => this.equity.set({ venue: e.payload.venue }, e.payload.equity)),
      bus.subscribe('system.alert', (e) => {
        this.alerts.inc({ level: e.payload.level, code: e.payload.code });
        this.onAlert(e.payload.code, e.payload.details);
      }),
      bus.subscribe('risk.state', (e) => {
        const p = e.payload;
        this.killSwitch.set(p.killSwitch ? 1 : 0);
        this.reducingOnly.set(p.reducingOnly ? 1 : 0);
        this.dailyPnl.set(p.dailyPnl);
        this.drawdown.set(p.drawdownPct);
        for (const b of p.breakers) this.breakers.set({ breaker: b.name }, b.tripped ? 1 : 0);
        if (p.marginUse !== undefined) this.marginUse.set(p.marginUse);
        if (p.sizeMultiplier !== undefined) this.sizeMultiplier.set(p.sizeMultiplier);
      }),
      bus.subscribe('candle.closed', (e) => void this.lastPrice.set(e.payload.symbol, e.payload.close)),
      bus.subscribe('candle.updated', (e) => void this.lastPrice.set(e.payload.symbol, e.payload.close)),
      bus.subscribe('price.tick', (e) => void this.lastPrice.set(e.payload.symbol, e.payload.price)),
      bus.subscribe('order.requested', (e) => {
        const p = e.payload;
        // The executor's reference for its slippage guard: the order's own price, else the market's when it was asked for.
        const reference = p.price ?? p.stopPrice ?? this.lastPrice.get(p.symbol);
        if (reference === undefined || reference <= 0) return;
        this.references.set(p.clientOrderId, reference);
        if (this.references.size > TRACKED_ORDERS) this.references.delete(this.references.keys().next().value!);
      }),
      bus.subscribe('order.updated', (e) => {
        const p = e.payload;
        if (p.restated === true) return;
        if (p.status === 'rejected' && !this.rejectedOrders.has(p.clientOrderId)) {
          this.rejectedOrders.add(p.clientOrderId);
          if (this.rejectedOrders.size > TRACKED_ORDERS) this.rejectedOrders.delete(this.rejectedOrders.values().next().value!);
          this.rejected.inc({ symbol: p.symbol });
        }
        const last = p.fills[p.fills.length - 1];
        if (last !== undefined) {
          const reference = this.references.get(p.clientOrderId) ?? p.price ?? p.stopPrice ?? this.lastPrice.get(p.symbol);
          if (reference !== undefined && reference > 0) this.slippage.set({ symbol: p.symbol }, adverseSlippageBps(p.side, reference, last.price));
        }
        if (FINISHED.has(p.status)) this.references.delete(p.clientOrderId);
      }),
    );
    this.perf.start();
  }

  private onAlert(code: string, details: Record<string, unknown> | undefined): void {
    const feed = typeof details?.feed === 'string' ? details.feed : undefined;
    if (feed === undefined) return;
    if (code === 'FEED_STALE') this.feedStale.set({ feed }, 1);
    else if (code === 'FEED_RECOVERED') this.feedStale.set({ feed }, 0);
    else if (code === 'FEED_DISCONNECTED') this.feedDown.set({ feed }, 1);
    else if (code === 'FEED_RECONNECTED') this.feedDown.set({ feed }, 0);
  }

  stop(): void {
    this.perf.stop();
    this.stopTiming?.();
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions.length = 0;
  }
}
