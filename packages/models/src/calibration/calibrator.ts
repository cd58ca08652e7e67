import { formatZodIssues } from '@tradebus/core';
import { z } from 'zod';
import { CalibrationError } from './errors.js';
import { fitIsotonic, fitPlatt, interpolateIsotonic, sigmoid, logit, type Outcome } from './fit.js';

const finite = () => z.number({ error: 'must be a number' }).refine(Number.isFinite, { error: 'must be a finite number' });
const count = () => z.number().int({ error: 'must be a whole number' }).nonnegative({ error: 'must be ≥ 0' });

/**
 * A fitted calibration mapping as stored in a model registry: plain JSON, validated when read back.
 * `samples` is how many outcomes the fit saw.
 */
export const calibratorStateSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('identity') }),
  z.strictObject({ kind: z.literal('platt'), a: finite(), b: finite(), samples: count() }),
  z
    .strictObject({
      kind: z.literal('isotonic'),
      x: z.array(finite()).min(1, { error: 'must hold at least one knot' }),
      y: z.array(finite().refine((v) => v >= 0 && v <= 1, { error: 'must be a probability in 0..1' })),
      samples: count(),
    })
    .refine((s) => s.x.length === s.y.length, { path: ['y'], error: 'must have as many values as x has knots' })
    .refine((s) => s.x.every((v, i) => i === 0 || v > s.x[i - 1]!), { path: ['x'], error: 'must be strictly increasing' })
    .refine((s) => s.y.every((v, i) => i === 0 || v >= s.y[i - 1]!), { path: ['y'], error: 'must be non-decreasing (isotonic)' }),
]);

export type CalibratorState = z.output<typeof calibratorStateSchema>;
export type CalibrationMethod = 'platt' | 'isotonic' | 'none';

/** A calibration mapping from a model's confidence to a probability. */
export interface Calibrator {
  readonly state: CalibratorState;
  /** The calibrated probability of a confidence in 0..1. Monotone non-decreasing. */
  calibrate(confidence: number): number;
}

function build(state: CalibratorState): Calibrator {
  switch (state.kind) {
    case 'identity':
      return { state, calibrate: (c) => c };
    case 'platt':
      return { state, calibrate: (c) => sigmoid(state.a * logit(c) + state.b) };
    case 'isotonic':
      return { state, calibrate: (c) => interpolateIsotonic(state, c) };
  }
}

/** The calibrator that leaves confidences as they are: used until enough outcomes are known. */
export const identityCalibrator: Calibrator = build({ kind: 'identity' });

/** Rebuilds a calibrator from its stored state. Throws {@link CalibrationError} naming the bad field. */
export function restoreCalibrator(state: unknown, options: { path?: string } = {}): Calibrator {
  const parsed = calibratorStateSchema.safeParse(state, { reportInput: true });
  if (!parsed.success) {
    const issue = formatZodIssues(parsed.error.issues)[0]!;
    const field = [options.path, issue.path].filter((p) => p !== undefined && p !== '').join('.');
    throw new CalibrationError(field, `Invalid calibration state: ${field === '' ? 'the state' : field} ${issue.message}. Refit the calibrator or restore a state it saved.`, { cause: parsed.error });
  }
  return build(parsed.data);
}

/** Fits a calibrator of `method` on a track record (see `fitPlatt`, `fitIsotonic`). */
export function fitCalibrator(method: CalibrationMethod, outcomes: readonly Outcome[], options: { regularization?: number } = {}): Calibrator {
  if (method === 'none' || outcomes.length === 0) return identityCalibrator;
  if (method === 'platt') {
    const { a, b } = fitPlatt(outcomes, options);
    return build({ kind: 'platt', a, b, samples: outcomes.length });
  }
  const { x, y } = fitIsotonic(outcomes);
  // Only zero-weight outcomes: nothing was learnt.
  if (x.length === 0) return identityCalibrator;
  return build({ kind: 'isotonic', x, y, samples: outcomes.length });
}

/** How a model's calibrator is fitted and kept fresh. Strict: a misspelt key is an error. */
export const calibrationConfigSchema = z.strictObject({
  method: z
    .enum(['platt', 'isotonic', 'none'], { error: 'must be one of platt, isotonic, none' })
    .default('platt')
    .describe('platt (two parameters, smooth, good with few outcomes), isotonic (any monotone shape, needs more outcomes) or none'),
  minOutcomes: z.number().int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2' }).default(50).describe('Outcomes needed before the first fit; until then confidences pass through unchanged'),
  refitEvery: z.number().int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).default(50).describe('Refit after this many new outcomes'),
  refitIntervalMs: z
    .number()
    .int({ error: 'must be a whole number of milliseconds' })
    .positive({ error: 'must be greater than 0' })
    .optional()
    .describe('Also refit when an outcome arrives this long after the last fit (times of the outcomes, so a backtest refits as a replay does)'),
  window: z.number().int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2' }).default(5_000).describe('Fit on the most recent outcomes only, at most this many'),
  regularization: z.number().nonnegative({ error: 'must be ≥ 0' }).default(1).describe('Platt: strength of the pull of (a, b) towards the identity (1, 0), in observations'),
});

export type CalibrationConfigInput = z.input<typeof calibrationConfigSchema>;
export type CalibrationConfig = z.output<typeof calibrationConfigSchema>;

/** Everything a {@link ScheduledCalibrator} needs to carry on after a restart. Plain JSON. */
export interface CalibrationSnapshot {
  config: CalibrationConfig;
  state: CalibratorState;
  /** The outcomes the next fit will use (at most `window`), oldest first. */
  outcomes: Outcome[];
  /** Outcomes recorded since the last fit. */
  sinceFit: number;
  /** Time of the last fit (as passed to `record`), when there was one. */
  lastFitTime: number | undefined;
}

const outcomeSchema = z.strictObject({ confidence: z.number().min(0).max(1), outcome: z.number().min(0).max(1), weight: z.number().nonnegative().optional() });
const snapshotSchema = z.strictObject({
  config: z.unknown(),
  state: z.unknown(),
  outcomes: z.array(outcomeSchema),
  sinceFit: count(),
  lastFitTime: z.number().optional(),
});

/**
 * A calibrator fed a model's track record as outcomes become known, refitted on a schedule: after
 * `refitEvery` new outcomes, or after `refitIntervalMs`. Time comes from the caller (the bar or
 * clock time of the outcome), so a backtest refits at the same moments as a replay of it.
 */
export class ScheduledCalibrator {
  readonly config: CalibrationConfig;
  private current: Calibrator = identityCalibrator;
  private readonly kept: Outcome[] = [];
  private sinceFit = 0;
  private lastFitTime: number | undefined;

  constructor(config: CalibrationConfigInput = {}, options: { path?: string } = {}) {
    const parsed = calibrationConfigSchema.safeParse(config, { reportInput: true });
    if (!parsed.success) {
      const issue = formatZodIssues(parsed.error.issues)[0]!;
      const field = [options.path, issue.path].filter((p) => p !== undefined && p !== '').join('.');
      throw new CalibrationError(field, `Invalid calibration setting: ${field} ${issue.message}. Fix this key in the configuration (see docs/models.md, Calibration).`, { cause: parsed.error });
    }
    this.config = parsed.data;
  }

  /** The calibrator in use now (the identity until the first fit). */
  get calibrator(): Calibrator {
    return this.current;
  }

  calibrate(confidence: number): number {
    return this.current.calibrate(confidence);
  }

  /** Adds one outcome of the track record; refits when due. Returns true when it refitted. */
  record(outcome: Outcome, time: number): boolean {
    if (!(outcome.confidence >= 0 && outcome.confidence <= 1) || !(outcome.outcome >= 0 && outcome.outcome <= 1)) {
      throw new CalibrationError('outcome', `An outcome needs a confidence in 0..1 and an outcome of 0 or 1; got ${JSON.stringify(outcome)}.`);
    }
    this.kept.push(outcome);
    if (this.kept.length > this.config.window) this.kept.splice(0, this.kept.length - this.config.window);
    this.sinceFit++;
    if (this.config.method === 'none' || this.kept.length < this.config.minOutcomes) return false;
    const first = this.lastFitTime === undefined;
    const byCount = this.sinceFit >= this.config.refitEvery;
    const byTime = this.config.refitIntervalMs !== undefined && this.lastFitTime !== undefined && time - this.lastFitTime >= this.config.refitIntervalMs;
    if (!first && !byCount && !byTime) return false;
    this.refit(time);
    return true;
  }

  /** Fits now on the outcomes kept, whatever the schedule says. */
  refit(time: number): void {
    this.current = fitCalibrator(this.config.method, this.kept, { regularization: this.config.regularization });
    this.sinceFit = 0;
    this.lastFitTime = time;
  }

  snapshot(): CalibrationSnapshot {
    return {
      config: { ...this.config },
      state: this.current.state,
      outcomes: this.kept.map((o) => ({ ...o })),
      sinceFit: this.sinceFit,
      lastFitTime: this.lastFitTime,
    };
  }

  /** Rebuilds a calibrator from {@link snapshot}'s output (validated). */
  static restore(snapshot: unknown): ScheduledCalibrator {
    const parsed = snapshotSchema.safeParse(snapshot, { reportInput: true });
    if (!parsed.success) {
      const issue = formatZodIssues(parsed.error.issues)[0]!;
      throw new CalibrationError(issue.path, `Invalid calibration snapshot: ${issue.path} ${issue.message}. Restore a snapshot the calibrator saved.`, { cause: parsed.error });
    }
    const restored = new ScheduledCalibrator(parsed.data.config as CalibrationConfigInput, { path: 'config' });
    restored.current = restoreCalibrator(parsed.data.state, { path: 'state' });
    restored.kept.push(...parsed.data.outcomes);
    restored.sinceFit = parsed.data.sinceFit;
    restored.lastFitTime = parsed.data.lastFitTime;
    return restored;
  }
}
