import { z } from 'zod';
import {
  calibrationConfigSchema,
  ensembleConfigSchema,
  featureConfigSchema,
  FeatureConfigError,
  oipOptionsSchema,
  pageHinkleySchema,
  parseFeatureConfig,
  promotionSchema,
} from '@tradebus/models';
import { timeframeSchema } from '@tradebus/strategies';

const onnxSourceSchema = z.strictObject({
  kind: z.literal('onnx'),
  file: z.string().min(1, { error: 'must be the path of an .onnx file (relative to the config file folder, or absolute)' }),
  input: z.string().min(1).optional().describe("Input tensor the features go into; the model's first input by default"),
  output: z.string().min(1).optional().describe("Output tensor holding p(up); the model's last output by default"),
  outputIndex: z.number().int().nonnegative().optional().describe("Element of that output that is p(up); the last by default"),
});

const oipSourceSchema = oipOptionsSchema.extend({ kind: z.literal('oip') });

export const modelSourceSchema = z.discriminatedUnion('kind', [onnxSourceSchema, oipSourceSchema], {
  error: "must have kind 'onnx' (a file run in-process) or 'oip' (an Open Inference Protocol server)",
});

const modelSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, { error: 'must start with a letter and hold letters, digits, _, . and -' }),
  version: z.string().min(1).default('1'),
  status: z
    .enum(['active', 'shadow'], { error: "must be 'active' (trades) or 'shadow' (run and scored, never trades)" })
    .default('active')
    .describe("Status of a version the registry does not know yet; after that the registry's (promotions and demotions) wins"),
  source: modelSourceSchema,
  calibration: calibrationConfigSchema.optional().describe("Calibrate the model's p(up) on its own track record"),
});

/**
 * The model-runner's config schema. The features are checked with the feature pipeline's own
 * parser so a bad indicator spec is reported with its full path at config time.
 */
export const modelRunnerConfigSchema = z
  .strictObject({
    provider: z.string().min(1).optional().describe('Provider the warm-up history is fetched from; without it the features warm up on live bars'),
    symbols: z.array(z.string().min(1, { error: 'must be a unified symbol such as BTC/USDT' })).min(1, { error: 'list at least one symbol, e.g. [BTC/USDT]' }),
    timeframe: timeframeSchema.default('5m'),
    strategyId: z.string().min(1).default('model').describe('strategyId of the published signals: what the trade manager weighs and reports them as'),
    features: featureConfigSchema,
    models: z
      .array(modelSchema)
      .min(1, { error: "list at least one model, e.g. [{ name: lr, source: { kind: onnx, file: ./lr.onnx } }]" }),
    ensemble: ensembleConfigSchema.prefault({ method: 'weighted-vote' }),
    signals: z
      .strictObject({
        minConfidence: z.number().min(0.5).max(1).default(0.55).describe("Ensemble confidence needed for a long or short signal; below it the runner's side is flat"),
        allowShort: z.boolean().default(true).describe('Publish short signals; with false a bearish ensemble only closes longs'),
        horizon: z.number().int().positive().default(1).describe('Bars after which a prediction is scored: up when the close then is above the close of the predicted bar'),
      })
      .prefault({}),
    warmup: z
      .strictObject({
        bars: z.number().int().positive().max(100_000).optional().describe("Closed bars of history fetched per symbol; three times the features' warm-up by default"),
        retries: z.number().int().nonnegative().default(3),
        retryDelayMs: z.number().int().nonnegative().default(2_000),
      })
      .prefault({}),
    registry: z
      .strictObject({
        file: z
          .string()
          .min(1)
          .optional()
          .describe("The registry document; <data dir>/models.json when a data directory is configured, in memory otherwise (and always in a backtest)"),
        window: z.number().int().positive().default(500).describe('Outcomes in each version\'s rolling track record'),
        promotion: promotionSchema.prefault({}),
        autoPromote: z.boolean().default(true).describe('Promote a shadow version that passes the gate without asking'),
        drift: pageHinkleySchema.extend({ enabled: z.boolean().default(true) }).prefault({}).describe('Demote an active version to shadow when the Page-Hinkley test finds its loss rising'),
        saveEvery: z.number().int().positive().default(100).describe('Outcomes between saves of the versions\' scores to the registry file'),
      })
      .prefault({}),
    health: z
      .strictObject({
        intervalMs: z.number().int().nonnegative().default(0).describe('Ask every model server /v2/health/ready this often (agent clock); 0: at start and when a breaker changes only'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    try {
      parseFeatureConfig(config.features, { path: 'features' });
    } catch (err) {
      if (!(err instanceof FeatureConfigError)) throw err;
      for (const issue of err.issues) ctx.addIssue({ code: 'custom', path: issue.path.split('.'), message: issue.message });
    }
    const seen = new Set<string>();
    config.models.forEach((m, i) => {
      const key = `${m.name}@${m.version}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['models', i, 'version'], message: `repeats ${key}: give each version of a model its own version` });
      seen.add(key);
    });
    for (const name of new Set(config.models.map((m) => m.name))) {
      const active = config.models.filter((m) => m.name === name && m.status === 'active');
      if (active.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['models', config.models.lastIndexOf(active.at(-1)!), 'status'], message: `makes a second active version of '${name}': one version per name trades, the others are shadow` });
      }
    }
  });

export type ModelRunnerConfig = z.output<typeof modelRunnerConfigSchema>;
export type ModelRunnerConfigInput = z.input<typeof modelRunnerConfigSchema>;
export type ModelConfig = ModelRunnerConfig['models'][number];
