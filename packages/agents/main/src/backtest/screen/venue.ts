import { applyLinearFill, firstReach, pathPoints, timeframeToMs, type Candle } from '@tradebus/providers';

/**
 * The paper exchange as the screen plays it: candles only, market orders and the stop and
 * take-profit orders that protect a trade. A provider's internals are not part of its public API,
 * so this follows packages/providers/src/paper/paper-exchange.ts rule by rule (fills at the next
 * bar's open or at the close, spread, slippage, latency, the participation cap with its lot
 * rounding, stops before targets or in path order, the catch-up of a protective order sent on an
 * entry's fill, fill times in market time, funds held for waiting orders, reduce-only orders
 * dropped once their position is closed). What it does is reported as the venue would report it,
 * one report per fill or end of an order, to whoever owns the order.
 */

export type SlippageSettings = { model: 'none' } | { model: 'bps'; bps: number } | { model: 'volume'; baseBps: number; impactBps: number; maxBps: number };

export interface PaperSettings {
  quoteCurrency: string;
  balances: Record<string, number>;
  fees: { maker: number; taker: number };
  slippage: SlippageSettings;
  marketFillOnCandle: 'close' | 'next_open';
  spreadBps: number;
  latencyMs: number;
  participation: number;
  intrabar: 'stop_first' | 'path';
  leverage: number;
  leverageBySymbol?: Record<string, number> | undefined;
  candleTimeframe?: string | undefined;
}

export type OrderKind = 'market' | 'stop' | 'target';
export type OrderStatus = 'open' | 'filled' | 'cancelled' | 'expired' | 'rejected';

export interface VenueOrder<T> {
  owner: T;
  symbol: string;
  kind: OrderKind;
  side: 'buy' | 'sell';
  quantity: number;
  filled: number;
  remaining: number;
  reduceOnly: boolean;
  /** Trigger price of a stop or take-profit. */
  level?: number | undefined;
  status: OrderStatus;
  seq: number;
  /** A market order (or the rest of a triggered one) waiting for a price. */
  wait?: { notBefore: number; fillAt: 'open' | 'close' } | undefined;
  /** Bar (open time) of the last capped fill and what filled in it. */
  lastBar?: number | undefined;
  barFilled: number;
  /** Funds held for the order: quote (buys, futures) or coins (spot sells). */
  reserved: number;
  reservedCoins: boolean;
}

interface FuturesPosition {
  /** Signed: positive long. */
  quantity: number;
  entryPrice: number;
  margin: number;
}

export interface Fill {
  quantity: number;
  price: number;
  fee: number;
  /** Market time of the fill: a bar's open, a point inside it, or the moment it was placed. */
  time: number;
}

/** What the venue tells the owner of an order: a fill, or the order's end (`fill` undefined). */
export type Report<T> = (order: VenueOrder<T>, fill: Fill | undefined) => void;

interface LastPrice {
  price: number;
  volume: number;
  /** Open time of the bar the price is from. */
  barTime: number;
}

interface BarContext {
  bar: Candle;
  playedAt: number;
  timeframeMs: number;
  /** Where on the bar's path (0 open … 3 close) the last fill opening a position was. */
  entryAt: number | undefined;
}

const EPS = 1e-12;

export class ScreenVenue<T> {
  private readonly cash: { total: number; used: number };
  /** Spot holding per symbol, as reduce-only orders see it. */
  private readonly positions = new Map<string, number>();
  private readonly futuresPositions = new Map<string, FuturesPosition>();
  /** Coins of each spot symbol's base asset, and those held for resting or waiting sells. */
  private readonly coins = new Map<string, { total: number; used: number }>();
  private readonly prices = new Map<string, LastPrice>();
  private readonly timeframes = new Map<string, string>();
  private readonly contexts = new Map<string, BarContext>();
  /** Market orders waiting for a price, in the order they started waiting. */
  private readonly pending: Array<VenueOrder<T>> = [];
  /** Stop and take-profit orders resting, per symbol, in placement order. */
  private readonly resting = new Map<string, Array<VenueOrder<T>>>();
  private fillTime: { stamp: number; at: number } | undefined;
  private now = Number.NEGATIVE_INFINITY;
  private seq = 0;
  feesPaid = 0;

  constructor(
    private readonly settings: PaperSettings,
    private readonly report: Report<T>,
  ) {
    this.cash = { total: settings.balances[settings.quoteCurrency] ?? 0, used: 0 };
  }

  /** The account's value at the last prices, as the paper exchange reports it. */
  equity(): number {
    let equity = this.cash.total;
    for (const [symbol, c] of this.coins) if (c.total !== 0) equity += c.total * (this.prices.get(symbol)?.price ?? 0);
    for (const [symbol, p] of this.futuresPositions) {
      const mark = this.prices.get(symbol)?.price;
      if (p.quantity !== 0 && mark !== undefined) equity += (mark - p.entryPrice) * p.quantity;
    }
    return equity;
  }

  /** Signed position of a symbol. */
  position(symbol: string): number {
    return this.futures(symbol) ? (this.futuresPositions.get(symbol)?.quantity ?? 0) : (this.positions.get(symbol) ?? 0);
  }

  /** Whether an order waits or rests for the symbol (nothing to match on a bar otherwise). */
  busy(): boolean {
    return this.pending.length > 0 || this.resting.size > 0;
  }

  // ---------------------------------------------------------------- market data

  /** A closed bar, played at clock time `now` (its close). */
  bar(bar: Candle, now: number): void {
    this.now = now;
    const symbol = bar.symbol;
    const tf = this.settings.candleTimeframe ?? this.timeframes.get(symbol) ?? bar.timeframe;
    if (!this.timeframes.has(symbol)) this.timeframes.set(symbol, tf);
    const last = this.prices.get(symbol);
    if (bar.timeframe !== tf) {
      // Other timeframes move the last price only.
      if (last === undefined) this.prices.set(symbol, { price: bar.close, volume: 0, barTime: bar.timestamp });
      else {
        last.price = bar.close;
        last.barTime = bar.timestamp;
      }
      return;
    }
    const timeframeMs = timeframeToMs(bar.timeframe);
    const context: BarContext = { bar, playedAt: now, timeframeMs, entryAt: undefined };
    this.contexts.set(symbol, context);
    const closeTime = bar.timestamp + timeframeMs;
    const half = this.settings.spreadBps / 20_000;
    if (this.pending.length > 0) this.fillPending(symbol, bar.open * (1 + half), bar.open * (1 - half), bar.volume, bar.timestamp, 'open', { stamp: bar.timestamp, at: 0 }, bar.timestamp);
    const resting = this.resting.get(symbol);
    if (resting !== undefined && resting.length > 0) this.match(bar, context, resting);
    if (this.pending.length > 0) this.fillPending(symbol, bar.close * (1 + half), bar.close * (1 - half), bar.volume, closeTime, 'close', { stamp: closeTime, at: 3 }, bar.timestamp);
    if (last === undefined) this.prices.set(symbol, { price: bar.close, volume: bar.volume, barTime: bar.timestamp });
    else {
      last.price = bar.close;
      last.volume = bar.volume;
      last.barTime = bar.timestamp;
    }
  }

  // ---------------------------------------------------------------- orders

  /** A market order reaching the venue now. Refused orders are reported as ended. */
  market(owner: T, symbol: string, side: 'buy' | 'sell', quantity: number, reduceOnly: boolean): VenueOrder<T> {
    const order = this.newOrder(owner, symbol, 'market', side, quantity, reduceOnly, undefined);
    const last = this.prices.get(symbol);
    if (last === undefined || !this.reduces(order)) return this.refuse(order);
    const half = this.settings.spreadBps / 20_000;
    const ref = side === 'buy' ? last.price * (1 + half) : last.price * (1 - half);
    const price = this.slipped(side, ref, quantity, last.volume);
    if (!this.hasFunds(order, price, quantity)) return this.refuse(order);
    if (this.settings.marketFillOnCandle === 'next_open' || this.settings.latencyMs > 0) {
      this.waitForPrice(order, price, this.now + this.settings.latencyMs);
      return order;
    }
    // At the close of the bar it follows: no more of it than that bar's volume allows.
    const q = this.capped(order, quantity, last.volume, last.barTime);
    this.fillChecked(order, q, price);
    if (order.status === 'open' && order.remaining > 0) this.waitForPrice(order, price, this.now);
    return order;
  }

  /**
   * A stop-loss (`stop`) or take-profit (`target`) order that closes a position. One placed in the
   * moment its position opened inside the bar just played is matched against the rest of that bar;
   * any other is refused when its level has traded already.
   */
  protective(owner: T, symbol: string, kind: 'stop' | 'target', side: 'buy' | 'sell', quantity: number, level: number, reduceOnly: boolean): VenueOrder<T> {
    const order = this.newOrder(owner, symbol, kind, side, quantity, reduceOnly, level);
    const last = this.prices.get(symbol);
    if (last === undefined || !this.reduces(order)) return this.refuse(order);
    const context = this.contexts.get(symbol);
    const catchUp = reduceOnly && context !== undefined && context.entryAt !== undefined && context.playedAt === this.now ? context : undefined;
    const up = this.triggersUp(order);
    if (catchUp === undefined && (up ? last.price >= level : last.price <= level)) return this.refuse(order);
    if (!this.hasFunds(order, level, quantity)) return this.refuse(order);
    this.reserve(order, level);
    let list = this.resting.get(symbol);
    if (list === undefined) this.resting.set(symbol, (list = []));
    list.push(order);
    if (catchUp !== undefined) {
      const from = catchUp.entryAt!;
      const reach = firstReach(pathPoints(catchUp.bar), level, up ? 'up' : 'down', from);
      if (reach !== undefined) this.triggered(order, reach.price, catchUp.bar.volume, catchUp.bar.timestamp, this.stampIn(catchUp, reach.at));
    }
    return order;
  }

  cancel(order: VenueOrder<T>): void {
    if (order.status === 'open') this.finish(order, 'cancelled');
  }

  // ---------------------------------------------------------------- matching

  private match(bar: Candle, context: BarContext, resting: Array<VenueOrder<T>>): void {
    const points = pathPoints(bar);
    const candidates = resting.slice();
    type Planned = { order: VenueOrder<T>; at: number; price: number };
    const plan = (kind: OrderKind | undefined): Planned[] => {
      const out: Planned[] = [];
      for (const order of candidates) {
        if (order.status !== 'open' || order.wait !== undefined || (kind !== undefined && order.kind !== kind)) continue;
        const reach = firstReach(points, order.level!, this.triggersUp(order) ? 'up' : 'down');
        if (reach) out.push({ order, at: reach.at, price: reach.price });
      }
      return out.sort((a, b) => a.at - b.at || a.order.seq - b.order.seq);
    };
    const reached = ({ order, at, price }: Planned): void => {
      if (order.status === 'open' && order.wait === undefined) this.triggered(order, price, bar.volume, bar.timestamp, this.stampIn(context, at));
    };
    if (this.settings.intrabar === 'path') {
      for (const planned of plan(undefined)) reached(planned);
      return;
    }
    for (const planned of plan('stop')) reached(planned);
    for (const planned of plan('target')) reached(planned);
  }

  /** A stop or take-profit reached: a market order up to the bar's cap; the rest waits like one. */
  private triggered(order: VenueOrder<T>, level: number, volume: number, bar: number, time: { stamp: number; at: number }): void {
    this.release(order);
    this.unrest(order);
    const q = this.capped(order, order.remaining, volume, bar);
    const half = this.settings.spreadBps / 20_000;
    const price = this.slipped(order.side, order.side === 'buy' ? level * (1 + half) : level * (1 - half), q, volume);
    this.withFillTime(time, () => this.fillChecked(order, q, price));
    if (order.status === 'open' && order.remaining > 0) this.waitForPrice(order, price, time.stamp + 1);
  }

  private fillPending(symbol: string, ask: number, bid: number, volume: number, time: number, point: 'open' | 'close', fillTime: { stamp: number; at: number }, bar: number): void {
    const pending = this.pending;
    for (let i = 0; i < pending.length; ) {
      const order = pending[i]!;
      const wait = order.wait!;
      if (order.symbol !== symbol || time < wait.notBefore || wait.fillAt !== point) {
        i++;
        continue;
      }
      pending.splice(i, 1);
      if (order.status !== 'open') continue;
      order.wait = undefined;
      this.release(order);
      const q = this.capped(order, order.remaining, volume, bar);
      const price = this.slipped(order.side, order.side === 'buy' ? ask : bid, q, volume);
      this.withFillTime(fillTime, () => this.fillChecked(order, q, price));
      // The rest waits for the next bar, whatever the latency was.
      if (order.status === 'open' && order.remaining > 0) this.waitForPrice(order, price, time + 1);
    }
  }

  private waitForPrice(order: VenueOrder<T>, price: number, notBefore: number): void {
    order.wait = { notBefore, fillAt: this.settings.marketFillOnCandle === 'next_open' ? 'open' : 'close' };
    this.reserve(order, price);
    if (!this.pending.includes(order)) this.pending.push(order);
  }

  private withFillTime(time: { stamp: number; at: number }, fills: () => void): void {
    const before = this.fillTime;
    this.fillTime = time;
    try {
      fills();
    } finally {
      this.fillTime = before;
    }
  }

  private stampIn(context: BarContext, position: number): { stamp: number; at: number } {
    return { stamp: context.bar.timestamp + Math.floor(Math.min(0.999, position / 3) * context.timeframeMs), at: position };
  }

  /** How much may fill now under the participation cap, in the order's own lot size. */
  private capped(order: VenueOrder<T>, quantity: number, volume: number, bar: number): number {
    const share = this.settings.participation;
    if (!(share > 0) || !(volume > 0)) return quantity;
    if (order.lastBar !== bar) {
      order.lastBar = bar;
      order.barFilled = 0;
    }
    let q = Math.min(quantity, Math.max(0, share * volume - order.barFilled));
    if (q < quantity) {
      const scale = 10 ** decimalsOf(order.quantity);
      q = Math.floor(q * scale + 1e-9) / scale;
    }
    order.barFilled += q;
    return q;
  }

  private slipped(side: 'buy' | 'sell', price: number, quantity: number, volume: number | undefined): number {
    const s = this.settings.slippage;
    let bps = 0;
    if (s.model === 'bps') bps = s.bps;
    else if (s.model === 'volume') bps = Math.min(s.maxBps, s.baseBps + (volume && volume > 0 ? s.impactBps * (quantity / volume) : 0));
    return side === 'buy' ? price * (1 + bps / 10_000) : price * (1 - bps / 10_000);
  }

  // ---------------------------------------------------------------- funds and fills

  private futures(symbol: string): boolean {
    return symbol.includes(':');
  }

  /** A reduce-only order needs a position of the other side to reduce. */
  private reduces(order: VenueOrder<T>): boolean {
    if (!order.reduceOnly) return true;
    const position = this.position(order.symbol);
    return order.side === 'sell' ? position > EPS : position < -EPS;
  }

  /** What an order needs held: quote for buys and futures margin (and fees), coins for spot sells. */
  private requirement(order: VenueOrder<T>, price: number, quantity: number): { coins: boolean; amount: number } {
    if (this.futures(order.symbol)) {
      const position = this.position(order.symbol);
      const closing = order.side === 'buy' ? Math.max(0, -position) : Math.max(0, position);
      const opening = order.reduceOnly ? 0 : Math.max(0, quantity - closing);
      return { coins: false, amount: (opening * price) / this.leverageOf(order.symbol) + quantity * price * this.settings.fees.taker };
    }
    if (order.side === 'buy') return { coins: false, amount: quantity * price * (1 + this.settings.fees.taker) };
    return { coins: true, amount: quantity };
  }

  /** Whether the free funds cover the order (a reduce-only spot sell needs none). */
  private hasFunds(order: VenueOrder<T>, price: number, quantity: number): boolean {
    if (!this.futures(order.symbol) && order.side === 'sell' && order.reduceOnly) return true;
    const need = this.requirement(order, price, quantity);
    const held = need.coins ? this.coinsOf(order.symbol) : this.cash;
    return need.amount <= held.total - held.used + EPS;
  }

  private reserve(order: VenueOrder<T>, price: number): void {
    const need = this.requirement(order, price, order.remaining);
    order.reserved = need.amount;
    order.reservedCoins = need.coins;
    (need.coins ? this.coinsOf(order.symbol) : this.cash).used += need.amount;
  }

  private leverageOf(symbol: string): number {
    return this.settings.leverageBySymbol?.[symbol] ?? this.settings.leverage;
  }

  private coinsOf(symbol: string): { total: number; used: number } {
    let coins = this.coins.get(symbol);
    if (coins === undefined) this.coins.set(symbol, (coins = { total: 0, used: 0 }));
    return coins;
  }

  private release(order: VenueOrder<T>): void {
    if (order.reserved <= 0) return;
    const held = order.reservedCoins ? this.coinsOf(order.symbol) : this.cash;
    held.used = Math.max(0, held.used - order.reserved);
    order.reserved = 0;
  }

  /** Fills after checking reduce-only and funds against the account as it is now. */
  private fillChecked(order: VenueOrder<T>, quantity: number, price: number): void {
    let q = quantity;
    if (order.reduceOnly) {
      if (!this.reduces(order)) return this.finish(order, 'expired');
      q = Math.min(q, Math.abs(this.position(order.symbol)));
    }
    if (!this.hasFunds(order, price, q)) return this.finish(order, 'expired');
    const before = this.position(order.symbol);
    this.fill(order, q, price);
    // Reduce-only orders go once their position is closed.
    if (Math.abs(before) > EPS && Math.abs(this.position(order.symbol)) <= EPS) {
      // Those waiting for a price as market orders stay until they come to fill.
      for (const o of this.resting.get(order.symbol)?.slice() ?? []) if (o.reduceOnly && o.status === 'open' && o.wait === undefined) this.finish(o, 'expired');
    }
  }

  private fill(order: VenueOrder<T>, quantity: number, price: number): void {
    if (quantity <= EPS) return;
    const symbol = order.symbol;
    const position = this.position(symbol);
    const closing = order.side === 'buy' ? Math.max(0, -position) : Math.max(0, position);
    const opening = quantity - closing > EPS;
    const fee = quantity * price * this.settings.fees.taker;
    this.feesPaid += fee;
    if (this.futures(symbol)) {
      this.futuresFill(symbol, order.side === 'buy' ? quantity : -quantity, price, fee);
    } else if (order.side === 'buy') {
      this.cash.total -= quantity * price + fee;
      this.coinsOf(symbol).total += quantity;
      this.positions.set(symbol, position + quantity);
    } else {
      this.coinsOf(symbol).total -= quantity;
      this.cash.total += quantity * price - fee;
      const after = position - Math.min(quantity, position);
      this.positions.set(symbol, after <= EPS ? 0 : after);
    }
    order.filled += quantity;
    order.remaining = Math.max(0, order.quantity - order.filled);
    if (order.remaining <= EPS * order.quantity) order.remaining = 0;
    const context = this.contexts.get(symbol);
    if (opening && context !== undefined && context.playedAt === this.now) context.entryAt = this.fillTime?.at ?? 3;
    const done = order.remaining === 0;
    if (done) {
      order.status = 'filled';
      this.release(order);
      this.unrest(order);
    }
    this.report(order, { quantity, price, fee, time: this.fillTime?.stamp ?? this.now });
  }

  /** Isolated margin, as the paper exchange keeps it: fees and realised P&L in the wallet, margin held per position. */
  private futuresFill(symbol: string, signed: number, price: number, fee: number): void {
    const wallet = this.cash;
    const leverage = this.leverageOf(symbol);
    let pos = this.futuresPositions.get(symbol);
    if (pos === undefined) this.futuresPositions.set(symbol, (pos = { quantity: 0, entryPrice: 0, margin: 0 }));
    wallet.total -= fee;
    applyLinearFill(pos, wallet, signed, price, leverage);
  }

  private finish(order: VenueOrder<T>, status: 'cancelled' | 'expired' | 'rejected'): void {
    this.release(order);
    order.status = status;
    this.unrest(order);
    const i = this.pending.indexOf(order);
    if (i >= 0) this.pending.splice(i, 1);
    order.wait = undefined;
    this.report(order, undefined);
  }

  private refuse(order: VenueOrder<T>): VenueOrder<T> {
    order.status = 'rejected';
    this.report(order, undefined);
    return order;
  }

  private unrest(order: VenueOrder<T>): void {
    if (order.kind === 'market') return;
    const list = this.resting.get(order.symbol);
    const i = list?.indexOf(order) ?? -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.resting.delete(order.symbol);
  }

  private triggersUp(order: VenueOrder<T>): boolean {
    return order.kind === 'stop' ? order.side === 'buy' : order.side === 'sell';
  }

  private newOrder(owner: T, symbol: string, kind: OrderKind, side: 'buy' | 'sell', quantity: number, reduceOnly: boolean, level: number | undefined): VenueOrder<T> {
    return { owner, symbol, kind, side, quantity, filled: 0, remaining: quantity, reduceOnly, level, status: 'open', seq: ++this.seq, barFilled: 0, reserved: 0, reservedCoins: false };
  }
}

/** Decimals of a quantity as written (0.125 → 3), at most 12: the lot of its partial fills. */
function decimalsOf(x: number): number {
  for (let d = 0; d <= 12; d++) if (Math.abs(Math.round(x * 10 ** d) - x * 10 ** d) < 1e-9 * Math.max(1, x * 10 ** d)) return d;
  return 12;
}
