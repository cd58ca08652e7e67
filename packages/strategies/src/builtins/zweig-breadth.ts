import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import type { UniverseView } from '../types.js';
import { bars, confidenceFrom, format } from './common.js';

const share = (fallback: number) =>
  z.number({ error: 'must be a share between 0 and 1' }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(fallback);

export const zweigBreadthParams = z
  .strictObject({
    /** Breadth is smoothed with an EMA of this many bars: 10 days in Zweig's thrust. */
    emaPeriod: bars(10),
    /** The smoothed breadth must start below this ("below 40%")... */
    low: share(0.4),
    /** ...and close above this ("above 61.5%")... */
    high: share(0.615),
    /** ...within this many bars (10 days). */
    withinBars: bars(10),
    /** Long only the this many strongest symbols over the thrust (return over `withinBars`); 0 = every symbol. */
    leaders: z.number().int().min(0).max(10_000).default(0),
    /** Leave the long this many bar times of the universe after the thrust. */
    holdBars: bars(100),
    /** Fewer symbols than this in the breadth of a bar: no thrust is read. */
    minSymbols: z.number().int().min(1).max(10_000).default(3),
  })
  .refine((p) => p.low < p.high, { path: ['low'], error: 'must be below high' });

export type ZweigBreadthParams = z.output<typeof zweigBreadthParams>;

/**
 * The smoothed breadth is computed from a window that starts this many `emaPeriod`s before the
 * first bar a thrust is read on: the seed's weight is (1 - 2 / (period + 1))^(9 × period) by then,
 * about 2e-9 for 10 bars, so the window's start does not change which bars cross the thresholds.
 */
const SEED_PERIODS = 9;

/** Bar times the breadth is computed over: the seed periods, the look-back, and the holding time. */
export function breadthWindow(p: ZweigBreadthParams): number {
  return p.emaPeriod * (SEED_PERIODS + 1) + p.withinBars + p.holdBars;
}

export interface BreadthBar {
  /** Open time of the bar. */
  time: number;
  advancing: number;
  declining: number;
  /** EMA of advancing / (advancing + declining). */
  ema: number;
}

/**
 * Breadth of the universe on the bars opening before `before`: per bar time, the symbols whose
 * close rose from their previous bar (advancing) and fell (declining); unchanged ones count in
 * neither. The EMA is seeded with the first ratio of the window, so the values are a function of
 * the bars before `before` alone, whichever symbol asks. Times where nothing moved are skipped.
 */
export function breadthSeries(universe: UniverseView, before: number, p: ZweigBreadthParams): BreadthBar[] {
  const window = breadthWindow(p);
  const counts = new Map<number, { advancing: number; declining: number }>();
  for (const symbol of universe.symbols()) {
    const recent = universe.bars(symbol, before, window + 1);
    for (let i = 1; i < recent.length; i++) {
      const bar = recent[i]!;
      const change = bar.close - recent[i - 1]!.close;
      if (change === 0) continue;
      let c = counts.get(bar.timestamp);
      if (c === undefined) counts.set(bar.timestamp, (c = { advancing: 0, declining: 0 }));
      if (change > 0) c.advancing++;
      else c.declining++;
    }
  }
  const times = [...counts.keys()].sort((a, b) => a - b).slice(-window);
  const k = 2 / (p.emaPeriod + 1);
  const out: BreadthBar[] = [];
  let ema = 0;
  times.forEach((time, i) => {
    const { advancing, declining } = counts.get(time)!;
    const ratio = advancing / (advancing + declining);
    ema = i === 0 ? ratio : ratio * k + ema * (1 - k);
    out.push({ time, advancing, declining, ema });
  });
  return out;
}

/** True when bar `i` of `series` is a thrust: the EMA above `high` for the first time, below `low` on one of the `withinBars` bars before. */
export function isThrust(series: readonly BreadthBar[], i: number, p: ZweigBreadthParams): boolean {
  // Read only where the EMA has forgotten its seed.
  if (i < p.emaPeriod * SEED_PERIODS + p.withinBars || i >= series.length) return false;
  const bar = series[i]!;
  if (!(bar.ema > p.high && series[i - 1]!.ema <= p.high)) return false;
  if (bar.advancing + bar.declining < p.minSymbols) return false;
  for (let k = i - 1; k >= i - p.withinBars; k--) if (series[k]!.ema < p.low) return true;
  return false;
}

/** Index of the latest thrust in `series`, or -1. */
export function latestThrust(series: readonly BreadthBar[], p: ZweigBreadthParams): number {
  for (let i = series.length - 1; i >= 0; i--) if (isThrust(series, i, p)) return i;
  return -1;
}

/** Index of the last bar of `series` opening before `time`, or -1. */
function lastBefore(series: readonly BreadthBar[], time: number): number {
  let lo = 0;
  let hi = series.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (series[mid]!.time < time) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Martin Zweig's breadth thrust ("Winning on Wall Street", 1986): the 10-day EMA of advancing /
 * (advancing + declining) issues rising from below 0.40 to above 0.615 within 10 days, a rare
 * sign of a new advance. Here the universe is the symbols this strategy instance runs on and a
 * day is one bar. Breadth is read from the bars opening before the bar being evaluated, and the
 * signals keep no state of their own: each symbol's first bar after a thrust goes long (only the
 * `leaders` strongest when set), its first bar `holdBars` bar times after the latest thrust goes
 * flat. So what a bar signals depends on the bars before it alone, not on the order bars of one
 * moment arrive in, nor on the order a runner warmed the symbols up in.
 */
export const zweigBreadth = defineStrategy({
  type: 'zweig-breadth',
  description: "Zweig breadth thrust: long when the universe's 10-bar EMA of advancers/(advancers+decliners) goes from under 0.40 to over 0.615 within 10 bars.",
  params: zweigBreadthParams,
  indicators: () => ({}),
  universe: (p: ZweigBreadthParams) => ({ bars: breadthWindow(p) + 1 }),
  evaluate({ candle, previousCandle, params, universe, symbol, closed }) {
    if (!closed) return;
    const series = universe.memo('breadth', candle.timestamp, () => {
      const bars = breadthSeries(universe, candle.timestamp, params);
      return { bars, thrust: latestThrust(bars, params) };
    });
    const { bars, thrust } = series;
    if (thrust < 0) return;
    const at = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');
    const bar = bars[thrust]!;
    // The last bar time this symbol's previous bar knew of: the thrust is news when it came after it.
    const seenBefore = lastBefore(bars, previousCandle.timestamp);
    const since = bars.length - 1 - thrust;
    if (thrust <= seenBefore) {
      if (since < params.holdBars || seenBefore - thrust >= params.holdBars) return;
      return {
        side: 'flat',
        confidence: 1,
        reason: `${params.holdBars} bars since the breadth thrust of ${at(bar.time)} UTC`,
        metadata: { thrustBarTime: bar.time, barsSince: since },
      };
    }
    if (since >= params.holdBars) return;
    let from = bar;
    for (let k = thrust - 1; k >= thrust - params.withinBars; k--) {
      if (bars[k]!.ema < params.low) {
        from = bars[k]!;
        break;
      }
    }
    const thrustInfo = { bar, fromBar: from };
    const metadata = { breadthEma: bar.ema, fromEma: from.ema, thrustBarTime: bar.time, advancing: bar.advancing, declining: bar.declining };
    let rankNote = '';
    if (params.leaders > 0) {
      const returns = new Map<string, number>();
      for (const s of universe.symbols()) {
        const recent = universe.bars(s, candle.timestamp, params.withinBars + 1);
        if (recent.length === params.withinBars + 1 && recent[0]!.close > 0) returns.set(s, recent[recent.length - 1]!.close / recent[0]!.close - 1);
      }
      const own = returns.get(symbol);
      if (own === undefined) return;
      let ahead = 0;
      for (const r of returns.values()) if (r > own) ahead++;
      if (ahead >= params.leaders) return;
      rankNote = `; ${symbol} is ${ahead + 1} of ${returns.size} by ${params.withinBars}-bar return`;
    }
    return {
      side: 'long',
      confidence: confidenceFrom((thrustInfo.bar.ema - params.high) * 10 + (params.low - thrustInfo.fromBar.ema) * 10 + 0.5),
      reason: `Breadth thrust: the ${params.emaPeriod}-bar EMA of advancers rose from ${format(thrustInfo.fromBar.ema)} (${at(thrustInfo.fromBar.time)}) to ${format(thrustInfo.bar.ema)} (${at(thrustInfo.bar.time)} UTC)${rankNote}`,
      metadata,
    };
  },
});
