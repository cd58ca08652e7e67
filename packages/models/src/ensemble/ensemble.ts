import { formatZodIssues } from '@tradebus/core';
import { z } from 'zod';
import { EnsembleError } from './errors.js';

export type Side = 'long' | 'short' | 'flat';

/** One model's prediction for one bar. */
export interface ModelPrediction {
  /** The model's name (a registry name or `name@version`). */
  model: string;
  side: Side;
  /** The (calibrated) probability that `side` is right, 0..1. Ignored for `flat`. */
  confidence: number;
  /** How long the prediction took, for the weighted vote's latency penalty. */
  latencyMs?: number;
}

/** What each model contributed to a decision: for the signal's explanation. */
export interface MemberVote {
  model: string;
  side: Side;
  confidence: number;
  /** Signed vote in -1..1: +confidence for long, -confidence for short, 0 for flat. */
  vote: number;
  /** The model's share of the decision: weights of the models in the decision sum to 1. */
  weight: number;
  /** Weighted vote: the decayed accuracy behind the weight. */
  accuracy?: number;
  /** Weighted vote: the latency factor in 0..1 the weight was multiplied by. */
  latencyFactor?: number;
  /** Bayesian averaging: the model's probability that the price goes up. */
  probabilityUp?: number;
}

export interface EnsembleDecision {
  side: Side;
  /** Probability that `side` is right (0 for flat when nobody has weight). */
  confidence: number;
  /** Weighted vote: Σ weight·vote in -1..1. Bayesian averaging: P(up) − 0.5 scaled to -1..1. */
  score: number;
  members: MemberVote[];
}

export interface Ensemble {
  readonly method: 'weighted-vote' | 'bma';
  /** Combines the predictions of one bar. Pure: it changes nothing. */
  combine(predictions: readonly ModelPrediction[]): EnsembleDecision;
  /**
   * Scores the predictions of one bar once its outcome is known (`up`: the price rose over the
   * horizon the models predict). Call it once per bar, with the predictions `combine` saw.
   */
  record(predictions: readonly ModelPrediction[], up: boolean): void;
  /** The weights `combine` would give these models now (normalised over them). */
  weights(models: readonly string[]): Record<string, number>;
  /** The learned state, plain JSON. */
  state(): EnsembleState;
}

const halfLife = () => z.number({ error: 'must be a number of outcomes' }).positive({ error: 'must be greater than 0' });
const probability = (least: number, most: number) =>
  z.number({ error: 'must be a number' }).min(least, { error: `must be at least ${least}` }).max(most, { error: `must be at most ${most}` });

/** How an ensemble combines its models. Strict: a misspelt key is an error. */
export const ensembleConfigSchema = z.discriminatedUnion(
  'method',
  [
    z.strictObject({
      method: z.literal('weighted-vote'),
      halfLife: halfLife().default(50).describe("Outcomes after which an old outcome counts half in a model's accuracy"),
      priorAccuracy: probability(0, 1).default(0.5).describe('Accuracy assumed before any outcome, worth priorWeight outcomes'),
      priorWeight: z.number({ error: 'must be a number' }).nonnegative({ error: 'must be ≥ 0' }).default(10).describe('How many outcomes priorAccuracy is worth'),
      latencyPenalty: z
        .strictObject({
          budgetMs: z.number().nonnegative({ error: 'must be ≥ 0' }).default(0),
          halfLifeMs: z.number({ error: 'must be a number of milliseconds' }).positive({ error: 'must be greater than 0' }),
        })
        .optional()
        .describe('Slower predictions weigh less: the weight halves every halfLifeMs of latency beyond budgetMs'),
      minScore: probability(0, 1).default(0).describe('|score| needed for a long or short decision; below it the ensemble is flat'),
    }),
    z.strictObject({
      method: z.literal('bma'),
      priors: z
        .record(z.string(), z.number({ error: 'must be a number' }).positive({ error: 'must be greater than 0' }))
        .default({})
        .describe('Prior weight per model, relative; models not listed get 1'),
      halfLife: halfLife().default(100).describe("Outcomes after which an old prediction's log-likelihood counts half"),
      margin: probability(0, 0.5).default(0).describe('P(up) must exceed 0.5 + margin for long (be below 0.5 - margin for short); flat in between'),
    }),
  ],
  { error: "must have method 'weighted-vote' or 'bma'" },
);

export type EnsembleConfigInput = z.input<typeof ensembleConfigSchema>;
export type EnsembleConfig = z.output<typeof ensembleConfigSchema>;
export type WeightedVoteConfig = Extract<EnsembleConfig, { method: 'weighted-vote' }>;
export type BmaConfig = Extract<EnsembleConfig, { method: 'bma' }>;

/** Per-model learned state: decayed hit and outcome counts (vote) or decayed log-likelihood (bma). */
export type EnsembleState =
  | { method: 'weighted-vote'; models: Record<string, { hits: number; total: number }> }
  | { method: 'bma'; rounds: number; models: Record<string, { logLikelihood: number }> };

const stateSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('weighted-vote'), models: z.record(z.string(), z.strictObject({ hits: z.number().nonnegative(), total: z.number().nonnegative() })) }),
  z.strictObject({ method: z.literal('bma'), rounds: z.number().nonnegative(), models: z.record(z.string(), z.strictObject({ logLikelihood: z.number().max(0) })) }),
]);

/** Probabilities are kept this far from 0 and 1 so one confident miss cannot zero a model for good. */
export const PROBABILITY_FLOOR = 1e-6;

/** A side and confidence read as the probability that the price goes up. */
export function probabilityUp(prediction: Pick<ModelPrediction, 'side' | 'confidence'>): number {
  const p = prediction.side === 'long' ? prediction.confidence : prediction.side === 'short' ? 1 - prediction.confidence : 0.5;
  return Math.min(1 - PROBABILITY_FLOOR, Math.max(PROBABILITY_FLOOR, p));
}

const signOf = (side: Side): number => (side === 'long' ? 1 : side === 'short' ? -1 : 0);

function checkPredictions(predictions: readonly ModelPrediction[]): void {
  const seen = new Set<string>();
  predictions.forEach((p, i) => {
    if (seen.has(p.model)) throw new EnsembleError(`predictions[${i}].model`, `predictions[${i}].model '${p.model}' appears twice; give each model one prediction per bar.`);
    seen.add(p.model);
    if (!(p.confidence >= 0 && p.confidence <= 1)) throw new EnsembleError(`predictions[${i}].confidence`, `predictions[${i}].confidence is ${p.confidence}; it must lie in 0..1.`);
    if (p.side !== 'long' && p.side !== 'short' && p.side !== 'flat') throw new EnsembleError(`predictions[${i}].side`, `predictions[${i}].side is ${JSON.stringify(p.side)}; use long, short or flat.`);
    if (p.latencyMs !== undefined && !(p.latencyMs >= 0)) throw new EnsembleError(`predictions[${i}].latencyMs`, `predictions[${i}].latencyMs is ${p.latencyMs}; it must be ≥ 0.`);
  });
}

/**
 * Weighted vote. A model's weight is its accuracy on its scored predictions (long or short; flat
 * is not scored), each outcome discounted by 2^(−age/halfLife) and shrunk towards
 * `priorAccuracy` by `priorWeight` pseudo-outcomes:
 *
 *   accuracy = (priorWeight·priorAccuracy + Σ d^age·hit) / (priorWeight + Σ d^age),  d = 2^(−1/halfLife)
 *
 * times a latency factor 2^(−max(0, latencyMs − budgetMs)/halfLifeMs) when a penalty is set.
 * Weights are normalised over the models of the bar; score = Σ weight·vote, side by its sign.
 * A measured latency differs from run to run: with a penalty a backtest is only reproducible
 * when the runner passes a fixed (configured) latency.
 */
export class WeightedVoteEnsemble implements Ensemble {
  readonly method = 'weighted-vote' as const;
  readonly config: WeightedVoteConfig;
  private readonly decay: number;
  private readonly models = new Map<string, { hits: number; total: number }>();

  constructor(config: WeightedVoteConfig, state?: EnsembleState) {
    this.config = config;
    this.decay = 2 ** (-1 / config.halfLife);
    if (state?.method === 'weighted-vote') for (const [model, s] of Object.entries(state.models)) this.models.set(model, { ...s });
  }

  accuracy(model: string): number {
    const s = this.models.get(model) ?? { hits: 0, total: 0 };
    const { priorAccuracy, priorWeight } = this.config;
    const denominator = priorWeight + s.total;
    return denominator === 0 ? priorAccuracy : (priorWeight * priorAccuracy + s.hits) / denominator;
  }

  private latencyFactor(latencyMs: number | undefined): number {
    const penalty = this.config.latencyPenalty;
    if (penalty === undefined || latencyMs === undefined) return 1;
    return 2 ** (-Math.max(0, latencyMs - penalty.budgetMs) / penalty.halfLifeMs);
  }

  combine(predictions: readonly ModelPrediction[]): EnsembleDecision {
    checkPredictions(predictions);
    const raw = predictions.map((p) => this.accuracy(p.model) * this.latencyFactor(p.latencyMs));
    const total = raw.reduce((a, b) => a + b, 0);
    let score = 0;
    const members = predictions.map((p, i): MemberVote => {
      const weight = total > 0 ? raw[i]! / total : 0;
      const vote = signOf(p.side) * p.confidence;
      score += weight * vote;
      return { model: p.model, side: p.side, confidence: p.confidence, vote, weight, accuracy: this.accuracy(p.model), latencyFactor: this.latencyFactor(p.latencyMs) };
    });
    const side: Side = Math.abs(score) > 0 && Math.abs(score) >= this.config.minScore ? (score > 0 ? 'long' : 'short') : 'flat';
    // The weighted confidence of the side taken: the agreeing members' confidence share.
    return { side, confidence: side === 'flat' ? 0 : Math.abs(score), score, members };
  }

  record(predictions: readonly ModelPrediction[], up: boolean): void {
    checkPredictions(predictions);
    for (const p of predictions) {
      if (p.side === 'flat') continue;
      const s = this.models.get(p.model) ?? { hits: 0, total: 0 };
      const hit = (p.side === 'long') === up ? 1 : 0;
      s.hits = this.decay * s.hits + hit;
      s.total = this.decay * s.total + 1;
      this.models.set(p.model, s);
    }
  }

  weights(models: readonly string[]): Record<string, number> {
    const raw = models.map((m) => this.accuracy(m));
    const total = raw.reduce((a, b) => a + b, 0);
    return Object.fromEntries(models.map((m, i) => [m, total > 0 ? raw[i]! / total : 0]));
  }

  state(): EnsembleState {
    return { method: 'weighted-vote', models: Object.fromEntries([...this.models].map(([m, s]) => [m, { ...s }])) };
  }
}

/**
 * Bayesian model averaging over the models' probabilities that the price goes up. A model's
 * posterior weight is prior × likelihood of its recent predictions, in log space:
 *
 *   log w ∝ log prior + Σ d^age · log L,  L = P(up) if the price rose, 1 − P(up) if not,  d = 2^(−1/halfLife)
 *
 * normalised with log-sum-exp over the models of the bar. A model that sat out a bar scores
 * L = 0.5 there (it said nothing), so a model cannot gain weight by predicting less; a model first
 * seen now is scored as if it had sat out every earlier bar. The decision
 * is P(up) = Σ w·P_i(up): long above 0.5 + margin, short below 0.5 − margin.
 */
export class BayesianModelAveraging implements Ensemble {
  readonly method = 'bma' as const;
  readonly config: BmaConfig;
  private readonly decay: number;
  private readonly models = new Map<string, { logLikelihood: number }>();
  /** Bars recorded, decayed like the likelihoods: what a model that said nothing has scored. */
  private rounds = 0;

  constructor(config: BmaConfig, state?: EnsembleState) {
    this.config = config;
    this.decay = 2 ** (-1 / config.halfLife);
    if (state?.method === 'bma') {
      this.rounds = state.rounds;
      for (const [model, s] of Object.entries(state.models)) this.models.set(model, { ...s });
    }
  }

  private logLikelihood(model: string): number {
    return this.models.get(model)?.logLikelihood ?? this.rounds * Math.log(0.5);
  }

  /** log prior + decayed log-likelihood, before normalisation. */
  logPosterior(model: string): number {
    return Math.log(this.config.priors[model] ?? 1) + this.logLikelihood(model);
  }

  weights(models: readonly string[]): Record<string, number> {
    const logs = models.map((m) => this.logPosterior(m));
    const top = Math.max(...logs);
    const exps = logs.map((l) => Math.exp(l - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return Object.fromEntries(models.map((m, i) => [m, exps[i]! / total]));
  }

  combine(predictions: readonly ModelPrediction[]): EnsembleDecision {
    checkPredictions(predictions);
    if (predictions.length === 0) return { side: 'flat', confidence: 0, score: 0, members: [] };
    const weights = this.weights(predictions.map((p) => p.model));
    let up = 0;
    const members = predictions.map((p): MemberVote => {
      const probability = probabilityUp(p);
      const weight = weights[p.model]!;
      up += weight * probability;
      return { model: p.model, side: p.side, confidence: p.confidence, vote: signOf(p.side) * p.confidence, weight, probabilityUp: probability };
    });
    const { margin } = this.config;
    const side: Side = up > 0.5 + margin ? 'long' : up < 0.5 - margin ? 'short' : 'flat';
    return { side, confidence: side === 'long' ? up : side === 'short' ? 1 - up : 0, score: 2 * (up - 0.5), members };
  }

  record(predictions: readonly ModelPrediction[], up: boolean): void {
    checkPredictions(predictions);
    const present = new Map(predictions.map((p) => [p.model, p]));
    for (const model of new Set([...this.models.keys(), ...present.keys()])) {
      const p = present.get(model);
      const probability = p === undefined ? 0.5 : probabilityUp(p);
      this.models.set(model, { logLikelihood: this.decay * this.logLikelihood(model) + Math.log(up ? probability : 1 - probability) });
    }
    this.rounds = this.decay * this.rounds + 1;
  }

  state(): EnsembleState {
    return { method: 'bma', rounds: this.rounds, models: Object.fromEntries([...this.models].map(([m, s]) => [m, { ...s }])) };
  }
}

function issueOf(error: z.ZodError, path: string | undefined): { field: string; message: string } {
  const issue = formatZodIssues(error.issues)[0]!;
  return { field: [path, issue.path].filter((p) => p !== undefined && p !== '').join('.'), message: issue.message };
}

/** Validates an ensemble config (and a saved state, if given) and builds the ensemble. */
export function createEnsemble(config: unknown, options: { path?: string; state?: unknown } = {}): Ensemble {
  const parsed = ensembleConfigSchema.safeParse(config, { reportInput: true });
  if (!parsed.success) {
    const { field, message } = issueOf(parsed.error, options.path);
    throw new EnsembleError(field, `Invalid ensemble setting: ${field === '' ? 'the ensemble' : field} ${message}. Fix this key in the configuration (see docs/models.md, Ensembles).`, { cause: parsed.error });
  }
  let state: EnsembleState | undefined;
  if (options.state !== undefined) {
    const saved = stateSchema.safeParse(options.state, { reportInput: true });
    if (!saved.success) {
      const { field, message } = issueOf(saved.error, 'state');
      throw new EnsembleError(field, `Invalid ensemble state: ${field} ${message}. Restore a state the ensemble saved.`, { cause: saved.error });
    }
    if (saved.data.method !== parsed.data.method) {
      throw new EnsembleError('state.method', `The saved ensemble state is for method '${saved.data.method}', the configuration says '${parsed.data.method}': start without the state after changing the method.`);
    }
    state = saved.data;
  }
  return parsed.data.method === 'bma' ? new BayesianModelAveraging(parsed.data, state) : new WeightedVoteEnsemble(parsed.data, state);
}
