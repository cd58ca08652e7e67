import { ATR } from '@tradebus/indicators';
import { timeframeToMs, type Candle } from '@tradebus/providers';
import { SignalAggregator, TrackRecord, type Signal } from '@tradebus/strategies';
import { markExposure } from '../engine.js';
import { computeMetrics, type ClosedTrade, type EquityPoint, type PerformanceMetrics } from '../metrics.js';
import type { ScreenMarket } from './data.js';
import { direction, levelHit, Risk, roundDown, sizeEntry, trailStop, type EdgeStats, type ManagerSettings, type PositionSide, type PriceRange } from './rules.js';
import type { SignalsByMoment } from './signals.js';
import { ScreenVenue, type Fill, type OrderStatus, type PaperSettings, type VenueOrder } from './venue.js';

export type { PaperSettings, SlippageSettings } from './venue.js';

/**
 * The screen's trades: one loop over the moments of the market, with the trade manager's rules
 * (aggregation, exits decided before it, risk limits and breakers, sizing, stops and targets at
 * the venue or watched by the manager, trailing and time exits) and the paper exchange's fills
 * (see venue.ts). No agents, no bus, no events.
 *
 * Within a moment it keeps the order a backtest has: the paper exchange sees the bars first and
 * reports its fills, which the manager books (placing the protective orders of an entry that has
 * filled, which the venue matches against the rest of its bar); then the manager handles the bars
 * (exits) and decides the signals of the moment as one batch, and only then do the orders it sent
 * reach the venue, so a trade exiting at this moment still counts as open for the decisions made
 * at it.
 */

export interface ModelOptions {
  manager: ManagerSettings;
  paper: PaperSettings;
  /** The manager takes its equity from the account (an account-sync agent publishes it). */
  accountEquity: boolean;
  riskFreeRate?: number | undefined;
  periodsPerYear?: number | undefined;
}

export interface ScreenTrade extends ClosedTrade {
  /** Time the trade's entry order was decided (the signal's moment). */
  requestedAt: number;
}

export interface ModelResult {
  metrics: PerformanceMetrics;
  trades: ScreenTrade[];
  /** Trades still open at the end (marked to market in the equity). */
  open: number;
  equity: EquityPoint[];
  fees: number;
  signals: number;
  /** Entries the venue refused (not enough funds, short on spot). */
  rejectedOrders: number;
}

/** What an order is for, as the manager books it. */
type Purpose = 'entry' | 'exit' | 'stop_loss' | 'trailing_stop' | 'take_profit';

/** The manager's record of an order it sent. */
interface OrderRecord {
  trade: SimTrade;
  purpose: Purpose;
  /** A protective order resting at the venue (not a market exit the manager sent). */
  protective: boolean;
  /** Trigger price of a protective order. */
  level?: number | undefined;
  /** The venue's order once the request reached it. */
  venue?: VenueOrder<OrderRecord> | undefined;
  /** The last status the venue reported. */
  status: OrderStatus | 'requested';
  /** The manager has heard that the order ended. */
  ended: boolean;
  /** A cancel was sent (once: the venue always answers it). */
  cancelling?: boolean | undefined;
}

interface SimTrade {
  id: string;
  symbol: string;
  side: PositionSide;
  strategyId: string;
  status: 'pending' | 'open' | 'closing' | 'done';
  plannedQuantity: number;
  plannedEntryPrice: number;
  entryQuantity: number;
  entryValue: number;
  exitQuantity: number;
  exitValue: number;
  fees: number;
  stopLoss?: number | undefined;
  takeProfit?: number | undefined;
  trailingActive: boolean;
  bestPrice?: number | undefined;
  requestedAt: number;
  openedAt?: number | undefined;
  entryFilledAt?: number | undefined;
  exitFilledAt?: number | undefined;
  pendingExit?: { reason: string; purpose: Purpose } | undefined;
  lastExitAttemptAt?: number | undefined;
  entry?: OrderRecord | undefined;
  stopOrder?: OrderRecord | undefined;
  targetOrder?: OrderRecord | undefined;
  exits: OrderRecord[];
}

/**
 * What the manager sends to the venue (through the executor): an order to place, or one to
 * cancel. The intents of one decision step go out together once the step is done.
 */
type Intent = { record: OrderRecord; place: () => VenueOrder<OrderRecord> } | { record: OrderRecord; place?: undefined };

interface Report {
  record: OrderRecord;
  status: OrderStatus;
  fill: Fill | undefined;
}

export function runScreenModel(market: ScreenMarket, signals: SignalsByMoment, options: ModelOptions): ModelResult {
  return new Simulation(market, signals, options).run();
}

const live = (o: OrderRecord | undefined): o is OrderRecord => o !== undefined && !o.ended;
const refused = (o: OrderRecord | undefined): boolean => o !== undefined && o.status === 'rejected';

class Simulation {
  private readonly config: ManagerSettings;
  private readonly venue: ScreenVenue<OrderRecord>;
  private readonly managerTf = new Map<string, string>();
  /** The manager's last price per symbol and its market time (a fill reported late does not move it back). */
  private readonly managerLast = new Map<string, { price: number; at: number; barTime: number }>();
  private readonly atr = new Map<string, ATR>();
  private readonly active: SimTrade[] = [];
  private readonly closed: ScreenTrade[] = [];
  private readonly aggregator: SignalAggregator;
  private readonly trackRecord: TrackRecord;
  private readonly risk: Risk;
  private readonly reports: Report[] = [];
  private outbox: Intent[] = [];
  private now = 0;
  private signalCount = 0;
  private rejectedOrders = 0;
  private tradeSeq = 0;
  private readonly tfMs = new Map<string, number>();

  constructor(
    private readonly market: ScreenMarket,
    private readonly signals: SignalsByMoment,
    private readonly options: ModelOptions,
  ) {
    this.config = options.manager;
    this.venue = new ScreenVenue<OrderRecord>(options.paper, (order, fill) => this.reports.push({ record: order.owner, status: order.status, fill }));
    this.aggregator = new SignalAggregator(this.config.aggregation as never, { path: 'aggregation' });
    this.trackRecord = new TrackRecord(this.config.trackRecord as never);
    this.risk = new Risk(this.config, market.startTime, this.config.equity.initial);
  }

  run(): ModelResult {
    const equity: EquityPoint[] = [{ timestamp: this.market.startTime, equity: this.venue.equity(), exposed: false }];
    for (const moment of this.market.moments) {
      const now = moment.time;
      this.now = now;
      const bars = moment.bars;
      // The manager's rules as they stand now: the day, cooldowns and breakers move with time.
      this.risk.evaluate(now, this.managerEquity());
      // The paper exchange sees each bar before any agent does. Its reports reach the manager
      // after the bars (they wait for the executor's books to be written), before its decisions.
      for (let i = 0; i < bars.length; i++) this.venue.bar(bars[i]!, now);
      const late = moment.late;
      for (let i = 0; i < bars.length; i++) {
        // Only a bar of a symbol with a trade on it moves the manager's equity.
        if (late?.[i] !== true && this.managerSeesBar(bars[i]!)) this.risk.evaluate(now, this.managerEquity());
      }
      this.bookReports();
      const batch = this.signals.get(now);
      if (late === undefined) {
        if (batch !== undefined) this.decideBatch(batch, now);
      } else {
        // A bar after a gap, and its signals, come after the moment's first batch.
        const isLate = (s: Signal): boolean => bars.some((b, i) => late[i] === true && b.symbol === s.symbol && b.timeframe === s.timeframe);
        if (batch !== undefined) this.decideBatch(batch.filter((s) => !isLate(s)), now);
        for (let i = 0; i < bars.length; i++) if (late[i] === true && this.managerSeesBar(bars[i]!)) this.risk.evaluate(now, this.managerEquity());
        if (batch !== undefined) this.decideBatch(batch.filter(isLate), now);
      }
      this.settle();
      equity.push({ timestamp: now, equity: this.venue.equity(), exposed: false });
    }
    const opened = this.active.filter((t) => t.openedAt !== undefined && t.entry?.ended === true && t.entryQuantity > 0);
    markExposure(equity, [...this.closed, ...opened.map((t) => ({ openedAt: t.openedAt!, closedAt: Infinity }))]);
    const fees = this.venue.feesPaid;
    const metrics = computeMetrics(equity, this.closed, {
      barIntervalMs: this.market.barIntervalMs,
      periodsPerYear: this.options.periodsPerYear,
      riskFreeRate: this.options.riskFreeRate,
      fees,
    });
    return { metrics, trades: this.closed, open: this.active.length, equity, fees, signals: this.signalCount, rejectedOrders: this.rejectedOrders };
  }

  /** Books what the venue reported so far. */
  private bookReports(): void {
    while (this.reports.length > 0) {
      this.onReport(this.reports.shift()!);
      this.risk.evaluate(this.now, this.managerEquity());
    }
  }

  /** Sends what the manager decided and books what the venue reports, until both are quiet. */
  private settle(): void {
    for (;;) {
      this.bookReports();
      if (this.outbox.length === 0) return;
      this.send();
    }
  }

  /**
   * The intents of one step reach the venue. The executor places a symbol's orders one after
   * another and handles cancels on a lane of their own: a cancel of an order waiting behind
   * another of its symbol comes first, and the order is never placed; the first one is placed and
   * then cancelled.
   */
  private send(): void {
    const out = this.outbox;
    this.outbox = [];
    let cancelled: Set<OrderRecord> | undefined;
    for (const intent of out) if (intent.place === undefined) (cancelled ??= new Set()).add(intent.record);
    const first = new Map<string, OrderRecord>();
    for (const intent of out) {
      const record = intent.record;
      if (intent.place === undefined) {
        if (record.venue !== undefined) this.venue.cancel(record.venue);
        continue;
      }
      const symbol = record.trade.symbol;
      const leads = !first.has(symbol);
      if (leads) first.set(symbol, record);
      if (cancelled?.has(record) === true && !leads) {
        this.reports.push({ record, status: 'cancelled', fill: undefined });
        continue;
      }
      record.venue = intent.place();
    }
  }

  // ---------------------------------------------------------------- orders and fills

  private onReport({ record, status, fill }: Report): void {
    const trade = record.trade;
    record.status = status;
    if (status !== 'open') record.ended = true;
    if (trade.status === 'done') return;
    if (fill !== undefined) {
      trade.fees += fill.fee;
      if (record.purpose === 'entry') {
        trade.entryQuantity += fill.quantity;
        trade.entryValue += fill.quantity * fill.price;
        if (trade.entryFilledAt === undefined || fill.time < trade.entryFilledAt) trade.entryFilledAt = fill.time;
      } else {
        trade.exitQuantity += fill.quantity;
        trade.exitValue += fill.quantity * fill.price;
        if (trade.exitFilledAt === undefined || fill.time > trade.exitFilledAt) trade.exitFilledAt = fill.time;
      }
      const last = this.managerLast.get(trade.symbol);
      if (last === undefined) this.managerLast.set(trade.symbol, { price: fill.price, at: fill.time, barTime: Number.NEGATIVE_INFINITY });
      else if (fill.time >= last.at) {
        last.price = fill.price;
        last.at = fill.time;
      }
    }
    this.advance(trade, record);
  }

  /** Moves a trade along its lifecycle after one of its orders changed. */
  private advance(trade: SimTrade, meta: OrderRecord): void {
    if (meta.purpose === 'entry') {
      if (trade.status === 'pending' && trade.entryQuantity > 0) {
        trade.status = trade.pendingExit !== undefined ? 'closing' : 'open';
        trade.openedAt = trade.entryFilledAt ?? this.now;
      }
      if (meta.ended) {
        if (trade.entryQuantity <= 0) {
          if (meta.status === 'rejected' || meta.status === 'expired') this.rejectedOrders++;
          trade.status = 'done';
          this.drop(trade);
          return;
        }
        if (trade.status === 'open') this.protect(trade);
      }
    }
    if (this.isFlat(trade) && trade.entryQuantity > 0 && (trade.entry === undefined || trade.entry.ended)) {
      const protective = meta.protective || meta.purpose === 'stop_loss' || meta.purpose === 'trailing_stop';
      const reason = protective ? this.reasonOf(trade, meta) : (trade.pendingExit?.reason ?? this.reasonOf(trade, meta));
      this.close(trade, reason);
      return;
    }
    if (trade.status === 'closing') {
      this.continueExit(trade);
      return;
    }
    if (trade.status === 'open' && meta.ended && meta.purpose !== 'entry' && meta.purpose !== 'exit') this.protect(trade);
  }

  private reasonOf(trade: SimTrade, meta: OrderRecord): string {
    if (meta.purpose === 'stop_loss' || meta.purpose === 'trailing_stop') return trade.trailingActive ? 'trailing_stop' : 'stop_loss';
    if (meta.purpose === 'take_profit') return 'take_profit';
    return 'exit';
  }

  /**
   * Stop and target orders at the venue for what is open, when configured. A level the venue
   * refused is not sent again: the manager watches it itself.
   */
  private protect(trade: SimTrade): void {
    if (!this.config.exits.protectiveOrdersAtVenue || trade.status !== 'open') return;
    const quantity = this.closable(trade);
    if (quantity === 0) return;
    const side = trade.side === 'long' ? 'sell' : 'buy';
    const reduceOnly = this.config.exits.reduceOnly;
    const placeStop = trade.stopLoss !== undefined && !live(trade.stopOrder) && !refused(trade.stopOrder);
    const placeTarget = trade.takeProfit !== undefined && !live(trade.targetOrder) && !refused(trade.targetOrder);
    if (placeStop) {
      const level = trade.stopLoss!;
      const record = this.record(trade, trade.trailingActive ? 'trailing_stop' : 'stop_loss', true, level);
      trade.stopOrder = record;
      this.outbox.push({ record, place: () => this.venue.protective(record, trade.symbol, 'stop', side, quantity, level, reduceOnly) });
    }
    if (placeTarget) {
      const level = trade.takeProfit!;
      const record = this.record(trade, 'take_profit', true, level);
      trade.targetOrder = record;
      this.outbox.push({ record, place: () => this.venue.protective(record, trade.symbol, 'target', side, quantity, level, reduceOnly) });
    }
  }

  private record(trade: SimTrade, purpose: Purpose, protective: boolean, level?: number): OrderRecord {
    return { trade, purpose, protective, level, status: 'requested', ended: false };
  }

  private cancel(record: OrderRecord | undefined): void {
    if (!live(record) || record.cancelling === true) return;
    record.cancelling = true;
    this.outbox.push({ record });
  }

  /** Starts closing a trade: cancel what protects it at the venue first, then send the exit. */
  private requestExit(trade: SimTrade, reason: string, purpose: Purpose): void {
    if (trade.status === 'done' || trade.pendingExit !== undefined) return;
    trade.pendingExit = { reason, purpose };
    if (trade.status === 'open') trade.status = 'closing';
    this.continueExit(trade);
  }

  private continueExit(trade: SimTrade): void {
    const exit = trade.pendingExit;
    if (exit === undefined) return;
    if (live(trade.entry)) this.cancel(trade.entry);
    if (trade.status === 'pending') return;
    let waiting = false;
    for (const o of [trade.stopOrder, trade.targetOrder]) {
      if (live(o)) {
        this.cancel(o);
        waiting = true;
      }
    }
    if (waiting) return;
    if (trade.exits.some(live)) return;
    const quantity = this.closable(trade);
    if (quantity === 0) return;
    if (trade.lastExitAttemptAt !== undefined && this.now - trade.lastExitAttemptAt < this.config.exits.exitRetryMs) return;
    trade.lastExitAttemptAt = this.now;
    const side = trade.side === 'long' ? 'sell' : 'buy';
    const record = this.record(trade, exit.purpose, false);
    trade.exits.push(record);
    this.outbox.push({ record, place: () => this.venue.market(record, trade.symbol, side, quantity, this.config.exits.reduceOnly) });
  }

  private step(symbol: string): number | undefined {
    return this.config.sizing.markets[symbol]?.quantityStep ?? this.config.sizing.quantityStep;
  }

  /** The open quantity on the venue's quantity step. */
  private closable(trade: SimTrade): number {
    const open = this.openQuantity(trade);
    const rounded = roundDown(open, this.step(trade.symbol));
    return rounded > 0 ? rounded : open;
  }

  /** Nothing left to sell: no open quantity, or after an exit less than a quantity step. */
  private isFlat(trade: SimTrade): boolean {
    const open = this.openQuantity(trade);
    if (open === 0) return true;
    const step = this.step(trade.symbol);
    return step !== undefined && trade.exitQuantity > 0 && open < step - 1e-12;
  }

  // ---------------------------------------------------------------- the manager

  private managerEquity(): number {
    if (this.options.accountEquity) return this.venue.equity();
    let equity = this.config.equity.initial + this.risk.realizedPnl;
    for (const t of this.active) equity += this.unrealized(t) + this.realized(t);
    return equity;
  }

  private timeframeMs(timeframe: string): number {
    let ms = this.tfMs.get(timeframe);
    if (ms === undefined) this.tfMs.set(timeframe, (ms = timeframeToMs(timeframe)));
    return ms;
  }

  /** Returns whether a trade is on the bar's symbol (its price moved the manager's equity). */
  private managerSeesBar(bar: Candle): boolean {
    const symbol = bar.symbol;
    if (this.config.symbols !== undefined && !this.config.symbols.includes(symbol)) return false;
    const wanted = this.config.timeframe ?? this.managerTf.get(symbol) ?? bar.timeframe;
    if (bar.timeframe !== wanted) return false;
    this.managerTf.set(symbol, wanted);
    const closeTime = bar.timestamp + this.timeframeMs(bar.timeframe);
    const last = this.managerLast.get(symbol);
    if (last !== undefined && bar.timestamp <= last.barTime) return false;
    if (last === undefined) this.managerLast.set(symbol, { price: bar.close, at: closeTime, barTime: bar.timestamp });
    else {
      last.price = bar.close;
      last.at = closeTime;
      last.barTime = bar.timestamp;
    }
    let atr = this.atr.get(symbol);
    if (atr === undefined) this.atr.set(symbol, (atr = new ATR(this.config.sizing.volatility.atrPeriod)));
    atr.update(bar);
    const range: PriceRange = { high: bar.high, low: bar.low, close: bar.close };
    let traded = false;
    for (const trade of this.active.slice()) {
      if (trade.symbol !== symbol) continue;
      traded = true;
      this.manageTrade(trade, range, closeTime, atr.value);
    }
    return traded;
  }

  /** The manager's exit rules for one trade on a closed bar. */
  private manageTrade(trade: SimTrade, range: PriceRange, observedUntil: number, atr: number | undefined): void {
    if (trade.status === 'pending' || trade.status === 'closing') {
      this.continueExit(trade);
      return;
    }
    if (trade.status !== 'open') return;
    // A range from before the fill says nothing about this trade.
    if (trade.openedAt !== undefined && observedUntil <= trade.openedAt) return;
    const hit = levelHit(trade.side, range, live(trade.stopOrder) ? undefined : trade.stopLoss, live(trade.targetOrder) ? undefined : trade.takeProfit);
    if (hit === 'stop') {
      const purpose = trade.trailingActive ? 'trailing_stop' : 'stop_loss';
      this.requestExit(trade, purpose, purpose);
      return;
    }
    if (hit === 'target') {
      this.requestExit(trade, 'take_profit', 'take_profit');
      return;
    }
    if (this.config.exits.timeStopMs > 0 && trade.openedAt !== undefined && observedUntil - trade.openedAt >= this.config.exits.timeStopMs) {
      this.requestExit(trade, 'time_stop', 'exit');
      return;
    }
    const state = { side: trade.side, entryPrice: this.averageEntry(trade), stopLoss: trade.stopLoss, bestPrice: trade.bestPrice, trailingActive: trade.trailingActive };
    const before = trade.stopLoss;
    trailStop(this.config, state, range, atr);
    trade.stopLoss = state.stopLoss;
    trade.bestPrice = state.bestPrice;
    trade.trailingActive = state.trailingActive;
    if (trade.stopLoss !== before && before !== undefined && live(trade.stopOrder) && trade.stopOrder.level !== undefined) {
      // The venue's stop is replaced (cancelled, then placed anew) once it moved enough.
      const venueStop = trade.stopOrder.level;
      const movedPct = (Math.abs(trade.stopLoss! - venueStop) / venueStop) * 100;
      if (movedPct >= this.config.exits.trailing.venueUpdateStepPct) this.cancel(trade.stopOrder);
    }
  }

  /** A signal against an open position is its exit: it skips aggregation and the entry rules. */
  private closesPosition(signal: Signal): boolean {
    if ((this.config.aggregation as { exits?: string }).exits === 'filter') return false;
    if (signal.side === 'flat') return true;
    if (!this.config.exitOnOppositeSignal) return false;
    return this.active.some((t) => t.symbol === signal.symbol && t.side !== signal.side);
  }

  private decideBatch(batch: Signal[], now: number): void {
    if (batch.length === 0) return;
    let exits: Signal[] | undefined;
    let entries: Signal[] | undefined;
    for (const signal of batch) {
      this.signalCount++;
      if (this.config.symbols !== undefined && !this.config.symbols.includes(signal.symbol)) continue;
      if (this.config.maxSignalAgeMs > 0 && now - signal.timestamp > this.config.maxSignalAgeMs) continue;
      if (this.closesPosition(signal)) (exits ??= []).push(signal);
      else (entries ??= []).push(signal);
    }
    if (exits !== undefined) for (const s of exits) this.decide(s.symbol, s.side, s.confidence, s.price, undefined, undefined, s.strategyId, now);
    if (entries === undefined) return this.risk.evaluate(now, this.managerEquity());
    const result = this.aggregator.aggregate(entries, { now, trackRecord: this.trackRecord });
    for (const d of result.accepted) {
      this.decide(d.signal.symbol, d.signal.side, d.adjustedConfidence, d.signal.price, d.signal.stopLoss, d.signal.takeProfit, d.signal.strategyId, now);
    }
    this.risk.evaluate(now, this.managerEquity());
  }

  private decide(
    symbol: string,
    decided: 'long' | 'short' | 'flat',
    confidence: number,
    price: number,
    stopLoss: number | undefined,
    takeProfit: number | undefined,
    strategyId: string,
    now: number,
  ): void {
    const onSymbol = this.active.filter((t) => t.symbol === symbol);
    if (decided === 'flat') {
      for (const t of onSymbol) this.requestExit(t, 'signal', 'exit');
      return;
    }
    const side: PositionSide = decided;
    if (onSymbol.some((t) => t.side === side)) return;
    const opposite = onSymbol.filter((t) => t.side !== side);
    if (opposite.length > 0) {
      // Closes the opposite position; no reversal in the same step.
      if (this.config.exitOnOppositeSignal) for (const t of opposite) this.requestExit(t, 'opposite signal', 'exit');
      return;
    }
    if (side === 'short' && !this.config.allowShort) return;
    if (this.risk.blocksEntry(now, symbol, this.active.length)) return;
    const entryPrice = price > 0 ? price : (this.managerLast.get(symbol)?.price ?? 0);
    if (!(entryPrice > 0)) return;
    let symbolExposure = 0;
    let totalExposure = 0;
    let heat = 0;
    for (const t of this.active) {
      const pending = t.status === 'pending';
      const open = pending ? t.plannedQuantity : this.openQuantity(t);
      const e = pending ? t.plannedQuantity * t.plannedEntryPrice : open * (this.managerLast.get(t.symbol)?.price ?? this.averageEntry(t));
      totalExposure += e;
      if (t.symbol === symbol) symbolExposure += e;
      if (open > 0) {
        const entry = this.averageEntry(t);
        // Without a stop the trade's whole value is at risk.
        heat += t.stopLoss === undefined ? entry * open : Math.max(0, direction(t.side) * (entry - t.stopLoss)) * open;
      }
    }
    const sizing = sizeEntry(this.config, {
      symbol,
      strategyId,
      side,
      entryPrice,
      stopLoss,
      takeProfit,
      confidence,
      atr: this.atr.get(symbol)?.value,
      equity: this.managerEquity(),
      edge: this.edgeFor(strategyId),
      symbolExposure,
      totalExposure,
      heat,
    });
    if (sizing.rejected) return;
    const trade: SimTrade = {
      id: `screen-${++this.tradeSeq}`,
      symbol,
      side,
      strategyId,
      status: 'pending',
      plannedQuantity: sizing.quantity,
      plannedEntryPrice: entryPrice,
      entryQuantity: 0,
      entryValue: 0,
      exitQuantity: 0,
      exitValue: 0,
      fees: 0,
      stopLoss: sizing.stopLoss,
      takeProfit: sizing.takeProfit,
      trailingActive: false,
      requestedAt: now,
      exits: [],
    };
    this.active.push(trade);
    this.risk.onEntry(now);
    const record = this.record(trade, 'entry', false);
    trade.entry = record;
    const orderSide = side === 'long' ? 'buy' : 'sell';
    this.outbox.push({ record, place: () => this.venue.market(record, symbol, orderSide, sizing.quantity, false) });
  }

  private edgeFor(strategyId: string): EdgeStats | undefined {
    const stats = this.trackRecord.stats(strategyId);
    if (stats.count === 0) return undefined;
    const avgLoss = Math.abs(stats.averageLossPct);
    const payoff = avgLoss > 0 ? stats.averageWinPct / avgLoss : stats.averageWinPct > 0 ? Infinity : 0;
    return { trades: stats.count, winRate: stats.winRate, payoff };
  }

  // ---------------------------------------------------------------- trade accounting

  private averageEntry(t: SimTrade): number {
    return t.entryQuantity > 0 ? t.entryValue / t.entryQuantity : t.plannedEntryPrice;
  }

  private openQuantity(t: SimTrade): number {
    const q = t.entryQuantity - t.exitQuantity;
    return q > 1e-9 * Math.max(1, t.entryQuantity) ? q : 0;
  }

  private realized(t: SimTrade): number {
    if (t.entryQuantity <= 0) return -t.fees;
    return direction(t.side) * (t.exitValue - t.entryValue * (t.exitQuantity / t.entryQuantity)) - t.fees;
  }

  private unrealized(t: SimTrade): number {
    const open = this.openQuantity(t);
    const mark = this.managerLast.get(t.symbol)?.price;
    if (open === 0 || mark === undefined) return 0;
    return direction(t.side) * (mark - this.averageEntry(t)) * open;
  }

  private drop(trade: SimTrade): void {
    const i = this.active.indexOf(trade);
    if (i >= 0) this.active.splice(i, 1);
  }

  private close(trade: SimTrade, reason: string): void {
    const now = this.now;
    const closedAt = trade.exitFilledAt ?? now;
    trade.status = 'done';
    this.drop(trade);
    for (const o of [trade.stopOrder, trade.targetOrder, trade.entry]) this.cancel(o);
    const pnl = this.realized(trade);
    const entryPrice = this.averageEntry(trade);
    const pnlPct = trade.entryValue > 0 ? (pnl / trade.entryValue) * 100 : 0;
    this.closed.push({
      tradeId: trade.id,
      symbol: trade.symbol,
      side: trade.side,
      quantity: trade.entryQuantity,
      entryPrice,
      exitPrice: trade.exitQuantity > 0 ? trade.exitValue / trade.exitQuantity : entryPrice,
      pnl,
      pnlPct,
      fees: trade.fees,
      strategyId: trade.strategyId,
      exitReason: reason,
      openedAt: trade.openedAt ?? trade.requestedAt,
      closedAt,
      requestedAt: trade.requestedAt,
    });
    this.risk.onTradeClosed(now, trade.symbol, pnl);
    this.trackRecord.record({ tradeId: trade.id, strategyId: trade.strategyId, symbol: trade.symbol, side: trade.side, pnl, pnlPct, closedAt });
  }
}
