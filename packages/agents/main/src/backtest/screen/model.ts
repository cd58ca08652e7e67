import { ATR } from '@tradebus/indicators';
import { firstReach, pathPoints, type Candle } from '@tradebus/providers';
import { SignalAggregator, TrackRecord, type Signal } from '@tradebus/strategies';
import { computeMetrics, type ClosedTrade, type EquityPoint, type PerformanceMetrics } from '../metrics.js';
import type { ScreenMarket } from './data.js';
import { direction, levelHit, Risk, sizeEntry, trailStop, type EdgeStats, type ManagerSettings, type PositionSide, type PriceRange } from './rules.js';
import type { SignalsByMoment } from './signals.js';

/**
 * The screen's trades: one loop over the moments of the market, with the trade manager's rules
 * (aggregation, risk limits and breakers, sizing, stops, targets, trailing and time exits,
 * opposite-signal exits) and the paper exchange's fills (market orders at the close of the bar
 * that caused them or at the next bar's open, slippage, taker fees, funds checks; stops and
 * targets resting at the venue along the bar's path). No agents, no bus, no events.
 *
 * Within a moment it keeps the order a backtest has: the paper exchange sees the bars first (orders
 * waiting for the next open fill, resting stops and targets trigger), then the manager handles the
 * bars (exits) and decides the signals of the moment as one batch, and only then do the orders it
 * sent fill, so a trade exiting at this moment still counts as open for the decisions made at it.
 */

export type SlippageSettings = { model: 'none' } | { model: 'bps'; bps: number } | { model: 'volume'; baseBps: number; impactBps: number; maxBps: number };

export interface PaperSettings {
  quoteCurrency: string;
  balances: Record<string, number>;
  fees: { maker: number; taker: number };
  slippage: SlippageSettings;
  marketFillOnCandle: 'close' | 'next_open';
}

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

type Purpose = 'entry' | 'exit';

interface SimTrade {
  id: string;
  symbol: string;
  side: PositionSide;
  strategyId: string;
  status: 'pending' | 'open' | 'closing';
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
  /** Levels held by orders resting at the venue (`protectiveOrdersAtVenue`); the manager watches the others. */
  venueStop: boolean;
  venueTarget: boolean;
  bestPrice?: number | undefined;
  requestedAt: number;
  openedAt?: number | undefined;
  exitReason?: string | undefined;
  /** Exit reason once an exit was requested. */
  pendingExit?: string | undefined;
}

interface Order {
  trade: SimTrade;
  purpose: Purpose;
  side: 'buy' | 'sell';
  quantity: number;
  reason?: string | undefined;
  /** Quote held for it while it waits for the next open. */
  reserved?: number | undefined;
}

interface Execution {
  quantity: number;
  price: number;
  fee: number;
}

const EPS = 1e-12;

export function runScreenModel(market: ScreenMarket, signals: SignalsByMoment, options: ModelOptions): ModelResult {
  return new Simulation(market, signals, options).run();
}

class Simulation {
  private readonly config: ManagerSettings;
  private readonly paper: PaperSettings;
  private readonly managerTf = new Map<string, string>();
  private readonly last = new Map<string, number>();
  private readonly managerLast = new Map<string, number>();
  private readonly lastVolume = new Map<string, number>();
  private readonly atr = new Map<string, ATR>();
  private readonly positions = new Map<string, number>();
  private cash: number;
  private readonly active: SimTrade[] = [];
  private readonly closed: ScreenTrade[] = [];
  /** Market orders waiting for the next bar's open, per symbol. */
  private readonly nextOpen = new Map<string, Order[]>();
  private reservedCash = 0;
  /** Fills the venue made while seeing the bars of the moment, not yet known to the manager. */
  private readonly arrivals: Array<{ order: Order; fill: Execution | undefined; index: number }> = [];
  private readonly aggregator: SignalAggregator;
  private readonly trackRecord: TrackRecord;
  private readonly risk: Risk;
  private feesPaid = 0;
  private signalCount = 0;
  private rejectedOrders = 0;
  private exposedThisBar = false;
  private tradeSeq = 0;

  constructor(
    private readonly market: ScreenMarket,
    private readonly signals: SignalsByMoment,
    private readonly options: ModelOptions,
  ) {
    this.config = options.manager;
    this.paper = options.paper;
    this.cash = options.paper.balances[options.paper.quoteCurrency] ?? 0;
    this.aggregator = new SignalAggregator(this.config.aggregation as never, { path: 'aggregation' });
    this.trackRecord = new TrackRecord(this.config.trackRecord as never);
    this.risk = new Risk(this.config, market.startTime, this.config.equity.initial);
  }

  run(): ModelResult {
    const equity: EquityPoint[] = [{ timestamp: this.market.startTime, equity: this.paperEquity(), exposed: false }];
    for (const moment of this.market.moments) {
      const now = moment.time;
      this.exposedThisBar = this.active.some((t) => t.status !== 'pending');
      const bars = moment.bars;
      // The paper exchange sees each bar before any agent does.
      for (let i = 0; i < bars.length; i++) this.venueSeesBar(bars[i]!, i, now);
      const sent: Order[] = [];
      // The manager checks its breakers after every event it handles: a breaker trips on the
      // equity of any moment in between, not only on where the moment ends.
      this.risk.evaluate(now, this.managerEquity());
      for (const bar of bars) {
        // Only a bar of a symbol with a trade on it moves the manager's equity.
        if (this.managerSeesBar(bar, now, sent)) this.risk.evaluate(now, this.managerEquity());
      }
      const batch = this.signals.get(now);
      // The manager decides the moment's signals one turn after the first of them arrives. Fills
      // the venue made on the bars played up to that one reach it before; those of later bars after.
      const first = batch === undefined || batch.length === 0 ? bars.length : firstSignalBar(bars, batch);
      this.bookArrivals(now, first);
      if (batch !== undefined && batch.length > 0) this.decideBatch(batch, now, sent);
      this.risk.evaluate(now, this.managerEquity());
      this.bookArrivals(now, bars.length);
      for (const order of sent) {
        this.place(order, now);
        this.risk.evaluate(now, this.managerEquity());
      }
      if (this.active.some((t) => t.status !== 'pending')) this.exposedThisBar = true;
      equity.push({ timestamp: now, equity: this.paperEquity(), exposed: this.exposedThisBar });
    }
    const fees = this.feesPaid;
    const metrics = computeMetrics(equity, this.closed, {
      barIntervalMs: this.market.barIntervalMs,
      periodsPerYear: this.options.periodsPerYear,
      riskFreeRate: this.options.riskFreeRate,
      fees,
    });
    return { metrics, trades: this.closed, open: this.active.length, equity, fees, signals: this.signalCount, rejectedOrders: this.rejectedOrders };
  }

  // ---------------------------------------------------------------- the venue

  /** `now` is the moment the bar is played at: its close. */
  private venueSeesBar(bar: Candle, index: number, now: number): void {
    const symbol = bar.symbol;
    this.last.set(symbol, bar.close);
    this.lastVolume.set(symbol, bar.volume);
    const waiting = this.nextOpen.get(symbol);
    if (waiting !== undefined && waiting.length > 0) {
      this.nextOpen.delete(symbol);
      for (const order of waiting) {
        this.release(order);
        this.arrivals.push({ order, fill: this.execute(order, this.slipped(order.side, bar.open, order.quantity, bar.volume)), index });
      }
    }
    if (!this.config.exits.protectiveOrdersAtVenue) return;
    const points = pathPoints(bar);
    for (const trade of this.active) {
      if (trade.symbol !== symbol || trade.status !== 'open' || trade.openedAt === undefined || trade.openedAt >= now) continue;
      // Stop orders are matched before take-profit orders, as the paper exchange does.
      const stop = !trade.venueStop || trade.stopLoss === undefined ? undefined : firstReach(points, trade.stopLoss, trade.side === 'long' ? 'down' : 'up');
      const target = !trade.venueTarget || trade.takeProfit === undefined ? undefined : firstReach(points, trade.takeProfit, trade.side === 'long' ? 'up' : 'down');
      const hit = stop !== undefined ? { reach: stop, reason: trade.trailingActive ? 'trailing_stop' : 'stop_loss' } : target !== undefined ? { reach: target, reason: 'take_profit' } : undefined;
      if (hit === undefined) continue;
      const side = trade.side === 'long' ? 'sell' : 'buy';
      const quantity = this.openQuantity(trade);
      const order: Order = { trade, purpose: 'exit', side, quantity, reason: hit.reason };
      this.arrivals.push({ order, fill: this.execute(order, this.slipped(side, hit.reach.price, quantity, bar.volume)), index });
    }
  }

  private slipped(side: 'buy' | 'sell', price: number, quantity: number, barVolume: number | undefined): number {
    const s = this.paper.slippage;
    let bps = 0;
    if (s.model === 'bps') bps = s.bps;
    else if (s.model === 'volume') bps = Math.min(s.maxBps, s.baseBps + (barVolume !== undefined && barVolume > 0 ? s.impactBps * (quantity / barVolume) : 0));
    return side === 'buy' ? price * (1 + bps / 10_000) : price * (1 - bps / 10_000);
  }

  /** An order reaching the venue now: filled at the last close, or held for the next bar's open. */
  private place(order: Order, now: number): void {
    const last = this.last.get(order.trade.symbol);
    if (last === undefined) return this.book(order, undefined, now);
    const price = this.slipped(order.side, last, order.quantity, this.lastVolume.get(order.trade.symbol));
    if (order.purpose === 'entry' && !this.affordable(order, price)) return this.book(order, undefined, now);
    if (this.paper.marketFillOnCandle === 'next_open') {
      // Funds are held for it until it fills, as the paper exchange does.
      if (order.purpose === 'entry' && order.side === 'buy') {
        order.reserved = order.quantity * price * (1 + this.paper.fees.taker);
        this.reservedCash += order.reserved;
      }
      const list = this.nextOpen.get(order.trade.symbol);
      if (list === undefined) this.nextOpen.set(order.trade.symbol, [order]);
      else list.push(order);
      return;
    }
    this.book(order, this.execute(order, price), now);
  }

  private release(order: Order): void {
    if (order.reserved === undefined) return;
    this.reservedCash -= order.reserved;
    order.reserved = undefined;
  }

  private affordable(order: Order, price: number): boolean {
    const symbol = order.trade.symbol;
    const futures = symbol.includes(':');
    if (order.side === 'buy') return order.quantity * price * (1 + this.paper.fees.taker) <= (futures ? this.paperEquity() : this.cash) - this.reservedCash + EPS;
    // A sell that opens a position needs the coins on spot.
    return futures || (this.positions.get(symbol) ?? 0) >= order.quantity - EPS;
  }

  /** The venue's side of a fill: the account changes. Undefined when the venue refuses it. */
  private execute(order: Order, price: number): Execution | undefined {
    const symbol = order.trade.symbol;
    let quantity = order.quantity;
    if (order.purpose === 'exit') {
      // Reduce-only: never more than the position.
      quantity = Math.min(quantity, Math.abs(this.positions.get(symbol) ?? 0));
      if (quantity <= EPS) return { quantity: 0, price, fee: 0 };
    } else if (!this.affordable(order, price)) {
      return undefined;
    }
    const fee = quantity * price * this.paper.fees.taker;
    this.feesPaid += fee;
    const signed = order.side === 'buy' ? quantity : -quantity;
    this.cash -= signed * price + fee;
    this.positions.set(symbol, (this.positions.get(symbol) ?? 0) + signed);
    return { quantity, price, fee };
  }

  /** Books the venue's fills made on bars up to `lastBar` (index in the moment). */
  private bookArrivals(now: number, lastBar: number): void {
    while (this.arrivals.length > 0 && this.arrivals[0]!.index <= lastBar) {
      const { order, fill } = this.arrivals.shift()!;
      this.book(order, fill, now);
      this.risk.evaluate(now, this.managerEquity());
    }
  }

  /** The manager's side of a fill (or of a refusal, `fill` undefined). */
  private book(order: Order, fill: Execution | undefined, now: number): void {
    const trade = order.trade;
    if (fill === undefined) {
      this.rejectedOrders++;
      if (order.purpose === 'entry' && trade.entryQuantity <= 0) this.drop(trade);
      return;
    }
    if (!this.active.includes(trade)) return;
    if (fill.quantity <= 0) {
      if (this.openQuantity(trade) <= 0) this.drop(trade);
      return;
    }
    const notional = fill.quantity * fill.price;
    trade.fees += fill.fee;
    this.managerLast.set(trade.symbol, fill.price);
    if (order.purpose === 'entry') {
      trade.entryQuantity += fill.quantity;
      trade.entryValue += notional;
      trade.status = trade.pendingExit !== undefined ? 'closing' : 'open';
      trade.openedAt = now;
      if (trade.status === 'open' && this.config.exits.protectiveOrdersAtVenue) this.protect(trade);
      if (trade.pendingExit !== undefined) this.place({ trade, purpose: 'exit', side: trade.side === 'long' ? 'sell' : 'buy', quantity: this.openQuantity(trade), reason: trade.pendingExit }, now);
      return;
    }
    trade.exitQuantity += fill.quantity;
    trade.exitValue += notional;
    if (this.openQuantity(trade) <= 0) this.close(trade, order.reason ?? trade.pendingExit ?? 'exit', now);
  }

  /**
   * Stop and target orders at the venue for a trade that just opened. The venue refuses one that
   * would trigger at once against its last price; the manager then watches that level itself.
   */
  private protect(trade: SimTrade): void {
    const last = this.last.get(trade.symbol);
    if (last === undefined) return;
    const long = trade.side === 'long';
    trade.venueStop = trade.stopLoss !== undefined && !(long ? last <= trade.stopLoss : last >= trade.stopLoss);
    trade.venueTarget = trade.takeProfit !== undefined && !(long ? last >= trade.takeProfit : last <= trade.takeProfit);
  }

  private paperEquity(): number {
    let equity = this.cash;
    for (const [symbol, q] of this.positions) if (q !== 0) equity += q * (this.last.get(symbol) ?? 0);
    return equity;
  }

  // ---------------------------------------------------------------- the manager

  private managerEquity(): number {
    if (this.options.accountEquity) return this.paperEquity();
    let equity = this.config.equity.initial + this.risk.realizedPnl;
    for (const t of this.active) equity += this.unrealized(t) + this.realized(t);
    return equity;
  }

  /** Returns whether a trade is on the bar's symbol (its price moved the manager's equity). */
  private managerSeesBar(bar: Candle, now: number, sent: Order[]): boolean {
    const symbol = bar.symbol;
    if (this.config.symbols !== undefined && !this.config.symbols.includes(symbol)) return false;
    const wanted = this.config.timeframe ?? this.managerTf.get(symbol) ?? bar.timeframe;
    if (bar.timeframe !== wanted) return false;
    this.managerTf.set(symbol, wanted);
    this.managerLast.set(symbol, bar.close);
    let atr = this.atr.get(symbol);
    if (atr === undefined) this.atr.set(symbol, (atr = new ATR(this.config.sizing.volatility.atrPeriod)));
    atr.update(bar);
    const observedUntil = now;
    const range: PriceRange = { high: bar.high, low: bar.low, close: bar.close };
    let traded = false;
    for (const trade of this.active) {
      if (trade.symbol !== symbol) continue;
      traded = true;
      if (trade.status !== 'open') continue;
      // A range from before the fill says nothing about this trade.
      if (trade.openedAt !== undefined && observedUntil <= trade.openedAt) continue;
      const hit = levelHit(trade.side, range, trade.venueStop ? undefined : trade.stopLoss, trade.venueTarget ? undefined : trade.takeProfit);
      let reason: string | undefined;
      if (hit === 'stop') reason = trade.trailingActive ? 'trailing_stop' : 'stop_loss';
      else if (hit === 'target') reason = 'take_profit';
      else if (this.config.exits.timeStopMs > 0 && trade.openedAt !== undefined && now - trade.openedAt >= this.config.exits.timeStopMs) reason = 'time_stop';
      if (reason !== undefined) {
        this.requestExit(trade, reason, sent);
        continue;
      }
      const state = { side: trade.side, entryPrice: this.averageEntry(trade), stopLoss: trade.stopLoss, bestPrice: trade.bestPrice, trailingActive: trade.trailingActive };
      trailStop(this.config, state, range, atr.value);
      trade.stopLoss = state.stopLoss;
      trade.bestPrice = state.bestPrice;
      trade.trailingActive = state.trailingActive;
    }
    return traded;
  }

  private requestExit(trade: SimTrade, reason: string, sent: Order[]): void {
    if (trade.pendingExit !== undefined) return;
    trade.pendingExit = reason;
    if (trade.status === 'pending') {
      // An entry still waiting for the next open is cancelled there and the trade never opens;
      // one the venue has filled already is closed as soon as its fill arrives (see book).
      const waiting = this.nextOpen.get(trade.symbol);
      const entry = waiting?.find((o) => o.trade === trade);
      if (entry !== undefined) {
        this.release(entry);
        this.nextOpen.set(trade.symbol, waiting!.filter((o) => o !== entry));
        this.drop(trade);
      }
      return;
    }
    trade.status = 'closing';
    const quantity = this.openQuantity(trade);
    if (quantity <= EPS) return;
    sent.push({ trade, purpose: 'exit', side: trade.side === 'long' ? 'sell' : 'buy', quantity, reason });
  }

  private decideBatch(batch: Signal[], now: number, sent: Order[]): void {
    const accepted: Signal[] = [];
    for (const signal of batch) {
      this.signalCount++;
      if (this.config.symbols !== undefined && !this.config.symbols.includes(signal.symbol)) continue;
      if (this.config.maxSignalAgeMs > 0 && now - signal.timestamp > this.config.maxSignalAgeMs) continue;
      accepted.push(signal);
    }
    if (accepted.length === 0) return;
    const result = this.aggregator.aggregate(accepted, { now, trackRecord: this.trackRecord });
    for (const d of result.accepted) {
      this.decide({ symbol: d.signal.symbol, side: d.signal.side, confidence: d.adjustedConfidence, price: d.signal.price, stopLoss: d.signal.stopLoss, takeProfit: d.signal.takeProfit, strategyId: d.signal.strategyId }, now, sent);
    }
  }

  private decide(
    decision: { symbol: string; side: 'long' | 'short' | 'flat'; confidence: number; price: number; stopLoss?: number | undefined; takeProfit?: number | undefined; strategyId: string },
    now: number,
    sent: Order[],
  ): void {
    const onSymbol = this.active.filter((t) => t.symbol === decision.symbol);
    if (decision.side === 'flat') {
      for (const t of onSymbol) this.requestExit(t, 'signal', sent);
      return;
    }
    const side: PositionSide = decision.side;
    if (onSymbol.some((t) => t.side === side)) return;
    const opposite = onSymbol.filter((t) => t.side !== side);
    if (opposite.length > 0) {
      // Closes the opposite position; no reversal in the same step.
      if (this.config.exitOnOppositeSignal) for (const t of opposite) this.requestExit(t, 'opposite signal', sent);
      return;
    }
    if (side === 'short' && !this.config.allowShort) return;
    if (this.risk.blocksEntry(now, decision.symbol, this.active.length)) return;
    const entryPrice = decision.price > 0 ? decision.price : (this.managerLast.get(decision.symbol) ?? 0);
    if (!(entryPrice > 0)) return;
    let symbolExposure = 0;
    let totalExposure = 0;
    let heat = 0;
    for (const t of this.active) {
      const e = t.status === 'pending' ? t.plannedQuantity * t.plannedEntryPrice : this.openQuantity(t) * (this.managerLast.get(t.symbol) ?? this.averageEntry(t));
      totalExposure += e;
      if (t.symbol === decision.symbol) symbolExposure += e;
      const open = t.status === 'pending' ? t.plannedQuantity : this.openQuantity(t);
      if (t.stopLoss !== undefined && open > 0) heat += Math.max(0, direction(t.side) * (this.averageEntry(t) - t.stopLoss)) * open;
    }
    const sizing = sizeEntry(this.config, {
      symbol: decision.symbol,
      side,
      entryPrice,
      stopLoss: decision.stopLoss,
      takeProfit: decision.takeProfit,
      confidence: decision.confidence,
      atr: this.atr.get(decision.symbol)?.value,
      equity: this.managerEquity(),
      edge: this.edgeFor(decision.strategyId),
      symbolExposure,
      totalExposure,
      heat,
    });
    if (sizing.rejected) return;
    const trade: SimTrade = {
      id: `screen-${++this.tradeSeq}`,
      symbol: decision.symbol,
      side,
      strategyId: decision.strategyId,
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
      venueStop: false,
      venueTarget: false,
      requestedAt: now,
    };
    this.active.push(trade);
    this.risk.onEntry(now);
    sent.push({ trade, purpose: 'entry', side: side === 'long' ? 'buy' : 'sell', quantity: sizing.quantity });
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
    const mark = this.managerLast.get(t.symbol);
    if (open === 0 || mark === undefined) return 0;
    return direction(t.side) * (mark - this.averageEntry(t)) * open;
  }

  private drop(trade: SimTrade): void {
    const i = this.active.indexOf(trade);
    if (i >= 0) this.active.splice(i, 1);
  }

  private close(trade: SimTrade, reason: string, now: number): void {
    this.drop(trade);
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
      closedAt: now,
      requestedAt: trade.requestedAt,
    });
    this.risk.onTradeClosed(now, trade.symbol, pnl);
    this.trackRecord.record({ tradeId: trade.id, strategyId: trade.strategyId, symbol: trade.symbol, side: trade.side, pnl, pnlPct, closedAt: now });
  }
}

/** Index of the first bar of the moment whose series produced a signal. */
function firstSignalBar(bars: readonly Candle[], batch: readonly Signal[]): number {
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i]!;
    if (batch.some((s) => s.symbol === bar.symbol && s.timeframe === bar.timeframe)) return i;
  }
  return bars.length;
}
