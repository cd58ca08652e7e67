import { z } from 'zod';
import { indicatorSpecSchema } from '@tradebus/indicators';
import { StrategyConfigError, createStrategies, strategyConfigSchema, timeframeSchema, type StrategyRegistry } from '@tradebus/strategies';
import { shardingSchema } from './sharding.js';

const indicatorName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*$/i, { error: 'use letters, digits, - and _ (a dot would clash with field names such as macd.histogram)' });

/**
 * The strategy-runner's config schema. Strategy params are checked by building the strategies
 * from `registry` (the built-ins when left out), so a bad `params.fast` is reported with its full
 * path at config time rather than when the agent starts.
 */
export function strategyRunnerConfigSchema(registry?: StrategyRegistry) {
  return z
    .strictObject({
      provider: z
        .string({ error: "must name the provider the candles come from (warm-up history is fetched there), e.g. 'binance'" })
        .min(1),
      symbols: z
        .array(z.string().min(1, { error: 'must be a unified symbol such as BTC/USDT' }))
        .min(1, { error: 'list at least one symbol, e.g. [BTC/USDT]' }),
      timeframes: z.array(timeframeSchema).min(1, { error: 'list at least one timeframe, e.g. [5m]' }).default(['1m']),
      strategies: z.array(strategyConfigSchema).min(1, { error: "list at least one strategy, e.g. [{ type: 'ema-cross' }]" }),
      indicators: z
        .record(indicatorName, indicatorSpecSchema)
        .default({})
        .describe('Indicators published in indicator.updated, by name: { rsi: { type: rsi, period: 14 } }'),
      indicatorUpdates: z
        .strictObject({
          mode: z
            .enum(['every-bar', 'throttled', 'off'], { error: "must be 'every-bar', 'throttled' or 'off'" })
            .default('every-bar'),
          minIntervalMs: z.number().int().positive().default(1_000).describe("With mode 'throttled': at most one update per series this often (agent clock)"),
          includeStrategies: z.boolean().default(false).describe("Also publish the strategies' own indicators, as <strategyId>.<name>"),
        })
        .prefault({}),
      warmup: z
        .strictObject({
          bars: z
            .number()
            .int()
            .positive()
            .max(5_000)
            .optional()
            .describe('Closed bars of history fetched per symbol and timeframe; three times the longest need (100 to 1000) by default'),
          retries: z.number().int().nonnegative().default(3),
          retryDelayMs: z.number().int().nonnegative().default(2_000),
        })
        .prefault({}),
      formingSignals: z.boolean().default(false).describe('Also evaluate forming bars (candle.updated) and publish provisional signals'),
      ticks: z.boolean().default(false).describe('Feed price.tick to strategies that react to ticks'),
      universe: z
        .strictObject({
          follow: z
            .boolean()
            .default(false)
            .describe(
              "Publish long/short signals only for symbols in the latest market.snapshot's universe; flat signals always go out. The configured symbols are traded until the first snapshot arrives",
            ),
          venue: z
            .string()
            .min(1)
            .optional()
            .describe("Follow only the snapshots of this venue (the market watchdog's `venue`); every snapshot when left out, so set it when more than one watchdog runs"),
        })
        .prefault({})
        .describe('The tradable universe published by the market watchdog'),
      sharding: shardingSchema.optional(),
    })
    .superRefine((config, ctx) => {
      let built;
      try {
        built = createStrategies(config.strategies, registry === undefined ? { path: 'strategies' } : { path: 'strategies', registry });
      } catch (err) {
        if (!(err instanceof StrategyConfigError)) throw err;
        for (const issue of err.issues) ctx.addIssue({ code: 'custom', path: parsePath(issue.path), message: issue.message });
        return;
      }
      built.forEach((strategy, i) => {
        if (strategy.timeframe !== undefined && !config.timeframes.includes(strategy.timeframe)) {
          ctx.addIssue({
            code: 'custom',
            path: ['strategies', i, 'timeframe'],
            message: `'${strategy.timeframe}' is not one of timeframes (${config.timeframes.join(', ')}): add it there so its candles are followed`,
          });
        }
        if (strategy.timeframe === undefined && config.timeframes.length > 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['strategies', i, 'timeframe'],
            message: 'is required when more than one timeframe is configured: say which one this strategy runs on',
          });
        }
      });
    });
}

export const defaultConfigSchema = strategyRunnerConfigSchema();
export type StrategyRunnerConfig = z.output<typeof defaultConfigSchema>;
export type StrategyRunnerConfigInput = z.input<typeof defaultConfigSchema>;

/** `strategies[0].params.fast` → ['strategies', 0, 'params', 'fast']. */
function parsePath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of path.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (match === null) {
      out.push(part);
      continue;
    }
    if (match[1] !== '') out.push(match[1]!);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}
