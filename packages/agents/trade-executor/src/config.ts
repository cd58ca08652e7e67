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
    venueBreaker: z
      .object({
        failures: z
          .number()
          .int()
          .nonnegative()
          .default(5)
          .describe('Consecutive venue failures (network errors, timeouts, venue unavailable) of placements and cancels that open the breaker; business rejections do not count (0: off)'),
        windowMs: z.number().int().positive().default(60_000).describe('Only failures within this long count towards failures'),
        cooldownMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe('How long the open breaker refuses new entries before the next request probes the venue (success closes it, failure opens it again)'),
      })
      .strict()
      .prefault({})
      .describe('Refuses new entries while the venue keeps failing; exits and protective orders always go out'),
    slippageGuard: z
      .object({
        expectedBps: z.number().nonnegative().default(10).describe('Adverse slippage a normal fill has, in basis points of the reference price'),
        multiple: z
          .number()
          .nonnegative()
          .default(0)
          .describe(
            'A fill with adverse slippage above multiple × expectedBps halts new entries on its symbol (0: off, the default: a backtest has no operator to resume it; 5 is a sensible start for live trading)',
          ),
        haltMs: z.number().int().nonnegative().default(0).describe('How long such a halt lasts (0: until a risk.command resume or reset_breakers)'),
      })
      .strict()
      .prefault({})
      .describe(
        "Reference price: the order's limit price, else its stop price, else the last price the executor saw for the symbol (price.tick, candle.closed) when it sent the order; without one the fill is not checked",
      ),
  })
  .strict();

export type TradeExecutorConfig = z.output<typeof tradeExecutorConfigSchema>;
export type TradeExecutorConfigInput = z.input<typeof tradeExecutorConfigSchema>;
