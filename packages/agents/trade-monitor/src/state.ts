import { toPlainEnvelope, type BuiltinEvents, type Envelope } from '@tradebus/core';
import { AgentBoard } from './agent-board.js';
import type { TradeMonitorConfig } from './config.js';
import type {
  AccountView,
  AlertRow,
  Bar,
  DashboardSnapshot,
  EquityPoint,
  EventRow,
  OrderRow,
  PositionRow,
  RiskView,
  SystemHealthView,
  TradeRow,
} from './snapshot.js';

type E = BuiltinEvents;

/** Statuses after which an order no longer works at the venue. */
const FINISHED_ORDER = new Set(['filled', 'cancelled', 'rejected', 'expired']);
/** How many finished orders and flat positions are remembered, to ignore late updates about them. */
const TOMBSTONES = 2_000;

export type StateSettings = Pick<TradeMonitorConfig, 'symbols' | 'timeframe' | 'maxCharts' | 'buffers' | 'missedHeartbeats'>;

interface Series {
  symbol: string;
  timeframe: string;
  bars: Bar[];
  forming: Bar | undefined;
}

/**
 * Everything the dashboard shows, kept from bus events in bounded buffers. Updates are
 * idempotent and ordered by the event's own timestamp, so the same event applied twice, or an
 * older one arriving after a newer one (history loaded after live events, NATS redelivery),
 * never moves the view backwards.
 */
export class MonitorState {
  private readonly settings: StateSettings;
  readonly agents: AgentBoard;
  private readonly series = new Map<string, Series>();
  private readonly positions = new Map<string, PositionRow>();
  private readonly positionTs = new Map<string, number>();
  private readonly orders = new Map<string, OrderRow>();
  private readonly finishedOrders = new Map<string, number>();
  private readonly trades = new Map<string, TradeRow>();
  private account: AccountView | undefined;
  private equity: EquityPoint[] = [];
  private risk: RiskView | undefined;
  private alerts: AlertRow[] = [];
  private watchdog: E['watchdog.report'] | undefined;
  private events: EventRow[] = [];
  private readonly eventIds = new Set<string>();
  private readonly eventTypes = new Map<string, number>();
  private chartSet = 0;

  constructor(settings: StateSettings) {
    this.settings = settings;
    this.agents = new AgentBoard(settings.missedHeartbeats);
  }

  /**
   * Applies one event. `now` is the receiving agent's clock, used for heartbeat ages; everything
   * else is ordered by the event's own timestamps. Returns false for an event already seen.
   */
  apply(envelope: Envelope, now: number): boolean {
    const event = toPlainEnvelope(envelope) as EventRow;
    if (!this.record(event)) return false;
    switch (event.type) {
      case 'candle.closed':
        this.onCandle(event.payload as E['candle.closed'], true);
        break;
      case 'candle.updated':
        this.onCandle(event.payload as E['candle.updated'], false);
        break;
      case 'trade.opened':
        this.onTradeOpened(event.payload as E['trade.opened']);
        break;
      case 'trade.closed':
        this.onTradeClosed(event.payload as E['trade.closed']);
        break;
      case 'position.updated':
        this.onPosition(event.payload as E['position.updated']);
        break;
      case 'order.updated':
        this.onOrder(event.payload as E['order.updated']);
        break;
      case 'account.updated':
        this.onAccount(event.payload as E['account.updated']);
        break;
      case 'risk.state':
        this.onRisk(event.payload as E['risk.state']);
        break;
      case 'system.alert':
        this.onAlert(event.payload as E['system.alert']);
        break;
      case 'watchdog.report': {
        const report = event.payload as E['watchdog.report'];
        if (this.watchdog === undefined || report.timestamp >= this.watchdog.timestamp) this.watchdog = report;
        break;
      }
      case 'agent.heartbeat':
        this.agents.heartbeat(event.payload as E['agent.heartbeat'], now);
        break;
      case 'agent.status':
        this.agents.status(event.payload as E['agent.status'], now);
        break;
      default:
        break;
    }
    return true;
  }

  /** Changes whenever a chart is added: pages then need a new snapshot, not just the event. */
  get chartsVersion(): number {
    return this.chartSet;
  }

  health(now: number): SystemHealthView {
    return this.agents.view(now);
  }

  snapshot(now: number): DashboardSnapshot {
    const charts = this.chartOrder().map((s) => ({
      symbol: s.symbol,
      timeframe: s.timeframe,
      candles: s.bars.slice(),
      ...(s.forming !== undefined ? { forming: s.forming } : {}),
    }));
    const snapshot: DashboardSnapshot = {
      version: 1,
      mode: 'live',
      generatedAt: now,
      system: this.health(now),
      charts,
      positions: [...this.positions.values()].sort((a, b) => a.symbol.localeCompare(b.symbol)),
      orders: [...this.orders.values()].sort((a, b) => b.timestamp - a.timestamp),
      trades: [...this.trades.values()].sort((a, b) => latest(b) - latest(a)),
      account: this.account ?? null,
      equity: this.equity.slice(),
      risk: this.risk ?? null,
      alerts: this.alerts.slice(),
      watchdog: this.watchdog ?? null,
      events: this.events.slice(),
      eventTypes: Object.fromEntries(this.eventTypes),
    };
    if (this.account !== undefined) snapshot.quoteCurrency = this.account.quoteCurrency;
    return snapshot;
  }

  /** Keeps the event in the recent list (sorted by time, bounded); false when its id was seen. */
  private record(event: EventRow): boolean {
    if (this.eventIds.has(event.id)) return false;
    this.eventTypes.set(event.type, (this.eventTypes.get(event.type) ?? 0) + 1);
    // Heartbeats arrive from every agent every few seconds and would push everything else out
    // of the list; the agents panel shows what they say.
    if (event.type === 'agent.heartbeat') return true;
    const list = this.events;
    const cap = this.settings.buffers.events;
    const last = list[list.length - 1];
    if (last === undefined || compareEvents(last, event) <= 0) {
      list.push(event);
    } else {
      if (list.length >= cap && compareEvents(event, list[0]!) < 0) return true;
      list.splice(upperBound(list, event, compareEvents), 0, event);
    }
    this.eventIds.add(event.id);
    while (list.length > cap) this.eventIds.delete(list.shift()!.id);
    return true;
  }

  private chartOrder(): Series[] {
    const all = [...this.series.values()];
    const wanted = this.settings.symbols;
    if (wanted.length === 0) return all;
    return wanted.map((symbol) => this.series.get(symbol)).filter((s): s is Series => s !== undefined);
  }

  private onCandle(c: E['candle.closed'], closed: boolean): void {
    let s = this.series.get(c.symbol);
    if (s === undefined) {
      const wanted = this.settings.symbols;
      if (wanted.length > 0 ? !wanted.includes(c.symbol) : this.series.size >= this.settings.maxCharts) return;
      const timeframe = this.settings.timeframe ?? c.timeframe;
      if (c.timeframe !== timeframe) return;
      s = { symbol: c.symbol, timeframe, bars: [], forming: undefined };
      this.series.set(c.symbol, s);
      this.chartSet++;
    }
    if (c.timeframe !== s.timeframe) return;
    const bar: Bar = { time: c.timestamp, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume };
    if (!closed) {
      const lastClosed = s.bars[s.bars.length - 1];
      if (lastClosed === undefined || bar.time > lastClosed.time) s.forming = bar;
      return;
    }
    if (s.forming !== undefined && s.forming.time <= bar.time) s.forming = undefined;
    insertByTime(s.bars, bar, this.settings.buffers.candles);
  }

  private onTradeOpened(t: E['trade.opened']): void {
    const existing = this.trades.get(t.tradeId);
    if (existing?.status === 'closed') return;
    const row: TradeRow = {
      tradeId: t.tradeId,
      symbol: t.symbol,
      side: t.side,
      status: 'open',
      quantity: t.quantity,
      entryPrice: t.entryPrice,
      fees: t.fees,
      openedAt: t.openedAt,
    };
    if (t.stopLoss !== undefined) row.stopLoss = t.stopLoss;
    if (t.takeProfit !== undefined) row.takeProfit = t.takeProfit;
    if (t.strategyId !== undefined) row.strategyId = t.strategyId;
    this.putTrade(row);
  }

  private onTradeClosed(t: E['trade.closed']): void {
    const existing = this.trades.get(t.tradeId);
    const row: TradeRow = {
      tradeId: t.tradeId,
      symbol: t.symbol,
      side: t.side,
      status: 'closed',
      quantity: t.quantity,
      entryPrice: t.entryPrice,
      exitPrice: t.exitPrice,
      pnl: t.pnl,
      pnlPct: t.pnlPct,
      fees: t.fees,
      exitReason: t.exitReason,
      openedAt: t.openedAt,
      closedAt: t.closedAt,
    };
    const strategyId = t.strategyId ?? existing?.strategyId;
    if (strategyId !== undefined) row.strategyId = strategyId;
    if (existing?.stopLoss !== undefined) row.stopLoss = existing.stopLoss;
    if (existing?.takeProfit !== undefined) row.takeProfit = existing.takeProfit;
    this.putTrade(row);
  }

  private putTrade(row: TradeRow): void {
    this.trades.delete(row.tradeId);
    this.trades.set(row.tradeId, row);
    const cap = this.settings.buffers.trades;
    if (this.trades.size <= cap) return;
    // Drop the oldest closed trades first: an open trade is live risk and stays visible.
    const byAge = [...this.trades.values()].sort((a, b) => latest(a) - latest(b));
    const victims = [...byAge.filter((t) => t.status === 'closed'), ...byAge.filter((t) => t.status === 'open')];
    for (const victim of victims.slice(0, this.trades.size - cap)) this.trades.delete(victim.tradeId);
  }

  private onPosition(p: E['position.updated']): void {
    const seen = this.positionTs.get(p.symbol);
    if (seen !== undefined && p.timestamp < seen) return;
    remember(this.positionTs, p.symbol, p.timestamp);
    if (p.side === 'flat' || p.quantity === 0) {
      this.positions.delete(p.symbol);
      return;
    }
    const row: PositionRow = {
      symbol: p.symbol,
      side: p.side,
      quantity: p.quantity,
      entryPrice: p.entryPrice,
      unrealizedPnl: p.unrealizedPnl,
      realizedPnl: p.realizedPnl,
      timestamp: p.timestamp,
    };
    if (p.markPrice !== undefined) row.markPrice = p.markPrice;
    if (p.leverage !== undefined) row.leverage = p.leverage;
    if (p.liquidationPrice !== undefined) row.liquidationPrice = p.liquidationPrice;
    this.positions.set(p.symbol, row);
  }

  private onOrder(o: E['order.updated']): void {
    const finishedAt = this.finishedOrders.get(o.clientOrderId);
    if (finishedAt !== undefined) return;
    const current = this.orders.get(o.clientOrderId);
    if (current !== undefined && o.timestamp < current.timestamp) return;
    if (FINISHED_ORDER.has(o.status)) {
      this.orders.delete(o.clientOrderId);
      remember(this.finishedOrders, o.clientOrderId, o.timestamp);
      return;
    }
    const row: OrderRow = {
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      side: o.side,
      type: o.type,
      status: o.status,
      quantity: o.quantity,
      filledQuantity: o.filledQuantity,
      timestamp: o.timestamp,
    };
    for (const key of ['venueOrderId', 'averagePrice', 'price', 'stopPrice', 'purpose', 'tradeId', 'reason'] as const) {
      if (o[key] !== undefined) (row as Record<string, unknown>)[key] = o[key];
    }
    this.orders.set(o.clientOrderId, row);
  }

  private onAccount(a: E['account.updated']): void {
    if (this.account === undefined || a.timestamp >= this.account.timestamp) {
      const view: AccountView = { venue: a.venue, quoteCurrency: a.quoteCurrency, equity: a.equity, balances: a.balances, timestamp: a.timestamp };
      if (a.unrealizedPnl !== undefined) view.unrealizedPnl = a.unrealizedPnl;
      this.account = view;
    }
    insertByTime(this.equity, { time: a.timestamp, equity: a.equity }, this.settings.buffers.equityPoints);
  }

  private onRisk(r: E['risk.state']): void {
    if (this.risk !== undefined && r.timestamp < this.risk.timestamp) return;
    this.risk = { ...r, breakers: r.breakers.map((b) => ({ ...b })) };
  }

  private onAlert(a: E['system.alert']): void {
    const row: AlertRow = { level: a.level, code: a.code, message: a.message, timestamp: a.timestamp };
    if (a.agentId !== undefined) row.agentId = a.agentId;
    const i = this.alerts.findIndex((x) => x.timestamp <= row.timestamp);
    this.alerts.splice(i === -1 ? this.alerts.length : i, 0, row);
    if (this.alerts.length > this.settings.buffers.alerts) this.alerts.length = this.settings.buffers.alerts;
  }
}

function latest(t: TradeRow): number {
  return t.closedAt ?? t.openedAt;
}

function compareEvents(a: EventRow, b: EventRow): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Index of the first element greater than `item`. */
function upperBound<T>(list: T[], item: T, compare: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(list[mid]!, item) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts or replaces by `time`, keeping the newest `cap` items. */
function insertByTime<T extends { time: number }>(list: T[], item: T, cap: number): void {
  const last = list[list.length - 1];
  if (last === undefined || item.time > last.time) {
    list.push(item);
  } else if (item.time === last.time) {
    list[list.length - 1] = item;
  } else {
    if (list.length >= cap && item.time < list[0]!.time) return;
    const i = upperBound(list, item, (a, b) => a.time - b.time);
    if (i > 0 && list[i - 1]!.time === item.time) list[i - 1] = item;
    else list.splice(i, 0, item);
  }
  if (list.length > cap) list.splice(0, list.length - cap);
}

/** Map with a bounded number of entries, evicting the oldest inserted. */
function remember(map: Map<string, number>, key: string, value: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > TOMBSTONES) map.delete(map.keys().next().value!);
}
