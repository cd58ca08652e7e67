import { z } from 'zod';

const positiveInt = (min: number, max: number) => z.number().int().min(min).max(max);

export const bufferSizesSchema = z
  .object({
    candles: positiveInt(10, 20_000).default(500).describe('Closed bars kept per chart'),
    events: positiveInt(10, 10_000).default(500).describe('Recent events kept for the live event list'),
    trades: positiveInt(10, 10_000).default(200).describe('Recent trades kept (open trades are never dropped first)'),
    equityPoints: positiveInt(10, 100_000).default(2_000).describe('Points of the equity curve'),
    alerts: positiveInt(1, 10_000).default(100).describe('Recent system alerts'),
  })
  .strict();

export const tradeMonitorConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('Address the dashboard listens on; keep a loopback address unless a reverse proxy with authentication sits in front'),
    port: z.number().int().min(0).max(65_535).default(7071).describe('Dashboard port; 0 picks a free port'),
    apiUrl: z
      .url({ protocol: /^https?$/, error: 'apiUrl must be an http(s) URL of the main REST API, e.g. http://127.0.0.1:7070' })
      .default('http://127.0.0.1:7070')
      .describe('Base URL of the main REST API: the kill switch is forwarded to <apiUrl>/kill-switch, history is read from <apiUrl>/events/history'),
    symbols: z.array(z.string().min(1)).default([]).describe('Symbols to chart, in this order; empty charts every symbol seen, up to maxCharts'),
    timeframe: z.string().min(1).optional().describe('Bar length to chart (e.g. 5m); unset charts the first timeframe seen per symbol'),
    maxCharts: positiveInt(1, 48).default(6).describe('Most charts shown when symbols is empty'),
    buffers: bufferSizesSchema.prefault({}),
    coalesce: z
      .array(z.string().min(1))
      .default(['price.tick', 'candle.updated'])
      .describe('High-rate event types that reach the page at most once per pushIntervalMs per symbol (the latest one)'),
    pushIntervalMs: positiveInt(100, 60_000)
      .default(1_000)
      .describe('How often (wall time) agent health and coalesced events are pushed to open pages'),
    keepAliveMs: positiveInt(10, 300_000).default(15_000).describe('Interval of SSE keep-alive comments (wall time: they keep idle connections open through proxies)'),
    retryMs: positiveInt(100, 60_000).default(3_000).describe('Reconnect delay the browser is told to use after a dropped stream'),
    maxClients: positiveInt(1, 1_000).default(32).describe('Most pages connected to the live stream at once'),
    maxBufferedBytes: positiveInt(64 * 1024, 256 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('A page that falls this far behind is disconnected; it reconnects and resyncs from a snapshot'),
    missedHeartbeats: positiveInt(1, 100).default(3).describe('Heartbeats an agent may miss before the dashboard shows it down'),
    backfill: z.boolean().default(true).describe('On start, load recent trades, orders, positions, account, risk and candles from <apiUrl>/events/history'),
    backfillLimit: positiveInt(1, 1_000).default(1_000).describe('Events asked for per backfill query'),
    forwardTimeoutMs: positiveInt(100, 120_000).default(5_000).describe('How long a forwarded kill-switch or risk-limits request may take'),
    riskAgent: z
      .string()
      .min(1)
      .default('manager')
      .describe("Id of the trade manager whose limits the risk panel's form changes (forwarded as PATCH <apiUrl>/config)"),
    reportsDir: z.string().min(1).optional().describe('Folder of report JSON files served under /reports/<name>.json (relative paths resolve from the working directory)'),
    allowedHosts: z
      .array(z.string().min(1))
      .default([])
      .describe('Extra host names accepted in the Host header (loopback names and the listen address are always accepted)'),
  })
  .strict();

export type TradeMonitorConfig = z.output<typeof tradeMonitorConfigSchema>;
export type TradeMonitorConfigInput = z.input<typeof tradeMonitorConfigSchema>;
