import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VirtualClock, createSystem, type CandleEvent } from '@tradebus/core';
import { ReplayProvider } from '@tradebus/providers';
import { createStrategies, type Signal, type StrategyCandle } from '@tradebus/strategies';
import { agent as priceWatchdog } from '@tradebus/agent-price-watchdog';
import { agent as strategyRunner, type StrategyRunnerAgent } from '@tradebus/agent-strategy-runner';

// Real Binance ADA/BTC 5-minute candles (see data/SOURCE.md), including the gaps the exchange left.
const FILE = fileURLToPath(new URL('./data/binance-ADA-BTC-5m.csv', import.meta.url));
const SYMBOL = 'ADA/BTC';
const TF = '5m';
const BAR = 300_000;
const HISTORY = 300;
const PLAYED = 2_000;
const STRATEGIES = [
  { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
  { type: 'donchian-breakout', id: 'donchian' },
];

const candles: StrategyCandle[] = readFileSync(FILE, 'utf8')
  .trim()
  .split(/\r?\n/)
  .slice(1)
  .map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number) as [number, number, number, number, number, number];
    return { symbol: SYMBOL, timeframe: TF, timestamp, open, high, low, close, volume };
  });
const history = candles.slice(0, HISTORY);
const played = candles.slice(HISTORY, HISTORY + PLAYED);

interface Run {
  closed: CandleEvent[];
  signals: Signal[];
  /** For each signal, the source of the event that caused it. */
  causedBy: Array<string | undefined>;
  records: number;
  gaps: number;
  /** History bars the strategy-runner warmed up on. */
  warmedUpOn: number | undefined;
}

/** ReplayProvider → price-watchdog → candle.closed → strategy-runner → signal.generated, in one process on a virtual clock. */
async function run(): Promise<Run> {
  const clock = new VirtualClock(0);
  const replay = new ReplayProvider({
    clock,
    sources: [{ type: 'candles', file: FILE, symbol: SYMBOL, timeframe: TF }],
    warmupBars: HISTORY,
    endAt: played.at(-1)!.timestamp + BAR,
  });
  await replay.load();
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    services: { 'provider:replay': replay },
    agents: [
      { id: 'prices', definition: priceWatchdog, config: { provider: 'replay', symbols: [SYMBOL], timeframes: [TF], ticks: false } },
      {
        id: 'strategies',
        definition: strategyRunner,
        dependsOn: ['prices'],
        config: { provider: 'replay', symbols: [SYMBOL], timeframes: [TF], strategies: STRATEGIES, warmup: { bars: HISTORY } },
      },
    ],
  });
  const closed: CandleEvent[] = [];
  const signals: Signal[] = [];
  const causedBy: Array<string | undefined> = [];
  const sourceOf = new Map<string, string>();
  system.bus.subscribe('candle.closed', (e) => {
    closed.push(e.payload);
    sourceOf.set(e.id, e.source);
  });
  system.bus.subscribe('signal.generated', (e) => {
    signals.push(e.payload);
    causedBy.push(e.causationId === undefined ? undefined : sourceOf.get(e.causationId));
  });
  await system.start();
  const summary = await replay.start();
  const warmedUpOn = system.agent<StrategyRunnerAgent>('strategies').series()[0]?.historyBars;
  await system.stop();
  return { closed, signals, causedBy, records: summary.records, gaps: summary.gaps.length, warmedUpOn };
}

describe('replayed candles to signals, in one process', () => {
  it('publishes every played bar once and in order, and exactly the signals of the strategies, the same on every run', async () => {
    const first = await run();
    expect(first.records).toBe(PLAYED);
    expect(first.gaps).toBeGreaterThan(0);
    expect(first.warmedUpOn).toBe(HISTORY);
    expect(first.closed.map((c) => c.timestamp)).toEqual(played.map((c) => c.timestamp));
    expect(first.closed[100]).toEqual(played[100]);

    // Warm-up on the replay's history published nothing; afterwards the runner published exactly
    // what the strategies produce when fed the same history and bars directly.
    const strategies = createStrategies(STRATEGIES);
    for (const s of strategies) s.warmUp(history);
    const expected = played.flatMap((c) => strategies.flatMap((s) => s.onCandle(c)));
    expect(expected.length).toBeGreaterThan(10);
    expect(first.signals).toEqual(expected);
    expect(first.signals.every((s) => (s.metadata?.barTime as number) >= played[0]!.timestamp)).toBe(true);
    expect(new Set(first.causedBy)).toEqual(new Set(['prices']));

    const second = await run();
    expect(second.closed).toEqual(first.closed);
    expect(second.signals).toEqual(first.signals);
  });
});
