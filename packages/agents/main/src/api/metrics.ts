import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DATA_STORE_SERVICE, type DataStore, type StateLogStats, type Subscription, type TradebusSystem } from '@tradebus/core';

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
  private realizedSum = 0;
  private stopTiming: (() => void) | undefined;

  constructor(private readonly system: TradebusSystem) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tradebus_process_' });
    const health = () => system.health.snapshot().agents;
    new Gauge({
      name: 'tradebus_agent_up',
      help: '1 when the agent is ok or degraded, 0 when starting, failed, down or stopped',
      labelNames: ['agent', 'kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId, kind: a.kind }, a.status === 'ok' || a.status === 'degraded' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'tradebus_agent_status',
      help: '1 for the status each agent is in (ok, degraded, starting, failed, down, stopped), so an alert can tell a failed agent from a silent one',
      labelNames: ['agent', 'kind', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId, kind: a.kind, status: a.status }, 1);
      },
    });
    new Gauge({
      name: 'tradebus_agent_heartbeat_age_seconds',
      help: 'Seconds since the last heartbeat of each agent',
      labelNames: ['agent'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of health()) this.set({ agent: a.agentId }, a.heartbeatAgeMs / 1000);
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
    for (const [name, help, field] of [
      ['tradebus_agent_errors', 'Handler and agent errors reported in heartbeats', 'errors'],
      ['tradebus_agent_events_in', 'Events delivered to the agent', 'eventsIn'],
      ['tradebus_agent_events_out', 'Events published by the agent', 'eventsOut'],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['agent'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const a of health()) this.set({ agent: a.agentId }, a[field]);
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
      bus.subscribe('system.alert', (e) => this.alerts.inc({ level: e.payload.level, code: e.payload.code })),
    );
  }

  stop(): void {
    this.stopTiming?.();
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions.length = 0;
  }
}
