import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuiltinEvents, CandleEvent } from '@tradebus/core';
import { createStrategies, type Signal } from '@tradebus/strategies';
import type { ReplayProvider } from '@tradebus/providers';
import { launchSystem, type RunningSystem } from './launcher.js';
import { prepareSystem } from './prepare.js';
import { waitUntilIdle } from './pacing.js';
import { OVERRIDES_FILE } from './config-overrides.js';

/**
 * Settings changed while running, through the real API of a whole system on the local bus: a
 * replay of real candles, the built-in agents, a paper venue. The system plays to a moment, the
 * test changes settings there (the replay waits), and the system plays on; then it is stopped
 * and started again on the same data directory.
 */

const DATA_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../tests/trading/data');
const SYMBOLS = ['ETH/BTC', 'LTC/BTC'] as const;
const BAR = 300_000;
const FIRST_BAR = 1515560100000;
const WARMUP = 200;
const STRATEGY_WARMUP = 100;
const TOKEN = 'live-settings-test-token-000000';
const STRATEGIES = [
  { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
  { type: 'donchian-breakout', id: 'donchian' },
];
/** Market time (a bar's close) at which the settings change, and where each run's replay ends. */
const CHANGE_AT = FIRST_BAR + (WARMUP + 400) * BAR;
const END_1 = FIRST_BAR + (WARMUP + 800) * BAR;
const END_2 = FIRST_BAR + (WARMUP + 1200) * BAR;

function csvBars(symbol: string): CandleEvent[] {
  const [, ...rows] = readFileSync(join(DATA_DIR, `binance-${symbol.split('/')[0]}-BTC-5m.csv`), 'utf8').trim().split('\n');
  return rows.map((row) => {
    const [timestamp, open, high, low, close, volume] = row.split(',').map(Number);
    return { symbol, timeframe: '5m', timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
}

/**
 * What a strategy started fresh with `params` signals on the bars closing in (from, to], warmed
 * on the `warm` bars that closed at or before `from`: computed here, outside the system.
 */
function freshSignals(params: Record<string, number>, from: number, to: number, warm = STRATEGY_WARMUP): Signal[] {
  const out: Signal[] = [];
  for (const symbol of SYMBOLS) {
    const [strategy] = createStrategies([{ type: 'ema-cross', id: 'ema', params }]);
    const bars = csvBars(symbol);
    const before = bars.filter((b) => b.timestamp + BAR <= from).slice(-warm);
    expect(before).toHaveLength(warm);
    // One bar at a time, as the runner warms a strategy when it starts.
    for (const bar of before) strategy!.warmUp([bar]);
    for (const bar of bars.filter((b) => b.timestamp + BAR > from && b.timestamp + BAR <= to)) out.push(...strategy!.onCandle(bar));
  }
  return out;
}

const bySymbolAndTime = (a: Signal, b: Signal): number => a.symbol.localeCompare(b.symbol) || a.timestamp - b.timestamp;

function writeConfig(dir: string, endAt: number): string {
  const file = join(dir, 'tradebus.yaml');
  writeFileSync(
    file,
    `
system: { name: live-settings, clock: market }
log: { level: silent }
api: { enabled: true, port: 0 }
data: { dir: ${join(dir, 'data')} }
providers:
  market:
    kind: replay
    warmupBars: ${WARMUP}
    endAt: ${endAt}
    sources:
${SYMBOLS.map((s) => `      - { type: candles, file: ${join(DATA_DIR, `binance-${s.split('/')[0]}-BTC-5m.csv`)}, symbol: ${s}, timeframe: 5m }`).join('\n')}
  paper:
    kind: paper
    marketData: market
    quoteCurrency: BTC
    balances: { BTC: 1 }
    fees: { maker: 0.001, taker: 0.001 }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [${SYMBOLS.join(', ')}], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategies
    use: strategy-runner
    config:
      provider: market
      symbols: [${SYMBOLS.join(', ')}]
      timeframes: [5m]
      strategies: ${JSON.stringify(STRATEGIES)}
      warmup: { bars: ${STRATEGY_WARMUP} }
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      equity: { initial: 1 }
      aggregation: { minConfidence: 0.3 }
      sizing: { riskPerTradePct: 1, quantityStep: 0.001 }
      limits: { maxOpenPositions: 5, maxExposurePerSymbolPct: 45, maxTotalExposurePct: 90 }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

interface Run {
  running: RunningSystem;
  signals: Signal[];
  decisions: Array<BuiltinEvents['signal.decided']>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Plays the replay to its end; `at` runs once the system is idle after the moment `moment`. */
  play(at?: { moment: number; run: () => Promise<void> }): Promise<void>;
}

let current: RunningSystem | undefined;
afterEach(async () => {
  await current?.stop().catch(() => undefined);
  current = undefined;
});

async function start(dir: string, endAt: number): Promise<Run> {
  const env = { TRADEBUS_API_TOKEN: TOKEN };
  const running = await launchSystem(await prepareSystem(writeConfig(dir, endAt), { env }), { env, startMarkets: false });
  current = running;
  const signals: Signal[] = [];
  const decisions: Array<BuiltinEvents['signal.decided']> = [];
  const bus = running.system.createBus('test');
  bus.subscribe('signal.generated', (e) => void signals.push(e.payload));
  bus.subscribe('signal.decided', (e) => void decisions.push(e.payload));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${running.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json() };
  };
  const replay = running.system.services.get<ReplayProvider>('provider:market');
  return {
    running,
    signals,
    decisions,
    api,
    async play(at) {
      let done = at === undefined;
      const remove = replay.feed!.addListener({
        step: async () => {
          if (done || running.system.clock.now() < at!.moment) return;
          done = true;
          await waitUntilIdle(running.system);
          await at!.run();
        },
      });
      running.startMarkets();
      await replay.start();
      remove();
      await waitUntilIdle(running.system);
      expect(done).toBe(true);
    },
  };
}

const emaAfter = (signals: Signal[], skip: number): Signal[] => signals.filter((s) => s.strategyId === 'ema').slice(skip).sort(bySymbolAndTime);
const limitHit = (d: BuiltinEvents['signal.decided'], limit: number): boolean => d.reasons.some((r) => r.endsWith(`positions open, the limit is ${limit}`));

describe('settings changed while running', () => {
  it('apply to the next decision and signal, are refused when invalid or not live, and survive a restart', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-live-settings-'));
    const overridesPath = join(dir, 'data', OVERRIDES_FILE);
    const first = await start(dir, END_1);

    expect((await first.api('GET', '/config/hot')).body.agents.manager).toContain('limits.*');
    expect((await first.api('GET', '/config/hot')).body.agents.strategies).toEqual(['strategies[].params.*', 'indicators.*']);

    let emaBefore = 0;
    let decisionsBefore = 0;
    let changedAt = 0;
    await first.play({
      moment: CHANGE_AT,
      run: async () => {
        changedAt = first.running.system.clock.now();
        emaBefore = first.signals.filter((s) => s.strategyId === 'ema').length;
        decisionsBefore = first.decisions.length;

        // Not a live setting: refused before any agent sees it, naming the key.
        const cold = await first.api('PATCH', '/config', { agents: { manager: { config: { timeframe: '1h' } } } });
        expect(cold.status).toBe(400);
        expect(cold.body.error.code).toBe('SETTING_NOT_LIVE');
        expect(cold.body.error.message).toContain('agents.manager.config.timeframe');
        expect(cold.body.error.message).toContain('restart the agent');
        const renamed = await first.api('PATCH', '/config', { agents: { strategies: { config: { strategies: [{ ...STRATEGIES[0], id: 'ema2' }, STRATEGIES[1]] } } } });
        expect(renamed.status).toBe(400);
        expect(renamed.body.error.message).toContain('agents.strategies.config.strategies[0].id');

        // Valid for the schema, refused by the agent with its reason; nothing changes.
        const ladder = [
          { drawdownPct: 10, sizeMultiplier: 0.5 },
          { drawdownPct: 15, sizeMultiplier: 0.8 },
        ];
        // The strategy runner comes first and accepts; the manager refuses: the runner goes back.
        const refused = await first.api('PATCH', '/config', {
          agents: {
            strategies: { config: { strategies: [{ ...STRATEGIES[0], params: { fast: 7, slow: 21 } }, STRATEGIES[1]] } },
            manager: { config: { limits: { maxOpenPositions: 2 }, breakers: { drawdownLadder: ladder } } },
          },
        });
        expect(refused.status).toBe(409);
        expect(refused.body.error.message).toContain('a deeper drawdown must not size up');
        const shownAfterRefusal = (await first.api('GET', '/config')).body.agents;
        const unchanged = shownAfterRefusal.find((a: { id: string }) => a.id === 'manager');
        expect(unchanged.config.limits.maxOpenPositions).toBe(5);
        expect(unchanged.config.breakers).toBeUndefined();
        expect(shownAfterRefusal.find((a: { id: string }) => a.id === 'strategies').config.strategies[0].params).toEqual({ fast: 9, slow: 21 });
        expect(existsSync(overridesPath)).toBe(false);

        const applied = await first.api('PATCH', '/config', {
          agents: {
            manager: { config: { limits: { maxOpenPositions: 1 } } },
            strategies: { config: { strategies: [{ ...STRATEGIES[0], params: { fast: 5, slow: 21 } }, STRATEGIES[1]] } },
          },
        });
        expect(applied.status).toBe(200);
      },
    });
    expect(changedAt).toBe(CHANGE_AT);

    // The other limits stayed: the change merged into them.
    const shown = (await first.api('GET', '/config')).body.agents.find((a: { id: string }) => a.id === 'manager');
    expect(shown.config.limits).toEqual({ maxOpenPositions: 1, maxExposurePerSymbolPct: 45, maxTotalExposurePct: 90 });
    expect(JSON.parse(readFileSync(overridesPath, 'utf8')).agents.manager).toEqual({ limits: { maxOpenPositions: 1 } });

    // Risk: under the old limit (5) one open position never blocks an entry; after the change it does.
    const after = first.decisions.slice(decisionsBefore);
    expect(first.decisions.slice(0, decisionsBefore).some((d) => d.decision === 'accepted')).toBe(true);
    expect(after.filter((d) => limitHit(d, 1)).length).toBeGreaterThan(0);
    expect(after.some((d) => limitHit(d, 5))).toBe(false);

    // Strategy: from the next bar on, exactly the signals of a fresh ema-cross (fast 5) warmed on the same bars.
    const expected = freshSignals({ fast: 5, slow: 21 }, CHANGE_AT, END_1).sort(bySymbolAndTime);
    expect(expected.length).toBeGreaterThan(5);
    // The change matters: the old parameters would have signalled differently.
    expect(freshSignals({ fast: 9, slow: 21 }, CHANGE_AT, END_1).sort(bySymbolAndTime)).not.toEqual(expected);
    expect(emaAfter(first.signals, emaBefore)).toEqual(expected);

    await first.running.stop();
    current = undefined;

    // Started again on the same data directory (the replay resumes where it stopped): still changed.
    const second = await start(dir, END_2);
    const restarted = (await second.api('GET', '/config')).body.agents;
    expect(restarted.find((a: { id: string }) => a.id === 'manager').config.limits.maxOpenPositions).toBe(1);
    expect(restarted.find((a: { id: string }) => a.id === 'strategies').config.strategies[0].params).toEqual({ fast: 5, slow: 21 });
    await second.play();
    expect(second.decisions.filter((d) => limitHit(d, 1)).length).toBeGreaterThan(0);
    expect(second.decisions.some((d) => limitHit(d, 5))).toBe(false);
    // A start warms the strategies on its own history; with the change kept, they signal as an
    // ema-cross with fast 5 does on these bars (the crossings and their prices), not as fast 9.
    const crossings = (signals: Signal[]) => signals.map((x) => `${x.symbol} ${x.timestamp} ${x.side} ${x.price} ${x.reason}`);
    const restartExpected = freshSignals({ fast: 5, slow: 21 }, END_1, END_2).sort(bySymbolAndTime);
    expect(restartExpected.length).toBeGreaterThan(5);
    expect(crossings(freshSignals({ fast: 9, slow: 21 }, END_1, END_2).sort(bySymbolAndTime))).not.toEqual(crossings(restartExpected));
    expect(crossings(emaAfter(second.signals, 0))).toEqual(crossings(restartExpected));
  });
});
