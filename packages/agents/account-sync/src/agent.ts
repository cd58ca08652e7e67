import { BaseAgent, TradebusError, toError, type AgentContext, type BuiltinEvents, type Fill, type TimerHandle, refuseColdChanges } from '@tradebus/core';
import { orderUpdateFields, type AccountProvider, type AccountSnapshot, type Balance, type ExecutionProvider, type Order, type Position, type Provider } from '@tradebus/providers';
import type { AccountSyncConfig } from './config.js';
import { hotSettings } from './hot-settings.js';

type OrderUpdate = BuiltinEvents['order.updated'];
type OrderStatus = OrderUpdate['status'];

const FINAL = new Set<OrderStatus>(['filled', 'cancelled', 'rejected', 'expired']);
/** Where an earlier version kept the whole view under one key, rewritten on every change. */
const LEGACY_VIEW_KEY = 'view';
const POSITION_PREFIX = 'position:';
const ORDER_PREFIX = 'order:';
const ADOPTED_KEY = 'adopted';
const RECENT_FINISHED = 2_000;

/** An order as the bus has described it, from order.requested and order.updated. */
export interface SeenOrder {
  clientOrderId: string;
  symbol: string;
  side: OrderUpdate['side'];
  type: OrderUpdate['type'];
  quantity: number;
  status: OrderStatus;
  purpose?: OrderUpdate['purpose'] | undefined;
  tradeId?: string | undefined;
  reduceOnly?: boolean | undefined;
  price?: number | undefined;
  stopPrice?: number | undefined;
  filledQuantity: number;
  fee: number;
  fillIds: string[];
  /** When the bus last said anything about it (agent clock). */
  seenAt: number;
}

/** The trade manager's position in a symbol, as its last position.updated said. */
export interface SeenPosition {
  side: 'long' | 'short' | 'flat';
  quantity: number;
  entryPrice: number;
  markPrice?: number | undefined;
  seenAt: number;
}

interface View {
  positions: Record<string, SeenPosition>;
  orders: Record<string, SeenOrder>;
  /** Venue orders already reported for adoption: flagged once. */
  adopted: string[];
}

export interface Discrepancy {
  kind: 'unknown_position' | 'missing_position' | 'unknown_order' | 'missing_order';
  symbol: string;
  detail: string;
}

/**
 * Keeps the bus informed of what the venue holds (balances, equity, positions, open orders) and
 * makes sure the trade manager's books agree with it. It watches the manager's view on the bus
 * (position.updated, order.requested, order.updated), compares it with the venue at every sync,
 * and settles each discrepancy that survives `confirmations` checks:
 *
 * - a venue position the manager lacks (or holds less of): `position.reconcile` adopt;
 * - a manager position the venue lacks: `position.reconcile` resolve;
 * - a venue order nobody on the bus placed: `order.updated` with purpose adopt;
 * - an order the bus thinks open that the venue has finished: `order.updated` with its final state.
 *
 * Each one also raises a `system.alert`.
 */
export class AccountSyncAgent extends BaseAgent<AccountSyncConfig> {
  /** The periodic fetch, while running: replaced when intervalMs changes live. */
  private syncTimer: TimerHandle | undefined;
  private provider!: Provider;
  private account!: AccountProvider;
  private execution: ExecutionProvider | undefined;
  private venue = '';
  private view: View = { positions: {}, orders: {}, adopted: [] };
  private readonly prices = new Map<string, number>();
  private readonly strikes = new Map<string, number>();
  /** Symbols acted on, and when: no second action until the manager has published since. */
  private readonly actedAt = new Map<string, number>();
  private startedAt = 0;
  private syncing: Promise<void> | undefined;
  private again = false;
  /** Keys of the view changed since the last save (`position:<symbol>`, `order:<id>`, `adopted`). */
  private readonly dirty = new Set<string>();
  private writes: Promise<void> = Promise.resolve();
  private unsubscribeProvider: (() => void) | undefined;
  private lastDiscrepancies: Discrepancy[] = [];

  constructor(context: AgentContext<AccountSyncConfig>) {
    super(context);
  }

  protected override async initialize(): Promise<void> {
    this.provider = this.services.get<Provider>(`provider:${this.config.provider}`);
    if (this.provider.account === undefined) {
      throw new AccountSyncConfigError(`Provider '${this.config.provider}' has no account access: give account-sync a provider with account (paper, or an exchange with API keys).`);
    }
    this.account = this.provider.account;
    this.execution = this.provider.execution;
    this.venue = this.config.venue ?? this.provider.venue;
    this.view = { positions: {}, orders: {}, adopted: [] };
    this.dirty.clear();
    const keys = await this.store.keys();
    for (const key of keys) {
      if (key.startsWith(POSITION_PREFIX)) {
        const p = await this.store.get<SeenPosition>(key);
        if (p !== undefined) this.view.positions[key.slice(POSITION_PREFIX.length)] = p;
      } else if (key.startsWith(ORDER_PREFIX)) {
        const o = await this.store.get<SeenOrder>(key);
        if (o !== undefined) this.view.orders[o.clientOrderId] = o;
      }
    }
    this.view.adopted = (await this.store.get<string[]>(ADOPTED_KEY)) ?? [];
    if (keys.includes(LEGACY_VIEW_KEY)) {
      // Written whole by an earlier version: each part gets its own key with the next save.
      const legacy = await this.store.get<View>(LEGACY_VIEW_KEY);
      if (legacy !== undefined) {
        this.view = legacy;
        for (const symbol of Object.keys(legacy.positions)) this.dirty.add(POSITION_PREFIX + symbol);
        for (const cid of Object.keys(legacy.orders)) this.dirty.add(ORDER_PREFIX + cid);
        this.dirty.add(ADOPTED_KEY);
      }
      this.dirty.add(LEGACY_VIEW_KEY);
    }
    this.strikes.clear();
    this.actedAt.clear();
  }

  protected run(): void {
    this.startedAt = this.clock.now();
    this.subscribe('position.updated', (e) => {
      const p = e.payload;
      const known = this.view.positions[p.symbol];
      this.view.positions[p.symbol] = { side: p.side, quantity: p.quantity, entryPrice: p.entryPrice, markPrice: p.markPrice, seenAt: this.clock.now() };
      // A new mark price on every bar is not worth a write of its own: the trade manager
      // republishes its positions after a restart. What reconciliation compares is.
      if (known === undefined || known.side !== p.side || known.quantity !== p.quantity || known.entryPrice !== p.entryPrice) this.dirty.add(POSITION_PREFIX + p.symbol);
    });
    this.subscribe('order.requested', (e) => {
      const r = e.payload;
      if (this.view.orders[r.clientOrderId] !== undefined) return;
      this.view.orders[r.clientOrderId] = {
        clientOrderId: r.clientOrderId,
        symbol: r.symbol,
        side: r.side,
        type: r.type,
        quantity: r.quantity,
        status: 'requested',
        purpose: r.purpose,
        tradeId: r.tradeId,
        reduceOnly: r.reduceOnly,
        price: r.price,
        stopPrice: r.stopPrice,
        filledQuantity: 0,
        fee: 0,
        fillIds: [],
        seenAt: this.clock.now(),
      };
      this.dirty.add(ORDER_PREFIX + r.clientOrderId);
    });
    this.subscribe('order.updated', (e) => {
      this.onOrderUpdated(e.payload);
      if (this.config.syncOnFills && e.payload.fills.length > 0) this.requestSync();
    });
    this.subscribe('candle.closed', (e) => void this.prices.set(e.payload.symbol, e.payload.close));
    this.subscribe('price.tick', (e) => void this.prices.set(e.payload.symbol, e.payload.price));
    if (this.config.usePushedSnapshots && this.provider.events !== undefined) {
      this.unsubscribeProvider = this.provider.events.subscribe({ account: (s) => this.publishSnapshot(s) });
    }
    this.syncTimer = this.every(this.config.intervalMs, () => this.requestSync(), { skipMissed: true });
    this.requestSync();
  }

  /**
   * Applies live settings (hotSettings): reconciliation rules and syncOnFills are read at each
   * use; a new interval replaces the fetch timer, counted from now.
   */
  protected override onReconfigure(next: AccountSyncConfig, previous: AccountSyncConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    if (next.intervalMs !== previous.intervalMs && this.syncTimer !== undefined) {
      this.syncTimer.cancel();
      this.syncTimer = this.every(next.intervalMs, () => this.requestSync(), { skipMissed: true });
    }
    this.logger.info({ intervalMs: next.intervalMs, syncOnFills: next.syncOnFills, reconcile: next.reconcile }, 'live settings changed');
  }

  protected override async cleanup(): Promise<void> {
    this.syncTimer = undefined;
    this.unsubscribeProvider?.();
    this.unsubscribeProvider = undefined;
    await this.syncing;
    await this.writes;
  }

  /** True when no sync is running or queued: `whenIdle()` would resolve at once. The view is saved in the background. */
  isIdle(): boolean {
    return this.syncing === undefined;
  }

  /** Resolves when no sync is running or queued (tests, replays). */
  async whenIdle(): Promise<void> {
    while (this.syncing !== undefined) await this.syncing;
  }

  /** What the last reconciliation found (acted on or still being confirmed). */
  get discrepancies(): Discrepancy[] {
    return [...this.lastDiscrepancies];
  }

  /** Runs a sync now, or right after the one in progress. */
  requestSync(): void {
    if (this.syncing !== undefined) {
      this.again = true;
      return;
    }
    this.syncing = (async () => {
      try {
        do {
          this.again = false;
          await this.sync();
        } while (this.again);
      } finally {
        this.syncing = undefined;
      }
    })();
  }

  private onOrderUpdated(u: OrderUpdate): void {
    const known = this.view.orders[u.clientOrderId];
    const fillIds = known?.fillIds ?? [];
    for (const f of u.fills) if (!fillIds.includes(f.tradeId)) fillIds.push(f.tradeId);
    this.view.orders[u.clientOrderId] = {
      clientOrderId: u.clientOrderId,
      symbol: u.symbol,
      side: u.side,
      type: u.type,
      quantity: u.quantity,
      status: u.status,
      purpose: u.purpose ?? known?.purpose,
      tradeId: u.tradeId ?? known?.tradeId,
      reduceOnly: u.reduceOnly ?? known?.reduceOnly,
      price: u.price ?? known?.price,
      stopPrice: u.stopPrice ?? known?.stopPrice,
      filledQuantity: Math.max(u.filledQuantity, known?.filledQuantity ?? 0),
      fee: u.fee,
      fillIds,
      seenAt: this.clock.now(),
    };
    this.dirty.add(ORDER_PREFIX + u.clientOrderId);
  }

  private async sync(): Promise<void> {
    let balances: Balance[];
    let positions: Position[];
    let openOrders: Order[] | undefined;
    try {
      balances = await this.account.fetchBalances();
      positions = await this.account.fetchPositions(this.config.symbols);
      openOrders = this.execution !== undefined ? await this.execution.fetchOpenOrders() : undefined;
    } catch (err) {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'account sync failed; will try again');
      this.degrade(`account sync failed: ${toError(err).message}`);
      return;
    }
    this.recover();
    this.publishAccount(balances, positions);
    if (this.config.reconcile.enabled && this.clock.now() - this.startedAt >= this.config.reconcile.startupGraceMs) {
      await this.reconcile(positions, openOrders);
    }
    this.pruneView();
    this.saveView();
  }

  private publishAccount(balances: Balance[], positions: Position[]): void {
    const quote = this.config.quoteCurrency;
    let equity = 0;
    let unrealized = 0;
    const unpriced: string[] = [];
    for (const b of balances) {
      if (b.asset === quote) {
        equity += b.total;
        continue;
      }
      const symbol = `${b.asset}/${quote}`;
      const price = positions.find((p) => p.symbol === symbol)?.markPrice ?? this.prices.get(symbol);
      if (price === undefined) {
        if (b.total !== 0) unpriced.push(b.asset);
        continue;
      }
      equity += b.total * price;
    }
    for (const p of positions) {
      unrealized += p.unrealizedPnl;
      // Derivatives settle P&L into the margin balance only when closed: count it while open.
      if (p.symbol.includes(':')) equity += p.unrealizedPnl;
    }
    if (unpriced.length > 0) this.logger.debug({ assets: unpriced }, 'assets without a price are left out of equity');
    const margin = marginOf(positions, quote);
    this.publish('account.updated', {
      venue: this.venue,
      quoteCurrency: quote,
      equity,
      balances: balances.map((b) => ({ asset: b.asset, free: b.free, used: b.used, total: b.total })),
      unrealizedPnl: unrealized,
      ...(margin !== undefined ? { margin } : {}),
      timestamp: this.clock.now(),
    });
  }

  private publishSnapshot(s: AccountSnapshot): void {
    if (s.quoteCurrency !== this.config.quoteCurrency) return;
    this.publish('account.updated', {
      venue: this.venue,
      quoteCurrency: s.quoteCurrency,
      equity: s.equity,
      balances: s.balances.map((b) => ({ asset: b.asset, free: b.free, used: b.used, total: b.total })),
      unrealizedPnl: s.unrealizedPnl,
      ...(s.margin !== undefined ? { margin: s.margin } : {}),
      timestamp: this.clock.now(),
    });
  }

  // ---------------------------------------------------------------- reconciliation

  private async reconcile(positions: Position[], openOrders: Order[] | undefined): Promise<void> {
    const found: Discrepancy[] = [];
    const now = this.clock.now();
    const rc = this.config.reconcile;
    const wanted = (symbol: string) => this.config.symbols === undefined || this.config.symbols.includes(symbol);

    // Positions: net signed quantity per symbol, venue against manager.
    const venueNet = new Map<string, { qty: number; position: Position }>();
    for (const p of positions) if (wanted(p.symbol)) venueNet.set(p.symbol, { qty: p.side === 'long' ? p.quantity : -p.quantity, position: p });
    const symbols = new Set([...venueNet.keys(), ...Object.keys(this.view.positions).filter(wanted)]);
    for (const symbol of symbols) {
      const venue = venueNet.get(symbol);
      const mine = this.view.positions[symbol];
      const venueQty = venue?.qty ?? 0;
      const managerQty = mine === undefined || mine.side === 'flat' ? 0 : mine.side === 'long' ? mine.quantity : -mine.quantity;
      const price =
        venue?.position.markPrice ?? this.prices.get(symbol) ?? venue?.position.entryPrice ?? mine?.markPrice ?? (mine?.entryPrice || undefined);
      const diff = venueQty - managerQty;
      const tolerance = (Math.max(Math.abs(venueQty), Math.abs(managerQty)) * rc.quantityTolerancePct) / 100;
      const dust = price !== undefined && Math.abs(diff) * price < rc.minNotional;
      const key = `position:${symbol}`;
      if (Math.abs(diff) <= tolerance + 1e-12 || dust) {
        this.strikes.delete(key);
        continue;
      }
      // Orders of the symbol that changed a moment ago explain a gap (the manager books fills
      // after the venue made them); so does an action of ours the manager has not answered yet.
      const busy = Object.values(this.view.orders).some((o) => o.symbol === symbol && now - o.seenAt < rc.orderGraceMs);
      if (busy) {
        this.strikes.delete(key);
        continue;
      }
      const acted = this.actedAt.get(symbol);
      if (acted !== undefined && (mine === undefined || mine.seenAt <= acted) && now - acted < 5 * this.config.intervalMs) continue;
      const d: Discrepancy =
        Math.abs(venueQty) > Math.abs(managerQty) || Math.sign(venueQty) !== Math.sign(managerQty)
          ? { kind: 'unknown_position', symbol, detail: `venue holds ${venueQty}, the trade manager ${managerQty}` }
          : { kind: 'missing_position', symbol, detail: `trade manager holds ${managerQty}, the venue ${venueQty}` };
      found.push(d);
      const strikes = (this.strikes.get(key) ?? 0) + 1;
      this.strikes.set(key, strikes);
      if (strikes < rc.confirmations) continue;
      this.strikes.delete(key);
      this.settlePosition(symbol, venueQty, managerQty, venue?.position, price);
      this.actedAt.set(symbol, now);
    }

    // Orders.
    if (openOrders !== undefined) {
      const open = new Map(openOrders.filter((o) => wanted(o.symbol)).map((o) => [o.clientOrderId, o]));
      for (const o of open.values()) {
        if (this.view.orders[o.clientOrderId] !== undefined || this.view.adopted.includes(o.clientOrderId)) continue;
        if (now - o.createdAt < rc.orderGraceMs) continue;
        found.push({ kind: 'unknown_order', symbol: o.symbol, detail: `open order ${o.clientOrderId} placed by nobody on the bus` });
        const key = `order:${o.clientOrderId}`;
        const strikes = (this.strikes.get(key) ?? 0) + 1;
        this.strikes.set(key, strikes);
        if (strikes < rc.confirmations) continue;
        this.strikes.delete(key);
        this.view.adopted.push(o.clientOrderId);
        this.dirty.add(ADOPTED_KEY);
        this.alert('warning', 'RECONCILE_ORDER_UNKNOWN', `Venue order ${o.clientOrderId} (${o.side} ${o.quantity} ${o.symbol}, ${o.type}) was not placed through the bus; published for adoption.`, {
          clientOrderId: o.clientOrderId,
          symbol: o.symbol,
        });
        if (rc.adoptOrders) this.publishOrder(o, undefined, 'adopt', []);
      }
      for (const seen of Object.values(this.view.orders)) {
        if (FINAL.has(seen.status) || !wanted(seen.symbol) || open.has(seen.clientOrderId)) continue;
        // Requested or submitted orders belong to the executor until the venue acknowledged them.
        if (seen.status === 'requested' || seen.status === 'submitted') continue;
        if (now - seen.seenAt < rc.orderGraceMs) continue;
        const key = `missing:${seen.clientOrderId}`;
        const strikes = (this.strikes.get(key) ?? 0) + 1;
        this.strikes.set(key, strikes);
        found.push({ kind: 'missing_order', symbol: seen.symbol, detail: `order ${seen.clientOrderId} is ${seen.status} on the bus but not open at the venue` });
        if (strikes < rc.confirmations) continue;
        this.strikes.delete(key);
        await this.settleMissingOrder(seen);
      }
    }
    this.lastDiscrepancies = found;
  }

  private settlePosition(symbol: string, venueQty: number, managerQty: number, position: Position | undefined, price: number | undefined): void {
    const rc = this.config.reconcile;
    const now = this.clock.now();
    const at = price ?? position?.entryPrice;
    if (at === undefined || !(at >= 0)) {
      this.alert('error', 'RECONCILE_NO_PRICE', `Cannot settle ${symbol}: no price known (venue ${venueQty}, trade manager ${managerQty}).`, { symbol });
      return;
    }
    const publish = (action: 'adopt' | 'resolve', qty: number, reason: string): void => {
      const side = qty > 0 ? 'long' : 'short';
      const quantity = Math.abs(qty);
      const entry = action === 'adopt' ? (position?.entryPrice ?? at) : at;
      this.alert(
        'warning',
        action === 'adopt' ? 'RECONCILE_POSITION_UNKNOWN' : 'RECONCILE_POSITION_MISSING',
        `${symbol}: ${reason}; ${action === 'adopt' ? 'handing' : 'booking out'} ${side} ${quantity} ${action === 'adopt' ? 'to' : 'from'} the trade manager.`,
        { symbol, venueQuantity: venueQty, managerQuantity: managerQty, action },
      );
      const allowed = action === 'adopt' ? rc.adoptPositions : rc.resolvePositions;
      if (!allowed) return;
      this.publish('position.reconcile', { action, venue: this.venue, symbol, side, quantity, price: entry, reason, timestamp: now });
    };
    if (Math.sign(venueQty) !== Math.sign(managerQty) && managerQty !== 0) {
      publish('resolve', managerQty, `the venue holds ${venueQty}, not the ${managerQty} in the books`);
      if (venueQty !== 0) publish('adopt', venueQty, `the venue holds ${venueQty} the trade manager does not know of`);
      return;
    }
    if (Math.abs(venueQty) > Math.abs(managerQty)) publish('adopt', venueQty - managerQty, `the venue holds ${venueQty}, the trade manager ${managerQty}`);
    else publish('resolve', managerQty - venueQty, `the trade manager holds ${managerQty}, the venue ${venueQty}`);
  }

  private async settleMissingOrder(seen: SeenOrder): Promise<void> {
    if (this.execution === undefined) return;
    let order: Order | undefined;
    try {
      order = await this.execution.fetchOrder(seen.clientOrderId, seen.symbol);
    } catch (err) {
      this.logger.warn({ err: toError(err), clientOrderId: seen.clientOrderId }, 'could not look up a missing order');
      return;
    }
    if (order !== undefined && !FINAL.has(order.status)) return;
    if (order === undefined) {
      this.alert('error', 'RECONCILE_ORDER_MISSING', `Order ${seen.clientOrderId} (${seen.symbol}) was ${seen.status} but the venue no longer knows it; published as cancelled.`, {
        clientOrderId: seen.clientOrderId,
      });
      if (!this.config.reconcile.resolveOrders) return;
      this.publish('order.updated', {
        clientOrderId: seen.clientOrderId,
        symbol: seen.symbol,
        side: seen.side,
        type: seen.type,
        status: 'cancelled',
        quantity: seen.quantity,
        filledQuantity: seen.filledQuantity,
        reduceOnly: seen.reduceOnly,
        price: seen.price,
        stopPrice: seen.stopPrice,
        purpose: seen.purpose,
        tradeId: seen.tradeId,
        fills: [],
        fee: seen.fee,
        reason: 'missing at the venue (reconciled by account-sync)',
        timestamp: this.clock.now(),
      });
      return;
    }
    const unseen = order.fills.filter((f) => !seen.fillIds.includes(f.tradeId));
    this.alert('warning', 'RECONCILE_ORDER_RESOLVED', `Order ${seen.clientOrderId} (${seen.symbol}) was ${seen.status} on the bus but is ${order.status} at the venue; published its final state${unseen.length > 0 ? ` with ${unseen.length} fills not seen before` : ''}.`, {
      clientOrderId: seen.clientOrderId,
    });
    if (this.config.reconcile.resolveOrders) this.publishOrder(order, seen, seen.purpose, unseen);
  }

  private publishOrder(order: Order, seen: SeenOrder | undefined, purpose: OrderUpdate['purpose'], fills: Fill[]): void {
    this.publish('order.updated', {
      ...orderUpdateFields(order),
      purpose,
      tradeId: seen?.tradeId,
      fills,
      reason: order.reason ?? (purpose === 'adopt' ? 'found at the venue by account-sync' : 'reconciled by account-sync'),
      timestamp: this.clock.now(),
    });
  }

  private pruneView(): void {
    const finished = Object.values(this.view.orders).filter((o) => FINAL.has(o.status));
    // Trimmed in chunks: sorting the finished orders on every sync would cost more than keeping a few.
    if (finished.length > RECENT_FINISHED * 1.1) {
      finished.sort((a, b) => a.seenAt - b.seenAt);
      for (const o of finished.slice(0, finished.length - RECENT_FINISHED)) {
        delete this.view.orders[o.clientOrderId];
        this.dirty.add(ORDER_PREFIX + o.clientOrderId);
      }
    }
    if (this.view.adopted.length > RECENT_FINISHED) {
      this.view.adopted.splice(0, this.view.adopted.length - RECENT_FINISHED);
      this.dirty.add(ADOPTED_KEY);
    }
  }

  /**
   * Writes the parts of the view that changed, each under a key of its own, as one change. In
   * the background: what reconciliation compares is confirmed over several syncs before anyone
   * acts on it, so an older view after a crash costs nothing, and no decision waits for it.
   */
  private saveView(): void {
    if (this.dirty.size === 0) return;
    const change: Array<[string, unknown]> = [];
    for (const key of this.dirty) {
      if (key.startsWith(POSITION_PREFIX)) change.push([key, this.view.positions[key.slice(POSITION_PREFIX.length)]]);
      else if (key.startsWith(ORDER_PREFIX)) change.push([key, this.view.orders[key.slice(ORDER_PREFIX.length)]]);
      else if (key === ADOPTED_KEY) change.push([key, this.view.adopted]);
      else change.push([key, undefined]);
    }
    this.dirty.clear();
    const write = this.store.setMany(change, { background: true }).catch((err: unknown) => {
      this.recordError(err);
      this.logger.error({ err: toError(err) }, 'account-sync view not saved');
    });
    this.writes = Promise.all([this.writes, write]).then(() => undefined);
  }

}

export class AccountSyncConfigError extends TradebusError {
  constructor(message: string) {
    super('ACCOUNT_SYNC_CONFIG', message);
  }
}

/**
 * The margin the venue's derivatives positions hold and need, from what each position states,
 * when they settle in the account's quote currency (others are left out: no rate converts them
 * here). Undefined when no position states its margin.
 */
function marginOf(positions: readonly Position[], quote: string): { used: number; maintenance: number } | undefined {
  let used = 0;
  let maintenance = 0;
  let any = false;
  for (const p of positions) {
    if (!p.symbol.includes(':') || p.symbol.split(':')[1] !== quote) continue;
    if (p.margin === undefined && p.maintenanceMargin === undefined) continue;
    any = true;
    used += p.margin ?? 0;
    maintenance += p.maintenanceMargin ?? 0;
  }
  return any ? { used, maintenance } : undefined;
}
