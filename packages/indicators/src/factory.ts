import { z } from 'zod';
import { IndicatorConfigError } from './errors.js';
import { CCI, MACD, ROC, RSI, Stochastic, StochasticRSI, WilliamsR } from './momentum.js';
import { DEMA, EMA, SMA, TEMA, WMA } from './moving-averages.js';
import { ADX, Ichimoku, ParabolicSAR } from './trend.js';
import { ATR, BollingerBands, DonchianChannel, KeltnerChannel } from './volatility.js';
import { MFI, OBV, VWAP } from './volume.js';
import { priceSourceSchema, type Candle, type Indicator } from './types.js';

const bars = () =>
  z
    .number({ error: 'must be a number of bars' })
    .int({ error: 'must be a whole number of bars' })
    .min(1, { error: 'must be at least 1 bar' })
    .max(100_000, { error: 'must be at most 100000 bars' });

const positive = () =>
  z
    .number({ error: 'must be a number' })
    .positive({ error: 'must be greater than 0' })
    .max(1_000, { error: 'must be at most 1000' });

const source = priceSourceSchema.optional();

const spec = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), ...shape });

const specSchemas = {
  sma: spec('sma', { period: bars(), source }),
  ema: spec('ema', { period: bars(), source }),
  wma: spec('wma', { period: bars(), source }),
  dema: spec('dema', { period: bars(), source }),
  tema: spec('tema', { period: bars(), source }),
  rsi: spec('rsi', { period: bars().default(14), source }),
  macd: spec('macd', {
    fast: bars().default(12),
    slow: bars().default(26),
    signal: bars().default(9),
    source,
  }).refine((value) => value.fast < value.slow, {
    path: ['fast'],
    error: 'must be shorter than slow',
  }),
  bollinger: spec('bollinger', {
    period: bars().default(20),
    multiplier: positive().default(2),
    source,
  }),
  atr: spec('atr', { period: bars().default(14) }),
  adx: spec('adx', { period: bars().default(14) }),
  stochastic: spec('stochastic', {
    kPeriod: bars().default(14),
    dPeriod: bars().default(3),
  }),
  stochRsi: spec('stochRsi', {
    rsiPeriod: bars().default(14),
    stochPeriod: bars().default(14),
    kPeriod: bars().default(3),
    dPeriod: bars().default(3),
    source,
  }),
  cci: spec('cci', { period: bars().default(20) }),
  obv: spec('obv', {}),
  vwap: spec('vwap', { period: bars().default(14) }),
  mfi: spec('mfi', { period: bars().default(14) }),
  donchian: spec('donchian', { period: bars().default(4), source }),
  keltner: spec('keltner', {
    period: bars().default(20),
    multiplier: positive().default(2),
  }),
  roc: spec('roc', { period: bars().default(3), source }),
  williamsR: spec('williamsR', { period: bars().default(14) }),
  psar: spec('psar', {
    step: positive().default(0.02),
    max: positive().default(0.2),
  }).refine((value) => value.step <= value.max, {
    path: ['step'],
    error: 'must not exceed max',
  }),
  ichimoku: spec('ichimoku', {
    conversionPeriod: bars().default(9),
    basePeriod: bars().default(26),
    spanPeriod: bars().default(52),
  }).refine(
    (value) => value.conversionPeriod <= value.basePeriod && value.basePeriod <= value.spanPeriod,
    { path: ['basePeriod'], error: 'must lie between conversionPeriod and spanPeriod' },
  ),
} as const;

export type IndicatorType = keyof typeof specSchemas;

/** Every indicator type `createIndicator` knows, in documentation order. */
export const indicatorTypes = Object.keys(specSchemas) as IndicatorType[];

/**
 * zod schema of an indicator spec, e.g. `{ type: 'ema', period: 12 }`. Unknown keys are rejected
 * (a typo such as `perod` must not silently fall back to a default). Embed it in config schemas.
 */
export const indicatorSpecSchema = z.discriminatedUnion('type', [
  specSchemas.sma,
  specSchemas.ema,
  specSchemas.wma,
  specSchemas.dema,
  specSchemas.tema,
  specSchemas.rsi,
  specSchemas.macd,
  specSchemas.bollinger,
  specSchemas.atr,
  specSchemas.adx,
  specSchemas.stochastic,
  specSchemas.stochRsi,
  specSchemas.cci,
  specSchemas.obv,
  specSchemas.vwap,
  specSchemas.mfi,
  specSchemas.donchian,
  specSchemas.keltner,
  specSchemas.roc,
  specSchemas.williamsR,
  specSchemas.psar,
  specSchemas.ichimoku,
]);

/** A spec as written in config (defaults may be omitted). */
export type IndicatorSpecInput = z.input<typeof indicatorSpecSchema>;
/** A validated spec with every default filled in. */
export type IndicatorSpec = z.output<typeof indicatorSpecSchema>;

export interface IndicatorByType {
  sma: SMA;
  ema: EMA;
  wma: WMA;
  dema: DEMA;
  tema: TEMA;
  rsi: RSI;
  macd: MACD;
  bollinger: BollingerBands;
  atr: ATR;
  adx: ADX;
  stochastic: Stochastic;
  stochRsi: StochasticRSI;
  cci: CCI;
  obv: OBV;
  vwap: VWAP;
  mfi: MFI;
  donchian: DonchianChannel;
  keltner: KeltnerChannel;
  roc: ROC;
  williamsR: WilliamsR;
  psar: ParabolicSAR;
  ichimoku: Ichimoku;
}

/** What every indicator produces: one number, or an object of named numbers. */
export type IndicatorOutput = number | { readonly [field: string]: number };

/** Any indicator, fed whole candles (every indicator accepts a {@link Candle}). */
export type CandleIndicator = Indicator<Candle, IndicatorOutput>;

export interface CreateIndicatorOptions {
  /**
   * Where the spec sits in the caller's configuration, e.g. `strategies.trend.indicators.fast`.
   * Prefixed to field names in error messages.
   */
  path?: string;
}

/**
 * Validates `spec` and builds the streaming indicator. Throws {@link IndicatorConfigError} naming
 * the first bad field (`field` holds its full path).
 *
 * @example createIndicator({ type: 'macd', fast: 12, slow: 26, signal: 9 })
 */
export function createIndicator<T extends IndicatorType>(
  spec: Extract<IndicatorSpecInput, { type: T }>,
  options?: CreateIndicatorOptions,
): IndicatorByType[T];
export function createIndicator(spec: unknown, options?: CreateIndicatorOptions): CandleIndicator;
export function createIndicator(spec: unknown, options: CreateIndicatorOptions = {}): CandleIndicator {
  return build(parseIndicatorSpec(spec, options)) as CandleIndicator;
}

/** Validates a spec and fills in defaults, with the same errors as {@link createIndicator}. */
export function parseIndicatorSpec(spec: unknown, options: CreateIndicatorOptions = {}): IndicatorSpec {
  const prefix = options.path ? `${options.path}.` : '';
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new IndicatorConfigError(
      options.path ?? '',
      `Invalid indicator spec${options.path ? ` at ${options.path}` : ''}: expected an object such as { type: 'ema', period: 12 }`,
    );
  }
  const type = (spec as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(specSchemas, type)) {
    throw new IndicatorConfigError(
      `${prefix}type`,
      `Invalid indicator spec: ${prefix}type is ${JSON.stringify(type) ?? 'missing'}; ` +
        `use one of ${indicatorTypes.join(', ')}`,
    );
  }
  const schema = specSchemas[type as IndicatorType];
  const parsed = schema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const field = prefix + String(issue.keys[0]);
      throw new IndicatorConfigError(
        field,
        `Invalid ${type} indicator spec: ${field} is not a field of a ${type} indicator; ` +
          `allowed fields: ${Object.keys(schema.shape).join(', ')}`,
        { cause: parsed.error },
      );
    }
    const field = prefix + issue.path.map(String).join('.');
    throw new IndicatorConfigError(
      field,
      `Invalid ${type} indicator spec: ${field} ${issue.message}. Fix this field in the configuration.`,
      { cause: parsed.error },
    );
  }
  return parsed.data as IndicatorSpec;
}

function build(spec: IndicatorSpec): unknown {
  switch (spec.type) {
    case 'sma':
      return new SMA(spec.period, spec);
    case 'ema':
      return new EMA(spec.period, spec);
    case 'wma':
      return new WMA(spec.period, spec);
    case 'dema':
      return new DEMA(spec.period, spec);
    case 'tema':
      return new TEMA(spec.period, spec);
    case 'rsi':
      return new RSI(spec.period, spec);
    case 'macd':
      return new MACD(spec);
    case 'bollinger':
      return new BollingerBands(spec);
    case 'atr':
      return new ATR(spec.period);
    case 'adx':
      return new ADX(spec.period);
    case 'stochastic':
      return new Stochastic(spec);
    case 'stochRsi':
      return new StochasticRSI(spec);
    case 'cci':
      return new CCI(spec.period);
    case 'obv':
      return new OBV();
    case 'vwap':
      return new VWAP(spec.period);
    case 'mfi':
      return new MFI(spec.period);
    case 'donchian':
      return new DonchianChannel(spec.period, spec);
    case 'keltner':
      return new KeltnerChannel(spec);
    case 'roc':
      return new ROC(spec.period, spec);
    case 'williamsR':
      return new WilliamsR(spec.period);
    case 'psar':
      return new ParabolicSAR(spec);
    case 'ichimoku':
      return new Ichimoku(spec);
  }
}
