import { describe, expect, it } from 'vitest';
import { VirtualClock, createSystem, type BuiltinEvents } from '@tradebus/core';
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

async function setup(config: Partial<StrategyRunnerConfigInput> = {}, options: { definition?: typeof agent; prepare?: (p: HistoryProvider) => void } = {}) {
  const clock = new VirtualClock(candles[LIVE]!.timestamp);
  const provider = new HistoryProvider(candles, clock);
  options.prepare?.(provider);
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
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
