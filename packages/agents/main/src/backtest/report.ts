import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BuiltinEvents } from '@tradebus/core';
import {
  computeMetrics,
  groupStats,
  type BenchmarkPoint,
  type ClosedTrade,
  type EquityPoint,
  type GroupStats,
  type PerformanceMetrics,
} from './metrics.js';
import { renderHtml } from './html.js';

export type OpenTrade = BuiltinEvents['trade.opened'];

export interface OrderCounts {
  requested: number;
  filled: number;
  partiallyFilled: number;
  cancelled: number;
  rejected: number;
  expired: number;
}

export interface SignalCounts {
  generated: number;
  accepted: number;
  rejected: number;
  /** Why signals were turned down (numbers in the reasons replaced by #), most frequent first. */
  topRejections: Array<{ reason: string; count: number }>;
}

export function emptySignalCounts(): SignalCounts {
  return { generated: 0, accepted: 0, rejected: 0, topRejections: [] };
}

/** How the run went, as opposed to what it produced: the only part of a report that changes between identical runs. */
export interface RunInfo {
  candles: number;
  events: number;
  wallMs: number;
  candlesPerSecond: number;
  peakRssBytes?: number;
  /** How agents kept their state: by reference (the default), or copied as a live system does (`--recovery`). */
  state?: 'reference' | 'recovery';
}

/** A backtest report: everything the JSON file holds and the HTML page shows. */
export interface BacktestReport {
  format: 'tradebus-backtest-report';
  version: 1;
  name: string;
  /** Config file the backtest ran, when it came from one. */
  config: string | undefined;
  quoteCurrency: string;
  timeframe: string;
  barIntervalMs: number;
  symbols: string[];
  metrics: PerformanceMetrics;
  byStrategy: Record<string, GroupStats>;
  bySymbol: Record<string, GroupStats>;
  /** [timestamp, equity, exposed (0/1)] per bar. */
  equity: Array<[number, number, 0 | 1]>;
  trades: ClosedTrade[];
  /**
   * Closed trades per quote currency: their P&L and fees as booked, and converted into the
   * account currency at the rate of the moment each closed (what the metrics count).
   */
  currencies: Record<string, CurrencyStats>;
  /**
   * Perpetual funding received (positive) or paid per symbol, in its settle currency. It is in the
   * equity curve and the venue's position P&L, not in the trades' P&L.
   */
  funding: Record<string, number>;
  /** Trades still open when the data ran out (marked to market in the equity curve). */
  openTrades: OpenTrade[];
  orders: OrderCounts;
  signals: SignalCounts;
  benchmark: { name: string } | undefined;
  /** Things the reader should know: data gaps, rejected orders, agents that failed. */
  warnings: string[];
  /** SHA-256 of the trade log CSV: equal hashes, identical trades. */
  tradeLogSha256: string;
  run: RunInfo;
}

export interface BuildReportInput {
  name: string;
  config?: string | undefined;
  quoteCurrency: string;
  timeframe: string;
  barIntervalMs: number;
  symbols: string[];
  equity: EquityPoint[];
  trades: ClosedTrade[];
  /** Per trade id: one unit of the trade's quote in the account currency when it closed (1 when absent). */
  rates?: ReadonlyMap<string, number>;
  funding?: Record<string, number>;
  openTrades?: OpenTrade[];
  orders?: OrderCounts;
  signals?: SignalCounts;
  fees?: number;
  riskFreeRate?: number;
  periodsPerYear?: number;
  benchmark?: { name: string; series: BenchmarkPoint[] } | undefined;
  warnings?: string[];
  run: RunInfo;
}

export function emptyOrderCounts(): OrderCounts {
  return { requested: 0, filled: 0, partiallyFilled: 0, cancelled: 0, rejected: 0, expired: 0 };
}

/** Trades in the order they closed; ties broken by id so two identical runs list them identically. */
export function sortTrades(trades: readonly ClosedTrade[]): ClosedTrade[] {
  return [...trades].sort((a, b) => a.closedAt - b.closedAt || a.openedAt - b.openedAt || (a.tradeId < b.tradeId ? -1 : a.tradeId > b.tradeId ? 1 : 0));
}

export function buildReport(input: BuildReportInput): BacktestReport {
  const trades = sortTrades(input.trades);
  const currencies = currencyStats(trades, input.quoteCurrency, input.rates);
  // Statistics add P&L across trades: in one currency, the account's.
  const counted = Object.keys(currencies).every((c) => c === input.quoteCurrency) ? trades : trades.map((t) => inAccountCurrency(t, input.rates));
  const metrics = computeMetrics(input.equity, counted, {
    barIntervalMs: input.barIntervalMs,
    periodsPerYear: input.periodsPerYear,
    riskFreeRate: input.riskFreeRate,
    fees: input.fees,
    benchmark: input.benchmark?.series,
  });
  const startEquity = metrics.startEquity;
  const csv = tradesToCsv(trades);
  return {
    format: 'tradebus-backtest-report',
    version: 1,
    name: input.name,
    config: input.config,
    quoteCurrency: input.quoteCurrency,
    timeframe: input.timeframe,
    barIntervalMs: input.barIntervalMs,
    symbols: [...input.symbols],
    metrics,
    byStrategy: groupStats(counted, (t) => t.strategyId ?? '(none)', startEquity),
    bySymbol: groupStats(counted, (t) => t.symbol, startEquity),
    equity: input.equity.map((p) => [p.timestamp, p.equity, p.exposed === true ? 1 : 0]),
    trades,
    currencies,
    funding: input.funding ?? {},
    openTrades: input.openTrades ?? [],
    orders: input.orders ?? emptyOrderCounts(),
    signals: input.signals ?? emptySignalCounts(),
    benchmark: input.benchmark === undefined ? undefined : { name: input.benchmark.name },
    warnings: input.warnings ?? [],
    tradeLogSha256: sha256(csv),
    run: input.run,
  };
}

export interface CurrencyStats {
  trades: number;
  pnl: number;
  fees: number;
  /** The same, in the account currency. */
  pnlInAccount: number;
  feesInAccount: number;
}

/** `ETH/BTC` → BTC; a derivative `XRP/USDT:USDT` settles in its quote, USDT. */
export function quoteOfSymbol(symbol: string): string {
  const pair = symbol.split(':', 1)[0]!;
  return pair.slice(pair.indexOf('/') + 1);
}

function inAccountCurrency(trade: ClosedTrade, rates: ReadonlyMap<string, number> | undefined): ClosedTrade {
  const rate = rates?.get(trade.tradeId) ?? 1;
  return rate === 1 ? trade : { ...trade, pnl: trade.pnl * rate, fees: trade.fees * rate };
}

function currencyStats(trades: readonly ClosedTrade[], account: string, rates: ReadonlyMap<string, number> | undefined): Record<string, CurrencyStats> {
  const out: Record<string, CurrencyStats> = {};
  for (const t of trades) {
    const currency = quoteOfSymbol(t.symbol);
    const rate = currency === account ? 1 : (rates?.get(t.tradeId) ?? 1);
    const s = (out[currency] ??= { trades: 0, pnl: 0, fees: 0, pnlInAccount: 0, feesInAccount: 0 });
    s.trades++;
    s.pnl += t.pnl;
    s.fees += t.fees;
    s.pnlInAccount += t.pnl * rate;
    s.feesInAccount += t.fees * rate;
  }
  return out;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const CSV_COLUMNS = [
  'tradeId',
  'strategyId',
  'symbol',
  'side',
  'quantity',
  'entryPrice',
  'exitPrice',
  'openedAt',
  'closedAt',
  'pnl',
  'pnlPct',
  'fees',
  'exitReason',
] as const;

function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'number' ? numberText(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Shortest text that reads back as the same double: the CSV loses nothing. */
function numberText(n: number): string {
  return Number.isFinite(n) ? String(n) : '';
}

/** The trade log as RFC 4180 CSV with ISO-8601 UTC times; the file the determinism check hashes. */
export function tradesToCsv(trades: readonly ClosedTrade[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const t of trades) {
    lines.push(
      CSV_COLUMNS.map((c) => {
        const v = t[c];
        if ((c === 'openedAt' || c === 'closedAt') && typeof v === 'number') return new Date(v).toISOString();
        return csvField(v);
      }).join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export interface WrittenReport {
  dir: string;
  json: string;
  html: string;
  csv: string;
}

/** Writes report.json, report.html and trades.csv into `dir` (created when missing). */
export function writeReport(report: BacktestReport, dir: string): WrittenReport {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const files = { dir: out, json: join(out, 'report.json'), html: join(out, 'report.html'), csv: join(out, 'trades.csv') };
  writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files.html, renderHtml(report));
  writeFileSync(files.csv, tradesToCsv(report.trades));
  return files;
}
