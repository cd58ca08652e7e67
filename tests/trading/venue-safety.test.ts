import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock, createLogger, createSystem, openDataStore, type BuiltinEvents, type DataStore, type Envelope, type TradebusSystem } from '@tradebus/core';
import {
  NetworkError,
  PaperExchange,
  ReplayProvider,
  type Candle,
  type ExecutionProvider,
  type Order,
  type OrderRequest,
  type PaperExchangeOptions,
  type Provider,
  type Tick,
} from '@tradebus/providers';
import { holdUntilIdle, quiescentProviders, waitUntilIdle } from '@tradebus/agent-main';
import { agent as priceWatchdog } from '@tradebus/agent-price-watchdog';
import { agent as strategyRunner } from '@tradebus/agent-strategy-runner';
import { agent as tradeManager, type TradeManagerConfigInput } from '@tradebus/agent-trade-manager';
import { agent as tradeExecutor, type TradeExecutorConfigInput } from '@tradebus/agent-trade-executor';
import { agent as accountSync } from '@tradebus/agent-account-sync';

/**
 * The venue safety rules of the trade manager and the trade executor in whole systems on replayed
 * real candles: replay → price-watchdog → strategy-runner → trade-manager → trade-executor → paper
 * venue, with account-sync reporting the paper account, every agent's state and the venue's books
 * in a data store on disk. Expectations are computed in the tests from the candle files and the
 * rules' definitions.
 */

const EXAMPLE_DATA = fileURLToPath(new URL('../../examples/backtest/data/', import.meta.url));
const TEST_DATA = fileURLToPath(new URL('./data/', import.meta.url));
/** The 5-minute candles of BASE/BTC: the example's ETH, LTC and XMR; the first 1 000 bars of ADA and XLM here. */
const fileOf = (base: string): string => join(['ADA', 'XLM'].includes(base) ? TEST_DATA : EXAMPLE_DATA, `binance-${base}-BTC-5m.csv`);
const BAR = 300_000;
const TF = '5m';

interface Bar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

function readBars(base: string): Bar[] {
  const [, ...rows] = readFileSync(fileOf(base), 'utf8').trim().split('\n');
  return rows.map((row) => {
    const [time, open, high, low, close] = row.split(',').map(Number);
    return { time: time!, open: open!, high: high!, low: low!, close: close! };
  });
}

/** A market whose candles come from the file of `base` against BTC (e.g. `ETH/BTC:BTC` from the ETH/BTC spot file). */
interface Source {
  symbol: string;
  base: string;
}

/** A real paper venue behind a wrapper that throws for the next placements, as an unreachable venue does. */
class FlakyVenue implements ExecutionProvider {
  readonly id = 'flaky';
  private faults = 0;
  /** Every placement that reached the venue, by client order id. */
  readonly placed = new Map<string, number>();
  /** Every placement asked for, in order, with whether it reached the venue. */
  readonly attempts: Array<{ clientOrderId: string; at: number; failed: boolean }> = [];

  constructor(
    readonly paper: PaperExchange,
    private readonly clock: VirtualClock,
  ) {}

  /** The next `n` placements throw a network error; the venue never sees them. */
  failNext(n: number): void {
    this.faults += n;
  }

  async createOrder(request: OrderRequest): Promise<Order> {
    const failed = this.faults > 0;
    this.attempts.push({ clientOrderId: request.clientOrderId, at: this.clock.now(), failed });
    if (failed) {
      this.faults--;
      throw new NetworkError('flaky', 'connect ETIMEDOUT');
    }
    this.placed.set(request.clientOrderId, (this.placed.get(request.clientOrderId) ?? 0) + 1);
    return this.paper.createOrder(request);
  }
  cancelOrder(clientOrderId: string, symbol: string): Promise<Order> {
    return this.paper.cancelOrder(clientOrderId, symbol);
  }
  fetchOrder(clientOrderId: string, symbol: string): Promise<Order | undefined> {
    return this.paper.fetchOrder(clientOrderId, symbol);
  }
  fetchOpenOrders(symbol?: string): Promise<Order[]> {
    return this.paper.fetchOpenOrders(symbol);
  }
  fetchMyTrades(symbol: string, since?: number, limit?: number) {
    return this.paper.fetchMyTrades(symbol, since, limit);
  }
}

/** The paper venue as the executor's provider, its placements going through `venue`. */
function flakyProvider(venue: FlakyVenue): Provider {
  return {
    id: 'flaky',
    kind: 'paper',
    venue: 'paper',
    execution: venue,
    account: venue.paper,
    events: venue.paper,
    onCandle: (c: Candle) => venue.paper.onCandle(c),
    onTick: (t: Tick) => venue.paper.onTick(t),
    close: async () => undefined,
  } as Provider;
}

interface Run {
  system: TradebusSystem;
  paper: PaperExchange;
  flaky: FlakyVenue | undefined;
  events: Envelope[];
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  alerts(code: string): Array<BuiltinEvents['system.alert']>;
  play(): Promise<void>;
}

const dirs: string[] = [];
const open: Array<{ system: TradebusSystem; data: DataStore }> = [];
afterEach(async () => {
  for (const { system, data } of open.splice(0)) {
    await system.stop();
    await data.close();
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/**
 * Starts the whole system on the bars of `sources` after bar index `startBar` (the bars before it
 * are history the strategies warm up on), up to and including bar index `lastBar`.
 * `onStep` runs at each bar's close time once every agent is done with the bar, before the clock
 * moves on; whatever it publishes is also done with before the next bar.
 */
async function startRun(options: {
  sources: Source[];
  startBar: number;
  lastBar: number;
  manager: TradeManagerConfigInput;
  strategies?: unknown[];
  paper?: Partial<PaperExchangeOptions>;
  executor?: Partial<TradeExecutorConfigInput>;
  flaky?: boolean;
  onStep?: (time: number, run: Run) => Promise<void>;
}): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-venue-safety-'));
  dirs.push(dir);
  // fsync 'never': the books are kept on disk as in a deployment; the disk's own durability is not under test.
  const data = await openDataStore({ dir: join(dir, 'data'), fsync: 'never', journal: { enabled: false } });
  const first = readBars(options.sources[0]!.base);
  const clock = new VirtualClock(0);
  const replay = new ReplayProvider({
    clock,
    sources: options.sources.map((s) => ({ type: 'candles' as const, file: fileOf(s.base), symbol: s.symbol, timeframe: TF })),
    startAt: first[options.startBar - 1]!.time + BAR,
    endAt: first[options.lastBar]!.time + BAR,
  });
  await replay.load();
  const paper = new PaperExchange({
    id: 'paper',
    clock,
    quoteCurrency: 'BTC',
    balances: { BTC: 1 },
    fees: { maker: 0.001, taker: 0.001 },
    accountUpdates: 'every_bar',
    store: data.stateStore('venue:paper'),
    ...options.paper,
  });
  await paper.open();
  const flaky = options.flaky === true ? new FlakyVenue(paper, clock) : undefined;
  const symbols = options.sources.map((s) => s.symbol);
  const system = createSystem({
    clock,
    // The outages below are logged as warnings by design; errors still show.
    logger: createLogger({ level: 'error' }),
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: data.stateStore,
    services: { 'provider:replay': replay, 'provider:paper': paper, ...(flaky !== undefined ? { 'provider:flaky': flakyProvider(flaky) } : {}) },
    agents: [
      { id: 'prices', definition: priceWatchdog, config: { provider: 'replay', symbols, timeframes: [TF], ticks: false } },
      {
        id: 'strategies',
        definition: strategyRunner,
        dependsOn: ['prices'],
        config: {
          provider: 'replay',
          symbols,
          timeframes: [TF],
          strategies: options.strategies ?? [{ type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21, stopAtr: 0, takeProfitAtr: 0 } }],
          warmup: { bars: Math.min(options.startBar, 300) },
          indicatorUpdates: { mode: 'off' },
        },
      },
      { id: 'manager', definition: tradeManager, config: { timeframe: TF, ...options.manager } },
      { id: 'executor', definition: tradeExecutor, config: { provider: flaky !== undefined ? 'flaky' : 'paper', mode: 'paper', ...options.executor } },
      { id: 'account', definition: accountSync, config: { provider: 'paper', quoteCurrency: 'BTC', intervalMs: 60_000 } },
    ],
  });
  const events: Envelope[] = [];
  const of = <K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]> => events.filter((e) => e.type === type).map((e) => e.payload as BuiltinEvents[K]);
  const run: Run = {
    system,
    paper,
    flaky,
    events,
    of,
    alerts: (code) => of('system.alert').filter((a) => a.code === code),
    async play() {
      const gate = holdUntilIdle(replay, system, quiescentProviders([paper]));
      // Listeners of a moment run in order: this one after the agents are idle.
      const remove = replay.feed.addListener({
        step: async (time) => {
          if (options.onStep === undefined) return;
          await options.onStep(time, run);
          await waitUntilIdle(system, 10_000, quiescentProviders([paper]));
        },
      });
      try {
        await replay.start();
      } finally {
        remove();
        gate.release();
      }
      await waitUntilIdle(system, 10_000, quiescentProviders([paper]));
    },
  };
  system.bus.subscribe('>', (e) => {
    if (e.type === 'agent.heartbeat' || e.type === 'indicator.updated' || e.type === 'candle.updated') return;
    events.push(e);
  });
  await system.start();
  open.push({ system, data });
  return run;
}

function publishCommand(run: Run, action: BuiltinEvents['risk.command']['action'], time: number): void {
  run.system.bus.publish('risk.command', { action, reason: 'operator asked', by: 'operator', timestamp: time });
}

/** Trades opened and not closed by the time `at`, from the manager's events. */
function openTradesAt(run: Run, at: number): Array<BuiltinEvents['trade.opened']> {
  const closed = new Set(run.of('trade.closed').filter((t) => t.closedAt <= at).map((t) => t.tradeId));
  return run.of('trade.opened').filter((t) => t.openedAt <= at && !closed.has(t.tradeId));
}

/** Manager settings that let the rules under test be the only ones that act. */
const permissive: TradeManagerConfigInput = {
  equity: { initial: 1, source: 'account' },
  aggregation: { minConfidence: 0, useTrackRecord: false },
  limits: { maxOpenPositions: 0, maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0, maxTradesPerDay: 0 },
  breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 },
  counterfactual: { enabled: false },
};

describe('margin utilisation on a leveraged perpetual', () => {
  it('closes a 10x long at the critical level before the paper venue would liquidate it', { timeout: 30_000 }, async () => {
    // ETH/BTC spot candles played as the linear perpetual ETH/BTC:BTC. The EMA(9)/EMA(21) cross
    // up on the bar opening 2018-01-10 08:55 UTC (bar 48 of the file) is the first after bar 40;
    // its market entry fills at bar 49's open. ETH/BTC then falls far enough to liquidate a 10x long.
    const bars = readBars('ETH');
    const PERP = 'ETH/BTC:BTC';
    const LEVERAGE = 10;
    const MMR = 0.005;
    const entry = bars[49]!.open;
    // Isolated margin, from the definitions: margin Q·E/L, maintenance Q·P·m; utilisation is the
    // share of the margin above maintenance that the loss used up (the quantity cancels out), and
    // the venue liquidates where margin + P&L = maintenance.
    const utilisation = (close: number): number => Math.max(0, (entry - close) / (entry / LEVERAGE - close * MMR)) * 100;
    const liquidation = (entry * (1 - 1 / LEVERAGE)) / (1 - MMR);
    const first = (test: (i: number) => boolean): number => {
      for (let i = 50; i < bars.length; i++) if (test(i)) return i;
      return -1;
    };
    // The default levels: warning at 50 %, critical at 80 %, acted on at the next bar's open.
    const warning = first((i) => utilisation(bars[i]!.close) >= 50);
    const critical = first((i) => utilisation(bars[i]!.close) >= 80);
    const liquidated = first((i) => bars[i]!.low <= liquidation);
    expect(warning).toBeGreaterThan(49);
    expect(critical).toBeGreaterThanOrEqual(warning);
    // Held on, the long would be liquidated, and only after the bar the manager closes it in.
    expect(liquidated).toBeGreaterThan(critical + 1);

    const run = await startRun({
      sources: [{ symbol: PERP, base: 'ETH' }],
      startBar: 41,
      lastBar: critical + 3,
      paper: { leverage: LEVERAGE, spreadBps: 0, participation: 0 },
      manager: {
        ...permissive,
        // No stop, no target and no exit on the cross back down: only the margin rule can close it.
        exitOnOppositeSignal: false,
        sizing: { mode: 'notional', notional: 3, defaultStopPct: 0, rewardRisk: 0, maxPositionPct: 0, kelly: { enabled: false }, confidence: { enabled: false } },
        margin: { initialMarginRate: 1 / LEVERAGE },
      },
    });
    await run.play();

    const [opened] = run.of('trade.opened');
    expect(opened).toBeDefined();
    expect(opened!.openedAt).toBe(bars[49]!.time);
    expect(opened!.entryPrice).toBeCloseTo(entry, 12);
    expect(opened!.quantity).toBeCloseTo(3 / bars[48]!.close, 9);

    const [alert] = run.alerts('MARGIN_CRITICAL');
    expect(alert).toMatchObject({ level: 'critical' });
    expect(alert!.message).toContain(`closing long ${PERP}`);
    expect(alert!.timestamp).toBe(bars[critical]!.time + BAR);
    expect(run.alerts('MARGIN_WARNING')[0]!.timestamp).toBe(bars[warning]!.time + BAR);

    const closed = run.of('trade.closed');
    expect(closed.map((t) => [t.symbol, t.exitReason])).toEqual([[PERP, 'margin']]);
    expect(closed[0]!.exitPrice).toBeCloseTo(bars[critical + 1]!.open, 12);
    expect(closed[0]!.exitPrice).toBeGreaterThan(liquidation);
    // Nothing on the way reached the liquidation price, and the venue liquidated nothing.
    expect(Math.min(...bars.slice(49, critical + 2).map((b) => b.low))).toBeGreaterThan(liquidation);
    expect((await run.paper.fetchMyTrades(PERP)).filter((t) => t.clientOrderId?.startsWith('liquidation-'))).toEqual([]);
    expect(run.of('order.updated').filter((o) => o.clientOrderId.startsWith('liquidation-'))).toEqual([]);
    expect(await run.paper.fetchPositions()).toEqual([]);
  });
});

describe('flatten', () => {
  it('closes every position at market, leaves no protective order at the venue, enters nothing until resume, then trades again', { timeout: 30_000 }, async () => {
    // ETH/BTC and LTC/BTC spot, EMA-cross and Donchian breakout, stops and targets resting at
    // the venue. The operator flattens at the first bar both symbols are held, and resumes
    // 100 bars later.
    let flattenAt: number | undefined;
    let resumeAt: number | undefined;
    let atFlatten: { trades: Array<BuiltinEvents['trade.opened']>; restingBefore: number } | undefined;
    let afterFlatten: { positions: unknown[]; open: unknown[] } | undefined;
    const run = await startRun({
      sources: [
        { symbol: 'ETH/BTC', base: 'ETH' },
        { symbol: 'LTC/BTC', base: 'LTC' },
      ],
      startBar: 300,
      lastBar: 900,
      strategies: [
        { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
        { type: 'donchian-breakout', id: 'donchian' },
      ],
      paper: { participation: 0 },
      manager: {
        ...permissive,
        sizing: { riskPerTradePct: 0.5, defaultStopPct: 2, rewardRisk: 2, kelly: { enabled: false } },
        exits: { protectiveOrdersAtVenue: true },
      },
      onStep: async (time, r) => {
        if (flattenAt === undefined) {
          const held = new Set((await r.paper.fetchPositions()).map((p) => p.symbol));
          if (!(held.has('ETH/BTC') && held.has('LTC/BTC'))) return;
          flattenAt = time;
          resumeAt = time + 100 * BAR;
          atFlatten = { trades: openTradesAt(r, time), restingBefore: (await r.paper.fetchOpenOrders()).length };
          publishCommand(r, 'flatten', time);
        } else if (afterFlatten === undefined && time > flattenAt) {
          // The bar after the flatten: its market closes filled at this bar's open.
          afterFlatten = { positions: await r.paper.fetchPositions(), open: await r.paper.fetchOpenOrders() };
        } else if (time === resumeAt) {
          publishCommand(r, 'resume', time);
        }
      },
    });
    await run.play();

    expect(flattenAt).toBeDefined();
    expect(resumeAt).toBeLessThan(readBars('ETH')[900]!.time);
    // Both positions had their stop and target resting at the venue.
    expect(atFlatten!.trades.map((t) => t.symbol).sort()).toEqual(['ETH/BTC', 'LTC/BTC']);
    expect(atFlatten!.restingBefore).toBeGreaterThanOrEqual(2);

    // Every open trade closed with exit reason flatten, at market: the open of the next bar (which
    // opens at the flatten's moment) less half the venue's 2 bps spread.
    const closed = run.of('trade.closed');
    for (const t of atFlatten!.trades) {
      const next = readBars(t.symbol.split('/')[0]!).find((b) => b.time === flattenAt)!;
      const c = closed.find((x) => x.tradeId === t.tradeId);
      expect(c).toMatchObject({ exitReason: 'flatten', closedAt: flattenAt });
      expect(c!.exitPrice).toBeCloseTo(next.open * (1 - 0.0001), 12);
      expect(c!.quantity).toBe(t.quantity);
    }
    const [flatten] = run.alerts('FLATTEN');
    expect(run.alerts('FLATTEN')).toHaveLength(1);
    expect(flatten!.message).toContain('ETH/BTC');
    expect(flatten!.message).toContain('LTC/BTC');
    // The venue holds nothing and has nothing resting: the stops and targets were cancelled.
    expect(afterFlatten).toEqual({ positions: [], open: [] });
    // The manager's positions are flat once it has heard of the fills, as the next bar closes.
    for (const symbol of ['ETH/BTC', 'LTC/BTC']) {
      const last = run.of('position.updated').filter((p) => p.symbol === symbol && p.timestamp <= flattenAt! + BAR).at(-1);
      expect(last).toMatchObject({ side: 'flat', quantity: 0 });
    }

    // While the kill switch is on, entry signals are refused and nothing is entered.
    const whileKilled = run.of('signal.decided').filter((d) => d.timestamp > flattenAt! && d.timestamp < resumeAt! && d.side !== 'flat');
    expect(whileKilled.length).toBeGreaterThan(0);
    for (const d of whileKilled) {
      expect(d.decision).toBe('rejected');
      expect(d.reasons.join(' ')).toMatch(/kill switch is on/);
    }
    expect(run.of('order.requested').filter((o) => o.purpose === 'entry' && o.timestamp > flattenAt! && o.timestamp < resumeAt!)).toEqual([]);
    expect(run.of('trade.opened').filter((t) => t.openedAt > flattenAt! && t.openedAt <= resumeAt!)).toEqual([]);

    // After resume, entries happen again.
    expect(run.of('trade.opened').filter((t) => t.openedAt > resumeAt!).length).toBeGreaterThan(0);
  });
});

describe('venue circuit breaker', () => {
  it('opens after N failed placements, refuses entries while exits go, closes on a successful probe after the cooldown, and places nothing twice', { timeout: 30_000 }, async () => {
    const FAILURES = 3;
    const COOLDOWN = 4 * 3_600_000;
    let failFrom: number | undefined;
    const run = await startRun({
      sources: [
        { symbol: 'ETH/BTC', base: 'ETH' },
        { symbol: 'LTC/BTC', base: 'LTC' },
      ],
      startBar: 300,
      lastBar: 1_300,
      strategies: [
        { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
        { type: 'donchian-breakout', id: 'donchian' },
      ],
      flaky: true,
      paper: { participation: 0 },
      // One attempt per request: each failed placement is one venue failure, not a retry series.
      executor: { retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 10, factor: 1 }, venueBreaker: { failures: FAILURES, windowMs: 24 * 3_600_000, cooldownMs: COOLDOWN } },
      manager: {
        ...permissive,
        sizing: { riskPerTradePct: 0.5, defaultStopPct: 2, rewardRisk: 2, kelly: { enabled: false } },
        // Stops and targets watched by the manager: every placement is an entry or an exit.
        exits: { protectiveOrdersAtVenue: false },
      },
      onStep: async (time, r) => {
        // The venue becomes unreachable while a position is open, for the next N placements.
        if (failFrom === undefined && openTradesAt(r, time).length > 0) {
          failFrom = time;
          r.flaky!.failNext(FAILURES);
        }
      },
    });
    await run.play();
    const flaky = run.flaky!;
    const requests = new Map(run.of('order.requested').map((o) => [o.clientOrderId, o]));
    const updates = run.of('order.updated');
    const lastUpdate = (id: string) => updates.filter((u) => u.clientOrderId === id).at(-1);

    // The first N placements after the outage began failed, and the breaker opened on the Nth.
    expect(failFrom).toBeDefined();
    const failed = flaky.attempts.filter((a) => a.failed);
    expect(failed).toHaveLength(FAILURES);
    expect(flaky.attempts.filter((a) => a.at >= failFrom!).slice(0, FAILURES)).toEqual(failed);
    for (const a of failed) expect(lastUpdate(a.clientOrderId)).toMatchObject({ status: 'rejected' });
    const opens = run.alerts('VENUE_BREAKER_OPEN');
    expect(opens).toHaveLength(1);
    const openedAt = failed.at(-1)!.at;
    expect(opens[0]).toMatchObject({ level: 'error', timestamp: openedAt, details: { failures: FAILURES, probeAt: openedAt + COOLDOWN } });

    // Half-open when the cooldown ends; the next placement is the probe, it reaches the venue and
    // the breaker closes.
    const [halfOpen] = run.alerts('VENUE_BREAKER_HALF_OPEN');
    expect(halfOpen!.timestamp).toBe(openedAt + COOLDOWN);
    const [closedAlert] = run.alerts('VENUE_BREAKER_CLOSED');
    const probe = flaky.attempts.find((a) => a.at >= openedAt + COOLDOWN)!;
    expect(probe.failed).toBe(false);
    expect(closedAlert!.timestamp).toBe(probe.at);
    expect(run.alerts('VENUE_BREAKER_OPEN')).toHaveLength(1);

    // While open, entries were refused with the breaker's reason and never reached the venue...
    const refused = [...requests.values()].filter((o) => o.purpose === 'entry' && o.timestamp > openedAt && o.timestamp < openedAt + COOLDOWN);
    expect(refused.length).toBeGreaterThan(0);
    for (const o of refused) {
      expect(lastUpdate(o.clientOrderId)).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/^venue circuit breaker is open/) });
      expect(flaky.placed.has(o.clientOrderId)).toBe(false);
    }
    // ...while exits went out and filled.
    const exits = [...requests.values()].filter((o) => o.purpose === 'exit' && o.timestamp > openedAt && o.timestamp < openedAt + COOLDOWN);
    expect(exits.length).toBeGreaterThan(0);
    for (const o of exits) {
      expect(flaky.placed.get(o.clientOrderId)).toBe(1);
      expect(lastUpdate(o.clientOrderId)?.status).toBe('filled');
    }

    // Trading goes on after the breaker closed.
    expect(run.of('trade.opened').filter((t) => t.openedAt > probe.at).length).toBeGreaterThan(0);
    // Nothing was placed twice: every client order id reached the venue at most once, and the
    // venue's executions name each order once.
    expect([...flaky.placed.values()].every((n) => n === 1)).toBe(true);
    expect(flaky.placed.size).toBe(flaky.attempts.length - FAILURES);
    for (const symbol of ['ETH/BTC', 'LTC/BTC']) {
      const ids = (await run.paper.fetchMyTrades(symbol)).map((t) => t.clientOrderId!);
      expect(ids.every((id) => flaky.placed.has(id))).toBe(true);
    }
  });
});

/** Pearson correlation from its definition: Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² Σ(y − ȳ)²). */
function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/**
 * The simple returns close ÷ previous close − 1 the manager has seen of a symbol by `until`: the
 * played bars only (from `startBar`), the last `window` of them, keyed by each bar's close time.
 */
function returnsSeen(base: string, startBar: number, until: number, window: number): Map<number, number> {
  const bars = readBars(base).slice(startBar).filter((b) => b.time + BAR <= until);
  const out: Array<[number, number]> = [];
  for (let i = 1; i < bars.length; i++) out.push([bars[i]!.time + BAR, bars[i]!.close / bars[i - 1]!.close - 1]);
  return new Map(out.slice(-window));
}

describe('portfolio rules in a full run', () => {
  // ADA/BTC and XLM/BTC move together over these bars (Pearson about 0.5 on 5-minute returns).
  const START = 300;
  const NOTIONAL = 0.2;
  const WINDOW = 200;
  const sources: Source[] = [
    { symbol: 'XLM/BTC', base: 'XLM' },
    { symbol: 'ADA/BTC', base: 'ADA' },
  ];
  const manager = (portfolio: TradeManagerConfigInput['portfolio']): TradeManagerConfigInput => ({
    ...permissive,
    sizing: { mode: 'notional', notional: NOTIONAL, defaultStopPct: 2, rewardRisk: 2, kelly: { enabled: false }, confidence: { enabled: false } },
    portfolio: { returnsWindow: WINDOW, ...portfolio },
  });
  const baseOf = (symbol: string): string => symbol.split('/')[0]!;
  const closeAt = (symbol: string, closeTime: number): number => readBars(baseOf(symbol)).find((b) => b.time + BAR === closeTime)!.close;

  it('sizes an entry beside a correlated open position by the Pearson correlation of the returns the manager saw', { timeout: 30_000 }, async () => {
    const run = await startRun({ sources, startBar: START, lastBar: 900, manager: manager({ correlation: { enabled: true, strength: 1, floor: 0.25, minBars: 30 } }) });
    await run.play();
    const entries = run.of('signal.decided').filter((d) => d.decision === 'accepted' && d.clientOrderId !== undefined);
    // The first entry made while the other symbol was held, with enough common bars.
    const sized = entries.find((d) => d.reasons.some((r) => r.startsWith('correlation')));
    expect(sized).toBeDefined();
    const at = sized!.timestamp;
    const held = openTradesAt(run, at - 1);
    expect(held.map((t) => t.symbol)).toEqual(sources.map((s) => s.symbol).filter((s) => s !== sized!.symbol));
    const other = held[0]!.symbol;

    // Independently: the returns of both symbols up to this bar, paired on their close times.
    const a = returnsSeen(baseOf(sized!.symbol), START, at, WINDOW);
    const b = returnsSeen(baseOf(other), START, at, WINDOW);
    const common = [...a.keys()].filter((t) => b.has(t));
    expect(common.length).toBeGreaterThanOrEqual(30);
    const rho = pearson(
      common.map((t) => a.get(t)!),
      common.map((t) => b.get(t)!),
    );
    expect(rho).toBeGreaterThan(0.3);
    const factor = Math.max(0.25, 1 - Math.max(0, rho));
    expect(sized!.reasons).toContain(`correlation ${rho.toFixed(2)} with ${other}: size × ${Number(factor.toPrecision(3))}`);
    // Notional ÷ the signal bar's close, × the factor.
    expect(sized!.quantity).toBeCloseTo((NOTIONAL / closeAt(sized!.symbol, at)) * factor, 6);

    // Entries with nothing else open are not resized.
    const alone = entries.filter((e) => openTradesAt(run, e.timestamp - 1).length === 0);
    expect(alone.length).toBeGreaterThan(0);
    for (const d of alone) {
      expect(d.quantity).toBeCloseTo(NOTIONAL / closeAt(d.symbol, d.timestamp), 6);
    }
  });

  it('refuses an entry that would take its group over the group cap, with the group reason', { timeout: 30_000 }, async () => {
    // Both symbols in one group capped at 30 % of equity: one position of 0.2 BTC fits, two do not.
    const CAP = 30;
    const run = await startRun({
      sources,
      startBar: START,
      lastBar: 900,
      manager: manager({ groups: { map: { 'ADA/BTC': 'alts', 'XLM/BTC': 'alts' }, maxExposurePct: { alts: CAP } } }),
    });
    await run.play();
    const decided = run.of('signal.decided').filter((d) => d.side === 'long');
    const refused = decided.filter((d) => d.decision === 'rejected' && d.reasons.some((r) => r.startsWith('group alts')));
    expect(refused.length).toBeGreaterThan(0);
    // The equity the manager measured the cap on is the venue's at that moment: one of the account
    // updates of the bar (the venue reports after the bar and after each fill in it).
    const equitiesAt = (at: number): number[] => run.of('account.updated').filter((a) => a.timestamp === at).map((a) => a.equity);
    const round6 = (x: number): number => Number(x.toPrecision(6));
    for (const d of refused) {
      // The one position held, valued at its symbol's last close, plus this entry's notional.
      const [held] = openTradesAt(run, d.timestamp - 1);
      expect(held!.symbol).not.toBe(d.symbol);
      const after = held!.quantity * closeAt(held!.symbol, d.timestamp) + NOTIONAL;
      const reason = d.reasons.find((r) => r.startsWith('group alts'))!;
      const [, exposure, share, cap] = /^group alts: exposure ([\d.e-]+) \(([\d.]+)% of equity\) with this entry is over its cap of 30% of equity \(([\d.e-]+)\)$/.exec(reason) ?? [];
      expect(Number(exposure)).toBe(round6(after));
      const e = equitiesAt(d.timestamp).find((x) => round6((x * CAP) / 100) === Number(cap));
      expect(e).toBeDefined();
      expect(share).toBe(((after / e!) * 100).toFixed(2));
      expect(after).toBeGreaterThan((e! * CAP) / 100);
    }
    // Never two positions of the group at once; entries with the group empty went through.
    for (const t of run.of('trade.opened')) expect(openTradesAt(run, t.openedAt).length).toBe(1);
    expect(run.of('trade.opened').length).toBeGreaterThan(1);
  });
});
