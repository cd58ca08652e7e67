import { z } from 'zod';

/** Quote-pegged assets: a pair whose base is one of these barely moves, so there is nothing to trade. */
export const DEFAULT_STABLECOINS = ['USDT', 'USDC', 'BUSD', 'DAI', 'TUSD', 'FDUSD', 'USDP', 'PYUSD', 'USDD', 'GUSD', 'UST', 'USTC', 'EURC', 'EURI', 'AEUR'];

const symbolList = z.array(z.string().min(1, { error: 'must be a unified symbol such as BTC/USDT' }));

export const marketWatchdogConfigSchema = z.strictObject({
  provider: z.string({ error: "must name a provider of the config's providers section, e.g. 'binance'" }).min(1),
  venue: z.string().min(1).optional().describe("Venue name in market.snapshot; the provider's own venue name, else the provider name"),
  intervalMs: z.number().int().min(1_000, { error: 'must be at least 1000 ms' }).default(60_000).describe('Time between snapshots'),
  reloadMarketsEveryMs: z.number().int().positive().default(3_600_000).describe('How often the market list (listing status) is fetched afresh'),
  symbols: symbolList
    .min(1, { error: 'list at least one symbol, or leave symbols out to watch every market that passes quotes and types' })
    .optional()
    .describe('Markets to watch; all markets of the venue that pass `quotes` and `types` when left out'),
  quotes: z.array(z.string().min(1)).optional().describe('Only markets quoted in these currencies, e.g. [USDT]'),
  types: z.array(z.enum(['spot', 'swap', 'future', 'option'])).min(1).default(['spot']).describe('Market types watched when `symbols` is left out'),
  maxMarkets: z
    .number()
    .int()
    .positive()
    .default(100)
    .describe('At most this many markets are polled per snapshot (each costs a ticker request, plus an order-book request)'),
  spreadSource: z
    .enum(['orderbook', 'ticker'])
    .default('orderbook')
    .describe("Where bid/ask for the spread come from: 'orderbook' asks fetchOrderBookTop, 'ticker' uses the ticker's bid/ask"),
  concurrency: z.number().int().positive().max(32).default(4).describe('Provider requests in flight at once'),
  universe: z
    .strictObject({
      minQuoteVolume24h: z.number().nonnegative().default(0).describe('Minimum 24h volume in the quote currency'),
      maxSpreadBps: z.number().positive().optional().describe('Maximum bid/ask spread in basis points'),
      excludeStablecoinPairs: z.boolean().default(true).describe('Leave out pairs whose base is a stablecoin (USDC/USDT...)'),
      stablecoins: z.array(z.string().min(1)).default(DEFAULT_STABLECOINS),
      exclude: symbolList.default([]).describe('Symbols never selected'),
      maxSize: z.number().int().positive().optional().describe('Keep only the N tradable markets with the highest quote volume'),
    })
    .prefault({}),
});

export type MarketWatchdogConfig = z.output<typeof marketWatchdogConfigSchema>;
export type MarketWatchdogConfigInput = z.input<typeof marketWatchdogConfigSchema>;
