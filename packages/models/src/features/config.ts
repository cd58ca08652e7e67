import { formatZodIssues } from '@tradebus/core';
import { IndicatorConfigError, parseIndicatorSpec, type IndicatorSpec, type IndicatorSpecInput, type IndicatorType } from '@tradebus/indicators';
import { z } from 'zod';
import { FeatureConfigError } from './errors.js';

const bars = (least: number) =>
  z
    .number({ error: 'must be a number of bars' })
    .int({ error: 'must be a whole number of bars' })
    .min(least, { error: `must be at least ${least} bar${least === 1 ? '' : 's'}` })
    .max(100_000, { error: 'must be at most 100000 bars' });

const distinct = (least: number, what: string) =>
  z
    .array(bars(least), { error: `must be a list of ${what}, e.g. [1, 5, 20]` })
    .refine((list) => new Set(list).size === list.length, { error: `must not repeat a ${what.replace(/s$/, '')}` });

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * zod schema of a feature pipeline as written in config. Every part is optional, at least one
 * must be present; unknown keys are errors (a misspelt `volatilty` must not drop a feature).
 */
export const featureConfigSchema = z
  .strictObject({
    returns: distinct(1, 'horizons').optional().describe('Log returns ln(close[t] / close[t-h]) over these horizons in bars: features return_<h>'),
    volatility: distinct(2, 'windows')
      .optional()
      .describe('Realised volatility: sample standard deviation of the last w one-bar log returns (not annualised): features volatility_<w>'),
    volumeZScore: distinct(2, 'windows').optional().describe("The bar's volume as a z-score against the last w volumes, itself included: features volume_z_<w>"),
    calendar: z
      .union([
        z.boolean().transform((on) => ({ hourOfDay: on, dayOfWeek: on })),
        z.strictObject({
          hourOfDay: z.boolean({ error: 'must be true or false' }).default(true),
          dayOfWeek: z.boolean({ error: 'must be true or false' }).default(true),
        }),
      ], { error: 'must be true, false or { hourOfDay, dayOfWeek }' })
      .optional()
      .describe("Hour of day (0-23) and day of week (0 = Sunday) of the bar's open time in UTC: features hour_of_day, day_of_week; true for both"),
    indicators: z
      .record(z.string(), z.unknown(), { error: 'must map names to indicator specs, e.g. { rsi: { type: rsi, period: 14 } }' })
      .superRefine((record, ctx) => {
        for (const name of Object.keys(record)) {
          if (!NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a usable name: indicator names start with a letter and hold only letters, digits and _' });
        }
      })
      .optional()
      .describe('Any indicator of @tradebus/indicators, by name: { rsi: { type: rsi, period: 14 } }; multi-output ones give <name>.<field> features'),
  })
  .refine(
    (c) =>
      (c.returns?.length ?? 0) + (c.volatility?.length ?? 0) + (c.volumeZScore?.length ?? 0) + Object.keys(c.indicators ?? {}).length > 0 ||
      (c.calendar !== undefined && (c.calendar.hourOfDay || c.calendar.dayOfWeek)),
    { error: 'declares no feature: add returns, volatility, volumeZScore, calendar or indicators' },
  );

export type FeatureConfigInput = z.input<typeof featureConfigSchema>;

/** A validated feature configuration, with indicator specs checked and their defaults filled in. */
export interface FeatureConfig {
  returns: number[];
  volatility: number[];
  volumeZScore: number[];
  calendar: { hourOfDay: boolean; dayOfWeek: boolean };
  indicators: Record<string, IndicatorSpec>;
}

export interface ParseFeatureOptions {
  /** Where the config sits, e.g. `agents[3].config.features`; prefixed to field names in errors. */
  path?: string;
}

/** Validates a feature configuration. Throws {@link FeatureConfigError} naming the first bad field. */
export function parseFeatureConfig(input: unknown, options: ParseFeatureOptions = {}): FeatureConfig {
  const prefix = options.path ? `${options.path}.` : '';
  const parsed = featureConfigSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const issues = formatZodIssues(parsed.error.issues).map((i) => ({ path: `${prefix}${i.path}`.replace(/\.$/, '') || (options.path ?? ''), message: i.message }));
    const first = issues[0]!;
    throw new FeatureConfigError(
      first.path,
      `Invalid feature configuration: ${first.path === '' ? 'the features' : first.path} ${first.message}. Fix this key in the configuration (see docs/models.md, Features).`,
      { cause: parsed.error, issues },
    );
  }
  const indicators: Record<string, IndicatorSpec> = {};
  for (const [name, spec] of Object.entries(parsed.data.indicators ?? {})) {
    try {
      indicators[name] = parseIndicatorSpec(spec as IndicatorSpecInput, { path: `${prefix}indicators.${name}` });
    } catch (err) {
      if (!(err instanceof IndicatorConfigError)) throw err;
      throw new FeatureConfigError(err.field, err.message, { cause: err });
    }
  }
  const config: FeatureConfig = {
    returns: parsed.data.returns ?? [],
    volatility: parsed.data.volatility ?? [],
    volumeZScore: parsed.data.volumeZScore ?? [],
    calendar: parsed.data.calendar ?? { hourOfDay: false, dayOfWeek: false },
    indicators,
  };
  const names = featureNames(config);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new FeatureConfigError(`${prefix}indicators`, `Invalid feature configuration: two features are named '${name}'; rename the indicator at ${prefix}indicators (built-in feature names: return_<h>, volatility_<w>, volume_z_<w>, hour_of_day, day_of_week).`);
    }
    seen.add(name);
  }
  return config;
}

/**
 * Output fields of the multi-output indicators, in the order they appear in the feature vector.
 * Single-number indicators are absent. A test checks this table against the indicators' results.
 */
export const INDICATOR_FIELDS: Partial<Record<IndicatorType, readonly string[]>> = {
  macd: ['macd', 'signal', 'histogram'],
  bollinger: ['upper', 'middle', 'lower'],
  keltner: ['upper', 'middle', 'lower'],
  donchian: ['upper', 'middle', 'lower'],
  adx: ['adx', 'plusDI', 'minusDI'],
  stochastic: ['k', 'd'],
  stochRsi: ['k', 'd'],
  psar: ['sar', 'trend'],
  ichimoku: ['conversionLine', 'baseLine', 'leadingSpanA', 'leadingSpanB', 'cloudA', 'cloudB', 'laggingSpan'],
};

/**
 * The feature names of a configuration, in vector order: returns, volatility, volume z-scores
 * (each in the order listed), hour_of_day, day_of_week, then indicators in the order declared
 * (`rsi`, or `macd.macd`, `macd.signal`, `macd.histogram` for multi-output ones). The order only
 * changes when the configuration does, so a model's input layout can be checked against it.
 */
export function featureNames(config: FeatureConfig): string[] {
  const names: string[] = [];
  for (const h of config.returns) names.push(`return_${h}`);
  for (const w of config.volatility) names.push(`volatility_${w}`);
  for (const w of config.volumeZScore) names.push(`volume_z_${w}`);
  if (config.calendar.hourOfDay) names.push('hour_of_day');
  if (config.calendar.dayOfWeek) names.push('day_of_week');
  for (const [name, spec] of Object.entries(config.indicators)) {
    const fields = INDICATOR_FIELDS[spec.type];
    if (fields === undefined) names.push(name);
    else for (const field of fields) names.push(`${name}.${field}`);
  }
  return names;
}
