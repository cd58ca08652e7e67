import type { BuiltinEvents } from '@tradebus/core';

/**
 * Performance statistics of a backtest, as pure functions of an equity series and a trade list.
 * Every formula is written out in docs/backtest.md; the tests check each against numbers worked
 * out by hand. A statistic that is undefined for the data (Sharpe of a flat curve, profit factor
 * without a losing trade) is `null`, never Infinity or NaN, so the report stays valid JSON.
 */

export type ClosedTrade = BuiltinEvents['trade.closed'];

/** Equity at one moment, normally at the close of each bar. */
export interface EquityPoint {
  timestamp: number;
  equity: number;
  /** A position was open at some time during the bar that ends here. */
  exposed?: boolean;
}

export interface BenchmarkPoint {
  timestamp: number;
  /** Price or value of the benchmark; only its ratios matter. */
  value: number;
}

export interface MetricsOptions {
  /** Length of one bar of the equity series; sets the annualisation. */
  barIntervalMs: number;
  /** Periods per year for annualising; 365-day years divided by the bar length when left out. */
  periodsPerYear?: number;
  /** Annual risk-free rate as a fraction (0.02 = 2 %); 0 by default. */
  riskFreeRate?: number;
  /** A series to measure alpha and beta against (buy-and-hold of a symbol, an index...). */
  benchmark?: BenchmarkPoint[];
  /** Fees paid, in quote currency; the sum of the trades' fees when left out. */
  fees?: number;
}

export const MS_PER_DAY = 86_400_000;
export const MS_PER_YEAR = 365 * MS_PER_DAY;

export interface TradeStats {
  trades: number;
  wins: number;
  losses: number;
  /** wins / trades. */
  winRate: number | null;
  grossProfit: number;
  /** Sum of the losing trades' P&L (negative or zero). */
  grossLoss: number;
  netProfit: number;
  /** grossProfit / |grossLoss|. */
  profitFactor: number | null;
  /** Mean P&L per trade, in quote currency. */
  expectancy: number | null;
  /** Mean pnlPct per trade (percent of the capital put in). */
  expectancyPct: number | null;
  averageWin: number | null;
  /** Mean P&L of the losing trades (negative). */
  averageLoss: number | null;
  /** averageWin / |averageLoss|. */
  payoffRatio: number | null;
  bestTrade: number | null;
  worstTrade: number | null;
  /** Mean time from open to close. */
  averageHoldingMs: number | null;
  fees: number;
}

export interface DrawdownStats {
  /** Deepest fall from a running peak, as a positive fraction (0.25 = 25 %). */
  maxDrawdown: number;
  /** From the peak before the deepest trough to the recovery of that peak (or the end of the series). */
  maxDrawdownDurationMs: number;
  maxDrawdownPeakAt: number | null;
  maxDrawdownTroughAt: number | null;
  /** When equity first reached the old peak again; null when it never did. */
  maxDrawdownRecoveredAt: number | null;
  /** Longest time spent below a previous peak. */
  longestDrawdownMs: number;
}

export interface BenchmarkStats {
  totalReturn: number;
  /** cov(strategy, benchmark) / var(benchmark), on per-bar returns. */
  beta: number | null;
  /** Jensen's alpha, annualised arithmetically. */
  alpha: number | null;
  correlation: number | null;
}

export interface PerformanceMetrics extends TradeStats, DrawdownStats {
  startEquity: number;
  endEquity: number;
  start: number;
  end: number;
  /** Number of returns (equity points − 1). */
  periods: number;
  periodsPerYear: number;
  riskFreeRate: number;
  totalReturn: number;
  cagr: number | null;
  /** Annualised standard deviation of per-bar returns (sample, n − 1). */
  volatility: number | null;
  sharpe: number | null;
  sortino: number | null;
  calmar: number | null;
  /** Share of bars with a position open. */
  exposureTime: number | null;
  benchmark?: BenchmarkStats;
}

/** Trade statistics of one group of trades (all, one strategy, one symbol). */
export interface GroupStats extends TradeStats {
  /** netProfit / the backtest's starting equity. */
  returnContribution: number | null;
}

const nullIfNotFinite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Standard deviation with n − 1 in the denominator (the sample estimate). */
export function sampleStd(values: ArrayLike<number>): number {
  const n = values.length;
  if (n < 2) return NaN;
  const m = mean(values);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/** Per-bar simple returns E[i] / E[i−1] − 1. */
export function periodReturns(equity: readonly EquityPoint[]): Float64Array {
  const out = new Float64Array(Math.max(0, equity.length - 1));
  for (let i = 1; i < equity.length; i++) out[i - 1] = equity[i]!.equity / equity[i - 1]!.equity - 1;
  return out;
}

export function periodsPerYearFor(barIntervalMs: number): number {
  if (!(barIntervalMs > 0)) throw new RangeError(`barIntervalMs must be positive, got ${barIntervalMs}`);
  return MS_PER_YEAR / barIntervalMs;
}

export function drawdownStats(equity: readonly EquityPoint[]): DrawdownStats {
  const result: DrawdownStats = {
    maxDrawdown: 0,
    maxDrawdownDurationMs: 0,
    maxDrawdownPeakAt: null,
    maxDrawdownTroughAt: null,
    maxDrawdownRecoveredAt: null,
    longestDrawdownMs: longestUnderwater(equity),
  };
  if (equity.length === 0) return result;
  let peak = equity[0]!.equity;
  let peakIndex = 0;
  let worstPeakIndex = -1;
  for (let i = 0; i < equity.length; i++) {
    const e = equity[i]!.equity;
    if (e >= peak) {
      peak = e;
      peakIndex = i;
      continue;
    }
    const dd = 1 - e / peak;
    if (dd > result.maxDrawdown) {
      result.maxDrawdown = dd;
      result.maxDrawdownTroughAt = equity[i]!.timestamp;
      worstPeakIndex = peakIndex;
    }
  }
  if (worstPeakIndex >= 0) {
    const worstPeak = equity[worstPeakIndex]!;
    let recoveredAt: number | null = null;
    for (let i = worstPeakIndex + 1; i < equity.length; i++) {
      if (equity[i]!.equity >= worstPeak.equity) {
        recoveredAt = equity[i]!.timestamp;
        break;
      }
    }
    result.maxDrawdownPeakAt = worstPeak.timestamp;
    result.maxDrawdownRecoveredAt = recoveredAt;
    result.maxDrawdownDurationMs = (recoveredAt ?? equity[equity.length - 1]!.timestamp) - worstPeak.timestamp;
  }
  return result;
}

/** Longest stretch from a peak to the moment equity is back at that peak (or the end of the series). */
function longestUnderwater(equity: readonly EquityPoint[]): number {
  let longest = 0;
  let peak = -Infinity;
  let peakAt = 0;
  let under = false;
  for (const point of equity) {
    if (point.equity >= peak) {
      if (under) longest = Math.max(longest, point.timestamp - peakAt);
      under = false;
      peak = point.equity;
      peakAt = point.timestamp;
    } else {
      under = true;
    }
  }
  if (under) longest = Math.max(longest, equity[equity.length - 1]!.timestamp - peakAt);
  return longest;
}

export function tradeStats(trades: readonly ClosedTrade[], fees?: number): TradeStats {
  let wins = 0;
  let losses = 0;
  let grossProfit = 0;
  let grossLoss = 0;
  let pctSum = 0;
  let holdSum = 0;
  let best = -Infinity;
  let worst = Infinity;
  let tradeFees = 0;
  for (const t of trades) {
    if (t.pnl > 0) {
      wins++;
      grossProfit += t.pnl;
    } else if (t.pnl < 0) {
      losses++;
      grossLoss += t.pnl;
    }
    pctSum += t.pnlPct;
    holdSum += t.closedAt - t.openedAt;
    best = Math.max(best, t.pnl);
    worst = Math.min(worst, t.pnl);
    tradeFees += t.fees;
  }
  const n = trades.length;
  const averageWin = wins > 0 ? grossProfit / wins : null;
  const averageLoss = losses > 0 ? grossLoss / losses : null;
  return {
    trades: n,
    wins,
    losses,
    winRate: n > 0 ? wins / n : null,
    grossProfit,
    grossLoss,
    netProfit: grossProfit + grossLoss,
    profitFactor: grossLoss < 0 ? grossProfit / -grossLoss : null,
    expectancy: n > 0 ? (grossProfit + grossLoss) / n : null,
    expectancyPct: n > 0 ? pctSum / n : null,
    averageWin,
    averageLoss,
    payoffRatio: averageWin !== null && averageLoss !== null ? averageWin / -averageLoss : null,
    bestTrade: n > 0 ? best : null,
    worstTrade: n > 0 ? worst : null,
    averageHoldingMs: n > 0 ? holdSum / n : null,
    fees: fees ?? tradeFees,
  };
}

/** Trade statistics per key (strategy id, symbol), keys in sorted order so the report is stable. */
export function groupStats(trades: readonly ClosedTrade[], keyOf: (t: ClosedTrade) => string, startEquity: number): Record<string, GroupStats> {
  const groups = new Map<string, ClosedTrade[]>();
  for (const t of trades) {
    const key = keyOf(t);
    let list = groups.get(key);
    if (list === undefined) groups.set(key, (list = []));
    list.push(t);
  }
  const out: Record<string, GroupStats> = {};
  for (const key of [...groups.keys()].sort()) {
    const stats = tradeStats(groups.get(key)!);
    out[key] = { ...stats, returnContribution: startEquity > 0 ? stats.netProfit / startEquity : null };
  }
  return out;
}

/**
 * The benchmark's value at each equity timestamp: the last value at or before it (forward fill).
 * Points before the benchmark's first value are left out of both series.
 */
export function alignBenchmark(equity: readonly EquityPoint[], benchmark: readonly BenchmarkPoint[]): { equity: EquityPoint[]; benchmark: number[] } {
  const sorted = [...benchmark].sort((a, b) => a.timestamp - b.timestamp);
  const outEquity: EquityPoint[] = [];
  const outBench: number[] = [];
  let j = -1;
  for (const point of equity) {
    while (j + 1 < sorted.length && sorted[j + 1]!.timestamp <= point.timestamp) j++;
    if (j < 0) continue;
    outEquity.push(point);
    outBench.push(sorted[j]!.value);
  }
  return { equity: outEquity, benchmark: outBench };
}

export function benchmarkStats(equity: readonly EquityPoint[], benchmark: readonly BenchmarkPoint[], periodsPerYear: number, riskFreePerPeriod: number): BenchmarkStats | undefined {
  const aligned = alignBenchmark(equity, benchmark);
  if (aligned.benchmark.length < 2) return undefined;
  const r = periodReturns(aligned.equity);
  const b = new Float64Array(aligned.benchmark.length - 1);
  for (let i = 1; i < aligned.benchmark.length; i++) b[i - 1] = aligned.benchmark[i]! / aligned.benchmark[i - 1]! - 1;
  const totalReturn = aligned.benchmark[aligned.benchmark.length - 1]! / aligned.benchmark[0]! - 1;
  const rm = mean(r);
  const bm = mean(b);
  let cov = 0;
  let varB = 0;
  let varR = 0;
  for (let i = 0; i < r.length; i++) {
    cov += (r[i]! - rm) * (b[i]! - bm);
    varB += (b[i]! - bm) ** 2;
    varR += (r[i]! - rm) ** 2;
  }
  const beta = varB > 0 ? cov / varB : null;
  const alpha = beta === null ? null : (rm - riskFreePerPeriod - beta * (bm - riskFreePerPeriod)) * periodsPerYear;
  const correlation = varB > 0 && varR > 0 ? cov / Math.sqrt(varB * varR) : null;
  return { totalReturn, beta, alpha: alpha === null ? null : nullIfNotFinite(alpha), correlation };
}

export function computeMetrics(equity: readonly EquityPoint[], trades: readonly ClosedTrade[], options: MetricsOptions): PerformanceMetrics {
  if (equity.length === 0) throw new RangeError('computeMetrics needs at least one equity point (the starting equity)');
  const periodsPerYear = options.periodsPerYear ?? periodsPerYearFor(options.barIntervalMs);
  const riskFreeRate = options.riskFreeRate ?? 0;
  // The annual rate compounded down to one bar, so that rf over a year of bars is exactly riskFreeRate.
  const rfPerPeriod = (1 + riskFreeRate) ** (1 / periodsPerYear) - 1;
  const first = equity[0]!;
  const last = equity[equity.length - 1]!;
  const totalReturn = last.equity / first.equity - 1;
  const years = (last.timestamp - first.timestamp) / MS_PER_YEAR;
  const cagr = years > 0 && last.equity > 0 ? (last.equity / first.equity) ** (1 / years) - 1 : years > 0 ? -1 : null;

  const returns = periodReturns(equity);
  const n = returns.length;
  let volatility: number | null = null;
  let sharpe: number | null = null;
  let sortino: number | null = null;
  if (n >= 2) {
    const std = sampleStd(returns);
    const excess = mean(returns) - rfPerPeriod;
    volatility = std * Math.sqrt(periodsPerYear);
    sharpe = std > 0 ? (excess / std) * Math.sqrt(periodsPerYear) : null;
    let downside = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.min(0, returns[i]! - rfPerPeriod);
      downside += d * d;
    }
    const downsideDev = Math.sqrt(downside / n);
    sortino = downsideDev > 0 ? (excess / downsideDev) * Math.sqrt(periodsPerYear) : null;
  }
  const dd = drawdownStats(equity);
  const calmar = cagr !== null && dd.maxDrawdown > 0 ? cagr / dd.maxDrawdown : null;

  let exposureTime: number | null = null;
  if (equity.length > 1) {
    let exposed = 0;
    for (let i = 1; i < equity.length; i++) if (equity[i]!.exposed === true) exposed++;
    exposureTime = exposed / (equity.length - 1);
  }

  const metrics: PerformanceMetrics = {
    startEquity: first.equity,
    endEquity: last.equity,
    start: first.timestamp,
    end: last.timestamp,
    periods: n,
    periodsPerYear,
    riskFreeRate,
    totalReturn,
    cagr: cagr === null ? null : nullIfNotFinite(cagr),
    volatility: volatility === null ? null : nullIfNotFinite(volatility),
    sharpe: sharpe === null ? null : nullIfNotFinite(sharpe),
    sortino: sortino === null ? null : nullIfNotFinite(sortino),
    calmar: calmar === null ? null : nullIfNotFinite(calmar),
    ...dd,
    exposureTime,
    ...tradeStats(trades, options.fees),
  };
  if (options.benchmark !== undefined && options.benchmark.length > 0) {
    const stats = benchmarkStats(equity, options.benchmark, periodsPerYear, rfPerPeriod);
    if (stats !== undefined) metrics.benchmark = stats;
  }
  return metrics;
}

/** Drawdown below the running peak at each point, as a negative fraction (for charts). */
export function drawdownSeries(equity: readonly EquityPoint[]): Float64Array {
  const out = new Float64Array(equity.length);
  let peak = -Infinity;
  for (let i = 0; i < equity.length; i++) {
    const e = equity[i]!.equity;
    if (e > peak) peak = e;
    out[i] = peak > 0 ? e / peak - 1 : 0;
  }
  return out;
}
