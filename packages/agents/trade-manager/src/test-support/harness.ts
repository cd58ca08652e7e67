import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type Envelope, type StateStore, type TradebusSystem } from '@tradebus/core';
import { agent, type TradeManagerAgent, type TradeManagerConfigInput } from '../index.js';

export const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
export const BAR = 5 * 60_000;

type Signal = BuiltinEvents['signal.generated'];
type Request = BuiltinEvents['order.requested'];

/** Limits wide open, so a test sees only the rule it switches on. */
export const permissive: TradeManagerConfigInput = {
  equity: { initial: 10_000, source: 'auto' },
  aggregation: { minConfidence: 0 },
  sizing: {
    riskPerTradePct: 1,
    defaultStopPct: 2,
    rewardRisk: 0,
    maxPositionPct: 1_000,
    confidence: { enabled: false },
    kelly: { enabled: false },
  },
  limits: {
    maxOpenPositions: 100,
    maxExposurePerSymbolPct: 1_000,
    maxTotalExposurePct: 10_000,
    maxPortfolioHeatPct: 100,
    maxTradesPerDay: 1_000,
  },
  breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 },
  // The manager's own exit rules are what most tests watch; venue orders are switched on where tested.
  exits: { protectiveOrdersAtVenue: false },
  counterfactual: { enabled: false },
  positionSnapshotIntervalMs: 0,
};

export function merge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (typeof base !== 'object' || base === null || typeof over !== 'object' || over === null || Array.isArray(over)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out as T;
}

/**
 * The venue side of the bus for manager tests: answers order intents the way an executor would,
 * so the manager's own logic is what a test observes. Market orders fill at `price` with a fee of
 * `feeRate`; trigger and limit orders rest until the test fills or cancels them.
 */
export class TestVenue {
  price = 100;
  feeRate = 0.001;
  /** Charge buys' fees in the coin bought, as spot venues do. */
  feeInBase = false;
  autoFill = true;
  /** The market time fills are stamped with; the clock when unset (a live venue). */
  marketTime: (() => number) | undefined;
  readonly orders = new Map<string, { request: Request; status: BuiltinEvents['order.updated']['status']; filled: number }>();
  private fillSeq = 0;

  constructor(private readonly h: { system: TradebusSystem; clock: VirtualClock }) {
    h.system.bus.subscribe('order.requested', (e) => this.onRequest(e.payload));
    h.system.bus.subscribe('order.cancel_requested', (e) => this.onCancel(e.payload.clientOrderId));
  }

  private onRequest(request: Request): void {
    const known = this.orders.get(request.clientOrderId);
    if (known !== undefined) {
      this.publish(request.clientOrderId, known.status, []);
      return;
    }
    this.orders.set(request.clientOrderId, { request, status: 'accepted', filled: 0 });
    if (request.type === 'market' && this.autoFill) this.fill(request.clientOrderId, this.price);
    else this.publish(request.clientOrderId, 'accepted', []);
  }

  private onCancel(clientOrderId: string): void {
    const o = this.orders.get(clientOrderId);
    if (o === undefined || ['filled', 'cancelled', 'rejected', 'expired'].includes(o.status)) return;
    o.status = 'cancelled';
    this.publish(clientOrderId, 'cancelled', []);
  }

  fill(clientOrderId: string, price: number, quantity?: number): void {
    const o = this.orders.get(clientOrderId);
    if (o === undefined) throw new Error(`no order ${clientOrderId}`);
    const q = quantity ?? o.request.quantity - o.filled;
    o.filled += q;
    o.status = o.filled >= o.request.quantity - 1e-12 ? 'filled' : 'partially_filled';
    const inBase = this.feeInBase && o.request.side === 'buy';
    const fee = inBase ? q * this.feeRate : q * price * this.feeRate;
    const feeCurrency = inBase ? o.request.symbol.split('/')[0]! : 'USDT';
    const fill = { tradeId: `f${++this.fillSeq}`, price, quantity: q, fee, feeCurrency, liquidity: 'taker' as const, timestamp: this.marketTime?.() ?? this.h.clock.now() };
    this.publish(clientOrderId, o.status, [fill], price);
  }

  reject(clientOrderId: string, reason: string): void {
    const o = this.orders.get(clientOrderId)!;
    o.status = 'rejected';
    this.publish(clientOrderId, 'rejected', [], undefined, reason);
  }

  private publish(clientOrderId: string, status: BuiltinEvents['order.updated']['status'], fills: BuiltinEvents['order.updated']['fills'], avg?: number, reason?: string): void {
    const o = this.orders.get(clientOrderId)!;
    const r = o.request;
    this.h.system.bus.publish('order.updated', {
      clientOrderId,
      symbol: r.symbol,
      side: r.side,
      type: r.type,
      status,
      quantity: r.quantity,
      filledQuantity: o.filled,
      averagePrice: avg,
      stopPrice: r.stopPrice,
      price: r.price,
      reduceOnly: r.reduceOnly,
      purpose: r.purpose,
      tradeId: r.tradeId,
      fills,
      fee: fills.reduce((s, f) => s + f.fee, 0),
      reason,
      timestamp: this.h.clock.now(),
    });
  }
}

export interface Harness {
  system: TradebusSystem;
  clock: VirtualClock;
  tm: TradeManagerAgent;
  venue: TestVenue;
  store: StateStore;
  events: Envelope[];
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  idle(): Promise<void>;
  signal(over?: Partial<Signal>): Promise<Signal>;
  /** Publishes several signals back to back (one batch for aggregation), then waits. */
  signals(list: Array<Partial<Signal>>): Promise<Signal[]>;
  candle(bar: { open?: number; high: number; low: number; close: number; symbol?: string; timeframe?: string }): Promise<void>;
  account(equity: number): Promise<void>;
  command(action: BuiltinEvents['risk.command']['action']): Promise<void>;
  decision(signalId: string): BuiltinEvents['signal.decided'] | undefined;
  requests(purpose?: string): Request[];
  stop(): Promise<void>;
}

let signalSeq = 0;

export async function startHarness(config: TradeManagerConfigInput = {}, options: { store?: StateStore; clock?: VirtualClock; autoFill?: boolean } = {}): Promise<Harness> {
  const clock = options.clock ?? new VirtualClock(T0);
  const store = options.store ?? new MemoryStateStore();
  const system = createSystem({
    clock,
    validateOnPublish: true,
    heartbeatIntervalMs: 24 * 3_600_000,
    stateStore: () => store,
    agents: [{ id: 'tm', definition: agent, config: merge(permissive, config) }],
  });
  const events: Envelope[] = [];
  system.bus.subscribe('>', (e) => {
    if (e.type !== 'agent.heartbeat' && e.type !== 'agent.status') events.push(e);
  });
  const venue = new TestVenue({ system, clock });
  venue.autoFill = options.autoFill ?? true;
  await system.start();
  const tm = system.agent<TradeManagerAgent>('tm');
  const idle = () => tm.whenIdle();
  await idle();
  let barTime = Math.floor(clock.now() / BAR) * BAR;
  const makeSignal = (over: Partial<Signal>): Signal => ({
    id: `sig-${++signalSeq}`,
    strategyId: 'alpha',
    symbol: 'BTC/USDT',
    side: 'long',
    confidence: 1,
    price: venue.price,
    reason: 'test',
    timestamp: clock.now(),
    ...over,
  });
  const h: Harness = {
    system,
    clock,
    tm,
    venue,
    store,
    events,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.payload as never),
    idle,
    async signals(list) {
      const out = list.map((over) => makeSignal(over));
      for (const s of out) system.bus.publish('signal.generated', s);
      await idle();
      return out;
    },
    async signal(over = {}) {
      const s = makeSignal(over);
      system.bus.publish('signal.generated', s);
      await idle();
      return s;
    },
    async candle(bar) {
      barTime = Math.max(barTime, Math.floor(clock.now() / BAR) * BAR);
      clock.advanceTo(barTime + BAR);
      system.bus.publish('candle.closed', {
        symbol: bar.symbol ?? 'BTC/USDT',
        timeframe: bar.timeframe ?? '5m',
        timestamp: barTime,
        open: bar.open ?? bar.close,
        high: bar.high,
        low: bar.low,
        close: bar.close,
        volume: 1,
      });
      barTime += BAR;
      venue.price = bar.close;
      await idle();
    },
    async account(equity) {
      system.bus.publish('account.updated', { venue: 'test', quoteCurrency: 'USDT', equity, balances: [], timestamp: clock.now() });
      await idle();
    },
    async command(action) {
      system.bus.publish('risk.command', { action, reason: 'test', by: 'operator', timestamp: clock.now() });
      await idle();
    },
    decision: (signalId) => {
      const list = events
        .filter((e) => e.type === 'signal.decided')
        .map((e) => e.payload as BuiltinEvents['signal.decided'])
        .filter((d) => d.signalId === signalId && d.decision !== 'outcome');
      return list[list.length - 1];
    },
    requests: (purpose) =>
      events
        .filter((e) => e.type === 'order.requested')
        .map((e) => e.payload as Request)
        .filter((r) => purpose === undefined || r.purpose === purpose),
    stop: async () => {
      await system.stop();
    },
  };
  return h;
}
