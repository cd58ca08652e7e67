import { z } from 'zod';
import { defineEvents, type EventMapOf } from './catalogue.js';

// Building blocks shared by several events. Timestamps are epoch milliseconds; market time for
// market data, the publisher's clock otherwise.
const symbol = z.string().min(1).describe('Unified market symbol, e.g. BTC/USDT');
const timestamp = z.number().int().nonnegative().describe('Epoch milliseconds');
const price = z.number().finite().nonnegative();
const quantity = z.number().finite().nonnegative();
const finite = z.number().finite();

export const candleSchema = z.object({
  symbol,
  timeframe: z.string().min(1).describe('Bar length, e.g. 1m, 5m, 1h'),
  timestamp: timestamp.describe('Open time of the bar'),
  open: price,
  high: price,
  low: price,
  close: price,
  volume: quantity,
});
export type CandleEvent = z.output<typeof candleSchema>;

export const orderSide = z.enum(['buy', 'sell']);
export const positionSide = z.enum(['long', 'short']);
export const signalSide = z.enum(['long', 'short', 'flat']);
export const orderType = z.enum(['market', 'limit', 'stop_market', 'stop_limit', 'take_profit']);
export const orderStatus = z.enum([
  'requested',
  'submitted',
  'accepted',
  'partially_filled',
  'filled',
  'cancelled',
  'rejected',
  'expired',
]);
export const orderPurpose = z.enum(['entry', 'exit', 'stop_loss', 'take_profit', 'trailing_stop', 'reduce', 'adopt']);
export const agentState = z.enum(['created', 'starting', 'running', 'degraded', 'stopping', 'stopped', 'failed']);
export const alertLevel = z.enum(['info', 'warning', 'error', 'critical']);

export const fillSchema = z.object({
  tradeId: z.string().min(1).describe('Venue trade (execution) id'),
  price,
  quantity,
  fee: z.number().finite().nonnegative(),
  feeCurrency: z.string(),
  liquidity: z.enum(['maker', 'taker']),
  timestamp,
});
export type Fill = z.output<typeof fillSchema>;

export const marketInfoSchema = z.object({
  symbol,
  base: z.string(),
  quote: z.string(),
  active: z.boolean(),
  last: price.optional(),
  bid: price.optional(),
  ask: price.optional(),
  spreadBps: z.number().finite().nonnegative().optional(),
  quoteVolume24h: quantity.optional(),
  change24hPct: finite.optional(),
  tradable: z.boolean(),
  reasons: z.array(z.string()).describe('Why the market is not tradable, empty when it is'),
  tickSize: price.optional().describe('Smallest price increment the venue accepts'),
  stepSize: price.optional().describe('Smallest quantity increment the venue accepts'),
  minQuantity: quantity.optional(),
  minNotional: quantity.optional().describe('Smallest order value (price × quantity) the venue accepts, in the quote'),
  maxLeverage: z.number().finite().positive().optional(),
  initialMarginRate: z.number().finite().nonnegative().optional().describe('Margin an opening position needs, as a share of its notional'),
  maintenanceMarginRate: z.number().finite().nonnegative().optional().describe('Margin below which a position is liquidated, as a share of its notional'),
});

const watchdogRecommendationSchema = z.object({
  id: z.string().min(1),
  agent: z.string().describe('Agent whose setting it is'),
  setting: z.string().describe("Dotted path in that agent's config"),
  strategies: z.array(z.string()).describe('Strategies whose decisions were replayed'),
  current: finite,
  recommended: finite,
  samples: z.number().int().nonnegative().describe('Decisions with a known outcome the replay used'),
  tradesBefore: z.number().int().nonnegative(),
  tradesAfter: z.number().int().nonnegative(),
  expectancyBeforePct: finite.nullable(),
  expectancyAfterPct: finite.nullable(),
  totalBeforePct: finite,
  totalAfterPct: finite,
  changedDecisions: z.number().int().nonnegative().describe('Decisions the recommended value decides otherwise'),
  test: z.object({ name: z.literal('welch-t'), t: finite, df: finite, p: finite }).nullable().describe("Welch's t-test of the changed decisions' outcomes against the kept ones"),
  significant: z.boolean(),
  outcomesUntil: timestamp.describe('Only outcomes known by this time were replayed'),
  timestamp,
});

const watchdogGroupSchema = z.object({
  strategyId: z.string(),
  symbol: z.string().optional(),
  regime: z.string().optional(),
  decisions: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative(),
  rejected: z.number().int().nonnegative(),
  acceptanceQuality: finite.nullable().describe('Accepted winners ÷ accepted with an outcome'),
  rejectionQuality: finite.nullable().describe('Rejected that would have lost ÷ rejected with an outcome'),
  falsePositiveRate: finite.nullable().describe('Accepted losers ÷ all losers'),
  falseNegativeRate: finite.nullable().describe('Rejected winners ÷ all winners'),
  expectancyPct: finite.nullable(),
  expectancyLowPct: finite.nullable(),
  expectancyHighPct: finite.nullable(),
  missedExpectancyPct: finite.nullable().describe('Average outcome of the rejected signals'),
});

const watchdogTuningSchema = z.object({
  id: z.string().min(1),
  action: z.enum(['applied', 'kept', 'rolled_back', 'failed']),
  agent: z.string(),
  setting: z.string(),
  from: finite,
  to: finite,
  reason: z.string(),
  recommendationId: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
  timestamp,
});

export const builtinEvents = defineEvents({
  'price.tick': z.object({
    symbol,
    price,
    bid: price.optional(),
    ask: price.optional(),
    volume: quantity.optional(),
    timestamp,
  }),
  'candle.updated': candleSchema.describe('The bar still forming; replaces the previous update of the same bar'),
  'candle.closed': candleSchema.describe('A finished bar; published once per bar'),
  'market.snapshot': z.object({
    timestamp,
    venue: z.string(),
    markets: z.array(marketInfoSchema),
    universe: z.array(symbol).describe('Symbols currently selected for trading'),
    added: z.array(symbol),
    removed: z.array(symbol),
  }),
  'indicator.updated': z.object({
    symbol,
    timeframe: z.string(),
    timestamp,
    values: z.record(z.string(), z.number().finite().nullable()),
  }),
  'signal.generated': z.object({
    id: z.string().min(1),
    strategyId: z.string().min(1),
    symbol,
    timeframe: z.string().optional(),
    side: signalSide,
    confidence: z.number().min(0).max(1),
    price,
    stopLoss: price.optional(),
    takeProfit: price.optional(),
    reason: z.string(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    timestamp,
  }),
  'signal.decided': z.object({
    signalId: z.string().min(1),
    strategyId: z.string().min(1),
    symbol,
    side: signalSide,
    decision: z.enum(['accepted', 'rejected', 'outcome']).describe(
      "'outcome' reports, after the fact, what a rejected signal would have earned",
    ),
    reasons: z.array(z.string()),
    clientOrderId: z.string().optional(),
    quantity: quantity.optional(),
    outcome: z
      .object({ exitPrice: price, pnlPct: finite, exitReason: z.string(), closedAt: timestamp })
      .optional(),
    adjustments: z
      .array(
        z.object({
          rule: z.string().describe('agreement, trend, adx, pattern (boosts) or disagreement, weak (penalties)'),
          amount: finite.describe('Confidence added for the second-chance rescue; negative for a penalty'),
          detail: z.string(),
        }),
      )
      .optional()
      .describe('The second-chance factors applied to a signal just below the minimum confidence'),
    allocation: z
      .object({
        bid: finite.describe('Expected return per trade (percent) × confidence / risk to the stop (percent of entry)'),
        edgePct: finite,
        riskPct: finite,
        confidence: finite,
        rank: z.number().int().positive().describe("Place in the round's bid order"),
        candidates: z.number().int().positive(),
        cost: finite.optional().describe('What the entry takes from the budget, in the account currency'),
        budget: finite.optional(),
        budgetLeft: finite.optional().describe('Budget left after this entry'),
        replacedTradeId: z.string().optional().describe('Open trade closed (exit reason reallocated) to make room for this entry'),
      })
      .optional()
      .describe('How the entry fared in the auction for the risk budget (allocation.enabled)'),
    timestamp,
  }),
  'order.requested': z.object({
    clientOrderId: z.string().min(1).max(36).describe('Idempotency key: the venue never sees two orders with one id'),
    symbol,
    side: orderSide,
    type: orderType,
    quantity: quantity.positive(),
    price: price.optional(),
    stopPrice: price.optional(),
    reduceOnly: z.boolean(),
    timeInForce: z.enum(['GTC', 'IOC', 'FOK', 'PO']).optional(),
    purpose: orderPurpose,
    tradeId: z.string().optional(),
    signalId: z.string().optional(),
    strategyId: z.string().optional(),
    timestamp,
  }),
  'order.updated': z.object({
    clientOrderId: z.string().min(1),
    venueOrderId: z.string().optional(),
    symbol,
    side: orderSide,
    type: orderType,
    status: orderStatus,
    quantity,
    filledQuantity: quantity,
    averagePrice: price.optional(),
    price: price.optional(),
    stopPrice: price.optional(),
    reduceOnly: z.boolean().optional(),
    purpose: orderPurpose.optional(),
    tradeId: z.string().optional(),
    fills: z.array(fillSchema).describe('Fills new since the previous update of this order'),
    fee: z.number().finite().nonnegative().describe('Total fee paid on the order so far'),
    reason: z.string().optional(),
    restated: z
      .boolean()
      .optional()
      .describe('A state announced before, told again after a restart with all its fills (the restart may have come before everyone stored it); whoever has it already ignores it'),
    timestamp,
  }),
  'trade.opened': z.object({
    tradeId: z.string().min(1),
    symbol,
    side: positionSide,
    quantity,
    entryPrice: price,
    stopLoss: price.optional(),
    takeProfit: price.optional(),
    strategyId: z.string().optional(),
    signalId: z.string().optional(),
    fees: z.number().finite().nonnegative(),
    openedAt: timestamp,
  }),
  'trade.closed': z.object({
    tradeId: z.string().min(1),
    symbol,
    side: positionSide,
    quantity,
    entryPrice: price,
    exitPrice: price,
    pnl: finite.describe('Realised profit after fees, in quote currency'),
    pnlPct: finite,
    fees: z.number().finite().nonnegative(),
    strategyId: z.string().optional(),
    exitReason: z.string(),
    openedAt: timestamp,
    closedAt: timestamp,
  }),
  'position.updated': z.object({
    symbol,
    side: z.enum(['long', 'short', 'flat']),
    quantity,
    entryPrice: price,
    markPrice: price.optional(),
    unrealizedPnl: finite,
    realizedPnl: finite,
    leverage: z.number().positive().optional(),
    liquidationPrice: price.optional(),
    timestamp,
  }),
  'account.updated': z.object({
    venue: z.string(),
    quoteCurrency: z.string(),
    equity: finite,
    balances: z.array(z.object({ asset: z.string(), free: finite, used: finite, total: finite })),
    unrealizedPnl: finite.optional(),
    margin: z
      .object({
        used: finite.describe('Margin held by open positions and orders, in quoteCurrency'),
        maintenance: finite.describe('Margin the open positions need to stay open, in quoteCurrency'),
      })
      .optional()
      .describe('Derivatives accounts: margin held and needed'),
    timestamp,
  }),
  'agent.heartbeat': z.object({
    agentId: z.string(),
    kind: z.string(),
    status: agentState,
    uptimeMs: z.number().nonnegative(),
    errors: z.number().int().nonnegative(),
    lastError: z.string().optional(),
    eventsIn: z.number().int().nonnegative(),
    eventsOut: z.number().int().nonnegative(),
    pid: z.number().int(),
    host: z.string(),
    transport: z.string(),
    intervalMs: z.number().positive(),
    detail: z.string().optional().describe('Why the agent is degraded or failed'),
    instance: z.string().optional().describe('Instance name when several processes run this agent (sharded); heartbeats are told apart by it'),
    shard: z
      .object({
        group: z.string(),
        owned: z.array(z.string()).describe('Keys (symbols) this instance owns now'),
        members: z.number().int().nonnegative().describe('Live instances sharing the keys'),
        keys: z.number().int().nonnegative(),
      })
      .optional()
      .describe('What a sharded instance owns'),
    timestamp,
  }),
  'agent.status': z.object({
    agentId: z.string(),
    kind: z.string(),
    from: agentState,
    to: agentState,
    reason: z.string().optional(),
    instance: z.string().optional().describe('Instance name of a sharded agent'),
    timestamp,
  }),
  'system.alert': z.object({
    level: alertLevel,
    code: z.string(),
    message: z.string(),
    agentId: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    timestamp,
  }),
  'risk.state': z.object({
    killSwitch: z.boolean(),
    reducingOnly: z.boolean(),
    breakers: z.array(
      z.object({ name: z.string(), tripped: z.boolean(), reason: z.string().optional(), until: timestamp.optional() }),
    ),
    equity: finite,
    peakEquity: finite,
    drawdownPct: finite,
    dailyPnl: finite,
    openPositions: z.number().int().nonnegative(),
    exposure: finite,
    heat: finite,
    sizeMultiplier: finite.optional().describe('What the drawdown ladder scales new entries by (1: full size)'),
    marginUse: finite.optional().describe('Margin utilisation in %, 0 far from liquidation and 100 where the venue liquidates: maintenance ÷ equity on cross margin; on isolated margin the share of the margin above maintenance that losses used up'),
    portfolio: z
      .object({
        cvar95Pct: finite.optional().describe('Expected loss of the open positions over one bar in the worst tail of the window (portfolio.cvar.confidence, 0.95 by default), % of equity'),
        groups: z.record(z.string(), finite).optional().describe('Exposure per configured group, in the account currency'),
      })
      .optional(),
    timestamp,
  }),
  'risk.command': z.object({
    action: z.enum(['kill', 'resume', 'reducing_only', 'reset_breakers', 'flatten']).describe(
      'kill: halt new entries and cancel entry orders, keeping protective stops; resume: lift kill switch and reducing-only mode; flatten: kill, then close every position at market (reduce-only)',
    ),
    reason: z.string(),
    by: z.string().describe('Who asked: an operator name, "api", or an agent id'),
    timestamp,
  }),
  'config.changed': z.object({
    changes: z.record(z.string(), z.unknown()),
    by: z.string().optional(),
    timestamp,
  }),
  'order.cancel_requested': z.object({
    clientOrderId: z.string().min(1).max(36).describe('The order to cancel; unknown or finished orders are left alone'),
    symbol,
    reason: z.string(),
    tradeId: z.string().optional(),
    timestamp,
  }),
  'watchdog.recommendation': watchdogRecommendationSchema.describe(
    'A value the profit watchdog recommends for a setting, with the replay of the recorded decisions behind it',
  ),
  'watchdog.report': z
    .object({
      agentId: z.string(),
      outcomes: z.number().int().nonnegative().describe('Decisions whose outcome the watchdog has seen since it started keeping records'),
      windowSize: z.number().int().positive(),
      groups: z.array(watchdogGroupSchema).describe('Decision quality per strategy, per strategy × symbol and per strategy × symbol × regime, over the last windowSize outcomes of each'),
      drift: z.array(
        z.object({ strategyId: z.string(), trades: z.number().int().nonnegative(), statistic: finite, threshold: finite, drifting: z.boolean(), since: timestamp.optional() }),
      ),
      recommendations: z.array(watchdogRecommendationSchema),
      tuning: z.array(watchdogTuningSchema).describe('Changes the auto-tune made, newest last'),
      timestamp,
    })
    .describe("The profit watchdog's latest figures (also served at GET /watchdog/report)"),
  'watchdog.tuning': watchdogTuningSchema.describe('A change the profit watchdog made to a setting on its own (auto-tune), kept or rolled back: the audit trail'),
  'position.reconcile': z.object({
    action: z.enum(['adopt', 'resolve']).describe(
      "adopt: the venue holds this position and the trade manager does not, so it takes it over; resolve: the trade manager holds a position the venue no longer has, so it closes it in its books without an order",
    ),
    venue: z.string(),
    symbol,
    side: positionSide,
    quantity: quantity.positive(),
    price: price.describe('Entry price for adopt (the venue\'s, or the mark), exit price for resolve'),
    reason: z.string(),
    timestamp,
  }),
});

export type BuiltinEventSchemas = typeof builtinEvents;
export type BuiltinEvents = EventMapOf<BuiltinEventSchemas>;
export type EventPayload<K extends keyof BuiltinEvents> = BuiltinEvents[K];
