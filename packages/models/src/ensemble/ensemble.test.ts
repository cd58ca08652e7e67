import { describe, expect, it } from 'vitest';
import { seededRandom } from '@tradebus/core/testing';
import { createEnsemble, type ModelPrediction, type Side } from './ensemble.js';
import { EnsembleError } from './errors.js';

interface Round {
  predictions: ModelPrediction[];
  up: boolean;
}

/**
 * Bars where the price rises or falls at random and three models are right with probability
 * 0.7, 0.55 and 0.4; `late` joins after bar 80 and `quiet` says flat or sits out now and then.
 */
function rounds(n: number, seed: number): Round[] {
  const next = seededRandom(seed);
  const skill: Record<string, number> = { good: 0.7, fair: 0.55, poor: 0.4, late: 0.65, quiet: 0.6 };
  return Array.from({ length: n }, (_, t) => {
    const up = next() < 0.5;
    const predictions: ModelPrediction[] = [];
    for (const [model, accuracy] of Object.entries(skill)) {
      if (model === 'late' && t < 80) continue;
      const roll = next();
      if (model === 'quiet' && roll < 0.2) continue;
      const right = next() < accuracy;
      const side: Side = model === 'quiet' && roll < 0.35 ? 'flat' : right === up ? 'long' : 'short';
      predictions.push({ model, side, confidence: 0.5 + 0.45 * next(), latencyMs: Math.round(200 * next()) });
    }
    return { predictions, up };
  });
}

const history = rounds(400, 17);
const now: ModelPrediction[] = [
  { model: 'good', side: 'long', confidence: 0.8, latencyMs: 40 },
  { model: 'fair', side: 'short', confidence: 0.7, latencyMs: 250 },
  { model: 'poor', side: 'short', confidence: 0.9, latencyMs: 10 },
  { model: 'late', side: 'long', confidence: 0.6 },
  { model: 'quiet', side: 'flat', confidence: 0.5, latencyMs: 90 },
];

describe('weighted vote', () => {
  const config = { method: 'weighted-vote', halfLife: 30, priorAccuracy: 0.5, priorWeight: 4, latencyPenalty: { budgetMs: 50, halfLifeMs: 100 } } as const;

  it('weighs each model by its decayed accuracy and latency, as computed from the definition', () => {
    const ensemble = createEnsemble(config);
    for (const r of history) ensemble.record(r.predictions, r.up);
    const decision = ensemble.combine(now);

    const d = 2 ** (-1 / 30);
    const raw = now.map((p) => {
      // This model's scored outcomes, oldest first (flat predictions are not scored).
      const hits = history.flatMap((r) => r.predictions.filter((q) => q.model === p.model && q.side !== 'flat').map((q) => ((q.side === 'long') === r.up ? 1 : 0)));
      let sum = 0;
      let total = 0;
      hits.forEach((hit, j) => {
        const discount = d ** (hits.length - 1 - j);
        sum += discount * hit;
        total += discount;
      });
      const accuracy = (4 * 0.5 + sum) / (4 + total);
      const latency = p.latencyMs === undefined ? 1 : 2 ** (-Math.max(0, p.latencyMs - 50) / 100);
      return { accuracy, weight: accuracy * latency, latency };
    });
    const total = raw.reduce((a, r) => a + r.weight, 0);
    const sign = (s: Side) => (s === 'long' ? 1 : s === 'short' ? -1 : 0);
    const score = now.reduce((a, p, i) => a + (raw[i]!.weight / total) * sign(p.side) * p.confidence, 0);

    decision.members.forEach((m, i) => {
      expect(m.model).toBe(now[i]!.model);
      expect(m.accuracy).toBeCloseTo(raw[i]!.accuracy, 12);
      expect(m.latencyFactor).toBeCloseTo(raw[i]!.latency, 12);
      expect(m.weight).toBeCloseTo(raw[i]!.weight / total, 12);
    });
    expect(decision.score).toBeCloseTo(score, 12);
    expect(decision.side).toBe(score > 0 ? 'long' : 'short');
    expect(decision.confidence).toBeCloseTo(Math.abs(score), 12);
    // The data make the skilled models count more.
    const byModel = Object.fromEntries(decision.members.map((m) => [m.model, m.accuracy!]));
    expect(byModel.good!).toBeGreaterThan(byModel.fair!);
    expect(byModel.fair!).toBeGreaterThan(byModel.poor!);
  });

  it('is flat below minScore and without weight', () => {
    const ensemble = createEnsemble({ method: 'weighted-vote', minScore: 0.5 });
    expect(ensemble.combine([{ model: 'a', side: 'long', confidence: 0.6 }, { model: 'b', side: 'short', confidence: 0.55 }]).side).toBe('flat');
    expect(createEnsemble({ method: 'weighted-vote', priorAccuracy: 0 }).combine([{ model: 'a', side: 'long', confidence: 0.9 }])).toMatchObject({ side: 'flat', confidence: 0 });
  });
});

describe('Bayesian model averaging', () => {
  const config = { method: 'bma', halfLife: 60, priors: { good: 1, fair: 2, poor: 1, late: 0.5, quiet: 1 } } as const;

  it('weighs models by prior × decayed likelihood of their predictions, as computed from the definition', () => {
    const ensemble = createEnsemble(config);
    for (const r of history) ensemble.record(r.predictions, r.up);
    const decision = ensemble.combine(now);

    const d = 2 ** (-1 / 60);
    const pUp = (p: ModelPrediction | undefined) => {
      if (p === undefined || p.side === 'flat') return 0.5;
      return p.side === 'long' ? p.confidence : 1 - p.confidence;
    };
    const logs = now.map((p) => {
      let logLikelihood = 0;
      history.forEach((r, t) => {
        const q = pUp(r.predictions.find((x) => x.model === p.model));
        logLikelihood += d ** (history.length - 1 - t) * Math.log(r.up ? q : 1 - q);
      });
      return Math.log(config.priors[p.model as keyof typeof config.priors]) + logLikelihood;
    });
    const top = Math.max(...logs);
    const weights = logs.map((l) => Math.exp(l - top));
    const total = weights.reduce((a, b) => a + b, 0);
    const up = now.reduce((a, p, i) => a + (weights[i]! / total) * pUp(p), 0);

    decision.members.forEach((m, i) => {
      expect(m.weight).toBeCloseTo(weights[i]! / total, 10);
      expect(m.probabilityUp).toBeCloseTo(pUp(now[i]), 12);
    });
    expect(decision.score).toBeCloseTo(2 * (up - 0.5), 10);
    expect(decision.side).toBe(up > 0.5 ? 'long' : 'short');
    expect(decision.confidence).toBeCloseTo(up > 0.5 ? up : 1 - up, 10);
    const w = ensemble.weights(['good', 'poor']);
    expect(w.good!).toBeGreaterThan(w.poor!);
  });

  it('stays finite over a long record without forgetting (log space)', () => {
    const ensemble = createEnsemble({ method: 'bma', halfLife: 1e12 });
    for (const r of rounds(5_000, 3)) ensemble.record(r.predictions, r.up);
    const weights = Object.values(ensemble.weights(['good', 'fair', 'poor', 'late', 'quiet']));
    expect(weights.every(Number.isFinite)).toBe(true);
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // Thousands of bars decide: the most skilled model holds all the weight.
    expect(ensemble.weights(['good', 'fair', 'poor']).good).toBeGreaterThan(0.999);
  });
});

describe('ensembles', () => {
  it('carry on identically from a saved state', () => {
    for (const config of [{ method: 'weighted-vote' }, { method: 'bma', halfLife: 25 }]) {
      const original = createEnsemble(config);
      history.slice(0, 200).forEach((r) => original.record(r.predictions, r.up));
      const restored = createEnsemble(config, { state: JSON.parse(JSON.stringify(original.state())) });
      history.slice(200).forEach((r) => {
        original.record(r.predictions, r.up);
        restored.record(r.predictions, r.up);
      });
      expect(restored.combine(now)).toEqual(original.combine(now));
    }
  });

  it('name the bad setting or prediction', () => {
    const error = (fn: () => unknown): EnsembleError => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(EnsembleError);
        return err as EnsembleError;
      }
      throw new Error('expected an EnsembleError');
    };
    expect(error(() => createEnsemble({ method: 'vote' }, { path: 'ensemble' })).field).toBe('ensemble.method');
    expect(error(() => createEnsemble({ method: 'bma', halfLive: 3 })).field).toBe('halfLive');
    expect(error(() => createEnsemble({ method: 'weighted-vote', latencyPenalty: { budgetMs: 5 } })).field).toBe('latencyPenalty.halfLifeMs');
    expect(error(() => createEnsemble({ method: 'bma' }, { state: { method: 'weighted-vote', models: {} } })).field).toBe('state.method');
    const ensemble = createEnsemble({ method: 'bma' });
    expect(error(() => ensemble.combine([{ model: 'a', side: 'long', confidence: 1.5 }])).field).toBe('predictions[0].confidence');
    expect(error(() => ensemble.record([{ model: 'a', side: 'long', confidence: 0.5 }, { model: 'a', side: 'short', confidence: 0.5 }], true)).field).toBe('predictions[1].model');
  });
});
