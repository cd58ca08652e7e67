import { CalibrationError } from './errors.js';

/** One prediction of the track record: the confidence a model gave and what happened (1 or 0). */
export interface Outcome {
  /** The model's probability that the predicted event happens, 0..1. */
  confidence: number;
  /** 1 when it happened, 0 when not. */
  outcome: number;
  /** Relative weight of the pair; 1 by default. */
  weight?: number;
}

/** Confidences are clamped this far from 0 and 1 before the logit, so a 0 or 1 stays finite. */
export const LOGIT_EPSILON = 1e-6;

export function logit(p: number): number {
  const c = Math.min(1 - LOGIT_EPSILON, Math.max(LOGIT_EPSILON, p));
  return Math.log(c / (1 - c));
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export interface PlattOptions {
  /**
   * Strength of the L2 pull of (a, b) towards (1, 0), the identity mapping, in units of
   * observations: with few outcomes the calibrator stays close to the model's own confidence.
   * Default 1.
   */
  regularization?: number;
  maxIterations?: number;
  /** Newton stops when both parameter steps are smaller than this. Default 1e-10. */
  tolerance?: number;
}

export interface PlattParams {
  /** Slope on the logit of the confidence. 1 with b = 0 is the identity. */
  a: number;
  b: number;
  /** Newton iterations used. */
  iterations: number;
}

function checkOutcomes(pairs: readonly Outcome[]): void {
  for (let i = 0; i < pairs.length; i++) {
    const { confidence, outcome, weight = 1 } = pairs[i]!;
    if (!(confidence >= 0 && confidence <= 1)) throw new CalibrationError(`outcomes[${i}].confidence`, `outcomes[${i}].confidence is ${confidence}; a confidence must lie in 0..1.`);
    if (!(outcome >= 0 && outcome <= 1)) throw new CalibrationError(`outcomes[${i}].outcome`, `outcomes[${i}].outcome is ${outcome}; an outcome must be 1 (happened) or 0 (did not), or a frequency in between.`);
    if (!(weight >= 0 && Number.isFinite(weight))) throw new CalibrationError(`outcomes[${i}].weight`, `outcomes[${i}].weight is ${weight}; a weight must be a finite number ≥ 0.`);
  }
}

/**
 * Platt scaling: fits P(outcome = 1) = sigmoid(a·logit(confidence) + b) by maximum likelihood with
 * an L2 penalty λ/2·((a − 1)² + b²), solved by Newton's method (IRLS) on the two parameters with
 * step halving whenever a step would raise the penalised loss. The loss is strictly convex for
 * λ > 0, so the minimum is unique and Newton converges in a handful of iterations.
 */
export function fitPlatt(pairs: readonly Outcome[], options: PlattOptions = {}): PlattParams {
  checkOutcomes(pairs);
  const lambda = options.regularization ?? 1;
  if (!(lambda >= 0)) throw new CalibrationError('regularization', `regularization is ${lambda}; it must be ≥ 0.`);
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-10;
  const n = pairs.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = logit(pairs[i]!.confidence);
    y[i] = pairs[i]!.outcome;
    w[i] = pairs[i]!.weight ?? 1;
  }
  const loss = (a: number, b: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const z = a * x[i]! + b;
      // log(1 + e^z) − y·z, written to stay finite for large |z|.
      sum += w[i]! * ((z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i]! * z);
    }
    return sum + (lambda / 2) * ((a - 1) ** 2 + b ** 2);
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    let ga = lambda * (a - 1);
    let gb = lambda * b;
    let haa = lambda;
    let hab = 0;
    let hbb = lambda;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(a * x[i]! + b);
      const r = w[i]! * (p - y[i]!);
      const s = w[i]! * p * (1 - p);
      ga += r * x[i]!;
      gb += r;
      haa += s * x[i]! * x[i]!;
      hab += s * x[i]!;
      hbb += s;
    }
    const det = haa * hbb - hab * hab;
    // Without a penalty and with separable data the Hessian can be singular: stop where we are.
    if (!(det > 0)) break;
    let da = (hbb * ga - hab * gb) / det;
    let db = (haa * gb - hab * ga) / det;
    let next = loss(a - da, b - db);
    for (let halvings = 0; next > current && halvings < 30; halvings++) {
      da /= 2;
      db /= 2;
      next = loss(a - da, b - db);
    }
    if (next > current) break;
    a -= da;
    b -= db;
    current = next;
    if (Math.abs(da) < tolerance && Math.abs(db) < tolerance) break;
  }
  return { a, b, iterations };
}

export interface IsotonicFit {
  /** Knot confidences, strictly increasing. */
  x: number[];
  /** Calibrated probability at each knot, non-decreasing. */
  y: number[];
}

/**
 * Isotonic regression of outcome on confidence by pool-adjacent-violators: the non-decreasing
 * step function closest to the outcomes in weighted squared error. Pairs with equal confidence
 * are pooled first; each final block becomes one knot at its weighted mean confidence, and
 * {@link interpolateIsotonic} joins the knots linearly (monotone, and not a staircase).
 */
export function fitIsotonic(pairs: readonly Outcome[]): IsotonicFit {
  checkOutcomes(pairs);
  const sorted = pairs
    .map((p) => ({ c: p.confidence, y: p.outcome, w: p.weight ?? 1 }))
    .filter((p) => p.w > 0)
    .sort((l, r) => l.c - r.c);
  // Blocks on a stack: weighted sums of confidence and outcome, total weight.
  const sumC: number[] = [];
  const sumY: number[] = [];
  const weight: number[] = [];
  let i = 0;
  while (i < sorted.length) {
    let c = 0;
    let y = 0;
    let wt = 0;
    const value = sorted[i]!.c;
    for (; i < sorted.length && sorted[i]!.c === value; i++) {
      c += sorted[i]!.w * sorted[i]!.c;
      y += sorted[i]!.w * sorted[i]!.y;
      wt += sorted[i]!.w;
    }
    sumC.push(c);
    sumY.push(y);
    weight.push(wt);
    // Pool while the new block's mean is below the previous block's mean.
    while (sumY.length > 1) {
      const k = sumY.length - 1;
      if (sumY[k - 1]! / weight[k - 1]! <= sumY[k]! / weight[k]!) break;
      sumC[k - 1]! += sumC[k]!;
      sumY[k - 1]! += sumY[k]!;
      weight[k - 1]! += weight[k]!;
      sumC.pop();
      sumY.pop();
      weight.pop();
    }
  }
  return { x: sumC.map((c, k) => c / weight[k]!), y: sumY.map((s, k) => s / weight[k]!) };
}

/** The isotonic fit at `confidence`: linear between knots, the end values beyond them. */
export function interpolateIsotonic(fit: IsotonicFit, confidence: number): number {
  const { x, y } = fit;
  const n = x.length;
  if (n === 0) return confidence;
  if (confidence <= x[0]!) return y[0]!;
  if (confidence >= x[n - 1]!) return y[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= confidence) lo = mid;
    else hi = mid;
  }
  const t = (confidence - x[lo]!) / (x[hi]! - x[lo]!);
  return y[lo]! + t * (y[hi]! - y[lo]!);
}
