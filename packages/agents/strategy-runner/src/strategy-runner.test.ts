import { describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createLogger, createSystem, type BuiltinEvents, type StateStore } from '@tradebus/core';
import { createIndicator } from '@tradebus/indicators';
import { builtinRegistry, createStrategies, defineStrategy, type Signal, type StrategyCandle } from '@tradebus/strategies';
import { z } from 'zod';
import { agent, createStrategyRunnerAgent, type StrategyRunnerAgent, type StrategyRunnerConfigInput } from './index.js';
import { BAR, HistoryProvider, SYMBOL, TF, loadCandles, settle } from './test-support/history-provider.js';

const candles = loadCandles();
const STRATEGIES = [
  { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
  { type: 'macd-cross', id: 'macd' },
];
/** First live bar: everything before it is history. */
const LIVE = 400;
const WARMUP = 200;

interface SetupOptions {
  definition?: typeof agent;
  prepare?: (p: HistoryProvider) => void;
  /** Index of the first live bar (the clock starts at its open). */
  start?: number;
  store?: StateStore;
  /** Receives the runner's log lines, parsed. */
  logs?: Array<Record<string, unknown>>;
}

async function setup(config: Partial<StrategyRunnerConfigInput> = {}, options: SetupOptions = {}) {
  const clock = new VirtualClock(candles[options.start ?? LIVE]!.timestamp);
  const provider = new HistoryProvider(candles, clock);
  options.prepare?.(provider);
  const logs = options.logs;
  const store = options.store ?? new MemoryStateStore();
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    ...(logs === undefined ? {} : { logger: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } }) }),
    services: { 'provider:history': provider },
    agents: [
      {
        id: 'runner',
        definition: options.definition ?? agent,
        config: { provider: 'history', symbols: [SYMBOL], timeframes: [TF], strategies: STRATEGIES, warmup: { bars: WARMUP }, ...config },
      },
    ],
  });
  const signals: Signal[] = [];
  const indicators: Array<BuiltinEvents['indicator.updated']> = [];
  const alerts: string[] = [];
  const causes: Array<string | undefined> = [];
  system.bus.subscribe('signal.generated', (e) => {
    signals.push(e.payload);
    causes.push(e.causationId);
  });
  const indicatorTimes: number[] = [];
  system.bus.subscribe('indicator.updated', (e) => {
    indicators.push(e.payload);
    indicatorTimes.push(e.ts);
  });
  system.bus.subscribe('system.alert', (e) => {
    alerts.push(e.payload.code);
  });
  await system.start();
  const closeBar = (c: StrategyCandle): string => {
    clock.advanceTo(c.timestamp + BAR);
    return system.bus.publish('candle.closed', c).id;
  };
  return { clock, provider, system, signals, indicators, indicatorTimes, alerts, causes, closeBar, runner: system.agent<StrategyRunnerAgent>('runner') };
}

/** What the strategies produce fed the same history and live bars directly. */
function direct(history: StrategyCandle[], live: StrategyCandle[]): Signal[] {
  const strategies = createStrategies(STRATEGIES);
  for (const s of strategies) s.warmUp(history);
  const out: Signal[] = [];
  for (const c of live) for (const s of strategies) out.push(...s.onCandle(c));
  return out;
}

describe('strategy-runner config', () => {
  it('names a bad strategy parameter by its full path', () => {
    const result = agent.configSchema.safeParse({ provider: 'p', symbols: ['BTC/USDT'], strategies: [{ type: 'ema-cross', params: { fast: 30, slow: 10 } }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['strategies', 0, 'params', 'fast']);
  });

  it('rejects an unknown strategy type, an unknown indicator field and a timeframe-less strategy among several timeframes', () => {
    const unknown = agent.configSchema.safeParse({ provider: 'p', symbols: ['X/Y'], strategies: [{ type: 'ema-crosss' }] });
    expect(unknown.error?.issues[0]?.message).toContain("Did you mean 'ema-cross'");
    const indicator = agent.configSchema.safeParse({ provider: 'p', symbols: ['X/Y'], strategies: [{ type: 'ema-cross' }], indicators: { rsi: { type: 'rsi', perod: 3 } } });
    expect(indicator.success).toBe(false);
    expect(JSON.stringify(indicator.error?.issues)).toContain('perod');
    const tf = agent.configSchema.safeParse({ provider: 'p', symbols: ['X/Y'], timeframes: ['1m', '5m'], strategies: [{ type: 'ema-cross' }] });
    expect(tf.error?.issues[0]?.path).toEqual(['strategies', 0, 'timeframe']);
    const ok = agent.configSchema.safeParse({ provider: 'p', symbols: ['X/Y'], timeframes: ['1m', '5m'], strategies: [{ type: 'ema-cross', timeframe: '5m' }] });
    expect(ok.success).toBe(true);
  });
});

describe('strategy-runner on real candles', () => {
  it('warms up from history without signalling, then publishes exactly the signals the strategies produce', async () => {
    const t = await setup();
    await settle();
    const history = candles.slice(LIVE - WARMUP, LIVE);
    // Warm-up asked the provider once, and published nothing although the history holds crossovers.
    expect(t.provider.calls).toEqual([{ symbol: SYMBOL, timeframe: TF, since: undefined, limit: WARMUP + 10 }]);
    expect(t.signals).toEqual([]);
    const fromScratch = createStrategies(STRATEGIES).flatMap((s) => history.flatMap((c) => s.onCandle(c)));
    expect(fromScratch.length).toBeGreaterThan(0);
    expect(t.runner.series()[0]).toMatchObject({ ready: true, historyBars: WARMUP, warmedUpTo: candles[LIVE - 1]!.timestamp });

    const live = candles.slice(LIVE, LIVE + 600);
    const ids = live.map((c) => t.closeBar(c));
    const expected = direct(history, live);
    expect(expected.length).toBeGreaterThan(5);
    expect(t.signals).toEqual(expected);
    // Deterministic ids, the bar's time and timeframe, and the candle event as cause.
    const first = t.signals[0]!;
    expect(first.id).toBe(`${first.strategyId}:${SYMBOL}:${TF}:${first.metadata?.barTime}:${first.side}`);
    expect(first.timeframe).toBe(TF);
    expect(first.timestamp).toBe((first.metadata?.barTime as number) + BAR);
    const barIndex = live.findIndex((c) => c.timestamp === first.metadata?.barTime);
    expect(t.causes[0]).toBe(ids[barIndex]);
    await t.system.stop();
  });

  it('holds live bars that arrive during warm-up and replays them in order, without counting a bar twice', async () => {
    const t = await setup({}, { prepare: (p) => p.hold() });
    const history = candles.slice(LIVE - WARMUP, LIVE);
    const live = candles.slice(LIVE, LIVE + 300);
    // Bars close while the history request is still out; the history then already holds the first of them.
    for (const c of live.slice(0, 3)) t.closeBar(c);
    t.provider.release();
    await settle();
    for (const c of live.slice(3)) t.closeBar(c);
    expect(t.signals).toEqual(direct(history, live));
    expect(t.runner.series()[0]).toMatchObject({ historyBars: WARMUP, liveBars: 300 });
    await t.system.stop();
  });

  it('ignores history bars from after the clock, even when the provider marks them closed', async () => {
    const t = await setup({}, { prepare: (p) => (p.leakFuture = 5) });
    await settle();
    expect(t.runner.series()[0]?.warmedUpTo).toBe(candles[LIVE - 1]!.timestamp);
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) t.closeBar(c);
    expect(t.signals).toEqual(direct(candles.slice(LIVE - WARMUP, LIVE), live));
    await t.system.stop();
  });

  it('without history (after retries) warms up on live bars and signals only once the strategies are ready', async () => {
    const t = await setup({ warmup: { bars: WARMUP, retries: 2, retryDelayMs: 1_000 } }, { prepare: (p) => (p.failures = 10) });
    await settle();
    t.clock.advanceBy(1_000);
    await settle();
    t.clock.advanceBy(2_000);
    await settle();
    expect(t.provider.calls).toHaveLength(3);
    expect(t.alerts).toContain('WARMUP_HISTORY_UNAVAILABLE');
    const live = candles.slice(LIVE, LIVE + 400);
    for (const c of live) t.closeBar(c);
    const expected = direct([], live);
    expect(t.signals).toEqual(expected);
    const readyAfter = Math.max(...createStrategies(STRATEGIES).map((s) => s.warmupBars));
    const firstBar = live.findIndex((c) => c.timestamp === t.signals[0]?.metadata?.barTime);
    expect(firstBar).toBeGreaterThanOrEqual(readyAfter - 1);
    await t.system.stop();
  });
});

describe('strategy-runner indicator.updated', () => {
  const indicatorsConfig = { rsi: { type: 'rsi' as const, period: 14 }, macd: { type: 'macd' as const } };

  it('every bar: values equal the indicators fed the same candles', async () => {
    const t = await setup({ indicators: indicatorsConfig });
    await settle();
    expect(t.indicators).toHaveLength(1);
    const live = candles.slice(LIVE, LIVE + 20);
    for (const c of live) t.closeBar(c);
    expect(t.indicators).toHaveLength(21);
    const rsi = createIndicator({ type: 'rsi', period: 14 });
    const macd = createIndicator({ type: 'macd' });
    for (const c of [...candles.slice(LIVE - WARMUP, LIVE), ...live]) {
      rsi.update(c);
      macd.update(c);
    }
    const last = t.indicators.at(-1)!;
    expect(last).toMatchObject({ symbol: SYMBOL, timeframe: TF, timestamp: live.at(-1)!.timestamp });
    expect(last.values).toEqual({ rsi: rsi.value, 'macd.macd': macd.value!.macd, 'macd.signal': macd.value!.signal, 'macd.histogram': macd.value!.histogram });
    await t.system.stop();
  });

  it('throttled: at most one update per interval of the agent clock, and the latest values still go out', async () => {
    const t = await setup({ indicators: indicatorsConfig, indicatorUpdates: { mode: 'throttled', minIntervalMs: 3 * BAR } });
    await settle();
    const live = candles.slice(LIVE, LIVE + 7);
    for (const c of live) t.closeBar(c);
    t.clock.advanceBy(3 * BAR);
    const bars = t.indicators.map((i) => i.timestamp);
    // Warm-up goes out at t0; the bars closing at t0+5m and +10m are held back and the timer
    // sends the latest of them at t0+15m, just before bar 2 closes; and so on.
    expect(bars).toEqual([candles[LIVE - 1]!.timestamp, live[1]!.timestamp, live[4]!.timestamp, live[6]!.timestamp]);
    const sentAt = t.indicatorTimes;
    for (let i = 1; i < sentAt.length; i++) expect(sentAt[i]! - sentAt[i - 1]!).toBeGreaterThanOrEqual(3 * BAR);
    await t.system.stop();
  });

  it('off: publishes none; strategies may add their own indicators when asked', async () => {
    const off = await setup({ indicators: indicatorsConfig, indicatorUpdates: { mode: 'off' } });
    await settle();
    for (const c of candles.slice(LIVE, LIVE + 5)) off.closeBar(c);
    expect(off.indicators).toEqual([]);
    await off.system.stop();

    const withStrategies = await setup({ indicatorUpdates: { includeStrategies: true } });
    await settle();
    withStrategies.closeBar(candles[LIVE]!);
    expect(Object.keys(withStrategies.indicators.at(-1)!.values)).toEqual(expect.arrayContaining(['ema.fast', 'ema.slow', 'macd.macd.histogram']));
    await withStrategies.system.stop();
  });
});

describe('strategy-runner symbols', () => {
  it('follows a symbol written in lower case under its unified name', async () => {
    const t = await setup({ symbols: ['xrp/usdt:usdt'] });
    await settle();
    expect(t.runner.series().map((s) => s.symbol)).toEqual([SYMBOL]);
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) t.closeBar(c);
    expect(t.signals).toEqual(direct(candles.slice(LIVE - WARMUP, LIVE), live));
    await t.system.stop();
  });
});

describe('strategy-runner forming bars and ticks', () => {
  it('with formingSignals publishes the provisional signals the strategies give for forming bars', async () => {
    const t = await setup({ formingSignals: true });
    await settle();
    const history = candles.slice(LIVE - WARMUP, LIVE);
    const live = candles.slice(LIVE, LIVE + 300);
    const strategies = createStrategies(STRATEGIES);
    for (const s of strategies) s.warmUp(history);
    const expected: Signal[] = [];
    for (const c of live) {
      t.clock.advanceTo(c.timestamp + BAR / 2);
      t.system.bus.publish('candle.updated', c);
      for (const s of strategies) expected.push(...s.onCandleUpdate(c, c.timestamp + BAR / 2));
      t.closeBar(c);
      for (const s of strategies) expected.push(...s.onCandle(c));
    }
    expect(expected.some((x) => x.id.endsWith(':forming'))).toBe(true);
    expect(t.signals).toEqual(expected);
    await t.system.stop();
  });

  it('with ticks feeds price.tick to strategies that react to them, and not before warm-up', async () => {
    const spike = defineStrategy({
      type: 'tick-spike',
      description: 'Long when a tick trades 1 % above the last close',
      params: z.strictObject({}),
      indicators: () => ({ sma: { type: 'sma', period: 2 } }),
      evaluate: () => undefined,
      onTick: ({ tick, lastCandle }) => (tick.price > lastCandle.close * 1.01 ? { side: 'long', confidence: 0.5, reason: 'spike' } : undefined),
    });
    const definition = createStrategyRunnerAgent({ registry: builtinRegistry().register(spike) });
    const t = await setup({ ticks: true, strategies: [{ type: 'tick-spike', id: 'spike' }] }, { definition, prepare: (p) => p.hold() });
    const last = candles[LIVE - 1]!;
    const tick = (price: number, timestamp: number) => t.system.bus.publish('price.tick', { symbol: SYMBOL, price, timestamp });
    tick(last.close * 2, t.clock.now());
    t.provider.release();
    await settle();
    tick(last.close, t.clock.now() + 1);
    tick(last.close * 1.02, t.clock.now() + 2);
    expect(t.signals.map((s) => s.id)).toEqual([`spike:${SYMBOL}:${TF}:tick:${t.clock.now() + 2}:long`]);
    await t.system.stop();
  });
});

describe('strategy-runner isolation', () => {
  it('a strategy that throws is reported once and skipped; the other strategies keep signalling', async () => {
    const broken = defineStrategy({
      type: 'always-broken',
      description: 'Emits a confidence outside 0..1 on every bar',
      params: z.strictObject({}),
      indicators: () => ({ sma: { type: 'sma', period: 2 } }),
      evaluate: () => ({ side: 'long', confidence: 2, reason: 'broken' }),
    });
    const definition = createStrategyRunnerAgent({ registry: builtinRegistry().register(broken) });
    const t = await setup({ strategies: [...STRATEGIES, { type: 'always-broken', id: 'broken' }] }, { definition });
    await settle();
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) t.closeBar(c);
    expect(t.alerts.filter((a) => a === 'STRATEGY_FAILED')).toHaveLength(1);
    expect(t.signals).toEqual(direct(candles.slice(LIVE - WARMUP, LIVE), live));
    expect(t.runner.state).toBe('running');
    await t.system.stop();
  });
});

describe('strategy-runner following the tradable universe', () => {
  type Snapshot = BuiltinEvents['market.snapshot'];
  const VENUE = 'binance';
  const inUniverse = (venue = VENUE): Snapshot => ({
    timestamp: 1,
    venue,
    markets: [{ symbol: SYMBOL, base: 'XRP', quote: 'USDT', active: true, tradable: true, reasons: [] }],
    universe: [SYMBOL],
    added: [SYMBOL],
    removed: [],
  });
  const outOfUniverse = (venue = VENUE): Snapshot => ({
    timestamp: 2,
    venue,
    markets: [
      { symbol: 'BTC/USDT:USDT', base: 'BTC', quote: 'USDT', active: true, tradable: true, reasons: [] },
      { symbol: SYMBOL, base: 'XRP', quote: 'USDT', active: true, tradable: false, spreadBps: 45, reasons: ['spread 45 bps above 30'] },
    ],
    universe: ['BTC/USDT:USDT'],
    added: [],
    removed: [SYMBOL],
  });

  /**
   * The rule, written out from its definition: outside the universe long/short signals are held
   * back, except one against the side its strategy last entered, which goes out as that
   * position's exit (flat); flat signals always go out. Returns [id, side] of what is published.
   */
  function gated(signals: Signal[], outside: (s: Signal) => boolean, entered = new Map<string, string>()): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const s of signals) {
      if (s.side === 'flat' || !outside(s)) {
        if (s.side === 'flat') entered.delete(s.strategyId);
        else entered.set(s.strategyId, s.side);
        out.push([s.id, s.side]);
      } else if (entered.has(s.strategyId) && entered.get(s.strategyId) !== s.side) {
        entered.delete(s.strategyId);
        out.push([`${s.id}:exit`, 'flat']);
      }
    }
    return out;
  }
  const published = (signals: Signal[]): Array<[string, string]> => signals.map((s) => [s.id, s.side]);

  it('publishes entries only while the symbol is in the latest universe, keeps exits, and stays warm for its return', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const t = await setup({ universe: { follow: true } }, { logs });
    await settle();
    const live = candles.slice(LIVE, LIVE + 900);
    t.system.bus.publish('market.snapshot', inUniverse());
    for (const c of live.slice(0, 300)) t.closeBar(c);
    t.system.bus.publish('market.snapshot', outOfUniverse());
    for (const c of live.slice(300, 600)) t.closeBar(c);
    // Still out: a second snapshot saying so is not logged again.
    t.system.bus.publish('market.snapshot', outOfUniverse());
    t.system.bus.publish('market.snapshot', inUniverse());
    for (const c of live.slice(600)) t.closeBar(c);

    const all = direct(candles.slice(LIVE - WARMUP, LIVE), live);
    const [outFrom, outTo] = [live[300]!.timestamp, live[600]!.timestamp];
    const outside = (s: Signal) => (s.metadata?.barTime as number) >= outFrom && (s.metadata?.barTime as number) < outTo;
    const expected = gated(all, outside);
    expect(published(t.signals)).toEqual(expected);
    // The period outside had entries to hold back and an exit to keep; the one after it, entries
    // again: indicators kept running, so signals resume on the first bar back.
    const publishedIds = new Set(expected.map(([id]) => id));
    const heldBack = all.filter((s) => outside(s) && !publishedIds.has(s.id) && !publishedIds.has(`${s.id}:exit`)).length;
    expect(heldBack).toBeGreaterThan(0);
    expect(t.runner.series()[0]?.heldBack).toBe(heldBack);
    expect(expected.some(([id]) => id.endsWith(':exit'))).toBe(true);
    expect(t.signals.some((s) => (s.metadata?.barTime as number) >= outTo && s.side !== 'flat')).toBe(true);
    const exit = t.signals.find((s) => s.id.endsWith(':exit'))!;
    expect(exit.reason).toContain(`${SYMBOL} is outside the tradable universe`);
    expect(exit.metadata).toMatchObject({ outsideUniverse: true });

    const left = logs.filter((l) => l.msg === 'symbol left the tradable universe: its entry signals are held back, exits still go out');
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ level: 30, symbol: SYMBOL, venue: VENUE, reasons: ['spread 45 bps above 30'] });
    expect(logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('symbol back in the tradable universe'))).toHaveLength(1);
    await t.system.stop();
  });

  it('trades the configured symbols until the first snapshot, and ignores snapshots of another venue', async () => {
    const t = await setup({ universe: { follow: true, venue: VENUE } });
    await settle();
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live.slice(0, 150)) t.closeBar(c);
    t.system.bus.publish('market.snapshot', outOfUniverse('kraken'));
    for (const c of live.slice(150)) t.closeBar(c);
    const all = direct(candles.slice(LIVE - WARMUP, LIVE), live);
    expect(all.length).toBeGreaterThan(2);
    expect(published(t.signals)).toEqual(published(all));
    await t.system.stop();
  });

  it('without follow, a snapshot changes nothing', async () => {
    const t = await setup();
    await settle();
    t.system.bus.publish('market.snapshot', outOfUniverse());
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) t.closeBar(c);
    expect(published(t.signals)).toEqual(published(direct(candles.slice(LIVE - WARMUP, LIVE), live)));
    expect(t.runner.series()[0]?.heldBack).toBe(0);
    await t.system.stop();
  });

  it('flat signals always go out; a long or short is held back unless it is the exit of the entry its strategy made', async () => {
    // long, short, flat in turn, one per bar, from the first bar the strategy is ready.
    const cycle = defineStrategy({
      type: 'cycle',
      description: 'long, short, flat in turn',
      params: z.strictObject({}),
      indicators: () => ({ sma: { type: 'sma', period: 2 } }),
      evaluate: ({ candle }) => ({ side: (['long', 'short', 'flat'] as const)[(candle.timestamp / BAR) % 3]!, confidence: 0.5, reason: 'cycle' }),
    });
    const definition = createStrategyRunnerAgent({ registry: builtinRegistry().register(cycle) });
    const t = await setup({ universe: { follow: true }, strategies: [{ type: 'cycle', id: 'cycle' }] }, { definition });
    await settle();
    const live = candles.slice(LIVE, LIVE + 9);
    const phase = (c: StrategyCandle) => (c.timestamp / BAR) % 3;
    // Start with a long published while no snapshot has come, then leave the universe.
    let i = live.findIndex((c) => phase(c) === 0);
    t.closeBar(live[i]!);
    t.system.bus.publish('market.snapshot', outOfUniverse());
    for (i++; i < live.length; i++) t.closeBar(live[i]!);
    const sides = t.signals.map((s) => s.side);
    // long (in), then outside: short → its exit (flat), flat, long held, short held, flat, long held, ...
    const outsideSides = live
      .slice(live.findIndex((c) => phase(c) === 0) + 1)
      .map((c, k) => (k === 0 ? 'flat' : phase(c) === 2 ? 'flat' : undefined))
      .filter((x) => x !== undefined);
    expect(sides).toEqual(['long', ...outsideSides]);
    expect(t.signals[1]!.id).toMatch(/:short:exit$/);
    expect(t.runner.series()[0]?.heldBack).toBe(live.length - live.findIndex((c) => phase(c) === 0) - sides.length);
    await t.system.stop();
  });

  it('after a restart still sends the exit of an entry made before it', async () => {
    const store = new MemoryStateStore();
    const first = await setup({ universe: { follow: true } }, { store });
    await settle();
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) first.closeBar(c);
    const lastEntry = new Map<string, string>();
    for (const s of first.signals) if (s.side !== 'flat') lastEntry.set(s.strategyId, s.side);
    expect(lastEntry.size).toBeGreaterThan(0);
    await first.system.stop();

    const start = LIVE + 300;
    const second = await setup({ universe: { follow: true } }, { store, start });
    await settle();
    second.system.bus.publish('market.snapshot', outOfUniverse());
    const after = candles.slice(start, start + 600);
    for (const c of after) second.closeBar(c);
    const expected = gated(direct(candles.slice(start - WARMUP, start), after), () => true, lastEntry);
    expect(expected.filter(([id]) => id.endsWith(':exit')).length).toBeGreaterThan(0);
    expect(published(second.signals)).toEqual(expected);
    await second.system.stop();
  });

  it('warns once about a symbol the market watchdog does not describe, and holds its entries back', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const t = await setup({ universe: { follow: true } }, { logs });
    await settle();
    const unwatched: Snapshot = { ...outOfUniverse(), markets: [outOfUniverse().markets[0]!] };
    t.system.bus.publish('market.snapshot', unwatched);
    t.system.bus.publish('market.snapshot', unwatched);
    const live = candles.slice(LIVE, LIVE + 300);
    for (const c of live) t.closeBar(c);
    expect(t.signals).toEqual([]);
    expect(t.runner.series()[0]?.heldBack).toBe(direct(candles.slice(LIVE - WARMUP, LIVE), live).length);
    const warnings = logs.filter((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes('not among the markets the market watchdog describes'));
    expect(warnings).toHaveLength(1);
    await t.system.stop();
  });

  it('config: follow defaults to off; an unknown universe key is named', () => {
    const base = { provider: 'p', symbols: ['X/Y'], strategies: [{ type: 'ema-cross' }] };
    expect(agent.configSchema.parse(base).universe).toEqual({ follow: false });
    const typo = agent.configSchema.safeParse({ ...base, universe: { follw: true } });
    expect(typo.success).toBe(false);
    expect(JSON.stringify(typo.error?.issues)).toContain('follw');
  });
});

describe('strategy-runner settings changed while running', () => {
  it('a changed strategy and changed indicators continue as fresh ones warmed on the same recent bars; the others keep their state', async () => {
    const t = await setup({ indicators: { rsi: { type: 'rsi', period: 14 } } });
    await settle();
    const before = candles.slice(LIVE, LIVE + 20);
    for (const c of before) t.closeBar(c);
    const signalsBefore = t.signals.length;
    const next = agent.configSchema.parse({
      provider: 'history',
      symbols: [SYMBOL],
      timeframes: [TF],
      strategies: [{ ...STRATEGIES[0], params: { fast: 5, slow: 21 } }, STRATEGIES[1]],
      warmup: { bars: WARMUP },
      indicators: { rsi: { type: 'rsi', period: 7 } },
    });
    await t.runner.reconfigure(next);
    const after = candles.slice(LIVE + 20, LIVE + 120);
    for (const c of after) t.closeBar(c);

    // Independently: the window is the last WARMUP bars the runner consumed.
    const window = candles.slice(LIVE + 20 - WARMUP, LIVE + 20);
    const [ema] = createStrategies([{ ...STRATEGIES[0]!, params: { fast: 5, slow: 21 } }]);
    for (const c of window) ema!.warmUp([c]);
    const rsi = createIndicator({ type: 'rsi', period: 7 });
    for (const c of window) rsi.update(c);
    const expectedEma: Signal[] = [];
    for (const c of after) {
      expectedEma.push(...ema!.onCandle(c));
      rsi.update(c);
    }
    const got = t.signals.slice(signalsBefore);
    expect(expectedEma.length).toBeGreaterThan(0);
    expect(got.filter((s) => s.strategyId === 'ema')).toEqual(expectedEma);
    // MACD was not changed: its signals are those of one instance fed everything.
    const macdAll = direct(candles.slice(LIVE - WARMUP, LIVE), [...before, ...after]).filter((s) => s.strategyId === 'macd');
    expect(got.filter((s) => s.strategyId === 'macd')).toEqual(macdAll.filter((s) => s.timestamp >= after[0]!.timestamp));
    expect(t.indicators.at(-1)!.values).toEqual({ rsi: rsi.value });

    const base = { provider: 'history', symbols: [SYMBOL], timeframes: [TF], warmup: { bars: WARMUP } };
    await expect(t.runner.reconfigure(agent.configSchema.parse({ ...base, strategies: [{ ...STRATEGIES[0], id: 'ema2' }, STRATEGIES[1]] }))).rejects.toThrow(
      /strategies\[0\]\.id cannot change while the agent runs: restart the agent/,
    );
    await expect(t.runner.reconfigure(agent.configSchema.parse({ ...base, strategies: [STRATEGIES[0]] }))).rejects.toThrow(/strategies cannot change while the agent runs/);
    await t.system.stop();
  });
});
