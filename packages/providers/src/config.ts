import { secret } from '@tradebus/core';
import { z } from 'zod';

/**
 * Settings of each provider kind, under `providers.<name>` in the system config. API keys come
 * from the environment: either named in the provider's `credentials` section as `${VAR}`
 * references (resolved only in a process that builds this provider), or, without that section,
 * from `TRADEBUS_<NAME>_API_KEY` / `_SECRET`. Secret fields are marked with `secret()`, so they
 * are redacted wherever the config is shown or logged.
 */

/** Key names that look like credentials: refused anywhere outside a `credentials` section. */
const CREDENTIAL_LIKE_KEYS = ['apiKey', 'apikey', 'api_key', 'secret', 'apiSecret', 'password', 'passphrase', 'privateKey', 'token', 'uid'];

const credential = z.string().min(1, 'empty: write it as a ${VAR} reference to an environment variable that holds it');

export const ccxtCredentialsSchema = secret(
  z
    .object({
      apiKey: credential,
      secret: credential,
      password: credential.optional().describe('Passphrase, for venues that have one'),
    })
    .strict(),
).describe(
  'API credentials, secret: write each as a ${VAR} reference, resolved only in the process that builds this provider. Without this section they come from TRADEBUS_<NAME>_API_KEY / _SECRET / _PASSWORD',
);

const positiveInt = z.number().int().positive();
const epochOrDate = z
  .union([z.number().int().nonnegative(), z.string().min(1)])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `'${v}' is not a date: use epoch milliseconds or an ISO date such as 2024-01-31T00:00:00Z` });
      return z.NEVER;
    }
    return ms;
  });
const speed = z.union([z.literal('max'), z.number().positive()]).default('max').describe("'max' or a multiple of real time (1, 60, 3600...)");
const timeframe = z.string().regex(/^\d+[smhdw]$/, 'use a number followed by s, m, h, d or w, e.g. 5m');
const symbol = z.string().min(3).describe('Unified symbol, e.g. BTC/USDT or BTC/USDT:USDT');

export const ccxtProviderConfigSchema = z
  .object({
    kind: z.literal('ccxt'),
    exchange: z.string().min(1).describe('ccxt exchange id, e.g. binance'),
    credentials: ccxtCredentialsSchema.optional(),
    sandbox: z.boolean().default(false),
    defaultType: z.enum(['spot', 'swap', 'future', 'margin']).optional(),
    timeoutMs: positiveInt.default(10_000),
    websocket: z.boolean().default(true),
    pollIntervalMs: positiveInt.default(2_000),
    candleCloseGraceMs: z.number().int().nonnegative().default(2_000),
    checkExistingBeforeCreate: z.boolean().default(true),
    orderBookDepth: positiveInt.optional(),
    options: z.record(z.string(), z.unknown()).default({}).describe('ccxt exchange options, passed through'),
  })
  .strict();

const slippageSchema = z.union([
  z.number().nonnegative().transform((bps) => ({ model: 'bps' as const, bps })),
  z.object({ model: z.literal('none') }).strict(),
  z.object({ model: z.literal('bps'), bps: z.number().nonnegative() }).strict(),
  z
    .object({ model: z.literal('volume'), baseBps: z.number().nonnegative().default(0), impactBps: z.number().nonnegative(), maxBps: z.number().positive().default(100) })
    .strict(),
]);

export const paperProviderConfigSchema = z
  .object({
    kind: z.literal('paper'),
    venue: z.string().optional(),
    quoteCurrency: z.string().min(1).default('USDT'),
    balances: z.record(z.string(), z.number().nonnegative()).default({ USDT: 10_000 }),
    fees: z.object({ maker: z.number().min(0).max(0.1), taker: z.number().min(0).max(0.1) }).strict().default({ maker: 0.001, taker: 0.001 }),
    slippage: slippageSchema.default({ model: 'none' }).describe('basis points, or { model: bps | volume | none, ... }'),
    partialFills: z.object({ maxVolumeShare: z.number().positive().max(1) }).strict().optional(),
    marketFillOnCandle: z
      .enum(['close', 'next_open'])
      .default('next_open')
      .describe("With candles: a market order fills at the next bar's open (next_open), or at the close of the bar it followed (close: optimistic, opt-in)"),
    spreadBps: z.number().min(0).max(1_000).default(2).describe('Spread in basis points: taker fills buy at price × (1 + spread/2), sell at price × (1 − spread/2); ticks with bid and ask use those'),
    latencyMs: z.number().int().min(0).default(0).describe('A market order fills at the first price seen at least this long after it was placed'),
    participation: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe("Market and triggered stop orders fill at most this share of a bar's volume per bar; the rest fills in the next bars (0: no cap)"),
    intrabar: z
      .enum(['stop_first', 'path'])
      .default('stop_first')
      .describe("In a bar that reaches several orders: stops before targets (stop_first, pessimistic) or in the order of the bar's path (open → nearer extreme → farther extreme → close)"),
    limitFill: z.enum(['touch', 'through']).default('touch'),
    leverage: z.number().min(1).max(125).default(1),
    leverageBySymbol: z.record(z.string(), z.number().min(1).max(125)).optional(),
    maintenanceMarginRate: z.number().min(0).max(0.5).default(0.005),
    candleTimeframe: timeframe.optional(),
    symbols: z.array(symbol).optional().describe('Symbols it accepts (and follows, when its market data is a live provider)'),
    accountUpdates: z.enum(['on_change', 'every_bar']).default('on_change'),
    funding: z
      .object({
        intervalHours: z.number().positive().max(24).default(8).describe('Funding times are multiples of this from 00:00 UTC'),
        rate: z.number().min(-0.05).max(0.05).optional().describe('Rate per funding time (0.0001 = 0.01 %) where the file has none'),
        file: z
          .string()
          .min(1)
          .optional()
          .describe('CSV of recorded rates (columns timestamp or fundingTime, and rate or fundingRate; times in ms), relative to the config file'),
      })
      .strict()
      .optional()
      .describe('Perpetual futures funding: a long pays quantity × price × rate at each funding time, a short receives it'),
    history: z
      .object({
        orders: z.number().int().positive().default(10_000).describe('Finished orders kept (and answered by client order id)'),
        trades: z.number().int().positive().default(10_000).describe('Executions kept for fetchMyTrades'),
      })
      .strict()
      .prefault({})
      .describe('How much finished history the paper venue keeps in its books; the oldest goes first'),
    marketData: z.string().optional().describe('Name of the provider whose prices drive this paper exchange'),
    timeframe: timeframe.optional().describe('Candles to follow from a live market data provider, besides ticks'),
  })
  .strict();

const replaySourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('candles'), file: z.string().min(1), symbol, timeframe, format: z.enum(['csv', 'json']).optional() }).strict(),
  z.object({ type: z.literal('trades'), file: z.string().min(1), symbol, format: z.enum(['csv', 'json']).optional() }).strict(),
]);

export const replayProviderConfigSchema = z
  .object({
    kind: z.literal('replay'),
    venue: z.string().optional(),
    sources: z.array(replaySourceSchema).min(1, 'list at least one data file'),
    speed,
    maxPauseMs: positiveInt.default(2_000),
    startAt: epochOrDate.optional(),
    warmupBars: z.number().int().nonnegative().optional(),
    endAt: epochOrDate.optional(),
    resume: z
      .boolean()
      .default(true)
      .describe('In a system with a data directory, a restarted replay resumes after the last moment it played (false: from the start, even though the agents remember later)'),
    baseDir: z.string().optional().describe('Directory relative file paths start from; default: the config file directory'),
  })
  .strict()
  .refine((c) => c.startAt === undefined || c.warmupBars === undefined, { message: 'give startAt or warmupBars, not both', path: ['warmupBars'] });

export const syntheticSymbolSchema = z
  .object({
    symbol,
    startPrice: z.number().positive(),
    drift: z.number().default(0),
    volatility: z.number().nonnegative().default(0.5),
    jumpIntensity: z.number().nonnegative().default(0),
    jumpMean: z.number().default(0),
    jumpStd: z.number().nonnegative().default(0.05),
    volume: z.number().positive().default(1_000),
  })
  .strict();

export const syntheticProviderConfigSchema = z
  .object({
    kind: z.literal('synthetic'),
    venue: z.string().optional(),
    seed: z.union([z.number(), z.string()]).default(1),
    symbols: z.array(syntheticSymbolSchema).min(1, 'list at least one symbol'),
    timeframe: timeframe.default('1m'),
    stepsPerBar: positiveInt.max(10_000).default(12),
    start: epochOrDate.optional(),
    historyBars: z.number().int().nonnegative().default(200),
    bars: positiveInt.optional(),
    speed: z
      .union([z.literal('max'), z.number().positive()])
      .optional()
      .describe("On market time: 'max' (default) or a multiple of real time (1, 60, 3600...). On the wall clock bars close in real time: leave it out"),
    maxPauseMs: positiveInt.default(2_000),
  })
  .strict();

export const PROVIDER_KINDS = ['ccxt', 'paper', 'replay', 'synthetic'] as const;

export const providerConfigSchemas = {
  ccxt: ccxtProviderConfigSchema,
  paper: paperProviderConfigSchema,
  replay: replayProviderConfigSchema,
  synthetic: syntheticProviderConfigSchema,
} as const;

export type CcxtProviderConfig = z.output<typeof ccxtProviderConfigSchema>;
export type PaperProviderConfig = z.output<typeof paperProviderConfigSchema>;
export type ReplayProviderConfig = z.output<typeof replayProviderConfigSchema>;
export type SyntheticProviderConfig = z.output<typeof syntheticProviderConfigSchema>;
export type ProviderConfig = CcxtProviderConfig | PaperProviderConfig | ReplayProviderConfig | SyntheticProviderConfig;
export type ProviderConfigInput =
  | z.input<typeof ccxtProviderConfigSchema>
  | z.input<typeof paperProviderConfigSchema>
  | z.input<typeof replayProviderConfigSchema>
  | z.input<typeof syntheticProviderConfigSchema>;

/**
 * Keys that look like credentials anywhere in a provider's settings outside its `credentials`
 * section (in ccxt `options`, say), where nothing would mark them secret.
 */
export function findSecretFields(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (path.length === 0 && k === 'credentials') continue;
    if (CREDENTIAL_LIKE_KEYS.some((s) => s.toLowerCase() === k.toLowerCase())) found.push([...path, k].join('.'));
    else found.push(...findSecretFields(v, [...path, k]));
  }
  return found;
}
