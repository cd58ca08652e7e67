import { describe, expect, it } from 'vitest';
import { seededRandom } from '@tradebus/core/testing';
import { fitCalibrator, restoreCalibrator, ScheduledCalibrator } from './calibrator.js';
import { CalibrationError } from './errors.js';
import { fitIsotonic, fitPlatt, type Outcome } from './fit.js';

const TRUE_A = 0.55;
const TRUE_B = 0.35;
const logitOf = (c: number) => Math.log(c / (1 - c));
/** The known miscalibration: the model is over-confident (a < 1) and biased low (b > 0). */
const truth = (c: number) => 1 / (1 + Math.exp(-(TRUE_A * logitOf(c) + TRUE_B)));

function track(n: number, seed: number): Outcome[] {
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const confidence = 0.01 + 0.98 * next();
    return { confidence, outcome: next() < truth(confidence) ? 1 : 0 };
  });
}

const grid = Array.from({ length: 19 }, (_, i) => 0.05 * (i + 1));
const brier = (outcomes: readonly Outcome[], p: (c: number) => number) => outcomes.reduce((s, o) => s + (p(o.confidence) - o.outcome) ** 2, 0) / outcomes.length;

describe('Platt scaling', () => {
  const outcomes = track(20_000, 7);

  it('recovers a known miscalibration to within 0.03 on a grid (n = 20,000)', () => {
    const calibrator = fitCalibrator('platt', outcomes);
    const worst = Math.max(...grid.map((c) => Math.abs(calibrator.calibrate(c) - truth(c))));
    expect(worst).toBeLessThanOrEqual(0.03);
    const state = calibrator.state as { a: number; b: number };
    expect(Math.abs(state.a - TRUE_A)).toBeLessThan(0.05);
    expect(Math.abs(state.b - TRUE_B)).toBeLessThan(0.05);
  });

  it('stops where the penalised log-likelihood has zero gradient', () => {
    const lambda = 3;
    const { a, b } = fitPlatt(outcomes, { regularization: lambda });
    // The gradient written out from the definition, independently of the fit's own loop.
    let ga = lambda * (a - 1);
    let gb = lambda * b;
    for (const { confidence, outcome } of outcomes) {
      const x = logitOf(confidence);
      const p = 1 / (1 + Math.exp(-(a * x + b)));
      ga += (p - outcome) * x;
      gb += p - outcome;
    }
    expect(Math.abs(ga)).toBeLessThan(1e-6);
    expect(Math.abs(gb)).toBeLessThan(1e-6);
  });

  it('stays near the identity with few outcomes and is the identity with none', () => {
    expect(fitCalibrator('platt', []).calibrate(0.73)).toBe(0.73);
    const few = fitPlatt(track(4, 3), { regularization: 50 });
    expect(Math.abs(few.a - 1)).toBeLessThan(0.1);
    expect(Math.abs(few.b)).toBeLessThan(0.1);
  });

  it('rejects a confidence outside 0..1, naming the pair', () => {
    expect(() => fitPlatt([{ confidence: 1.2, outcome: 1 }])).toThrow(/outcomes\[0\]\.confidence is 1\.2/);
  });
});

describe('isotonic regression', () => {
  it('pools adjacent violators into weighted means', () => {
    // y = 1, 3, 2, 4, 3, 5 at x = 1..6 (as frequencies /5): the violators pool pairwise.
    const pairs = [1, 3, 2, 4, 3, 5].map((y, i) => ({ confidence: (i + 1) / 10, outcome: y / 5 }));
    const fit = fitIsotonic(pairs);
    expect(fit.y.map((v) => v * 5)).toEqual([1, 2.5, 3.5, 5].map((v) => expect.closeTo(v, 12)));
    expect(fit.x).toEqual([0.1, 0.25, 0.45, 0.6].map((v) => expect.closeTo(v, 12)));
    // Weights count: a heavy low outcome drags its pool down.
    const weighted = fitIsotonic([{ confidence: 0.2, outcome: 1 }, { confidence: 0.3, outcome: 0, weight: 3 }]);
    expect(weighted.y).toEqual([0.25]);
    // Nothing with weight: nothing learnt, and what is stored can be restored.
    const none = fitCalibrator('isotonic', [{ confidence: 0.3, outcome: 1, weight: 0 }]);
    expect(none.state).toEqual({ kind: 'identity' });
    expect(restoreCalibrator(none.state).calibrate(0.3)).toBe(0.3);
  });

  it('is monotone and beats the uncalibrated confidence on Brier score out of sample', () => {
    const calibrator = fitCalibrator('isotonic', track(20_000, 11));
    const fine = Array.from({ length: 999 }, (_, i) => (i + 1) / 1000);
    const values = fine.map((c) => calibrator.calibrate(c));
    expect(values.every((v, i) => i === 0 || v >= values[i - 1]!)).toBe(true);
    const test = track(20_000, 12);
    const calibrated = brier(test, (c) => calibrator.calibrate(c));
    const raw = brier(test, (c) => c);
    expect(calibrated).toBeLessThan(raw - 0.005);
    // Close to the truth where the data is dense, looser than Platt (it has no shape to lean on).
    expect(Math.max(...grid.slice(1, -1).map((c) => Math.abs(calibrator.calibrate(c) - truth(c))))).toBeLessThan(0.06);
  });
});

describe('serialised calibrators', () => {
  it('round-trip through JSON', () => {
    for (const method of ['platt', 'isotonic'] as const) {
      const fitted = fitCalibrator(method, track(2_000, 5));
      const restored = restoreCalibrator(JSON.parse(JSON.stringify(fitted.state)));
      for (const c of grid) expect(restored.calibrate(c)).toBe(fitted.calibrate(c));
    }
  });

  it('name the bad field of a damaged state', () => {
    expect(() => restoreCalibrator({ kind: 'platt', a: 'x', b: 0, samples: 3 }, { path: 'registry.m1.calibration' })).toThrow(/registry\.m1\.calibration\.a expected number/);
    expect(() => restoreCalibrator({ kind: 'isotonic', x: [0.2, 0.1], y: [0.1, 0.2], samples: 2 })).toThrow(/x must be strictly increasing/);
    expect(() => restoreCalibrator({ kind: 'isotonic', x: [0.1, 0.2], y: [0.3, 0.2], samples: 2 })).toThrow(CalibrationError);
  });
});

describe('scheduled calibrator', () => {
  it('fits after minOutcomes, then every refitEvery outcomes', () => {
    const calibrator = new ScheduledCalibrator({ minOutcomes: 50, refitEvery: 100 });
    const refits: number[] = [];
    track(400, 9).forEach((o, i) => {
      if (calibrator.record(o, i * 60_000)) refits.push(i + 1);
    });
    expect(refits).toEqual([50, 150, 250, 350]);
    expect(calibrator.calibrator.state.kind).toBe('platt');
  });

  it('also refits when the period has passed', () => {
    const calibrator = new ScheduledCalibrator({ minOutcomes: 10, refitEvery: 1_000, refitIntervalMs: 3_600_000 });
    const refits: number[] = [];
    // One outcome every 20 minutes: a refit at the 10th, then every third outcome (one hour).
    track(30, 4).forEach((o, i) => {
      if (calibrator.record(o, i * 1_200_000)) refits.push(i + 1);
    });
    expect(refits).toEqual([10, 13, 16, 19, 22, 25, 28]);
  });

  it('passes confidences through until the first fit, and keeps only the window', () => {
    const calibrator = new ScheduledCalibrator({ method: 'isotonic', minOutcomes: 30, refitEvery: 10, window: 40 });
    const outcomes = track(100, 2);
    outcomes.slice(0, 29).forEach((o, i) => calibrator.record(o, i));
    expect(calibrator.calibrate(0.42)).toBe(0.42);
    outcomes.slice(29).forEach((o, i) => calibrator.record(o, 29 + i));
    expect(calibrator.snapshot().outcomes).toEqual(outcomes.slice(60));
    // Fits at outcomes 30, 40, ..., 100: the last one saw the 40 most recent outcomes.
    expect(calibrator.calibrator.state).toEqual(fitCalibrator('isotonic', outcomes.slice(60)).state);
    expect(calibrator.calibrator.state).not.toEqual(fitCalibrator('isotonic', outcomes.slice(59, 99)).state);
  });

  it('carries on identically after a restore from its snapshot', () => {
    const outcomes = track(600, 21);
    const original = new ScheduledCalibrator({ minOutcomes: 40, refitEvery: 70, refitIntervalMs: 50_000 });
    outcomes.slice(0, 300).forEach((o, i) => original.record(o, i * 1_000));
    const restored = ScheduledCalibrator.restore(JSON.parse(JSON.stringify(original.snapshot())));
    outcomes.slice(300).forEach((o, i) => {
      expect(restored.record(o, (300 + i) * 1_000)).toBe(original.record(o, (300 + i) * 1_000));
    });
    for (const c of grid) expect(restored.calibrate(c)).toBe(original.calibrate(c));
  });

  it('names a bad setting', () => {
    expect(() => new ScheduledCalibrator({ method: 'beta' as never }, { path: 'models[0].calibration' })).toThrow(/models\[0\]\.calibration\.method must be one of platt, isotonic, none/);
    expect(() => new ScheduledCalibrator({ refitEvry: 5 } as never)).toThrow(/unknown key 'refitEvry'/);
  });
});
