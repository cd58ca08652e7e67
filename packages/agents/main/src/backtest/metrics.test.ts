import { describe, expect, it } from 'vitest';
import { alignBenchmark, computeMetrics, drawdownStats, groupStats, tradeStats, type ClosedTrade, type EquityPoint } from './metrics.js';

/*
 * A known equity series, worked out by hand:
 *
 * Bars are a quarter of a 365-day year (91.25 days), so there are exactly 4 periods per year and
 * the series spans exactly one year.
 *
 *   equity   100 → 110 → 99 → 118.8 → 100.98
 *   returns      +0.10  −0.10  +0.20  −0.15          mean = 0.05 / 4 = 0.0125
 *   deviations   0.0875 −0.1125 0.1875 −0.1625
 *   squares      0.00765625 0.01265625 0.03515625 0.02640625   sum 0.081875
 *   sample std   √(0.081875 / 3) = √0.0272916… = 0.1652018967
 *   volatility   0.1652018967 × √4 = 0.3304037934
 *   Sharpe       0.0125 / 0.1652018967 × 2 = 0.1513299817
 *   downside     min(0, r)² = 0, 0.01, 0, 0.0225 → √(0.0325 / 4) = 0.0901387819
 *   Sortino      0.0125 / 0.0901387819 × 2 = 0.2773500981
 *   total return 100.98 / 100 − 1 = 0.0098, over one year → CAGR 0.0098
 *   drawdowns    110 → 99 is −10 %; 118.8 → 100.98 is −15 % (deepest, not recovered)
 *   Calmar       0.0098 / 0.15 = 0.0653333333
 *   underwater   t1 → t3 (118.8 ≥ 110 recovers it): 182.5 days; t3 → end: 91.25 days
 */
const QUARTER = 91.25 * 86_400_000;
const T0 = Date.UTC(2020, 0, 1);
const values = [100, 110, 99, 118.8, 100.98];
const exposed = [false, true, true, false, true];
const equity: EquityPoint[] = values.map((e, i) => ({ timestamp: T0 + i * QUARTER, equity: e, exposed: exposed[i]! }));

const HOUR = 3_600_000;
function trade(id: string, strategyId: string, symbol: string, pnl: number, hours: number): ClosedTrade {
  return {
    tradeId: id,
    symbol,
    side: 'long',
    quantity: 1,
    entryPrice: 1000,
    exitPrice: 1000 + pnl,
    pnl,
    pnlPct: pnl / 10,
    fees: 1,
    strategyId,
    exitReason: 'signal',
    openedAt: T0,
    closedAt: T0 + hours * HOUR,
  };
}
// P&L +30, −10, +20, 0, −20; held 1 to 5 hours; 1 fee each.
const trades = [
  trade('t1', 'a', 'X/USDT', 30, 1),
  trade('t2', 'a', 'Y/USDT', -10, 2),
  trade('t3', 'b', 'X/USDT', 20, 3),
  trade('t4', 'b', 'Y/USDT', 0, 4),
  trade('t5', 'b', 'Y/USDT', -20, 5),
];

describe('computeMetrics on a known equity series', () => {
  const m = computeMetrics(equity, trades, { barIntervalMs: QUARTER });

  it('annualises from the bar interval: 365-day year / 91.25 days = 4 periods', () => {
    expect(m.periodsPerYear).toBeCloseTo(4, 12);
    expect(m.periods).toBe(4);
  });

  it('total return and CAGR', () => {
    expect(m.totalReturn).toBeCloseTo(0.0098, 12);
    expect(m.cagr).toBeCloseTo(0.0098, 12);
  });

  it('volatility, Sharpe and Sortino', () => {
    expect(m.volatility).toBeCloseTo(0.3304037934, 9);
    expect(m.sharpe).toBeCloseTo(0.1513299817, 9);
    expect(m.sortino).toBeCloseTo(0.2773500981, 9);
  });

  it('max drawdown, its duration and Calmar', () => {
    expect(m.maxDrawdown).toBeCloseTo(0.15, 12);
    expect(m.maxDrawdownPeakAt).toBe(T0 + 3 * QUARTER);
    expect(m.maxDrawdownTroughAt).toBe(T0 + 4 * QUARTER);
    expect(m.maxDrawdownRecoveredAt).toBeNull();
    expect(m.maxDrawdownDurationMs).toBe(QUARTER);
    expect(m.longestDrawdownMs).toBe(2 * QUARTER);
    expect(m.calmar).toBeCloseTo(0.0653333333, 9);
  });

  it('exposure time: 3 of the 4 bars after the start had a position', () => {
    expect(m.exposureTime).toBe(0.75);
  });

  /*
   * Trades: wins 30, 20; losses −10, −20; one break-even.
   *   win rate 2/5 = 0.4; gross profit 50, gross loss −30, net 20; profit factor 50/30 = 1.6667
   *   expectancy 20/5 = 4; mean pnlPct (3 − 1 + 2 + 0 − 2)/5 = 0.4
   *   average win 25, average loss −15, payoff 25/15 = 1.6667; holding (1+2+3+4+5)/5 = 3 h
   */
  it('trade statistics', () => {
    expect(m.trades).toBe(5);
    expect(m.wins).toBe(2);
    expect(m.losses).toBe(2);
    expect(m.winRate).toBe(0.4);
    expect(m.grossProfit).toBe(50);
    expect(m.grossLoss).toBe(-30);
    expect(m.netProfit).toBe(20);
    expect(m.profitFactor).toBeCloseTo(1.6666666667, 9);
    expect(m.expectancy).toBe(4);
    expect(m.expectancyPct).toBeCloseTo(0.4, 12);
    expect(m.averageWin).toBe(25);
    expect(m.averageLoss).toBe(-15);
    expect(m.payoffRatio).toBeCloseTo(1.6666666667, 9);
    expect(m.bestTrade).toBe(30);
    expect(m.worstTrade).toBe(-20);
    expect(m.averageHoldingMs).toBe(3 * HOUR);
    expect(m.fees).toBe(5);
  });

  it('takes the fee total from the caller when given (orders of trades still open pay fees too)', () => {
    expect(computeMetrics(equity, trades, { barIntervalMs: QUARTER, fees: 7.5 }).fees).toBe(7.5);
  });

  /*
   * Risk-free rate 1.01⁴ − 1 = 0.04060401 a year is exactly 1 % a quarter:
   *   excess mean 0.0125 − 0.01 = 0.0025 → Sharpe 0.0025 / 0.1652018967 × 2 = 0.0302659963
   *   downside vs 1 %: min(0, r − 0.01)² = 0, 0.0121, 0, 0.0256 → √(0.0377 / 4) = 0.0970824392
   *   Sortino 0.0025 / 0.0970824392 × 2 = 0.0515026203
   */
  it('subtracts a risk-free rate compounded down to one bar', () => {
    const withRf = computeMetrics(equity, trades, { barIntervalMs: QUARTER, riskFreeRate: 0.04060401 });
    expect(withRf.sharpe).toBeCloseTo(0.0302659963, 9);
    expect(withRf.sortino).toBeCloseTo(0.0515026203, 9);
    expect(withRf.volatility).toBeCloseTo(0.3304037934, 9);
  });

  it('lets the caller set periods per year (252 trading days for daily stock bars)', () => {
    const daily = computeMetrics(equity, [], { barIntervalMs: 86_400_000, periodsPerYear: 252 });
    // Sharpe scales with √periods: 0.0125 / 0.1652018967 × √252 = 0.0756649909 × 15.8745079 = 1.2011445
    expect(daily.sharpe).toBeCloseTo(1.2011445, 6);
    expect(daily.periodsPerYear).toBe(252);
  });

  /*
   * Benchmark 50 → 55 → 52.25 → 57.475 → 54.60125: returns +0.10, −0.05, +0.10, −0.05, mean 0.025
   *   benchmark deviations ±0.075; Σ dev_b² = 4 × 0.005625 = 0.0225
   *   Σ dev_r·dev_b = 0.075 × (0.0875 + 0.1125 + 0.1875 + 0.1625) = 0.075 × 0.55 = 0.04125
   *   beta = 0.04125 / 0.0225 = 1.8333333
   *   alpha = (0.0125 − 1.8333333 × 0.025) × 4 = −0.1333333
   *   correlation = 0.04125 / √(0.0225 × 0.081875) = 0.9610744623
   *   benchmark return 54.60125 / 50 − 1 = 0.092025
   */
  it('alpha, beta and correlation against a benchmark', () => {
    const bench = [50, 55, 52.25, 57.475, 54.60125].map((value, i) => ({ timestamp: T0 + i * QUARTER, value }));
    const withBench = computeMetrics(equity, trades, { barIntervalMs: QUARTER, benchmark: bench });
    expect(withBench.benchmark?.beta).toBeCloseTo(1.8333333333, 9);
    expect(withBench.benchmark?.alpha).toBeCloseTo(-0.1333333333, 9);
    expect(withBench.benchmark?.correlation).toBeCloseTo(0.9610744623, 9);
    expect(withBench.benchmark?.totalReturn).toBeCloseTo(0.092025, 12);
  });
});

describe('edge cases', () => {
  it('a flat curve has no Sharpe, Sortino or Calmar (null, never Infinity) and no drawdown', () => {
    const flat = [0, 1, 2].map((i) => ({ timestamp: T0 + i * QUARTER, equity: 100 }));
    const m = computeMetrics(flat, [], { barIntervalMs: QUARTER });
    expect(m.volatility).toBe(0);
    expect(m.sharpe).toBeNull();
    expect(m.sortino).toBeNull();
    expect(m.calmar).toBeNull();
    expect(m.maxDrawdown).toBe(0);
    expect(m.maxDrawdownPeakAt).toBeNull();
    expect(m.winRate).toBeNull();
    expect(m.profitFactor).toBeNull();
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });

  it('a curve that only rises has no Sortino (no downside) but a Sharpe', () => {
    const up = [100, 101, 103, 104].map((e, i) => ({ timestamp: T0 + i * QUARTER, equity: e }));
    const m = computeMetrics(up, [], { barIntervalMs: QUARTER });
    expect(m.sortino).toBeNull();
    expect(m.sharpe).toBeGreaterThan(0);
  });

  it('a drawdown that recovers ends when equity is back at the old peak', () => {
    // 100 → 80 (−20 %) → 90 → 100 (recovered at t3) → 95
    const curve = [100, 80, 90, 100, 95].map((e, i) => ({ timestamp: i * 1000, equity: e }));
    const d = drawdownStats(curve);
    expect(d.maxDrawdown).toBeCloseTo(0.2, 12);
    expect(d.maxDrawdownPeakAt).toBe(0);
    expect(d.maxDrawdownTroughAt).toBe(1000);
    expect(d.maxDrawdownRecoveredAt).toBe(3000);
    expect(d.maxDrawdownDurationMs).toBe(3000);
    expect(d.longestDrawdownMs).toBe(3000);
  });

  it('profit factor is 0 with losses and no wins', () => {
    const s = tradeStats([trade('x', 's', 'A/B', -5, 1)]);
    expect(s.profitFactor).toBe(0);
    expect(s.averageWin).toBeNull();
    expect(s.payoffRatio).toBeNull();
  });

  it('a single point gives a report with no returns', () => {
    const m = computeMetrics([{ timestamp: T0, equity: 100 }], [], { barIntervalMs: QUARTER });
    expect(m.periods).toBe(0);
    expect(m.totalReturn).toBe(0);
    expect(m.cagr).toBeNull();
    expect(m.exposureTime).toBeNull();
  });

  it('rejects an empty series', () => {
    expect(() => computeMetrics([], [], { barIntervalMs: QUARTER })).toThrow(/at least one equity point/);
  });
});

describe('per strategy and per symbol', () => {
  const byStrategy = groupStats(trades, (t) => t.strategyId ?? '', 100);
  const bySymbol = groupStats(trades, (t) => t.symbol, 100);

  it('groups trades and measures each group on its own', () => {
    // a: +30, −10 → net 20, PF 3, contribution 20 / 100 = 0.2
    expect(byStrategy.a).toMatchObject({ trades: 2, wins: 1, losses: 1, winRate: 0.5, netProfit: 20, profitFactor: 3, returnContribution: 0.2 });
    // b: +20, 0, −20 → net 0, PF 1, expectancy 0
    expect(byStrategy.b).toMatchObject({ trades: 3, wins: 1, losses: 1, netProfit: 0, profitFactor: 1, expectancy: 0, returnContribution: 0, fees: 3 });
    // X: +30, +20 → no losses, so no profit factor; Y: −10, 0, −20 → PF 0
    expect(bySymbol['X/USDT']).toMatchObject({ trades: 2, winRate: 1, netProfit: 50, profitFactor: null, averageWin: 25 });
    expect(bySymbol['Y/USDT']).toMatchObject({ trades: 3, winRate: 0, netProfit: -30, profitFactor: 0, averageLoss: -15 });
  });

  it('lists groups in sorted key order', () => {
    const reversed = groupStats([...trades].reverse(), (t) => t.symbol, 100);
    expect(Object.keys(reversed)).toEqual(['X/USDT', 'Y/USDT']);
  });
});

describe('alignBenchmark', () => {
  it('forward-fills the benchmark and drops equity points before its first value', () => {
    const bench = [
      { timestamp: T0 + QUARTER - 1, value: 10 },
      { timestamp: T0 + 3 * QUARTER + 5, value: 12 },
    ];
    const aligned = alignBenchmark(equity, bench);
    expect(aligned.equity.map((p) => p.equity)).toEqual([110, 99, 118.8, 100.98]);
    expect(aligned.benchmark).toEqual([10, 10, 10, 12]);
  });
});
