import { z } from 'zod';
import { watchdogShardingSchema } from './sharding.js';
import { timeframeSchema } from './timeframe.js';

export const priceWatchdogConfigSchema = z.strictObject({
  provider: z.string({ error: "must name a provider of the config's providers section, e.g. 'binance'" }).min(1),
  symbols: z
    .array(z.string().min(1, { error: 'must be a unified symbol such as BTC/USDT' }))
    .min(1, { error: 'list at least one symbol to watch, e.g. [BTC/USDT]' }),
  timeframes: z.array(timeframeSchema).min(1, { error: 'list at least one timeframe, e.g. [1m]' }).default(['1m']),
  candles: z.boolean().default(true).describe('Watch candles (candle.updated / candle.closed) for every symbol and timeframe'),
  ticks: z.boolean().default(true).describe('Watch ticks (price.tick) for every symbol'),
  publishForming: z.boolean().default(true).describe('Publish candle.updated for the bar still forming'),
  sharding: watchdogShardingSchema.optional(),
  resume: z
    .boolean()
    .default(true)
    .describe('Remember the last closed bar per feed in the state store; after a restart, fetch the bars missed meanwhile and never republish older ones'),
  stale: z
    .strictObject({
      candleIntervals: z.number().positive().default(3).describe('A candle feed is stale after this many bar lengths without data'),
      tickMs: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(
          'A tick feed is stale after this long without a tick; by default candleIntervals bars of the shortest timeframe, at least 60 s (a replayed or synthetic market trades once per bar)',
        ),
      checkEveryMs: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('How often staleness is checked; a tenth of the shortest threshold (at least 1 s) by default'),
    })
    .prefault({}),
  reconnect: z
    .strictObject({
      initialDelayMs: z.number().int().nonnegative().default(1_000),
      maxDelayMs: z.number().int().positive().default(60_000),
      factor: z.number().min(1).default(2),
      jitter: z.number().min(0).max(1).default(0.2),
    })
    .prefault({}),
  backfill: z
    .strictObject({
      pageLimit: z.number().int().positive().max(5_000).default(500).describe('Bars asked per fetchOHLCV call when filling a gap'),
      maxPages: z.number().int().positive().default(20).describe('Pages fetched for one gap at most; an older remainder is skipped with an alert'),
    })
    .prefault({}),
});

export type PriceWatchdogConfig = z.output<typeof priceWatchdogConfigSchema>;
export type PriceWatchdogConfigInput = z.input<typeof priceWatchdogConfigSchema>;
