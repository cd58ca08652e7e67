import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { FeaturePipeline, ScheduledCalibrator, logisticRegressionOnnx, parseFeatureConfig, type ModelRegistry } from '@tradebus/models';
import type { StrategyCandle } from '@tradebus/strategies';
import { TestOipServer } from '../../../models/src/test-support/oip-server.js';
import { agent, type ModelEvents, type ModelRunnerAgent, type ModelRunnerConfigInput } from './index.js';
import { BAR, SYMBOL, TF, loadCandles } from './test-support/candles.js';

const candles = loadCandles();
const FEATURES = { returns: [1, 3], volatility: [10], volumeZScore: [10] };
/** Momentum on the last returns, against volatility; a second model leans on volume. */
const MOMENTUM = { weights: [400, 150, -60, 0.05], bias: 0 };
const VOLUME = { weights: [100, 50, -20, 0.4], bias: -0.1 };
const REVERSAL = { weights: [-400, -150, 60, -0.05], bias: 0 };

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
/** The logistic model evaluated by hand, with the float32 numbers the ONNX file holds. */
function byHand(model: { weights: number[]; bias: number }, x: readonly number[]): number {
  const f = Math.fround;
  return sigmoid(x.reduce((a, v, j) => a + f(model.weights[j]!) * f(v), f(model.bias)));
}

const dir = mkdtempSync(join(tmpdir(), 'model-runner-'));
function onnxFile(name: string, model: { weights: number[]; bias: number }): string {
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, logisticRegressionOnnx(model));
  return file;
}
const files = { momentum: onnxFile('momentum', MOMENTUM), volume: onnxFile('volume', VOLUME), reversal: onnxFile('reversal', REVERSAL) };

const systems: TradebusSystem[] = [];
afterEach(async () => {
  for (const s of systems.splice(0)) await s.stop();
});

async function setup(config: Partial<ModelRunnerConfigInput>) {
  const clock = new VirtualClock(candles[0]!.timestamp);
  const store = new MemoryStateStore();
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    agents: [
      {
        id: 'model',
        definition: agent,
        config: {
          symbols: [SYMBOL],
          timeframe: TF,
          features: FEATURES,
          models: [{ name: 'momentum', source: { kind: 'onnx', file: files.momentum } }],
          ...config,
        },
      },
    ],
  });
  systems.push(system);
  const signals: Array<BuiltinEvents['signal.generated']> = [];
  const predictions: Array<ModelEvents['model.prediction']> = [];
  const health: Array<ModelEvents['model.health']> = [];
  const alerts: Array<BuiltinEvents['system.alert']> = [];
  system.bus.subscribe('signal.generated', (e) => void signals.push(e.payload));
  system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload));
  (system.bus as unknown as { subscribe(t: string, h: (e: { payload: unknown }) => void): void }).subscribe('model.prediction', (e) => void predictions.push(e.payload as ModelEvents['model.prediction']));
  (system.bus as unknown as { subscribe(t: string, h: (e: { payload: unknown }) => void): void }).subscribe('model.health', (e) => void health.push(e.payload as ModelEvents['model.health']));
  await system.start();
  const runner = system.agent<ModelRunnerAgent>('model');
  const play = async (bars: readonly StrategyCandle[]) => {
    // Bar by bar, as a replay plays them: the next bar comes once the runner is idle.
    for (const c of bars) {
      clock.advanceTo(Math.max(clock.now(), c.timestamp + BAR));
      system.bus.publish('candle.closed', c);
      await runner.whenIdle();
    }
  };
  return { system, clock, runner, signals, predictions, health, alerts, play };
}

/** The features of every bar from a pipeline of its own, fed the same bars. */
function featuresOf(bars: readonly StrategyCandle[]): Array<readonly number[] | undefined> {
  const pipeline = new FeaturePipeline(parseFeatureConfig(FEATURES));
  return bars.map((c) => {
    const v = pipeline.update(c);
    return v === undefined ? undefined : [...v];
  });
}

describe('model-runner config', () => {
  it('names a bad key by its path', () => {
    const noKind = agent.configSchema.safeParse({ symbols: ['X/Y'], features: FEATURES, models: [{ name: 'a', source: { file: 'a.onnx' } }] });
    expect(noKind.error?.issues[0]?.path).toEqual(['models', 0, 'source', 'kind']);
    const badFeature = agent.configSchema.safeParse({ symbols: ['X/Y'], features: { returns: [0] }, models: [{ name: 'a', source: { kind: 'onnx', file: 'a.onnx' } }] });
    expect(badFeature.error?.issues[0]?.path).toEqual(['features', 'returns', 0]);
    const twoActive = agent.configSchema.safeParse({
      symbols: ['X/Y'],
      features: FEATURES,
      models: [
        { name: 'a', version: '1', source: { kind: 'onnx', file: 'a.onnx' } },
        { name: 'a', version: '2', source: { kind: 'onnx', file: 'b.onnx' } },
      ],
    });
    expect(twoActive.error?.issues[0]?.message).toContain("second active version of 'a'");
    const badUrl = agent.configSchema.safeParse({ symbols: ['X/Y'], features: FEATURES, models: [{ name: 'a', source: { kind: 'oip', url: 'nope', model: 'a' } }] });
    expect(badUrl.error?.issues[0]?.path).toEqual(['models', 0, 'source', 'url']);
  });
});

describe('model-runner on real candles', () => {
  it('predicts every bar with the features and probabilities computed by hand, and signals each change of the ensemble side with its votes', async () => {
    const t = await setup({
      models: [
        { name: 'momentum', source: { kind: 'onnx', file: files.momentum } },
        { name: 'volume', source: { kind: 'onnx', file: files.volume } },
        { name: 'momentum', version: '2', status: 'shadow', source: { kind: 'onnx', file: files.reversal } },
      ],
      signals: { minConfidence: 0.52 },
      registry: { drift: { enabled: false }, autoPromote: false },
    });
    const bars = candles.slice(0, 400);
    await t.play(bars);
    const expected = featuresOf(bars);
    const warm = expected.findIndex((v) => v !== undefined);
    expect(t.predictions).toHaveLength(bars.length - warm);
    let worst = 0;
    t.predictions.forEach((p, i) => {
      const x = expected[warm + i]!;
      expect(p.barTime).toBe(bars[warm + i]!.timestamp);
      expect(Object.values(p.features)).toEqual(x);
      expect(p.votes.map((v) => [v.model, v.version, v.status])).toEqual([
        ['momentum', '1', 'active'],
        ['volume', '1', 'active'],
        ['momentum', '2', 'shadow'],
      ]);
      const hand = [byHand(MOMENTUM, x), byHand(VOLUME, x), byHand(REVERSAL, x)];
      p.votes.forEach((v, j) => (worst = Math.max(worst, Math.abs(v.probability - hand[j]!))));
      // Shadow versions never vote; the active weights share the decision.
      expect(p.votes[2]!.weight).toBeNull();
      expect(p.votes[0]!.weight! + p.votes[1]!.weight!).toBeCloseTo(1, 12);
    });
    expect(worst).toBeLessThanOrEqual(1e-6);

    // A signal goes out exactly on the bars where the side differs from the last one published.
    let last = 'flat';
    const changes = t.predictions.filter((p) => {
      if (p.side === last) return false;
      last = p.side;
      return true;
    });
    expect(changes.length).toBeGreaterThan(3);
    expect(t.signals.map((s) => [s.side, s.metadata?.barTime])).toEqual(changes.map((p) => [p.side, p.barTime]));
    for (const s of t.signals) {
      const p = changes.find((c) => c.barTime === s.metadata?.barTime)!;
      expect(s.id).toBe(`model:${SYMBOL}:${TF}:${p.barTime}:${s.side}`);
      expect(s.strategyId).toBe('model');
      expect(s.confidence).toBe(p.confidence);
      expect(s.price).toBe(bars.find((c) => c.timestamp === p.barTime)!.close);
      expect(s.metadata?.features).toEqual(p.features);
      expect(s.reason).toContain('momentum@1 p(up)');
      expect(s.reason).toContain('volume@1 p(up)');
      expect(s.reason).not.toContain('momentum@2');
      if (s.side !== 'flat') expect(s.confidence).toBeGreaterThanOrEqual(0.52);
    }
  });

  it('gives the same signals on a second run over the same bars', async () => {
    const config = { models: [{ name: 'momentum', source: { kind: 'onnx' as const, file: files.momentum } }, { name: 'volume', source: { kind: 'onnx' as const, file: files.volume } }], signals: { minConfidence: 0.52 } };
    const a = await setup(config);
    await a.play(candles.slice(0, 600));
    const b = await setup(config);
    await b.play(candles.slice(0, 600));
    expect(a.signals.length).toBeGreaterThan(3);
    expect(b.signals).toEqual(a.signals);
  });

  it('promotes a shadow version at the first outcome where its rolling Brier score beats the active one by the margin', async () => {
    const minOutcomes = 150;
    const margin = 0.0005;
    const t = await setup({
      models: [
        { name: 'm', version: '1', source: { kind: 'onnx', file: files.momentum } },
        { name: 'm', version: '2', status: 'shadow', source: { kind: 'onnx', file: files.reversal } },
      ],
      registry: { window: 200, promotion: { minOutcomes, margin, metric: 'brier' }, drift: { enabled: false } },
    });
    const bars = candles.slice(0, 1_200);
    await t.play(bars);
    // Independently: score both versions' predictions one bar later, window of 200, and find the gate's first pass.
    const closeAt = new Map(bars.map((c, i) => [c.timestamp, i]));
    const scored: Array<{ p1: number; p2: number; up: boolean; at: number }> = [];
    for (const p of t.predictions) {
      const i = closeAt.get(p.barTime)!;
      if (i + 1 >= bars.length) break;
      scored.push({ p1: p.votes.find((v) => v.version === '1')!.probability, p2: p.votes.find((v) => v.version === '2')!.probability, up: bars[i + 1]!.close > bars[i]!.close, at: bars[i + 1]!.timestamp });
    }
    const brier = (xs: typeof scored, k: 'p1' | 'p2') => xs.reduce((a, s) => a + (s[k] - (s.up ? 1 : 0)) ** 2, 0) / xs.length;
    let promotedAt: number | undefined;
    for (let n = minOutcomes; n <= scored.length; n++) {
      const window = scored.slice(Math.max(0, n - 200), n);
      if (brier(window, 'p2') <= brier(window, 'p1') - margin) {
        promotedAt = scored[n - 1]!.at;
        break;
      }
    }
    expect(promotedAt, 'the reversal model beats momentum on these bars').toBeDefined();
    const registry: ModelRegistry = t.runner.modelRegistry;
    const history = registry.get('m', '2')!.history;
    expect(history[1]).toMatchObject({ status: 'active', at: promotedAt! + BAR });
    expect(history[1]!.reason).toMatch(/^brier .* beats the active version's .* by the margin 0.0005 over \d+ outcomes$/);
    expect(registry.get('m', '1')!.history[1]).toMatchObject({ status: 'shadow', at: promotedAt! + BAR });
    expect(t.alerts.find((a) => a.code === 'MODEL_PROMOTED')?.message).toContain('m@2 is now active in place of m@1');
    // The replaced version needs minOutcomes new outcomes before it can win its place back.
    const next = registry.get('m', '1')!.history[2]?.at ?? Number.POSITIVE_INFINITY;
    expect(next - (promotedAt! + BAR)).toBeGreaterThanOrEqual(minOutcomes * BAR);
    // From the bar that scored the promotion on, version 2 votes and version 1 is the shadow.
    const before = t.predictions.filter((p) => p.barTime < promotedAt!);
    const after = t.predictions.filter((p) => p.barTime >= promotedAt! && p.barTime < next - BAR);
    expect(before.every((p) => p.votes.find((v) => v.version === '1')!.status === 'active')).toBe(true);
    expect(after.length).toBeGreaterThanOrEqual(minOutcomes - 1);
    expect(after.every((p) => p.votes.find((v) => v.version === '2')!.status === 'active' && p.votes.find((v) => v.version === '1')!.weight === null)).toBe(true);
  });

  it('demotes an active version when the Page-Hinkley test on its Brier terms fires, at the bar the recursion says', async () => {
    const drift = { delta: 0.001, lambda: 0.5, minOutcomes: 30 };
    const t = await setup({
      models: [{ name: 'm', source: { kind: 'onnx', file: files.momentum } }],
      registry: { drift, autoPromote: false },
    });
    const bars = candles.slice(0, 1_500);
    await t.play(bars);
    const index = new Map(bars.map((c, i) => [c.timestamp, i]));
    let n = 0;
    let mean = 0;
    let m = 0;
    let min = 0;
    let expectedAt: number | undefined;
    for (const p of t.predictions) {
      const i = index.get(p.barTime)!;
      if (i + 1 >= bars.length) break;
      const y = bars[i + 1]!.close > bars[i]!.close ? 1 : 0;
      const loss = (p.votes[0]!.probability - y) ** 2;
      n++;
      mean += (loss - mean) / n;
      m += loss - mean - drift.delta;
      min = Math.min(min, m);
      if (n >= drift.minOutcomes && m - min > drift.lambda) {
        expectedAt = bars[i + 1]!.timestamp;
        break;
      }
    }
    expect(expectedAt, 'the test fires on these bars').toBeDefined();
    expect(t.runner.modelRegistry.get('m', '1')?.status).toBe('shadow');
    expect(t.runner.modelRegistry.get('m', '1')?.history.at(-1)?.reason).toMatch(/^drift: Page-Hinkley/);
    expect(t.alerts.find((a) => a.code === 'MODEL_DEMOTED')).toBeDefined();
    // The bar that scored the alarm is the first one predicted with the version in shadow.
    const first = t.predictions.find((p) => p.votes[0]!.status === 'shadow')!;
    expect(first.barTime).toBe(expectedAt);
    // With no active version left, no signal is published after it.
    expect(t.signals.every((s) => (s.metadata?.barTime as number) < expectedAt!)).toBe(true);
  });

  it('asks a model server too, leaves it out while it fails, publishes its breaker on the bus, and takes it back once it answers', async () => {
    const server = await new TestOipServer('volume', VOLUME.weights, VOLUME.bias).start();
    try {
      const t = await setup({
        models: [
          { name: 'momentum', source: { kind: 'onnx', file: files.momentum } },
          { name: 'volume', source: { kind: 'oip', url: server.url, model: 'volume', retries: 0, failureThreshold: 2, cooldownMs: 3_600_000, headers: { authorization: 'Bearer s3cret' } } },
        ],
        registry: { drift: { enabled: false } },
      });
      const bars = candles.slice(0, 120);
      await t.play(bars.slice(0, 60));
      const served = t.predictions.at(-1)!;
      const x = Object.values(served.features);
      // The server computes in double precision what the ONNX model does in float32.
      expect(served.votes.find((v) => v.model === 'volume')!.probability).toBeCloseTo(sigmoid(VOLUME.bias + x.reduce((a, v, j) => a + VOLUME.weights[j]! * v, 0)), 6);
      expect(t.health.some((h) => h.model === 'volume' && h.ready === true)).toBe(true);
      // The registry says where the version is served from, never with its headers.
      expect(t.runner.modelRegistry.get('volume', '1')?.source).toEqual({ kind: 'oip', url: server.url, model: 'volume' });
      expect(JSON.stringify(t.runner.modelRegistry.list())).not.toContain('s3cret');
      const servedCalls = server.inferCalls();
      expect(servedCalls).toBe(t.predictions.length);

      server.failures = 1_000;
      await t.play(bars.slice(60, 70));
      const failing = t.predictions.slice(-10);
      expect(failing.every((p) => p.votes.length === 1 && p.votes[0]!.model === 'momentum' && p.votes[0]!.weight === 1)).toBe(true);
      expect(failing[0]!.failed[0]).toMatchObject({ model: 'volume', version: '1' });
      expect(failing[0]!.failed[0]!.error).toContain('HTTP 503');
      expect(failing.at(-1)!.failed[0]!.error).toContain('circuit breaker opened after 2 failed calls');
      // Two calls opened the breaker; the other bars did not reach the server.
      expect(server.inferCalls()).toBe(servedCalls + 2);
      expect(t.health.at(-1)).toMatchObject({ model: 'volume', kind: 'oip', breaker: 'open', consecutiveFailures: 2 });
      expect(t.alerts.filter((a) => a.code === 'MODEL_FAILED')).toHaveLength(1);

      server.failures = 0;
      t.clock.advanceTo(t.clock.now() + 3_600_000);
      await t.play(bars.slice(70, 120));
      expect(t.predictions.at(-1)!.votes.map((v) => v.model)).toEqual(['momentum', 'volume']);
      expect(t.health.at(-1)).toMatchObject({ breaker: 'closed' });
    } finally {
      await server.stop();
    }
  });

  it("calibrates a version's p(up) on its own track record: each bar's probability is the model's, mapped by a calibrator fed the earlier outcomes", async () => {
    const calibration = { method: 'platt' as const, minOutcomes: 50, refitEvery: 25 };
    const t = await setup({ models: [{ name: 'momentum', source: { kind: 'onnx', file: files.momentum }, calibration }], registry: { drift: { enabled: false } } });
    const bars = candles.slice(0, 400);
    await t.play(bars);
    const x = featuresOf(bars);
    const index = new Map(bars.map((c, i) => [c.timestamp, i]));
    // The same calibrator, fed by the test: the raw p(up) by hand, the outcome one bar later.
    const reference = new ScheduledCalibrator(calibration);
    let previous: { raw: number; i: number } | undefined;
    let changed = 0;
    for (const p of t.predictions) {
      const i = index.get(p.barTime)!;
      if (previous !== undefined) reference.record({ confidence: previous.raw, outcome: bars[i]!.close > bars[previous.i]!.close ? 1 : 0 }, bars[i]!.timestamp);
      const raw = byHand(MOMENTUM, x[i]!);
      const expected = reference.calibrate(raw);
      // The model computes in float32 (its p differs from the formula's by ~1e-7); the fits carry that along.
      expect(Math.abs(p.votes[0]!.probability - expected)).toBeLessThanOrEqual(1e-4);
      if (Math.abs(expected - raw) > 1e-3) changed++;
      previous = { raw, i };
    }
    // The calibration did change the probabilities once fitted.
    expect(changed).toBeGreaterThan(100);
  });

  it('is degraded and signals nothing while no active model answers, and runs again once one does', async () => {
    const server = await new TestOipServer('volume', VOLUME.weights, VOLUME.bias).start();
    try {
      const t = await setup({
        models: [{ name: 'volume', source: { kind: 'oip', url: server.url, model: 'volume', retries: 0, failureThreshold: 1_000 } }],
        signals: { minConfidence: 0.5 },
        registry: { drift: { enabled: false } },
      });
      await t.play(candles.slice(0, 40));
      expect(t.runner.state).toBe('running');
      server.failures = 1_000;
      const before = t.signals.length;
      await t.play(candles.slice(40, 80));
      expect(t.runner.state).toBe('degraded');
      expect(t.runner.detail).toContain('no active model answered');
      expect(t.signals.length).toBe(before);
      expect(t.predictions.slice(-40).every((p) => p.probability === null && p.votes.length === 0 && p.failed.length === 1)).toBe(true);
      server.failures = 0;
      await t.play(candles.slice(80, 100));
      expect(t.runner.state).toBe('running');
      expect(t.predictions.at(-1)!.probability).not.toBeNull();
    } finally {
      await server.stop();
    }
  });

  it('probes its model servers for readiness every health.intervalMs of the agent clock and publishes each answer', async () => {
    const server = await new TestOipServer('volume', VOLUME.weights, VOLUME.bias).start();
    try {
      const t = await setup({
        models: [{ name: 'volume', source: { kind: 'oip', url: server.url, model: 'volume' } }],
        health: { intervalMs: 1_800_000 },
        registry: { drift: { enabled: false } },
      });
      // 60 bars of 5 minutes: 5 hours, so 10 probes beside the one at start.
      await t.play(candles.slice(0, 60));
      const probes = () => server.requests.filter((r) => r.path === '/v2/health/ready').length;
      for (let i = 0; i < 100 && probes() < 11; i++) await new Promise((r) => setTimeout(r, 20));
      expect(probes()).toBe(11);
      server.ready = false;
      t.clock.advanceTo(t.clock.now() + 1_800_000);
      for (let i = 0; i < 100 && t.health.at(-1)?.ready !== false; i++) await new Promise((r) => setTimeout(r, 20));
      expect(t.health.at(-1)).toMatchObject({ model: 'volume', kind: 'oip', breaker: 'closed', ready: false });
      expect(t.health.at(-1)!.lastError).toContain('503');
    } finally {
      await server.stop();
    }
  });
});
