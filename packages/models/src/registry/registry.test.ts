import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PageHinkley } from './drift.js';
import { ModelRegistryError } from './errors.js';
import { promotionDecision } from './gate.js';
import { ModelRegistry } from './registry.js';
import { TrackRecord } from './track.js';

const FEATURES = ['return_1', 'volatility_20'];
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'registry-')), 'models.json');

/** Deterministic uniform numbers in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

describe('model registry', () => {
  it('keeps versions, statuses and their history across a reopen; one active version per name', async () => {
    expect(ModelRegistry.inMemory().file).toBeUndefined();
    const file = tempFile();
    const registry = await ModelRegistry.open(file);
    await registry.register({ name: 'lr', version: '1', features: FEATURES, status: 'active', source: { kind: 'onnx' } }, 1_000);
    await registry.register({ name: 'lr', version: '2', features: FEATURES, status: 'shadow' }, 2_000);
    // Registering again returns the stored version: its status is not reset by the config.
    expect((await registry.register({ name: 'lr', version: '2', features: FEATURES, status: 'active' }, 2_500)).status).toBe('shadow');
    await registry.setStatus('lr', '2', 'active', 'brier 0.2400 beats 0.2500', 3_000);
    await registry.saveMetrics([{ name: 'lr', version: '2', metrics: { outcomes: 300, accuracy: 0.55, brier: 0.24, total: 300 } }]);

    const again = await ModelRegistry.open(file);
    expect(again.active('lr')).toMatchObject({ version: '2', metrics: { outcomes: 300, brier: 0.24 } });
    expect(again.get('lr', '1')).toMatchObject({
      status: 'shadow',
      history: [
        { at: 1_000, status: 'active', reason: 'registered' },
        { at: 3_000, status: 'shadow', reason: 'version 2 promoted: brier 0.2400 beats 0.2500' },
      ],
    });
    expect(again.list('lr').filter((m) => m.status === 'active')).toHaveLength(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).models).toHaveLength(2);
  });

  it('refuses a known version with other features, an unknown version, and a damaged file, naming what is wrong', async () => {
    const file = tempFile();
    const registry = await ModelRegistry.open(file);
    await registry.register({ name: 'lr', version: '1', features: FEATURES, status: 'active' }, 0);
    const conflict = await registry.register({ name: 'lr', version: '1', features: ['return_1'], status: 'active' }, 0).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ModelRegistryError);
    expect((conflict as ModelRegistryError).code).toBe('MODEL_REGISTRY_CONFLICT');
    expect((conflict as Error).message).toContain('needs a new version');
    const unknown = await registry.setStatus('lr', '9', 'active', 'x', 0).catch((e: unknown) => e);
    expect((unknown as ModelRegistryError).code).toBe('MODEL_REGISTRY_UNKNOWN');
    expect((unknown as Error).message).toContain('(versions: 1)');
    writeFileSync(file, JSON.stringify({ models: [{ name: 'lr', version: '1', status: 'paused' }] }));
    const damaged = await ModelRegistry.open(file).catch((e: unknown) => e);
    expect((damaged as ModelRegistryError).code).toBe('MODEL_REGISTRY_INVALID');
    expect((damaged as Error).message).toContain('models[0].status');
  });
});

describe('track record', () => {
  it('gives the accuracy and Brier score of the last `window` outcomes, as computed directly', () => {
    const next = uniform(7);
    const track = new TrackRecord(50);
    const all: Array<[number, boolean]> = [];
    for (let i = 0; i < 173; i++) {
      const p = next();
      const up = next() < p;
      all.push([p, up]);
      track.record(p, up);
    }
    const last = all.slice(-50);
    const accuracy = last.filter(([p, up]) => (p >= 0.5) === up).length / 50;
    const brier = last.reduce((a, [p, up]) => a + (p - (up ? 1 : 0)) ** 2, 0) / 50;
    const summary = track.summary();
    expect(summary.outcomes).toBe(50);
    expect(summary.accuracy).toBe(accuracy);
    expect(summary.brier).toBeCloseTo(brier, 12);
    expect(track.total).toBe(173);
    expect(new TrackRecord(5).summary().outcomes).toBe(0);
  });
});

describe('promotion gate', () => {
  it('promotes only with enough outcomes and a better score by the margin', () => {
    const active = { outcomes: 300, accuracy: 0.52, brier: 0.25 };
    expect(promotionDecision({ outcomes: 199, accuracy: 0.9, brier: 0.1 }, active, { minOutcomes: 200 })).toEqual({ promote: false, reason: 'scored on 199 of the 200 outcomes needed' });
    expect(promotionDecision({ outcomes: 200, accuracy: 0.6, brier: 0.245 }, active, { minOutcomes: 200, margin: 0.01 }).promote).toBe(false);
    expect(promotionDecision({ outcomes: 200, accuracy: 0.6, brier: 0.24 }, active, { minOutcomes: 200, margin: 0.01 }).promote).toBe(true);
    expect(promotionDecision({ outcomes: 200, accuracy: 0.53, brier: 0.2 }, active, { minOutcomes: 200, metric: 'accuracy', margin: 0.02 }).promote).toBe(false);
    expect(promotionDecision({ outcomes: 200, accuracy: 0.54, brier: 0.3 }, active, { minOutcomes: 200, metric: 'accuracy', margin: 0.02 }).promote).toBe(true);
  });
});

describe('Page-Hinkley drift test', () => {
  /** The published recursion, written out independently: the step at which it first exceeds λ. */
  function firstAlarm(losses: readonly number[], delta: number, lambda: number, minOutcomes: number): number {
    let sum = 0;
    let m = 0;
    let min = 0;
    for (let t = 1; t <= losses.length; t++) {
      sum += losses[t - 1]!;
      m += losses[t - 1]! - sum / t - delta;
      min = Math.min(min, m);
      if (t >= minOutcomes && m - min > lambda) return t;
    }
    return -1;
  }

  it('stays quiet on a steady loss and fires where the recursion says after the loss rises', () => {
    const next = uniform(3);
    // A calibrated model's Brier terms, then a model that has lost its edge.
    const steady = Array.from({ length: 400 }, () => 0.2 * next());
    const worse = Array.from({ length: 400 }, () => 0.2 + 0.3 * next());
    const quiet = new PageHinkley({ delta: 0.01, lambda: 3, minOutcomes: 30 });
    expect(steady.some((x) => quiet.update(x))).toBe(false);

    const losses = [...steady, ...worse];
    const expected = firstAlarm(losses, 0.01, 3, 30);
    expect(expected).toBeGreaterThan(400);
    const test = new PageHinkley({ delta: 0.01, lambda: 3, minOutcomes: 30 });
    const fired = losses.findIndex((x) => test.update(x)) + 1;
    expect(fired).toBe(expected);
  });
});
