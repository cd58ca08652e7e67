import { z } from 'zod';

export const tradeExecutorConfigSchema = z
  .object({
    provider: z.string().min(1).describe("Name of the provider in the config's providers section (registered as provider:<name>)"),
    mode: z
      .enum(['live', 'paper', 'disabled'])
      .default('paper')
      .describe('live: real orders; paper: only a paper provider is accepted; disabled: every intent is rejected, no venue is touched'),
    feedMarketData: z
      .union([z.boolean(), z.literal('auto')])
      .default('auto')
      .describe(
        "Paper mode: pass candle.closed and price.tick from the bus to the paper exchange so it can match orders; 'auto' does unless the paper exchange follows a market data provider itself",
      ),
    rateLimit: z
      .object({
        capacity: z.number().int().positive().default(10).describe('Requests that may go out in a burst'),
        refillPerSecond: z.number().positive().default(5).describe('Sustained requests per second'),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        maxAttempts: z.number().int().positive().default(5),
        initialDelayMs: z.number().int().nonnegative().default(500),
        maxDelayMs: z.number().int().positive().default(15_000),
        factor: z.number().min(1).default(2),
      })
      .strict()
      .prefault({}),
    pollIntervalMs: z
      .number()
      .int()
      .positive()
      .default(2_000)
      .describe('How often open orders are fetched from a venue that does not push order updates'),
    unknownOutcomeTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(120_000)
      .describe('An order whose placement outcome is unknown and that the venue still does not know after this long is declared rejected'),
    maxRequestAgeMs: z
      .number()
      .int()
      .nonnegative()
      .default(60_000)
      .describe('Entry intents older than this when first seen are rejected as stale (0: off); exits are always placed'),
    keepFinishedOrders: z.number().int().positive().default(10_000).describe('Finished orders remembered for idempotency'),
    restateFinishedWithinMs: z
      .number()
      .int()
      .nonnegative()
      .default(600_000)
      .describe('On start, orders that finished within this long before (clock time) are announced again with all their fills, so history and books written after the announcement catch up after a crash (0: off)'),
  })
  .strict();

export type TradeExecutorConfig = z.output<typeof tradeExecutorConfigSchema>;
export type TradeExecutorConfigInput = z.input<typeof tradeExecutorConfigSchema>;
