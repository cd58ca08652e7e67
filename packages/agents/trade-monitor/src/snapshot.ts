import { z } from 'zod';

/**
 * The dashboard's whole view in one JSON document: what `GET /api/snapshot` returns, what the live
 * stream sends first, and what a report file holds. A backtest (or any tool) can write a report in
 * this shape and the same page renders it; every section except `version` may be left out.
 */
const finite = z.number().finite();
const time = z.number().finite().nonnegative().describe('Epoch milliseconds');

export const barSchema = z.object({ time, open: finite, high: finite, low: finite, close: finite, volume: finite.default(0) });
export type Bar = z.output<typeof barSchema>;

export const chartSchema = z.object({
  symbol: z.string().min(1),
  timeframe: z.string().min(1),
  candles: z.array(barSchema).default([]),
  forming: barSchema.optional().describe('The bar still forming, from candle.updated'),
});
export type ChartData = z.output<typeof chartSchema>;

export const agentRowSchema = z.object({
  agentId: z.string(),
  kind: z.string(),
  status: z.enum(['ok', 'degraded', 'down', 'failed', 'starting', 'stopped']).describe('failed: the agent reported a failure (see lastError); down: it went silent'),
  state: z.string(),
  detail: z.string().optional(),
  heartbeatAgeMs: z.number().nonnegative(),
  lastHeartbeatAt: time,
  intervalMs: z.number().positive(),
  uptimeMs: z.number().nonnegative(),
  errors: z.number().int().nonnegative(),
  lastError: z.string().optional(),
  eventsIn: z.number().nonnegative(),
  eventsOut: z.number().nonnegative(),
  pid: z.number().int(),
  host: z.string(),
  transport: z.string(),
});
export type AgentRow = z.output<typeof agentRowSchema>;

export const systemHealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  timestamp: time,
  agents: z.array(agentRowSchema),
});
export type SystemHealthView = z.output<typeof systemHealthSchema>;

export const positionRowSchema = z.object({
  symbol: z.string(),
  side: z.enum(['long', 'short', 'flat']),
  quantity: finite,
  entryPrice: finite,
  markPrice: finite.optional(),
  unrealizedPnl: finite,
  realizedPnl: finite.default(0),
  leverage: finite.optional(),
  liquidationPrice: finite.optional(),
  timestamp: time,
});
export type PositionRow = z.output<typeof positionRowSchema>;

export const orderRowSchema = z.object({
  clientOrderId: z.string(),
  venueOrderId: z.string().optional(),
  symbol: z.string(),
  side: z.enum(['buy', 'sell']),
  type: z.string(),
  status: z.string(),
  quantity: finite,
  filledQuantity: finite.default(0),
  averagePrice: finite.optional(),
  price: finite.optional(),
  stopPrice: finite.optional(),
  purpose: z.string().optional(),
  tradeId: z.string().optional(),
  reason: z.string().optional(),
  timestamp: time,
});
export type OrderRow = z.output<typeof orderRowSchema>;

export const tradeRowSchema = z.object({
  tradeId: z.string(),
  symbol: z.string(),
  side: z.enum(['long', 'short']),
  status: z.enum(['open', 'closed']),
  quantity: finite,
  entryPrice: finite,
  exitPrice: finite.optional(),
  stopLoss: finite.optional(),
  takeProfit: finite.optional(),
  pnl: finite.optional(),
  pnlPct: finite.optional(),
  fees: finite.default(0),
  strategyId: z.string().optional(),
  exitReason: z.string().optional(),
  openedAt: time,
  closedAt: time.optional(),
});
export type TradeRow = z.output<typeof tradeRowSchema>;

export const accountViewSchema = z.object({
  venue: z.string(),
  quoteCurrency: z.string(),
  equity: finite,
  unrealizedPnl: finite.optional(),
  balances: z.array(z.object({ asset: z.string(), free: finite, used: finite, total: finite })).default([]),
  timestamp: time,
});
export type AccountView = z.output<typeof accountViewSchema>;

export const equityPointSchema = z.object({ time, equity: finite });
export type EquityPoint = z.output<typeof equityPointSchema>;

export const riskViewSchema = z.object({
  killSwitch: z.boolean(),
  reducingOnly: z.boolean(),
  breakers: z.array(z.object({ name: z.string(), tripped: z.boolean(), reason: z.string().optional(), until: time.optional() })).default([]),
  equity: finite,
  peakEquity: finite,
  drawdownPct: finite,
  dailyPnl: finite,
  openPositions: z.number().int().nonnegative(),
  exposure: finite,
  heat: finite,
  timestamp: time,
});
export type RiskView = z.output<typeof riskViewSchema>;

export const alertRowSchema = z.object({
  level: z.enum(['info', 'warning', 'error', 'critical']),
  code: z.string(),
  message: z.string(),
  agentId: z.string().optional(),
  timestamp: time,
});
export type AlertRow = z.output<typeof alertRowSchema>;

export const eventRowSchema = z.object({
  id: z.string(),
  type: z.string(),
  source: z.string(),
  ts: time,
  seq: z.number().int().nonnegative(),
  correlationId: z.string().optional(),
  causationId: z.string().optional(),
  payload: z.unknown(),
});
export type EventRow = z.output<typeof eventRowSchema>;

export const dashboardSnapshotSchema = z
  .object({
    version: z.literal(1, { error: 'version must be 1 (the snapshot format this dashboard reads)' }),
    mode: z.enum(['live', 'report']).default('report'),
    title: z.string().max(200).optional().describe('Shown in the header, e.g. the backtest name'),
    generatedAt: time.optional(),
    quoteCurrency: z.string().optional(),
    system: systemHealthSchema.optional(),
    charts: z.array(chartSchema).default([]),
    positions: z.array(positionRowSchema).default([]),
    orders: z.array(orderRowSchema).default([]),
    trades: z.array(tradeRowSchema).default([]).describe('Newest first'),
    account: accountViewSchema.nullable().default(null),
    equity: z.array(equityPointSchema).default([]).describe('Oldest first'),
    risk: riskViewSchema.nullable().default(null),
    alerts: z.array(alertRowSchema).default([]).describe('Newest first'),
    watchdog: z
      .record(z.string(), z.unknown())
      .nullable()
      .default(null)
      .describe("The profit watchdog's latest report (watchdog.report): its recommendations and auto-tune changes show in a panel"),
    events: z.array(eventRowSchema).default([]).describe('Oldest first'),
    eventTypes: z.record(z.string(), z.number().int().nonnegative()).default({}).describe('Events seen per type'),
    metrics: z.record(z.string(), z.union([finite, z.string()])).optional().describe('Report figures shown as key/value pairs (total return, Sharpe...)'),
  });
// Not strict: a report may carry more than the dashboard shows.

export type DashboardSnapshot = z.output<typeof dashboardSnapshotSchema>;
export type DashboardSnapshotInput = z.input<typeof dashboardSnapshotSchema>;
