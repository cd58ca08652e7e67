import { aggregatorConfigSchema, regimeDetectorConfigSchema, trackRecordConfigSchema } from '@tradebus/strategies';
import { z } from 'zod';
import { allocationConfigSchema } from './allocator.js';
import { marginConfigSchema } from './margin.js';
import { portfolioConfigSchema } from './portfolio.js';
import { universeConfigSchema } from './universe.js';

const pct = (what: string) => z.number().finite().nonnegative().describe(what);
const positiveMs = z.number().int().nonnegative();

const marketRules = z
  .object({
    quantityStep: z.number().positive().optional().describe('Order quantities are rounded down to a multiple of this'),
    minQuantity: z.number().nonnegative().optional(),
    minNotional: z.number().nonnegative().optional().describe('Smallest order value in quote currency'),
  })
  .strict();

const sizingModeFields = {
  mode: z
    .enum(['risk', 'fraction', 'notional', 'quantity'])
    .describe('risk: lose riskPerTradePct at the stop; fraction: fractionPct of equity; notional: a fixed value; quantity: a fixed quantity'),
  riskPerTradePct: pct('mode risk: percent of equity lost when the stop is hit'),
  fractionPct: pct('mode fraction: position value as percent of equity'),
  notional: z.number().positive().optional().describe("mode notional: position value, in the symbol's quote currency"),
  quantity: z.number().positive().optional().describe('mode quantity: position size in the base currency (contracts on derivatives)'),
  defaultStopPct: pct('Stop distance when the signal has none and no ATR stop applies (0 with atrStopMultiple 0: no stop)'),
  atrStopMultiple: z.number().nonnegative().describe('Stop at this many ATRs when the signal has none (0: use defaultStopPct)'),
  rewardRisk: z.number().nonnegative().describe('Target at this multiple of the stop distance when the signal has none (0: no target)'),
};

interface ModeAmount {
  mode?: string | undefined;
  notional?: number | undefined;
  quantity?: number | undefined;
}

/** A fixed-value or fixed-quantity mode needs its amount, in the shared settings or the strategy's own. */
function requireModeAmount(sizing: ModeAmount & { byStrategy?: Record<string, ModeAmount> }, ctx: z.RefinementCtx): void {
  const check = (settings: ModeAmount, path: Array<string | number>): void => {
    if (settings.mode === 'notional' && settings.notional === undefined) {
      ctx.addIssue({ code: 'custom', path: [...path, 'notional'], message: 'mode is notional: set notional to the value of each position' });
    }
    if (settings.mode === 'quantity' && settings.quantity === undefined) {
      ctx.addIssue({ code: 'custom', path: [...path, 'quantity'], message: 'mode is quantity: set quantity to the size of each position' });
    }
  };
  check(sizing, []);
  for (const [id, own] of Object.entries(sizing.byStrategy ?? {})) {
    const merged: ModeAmount = { mode: own.mode ?? sizing.mode, notional: own.notional ?? sizing.notional, quantity: own.quantity ?? sizing.quantity };
    if (own.mode !== undefined || merged.mode !== sizing.mode) check(merged, ['byStrategy', id]);
  }
}

/** What a strategy may size differently; the rest comes from the shared sizing settings. */
const strategySizing = z
  .object({
    mode: sizingModeFields.mode.optional(),
    riskPerTradePct: sizingModeFields.riskPerTradePct.optional(),
    fractionPct: sizingModeFields.fractionPct.optional(),
    notional: sizingModeFields.notional,
    quantity: sizingModeFields.quantity,
    defaultStopPct: sizingModeFields.defaultStopPct.optional(),
    atrStopMultiple: sizingModeFields.atrStopMultiple.optional(),
    rewardRisk: sizingModeFields.rewardRisk.optional(),
  })
  .strict();

export const tradeManagerConfigSchema = z
  .object({
    symbols: z.array(z.string().min(1)).optional().describe('Only trade these symbols; every symbol when absent'),
    timeframe: z
      .string()
      .optional()
      .describe('Candle timeframe used for exits, ATR and counterfactuals; the first one seen per symbol when absent'),
    allowShort: z.boolean().default(false).describe('Open short positions on short signals (needs a derivatives venue)'),
    exitOnOppositeSignal: z.boolean().default(true).describe('A signal against an open position closes it'),
    reverseOnOppositeSignal: z
      .boolean()
      .default(false)
      .describe(
        "After closing a position on an opposite signal, open that signal's position (entry rules apply to it). A strategy can ask for it per signal with metadata.reverse: true",
      ),
    equity: z
      .object({
        initial: z.number().positive().default(10_000).describe('Equity assumed until the first account.updated'),
        source: z
          .enum(['auto', 'account', 'internal'])
          .default('auto')
          .describe("auto: account.updated once one arrived, the manager's own books before; internal: initial + realised + unrealised P&L"),
        venue: z.string().optional().describe('Only account.updated from this venue counts'),
        currency: z
          .string()
          .min(1)
          .optional()
          .describe(
            "Currency equity, limits and internal P&L are counted in; the account.updated quote currency when absent. Symbols quoted in another currency are converted at the last price of a pair between them (the manager must receive that pair's candles)",
          ),
      })
      .strict()
      .prefault({}),
    aggregation: aggregatorConfigSchema.prefault({}).describe('How signals are combined (@tradebus/strategies SignalAggregator)'),
    aggregationWindowMs: positiveMs
      .default(0)
      .describe('Collect signals this long before deciding on them as one batch; 0: decide once no more events are waiting'),
    trackRecord: trackRecordConfigSchema.prefault({}).describe("Per-strategy record of closed trades: aggregation's confidence factor and Kelly sizing"),
    regime: regimeDetectorConfigSchema.prefault({}).describe('Market regime per symbol, used when aggregation.regime.enabled'),
    entry: z
      .object({
        type: z.enum(['market', 'limit']).default('market'),
        limitOffsetBps: z.number().nonnegative().default(0).describe('Limit entries: price improvement from the signal price, in basis points'),
        timeoutMs: positiveMs.default(15 * 60_000).describe('Limit entries: cancel what is not filled after this long'),
      })
      .strict()
      .prefault({}),
    sizing: z
      .object({
        ...sizingModeFields,
        riskPerTradePct: sizingModeFields.riskPerTradePct.default(1),
        fractionPct: sizingModeFields.fractionPct.default(10),
        defaultStopPct: sizingModeFields.defaultStopPct.default(2),
        atrStopMultiple: sizingModeFields.atrStopMultiple.default(0),
        rewardRisk: sizingModeFields.rewardRisk.default(2),
        mode: sizingModeFields.mode.default('risk'),
        byStrategy: z
          .record(z.string(), strategySizing)
          .default({})
          .describe('Sizing per strategy id, on top of the settings above (mode, amounts, default stop and target)'),
        maxPositionPct: pct('Largest position value as percent of equity (0: no cap)').default(100),
        minNotional: z.number().nonnegative().default(0),
        quantityStep: z.number().positive().optional(),
        markets: z.record(z.string(), marketRules).default({}),
        kelly: z
          .object({
            enabled: z.boolean().default(true),
            minTrades: z.number().int().positive().default(20).describe('Closed trades of a strategy before Kelly sizing applies'),
            fraction: z.number().positive().max(1).default(0.5).describe('Fraction of the full Kelly bet'),
            maxRiskPct: pct('Upper bound of the Kelly risk per trade').default(2),
          })
          .strict()
          .prefault({}),
        confidence: z
          .object({
            enabled: z.boolean().default(true),
            min: z.number().min(0).max(1).default(0).describe('Signals below this confidence are rejected'),
            floor: z.number().min(0).max(1).default(0.25).describe('Smallest size multiplier a low confidence can give'),
          })
          .strict()
          .prefault({}),
        volatility: z
          .object({
            enabled: z.boolean().default(false),
            atrPeriod: z.number().int().positive().default(14),
            targetAtrPct: z.number().positive().default(1).describe('ATR (percent of price) at which the size is unchanged'),
            minMultiplier: z.number().positive().default(0.25),
            maxMultiplier: z.number().positive().default(1.5),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .superRefine(requireModeAmount)
      .prefault({}),
    limits: z
      .object({
        maxOpenPositions: z.number().int().nonnegative().default(5).describe('Trades open or pending at once (0: no limit)'),
        maxExposurePerSymbolPct: pct('Position value per symbol as percent of equity (0: no limit)').default(50),
        maxTotalExposurePct: pct('Value of all positions as percent of equity (0: no limit)').default(200),
        maxPortfolioHeatPct: pct(
          'Sum of what every open trade loses at its stop (its whole value without a stop), as percent of equity (0: no limit)',
        ).default(6),
        maxTradesPerDay: z.number().int().nonnegative().default(50).describe('Entries per UTC day (0: no limit)'),
        minTimeBetweenTradesMs: positiveMs.default(0),
        symbolCooldownAfterLossMs: positiveMs.default(0),
      })
      .strict()
      .prefault({}),
    breakers: z
      .object({
        dailyLossPct: pct('Trip when the day loses this percent of its starting equity (0: off)').default(5),
        dailyLossCooldownMs: positiveMs
          .optional()
          .describe('Resume after this long, with a fresh allowance from the equity at that moment; until the next UTC day when absent'),
        maxDrawdownPct: pct('Trip when equity is this far below its peak (0: off)').default(20),
        drawdownCooldownMs: positiveMs.default(24 * 3_600_000).describe('After it, the peak restarts from the current equity'),
        maxConsecutiveLosses: z.number().int().nonnegative().default(5).describe('0: off'),
        consecutiveLossCooldownMs: positiveMs.default(3_600_000),
        drawdownLadder: z
          .array(
            z
              .object({
                drawdownPct: z.number().finite().positive().describe('From this drawdown below the peak equity on'),
                sizeMultiplier: z.number().min(0).max(1).describe('new entries are sized × this (0: no new entries)'),
              })
              .strict(),
          )
          .default([])
          .describe('De-risking steps, e.g. [{drawdownPct: 10, sizeMultiplier: 0.5}, {drawdownPct: 15, sizeMultiplier: 0}]; the deepest step reached applies'),
      })
      .strict()
      .prefault({}),
    universe: universeConfigSchema,
    margin: marginConfigSchema.prefault({}).describe('Derivatives: leverage caps, initial margin with a buffer before each entry, and margin utilisation watched after every account update'),
    allocation: allocationConfigSchema
      .prefault({})
      .describe('Auction of each round of entries for the risk (or exposure) budget left by the open positions; off: entries in the order aggregation ranked them'),
    portfolio: portfolioConfigSchema.prefault({}).describe('Portfolio risk: size by correlation with open positions, exposure caps per group of symbols, a CVaR limit'),
    invariants: z
      .object({
        intervalMs: positiveMs.default(60_000).describe('How often the books are checked for open positions without their stop at the venue and working orders of no trade (0: off)'),
        repair: z.boolean().default(true).describe('Place a missing stop again and cancel an order of no trade; false only alerts'),
      })
      .strict()
      .prefault({}),
    killSwitch: z
      .object({
        flatten: z
          .boolean()
          .default(false)
          .describe('The kill switch also closes every position at market (reduce-only), as the flatten command does; false keeps positions with their stops'),
      })
      .strict()
      .prefault({}),
    exits: z
      .object({
        protectiveOrdersAtVenue: z
          .boolean()
          .default(true)
          .describe(
            'Place stop-loss and take-profit orders at the venue, so they fill at their level as soon as it trades; a level the venue refuses, or false here, is watched by the manager, which exits with a market order after the price that crossed it',
          ),
        reduceOnly: z.boolean().default(true).describe('Mark exit and protective orders reduce-only (turn off for spot venues that refuse the flag)'),
        trailing: z
          .object({
            enabled: z.boolean().default(false),
            distancePct: z.number().positive().optional(),
            atrMultiple: z.number().positive().optional(),
            activationPct: pct('Start trailing once the trade is this far in profit').default(0),
            venueUpdateStepPct: pct('Replace a venue stop only when it moved this much').default(0.1),
          })
          .strict()
          .prefault({}),
        timeStopMs: positiveMs.default(0).describe('Close a trade open this long (0: off)'),
        exitRetryMs: positiveMs.default(30_000).describe('Try again when an exit order was rejected or cancelled'),
      })
      .strict()
      .prefault({}),
    counterfactual: z
      .object({
        enabled: z.boolean().default(true),
        maxBars: z.number().int().positive().default(288).describe('Give up following a rejected signal after this many candles'),
        maxTracked: z.number().int().positive().default(500),
      })
      .strict()
      .prefault({}),
    maxSignalAgeMs: positiveMs.default(0).describe('Reject signals older than this (0: off)'),
    positionSnapshotIntervalMs: positiveMs.default(60_000).describe('Republish every open position this often, for reconciliation (0: off)'),
    riskStateIntervalMs: positiveMs.default(60_000).describe('Publish risk.state at most this often when only the numbers changed'),
    marketStateSaveIntervalMs: positiveMs
      .default(3_600_000)
      .describe(
        'Save the bars behind the ATR, the last prices and the progress of followed rejected signals at most this often, in clock time (0: after every candle). A normal stop always saves them; after a crash they are at most this old. Trades, orders and risk state are saved after every change regardless',
      ),
  })
  .strict();

export type TradeManagerConfig = z.output<typeof tradeManagerConfigSchema>;
export type TradeManagerConfigInput = z.input<typeof tradeManagerConfigSchema>;
