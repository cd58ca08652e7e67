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
    /** Leave the long after this many bars. */
    holdBars: bars(100),
    /** Fewer symbols than this in the breadth of a bar: no thrust is read. */
    minSymbols: z.number().int().min(1).max(10_000).default(3),
  })
  .refine((p) => p.low < p.high, { path: ['low'], error: 'must be below high' });

export type ZweigBreadthParams = z.output<typeof zweigBreadthParams>;

/** The smoothed breadth is computed from this many bars back (times `emaPeriod`): the seed's weight is gone by then. */
const SEED_PERIODS = 6;

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
  const window = p.emaPeriod * SEED_PERIODS + p.withinBars;
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

/**
 * The thrust on the last bar of `series`: the EMA closed above `high` there for the first time,
 * having been below `low` on one of the `withinBars` bars before. Undefined when there was none.
 */
export function thrustAt(series: readonly BreadthBar[], p: ZweigBreadthParams): { fromBar: BreadthBar; bar: BreadthBar } | undefined {
  const n = series.length;
  // Enough bars for the EMA to have forgotten its seed and for the look-back.
  if (n < p.emaPeriod * (SEED_PERIODS - 1) + p.withinBars + 1) return undefined;
  const bar = series[n - 1]!;
  if (!(bar.ema > p.high && series[n - 2]!.ema <= p.high)) return undefined;
  if (bar.advancing + bar.declining < p.minSymbols) return undefined;
  for (let i = n - 2; i >= n - 1 - p.withinBars; i--) if (series[i]!.ema < p.low) return { fromBar: series[i]!, bar };
  return undefined;
}

/**
 * Martin Zweig's breadth thrust ("Winning on Wall Street", 1986): the 10-day EMA of advancing /
 * (advancing + declining) issues rising from below 0.40 to above 0.615 within 10 days, a rare
 * sign of a new advance. Here the universe is the symbols this strategy instance runs on and a
 * day is one bar. The thrust is read from the bars opening before the bar being evaluated, so
 * every symbol sees the same thrust whatever order the bars of one moment arrive in; each
 * symbol's first bar after it goes long (only the `leaders` strongest when set). The long is
 * left after `holdBars` bars.
 */
export const zweigBreadth = defineStrategy({
  type: 'zweig-breadth',
  description: "Zweig breadth thrust: long when the universe's 10-bar EMA of advancers/(advancers+decliners) goes from under 0.40 to over 0.615 within 10 bars.",
  params: zweigBreadthParams,
  indicators: () => ({}),
  universe: (p: ZweigBreadthParams) => ({ bars: p.emaPeriod * SEED_PERIODS + p.withinBars + 1 }),
  evaluate({ candle, params, universe, symbol, lastSignal, bar, closed }) {
    if (!closed) return;
    if (lastSignal?.side === 'long') {
      if (bar - lastSignal.bar < params.holdBars) return;
      return { side: 'flat', confidence: 1, reason: `Held ${params.holdBars} bars since the breadth thrust`, metadata: { entryBar: lastSignal.bar } };
    }
    const series = universe.memo('breadth', candle.timestamp, () => breadthSeries(universe, candle.timestamp, params));
    const thrust = thrustAt(series, params);
    if (thrust === undefined) return;
    const at = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');
    const metadata = { breadthEma: thrust.bar.ema, fromEma: thrust.fromBar.ema, thrustBarTime: thrust.bar.time, advancing: thrust.bar.advancing, declining: thrust.bar.declining };
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
      confidence: confidenceFrom((thrust.bar.ema - params.high) * 10 + (params.low - thrust.fromBar.ema) * 10 + 0.5),
      reason: `Breadth thrust: the ${params.emaPeriod}-bar EMA of advancers rose from ${format(thrust.fromBar.ema)} (${at(thrust.fromBar.time)}) to ${format(thrust.bar.ema)} (${at(thrust.bar.time)} UTC)${rankNote}`,
      metadata,
    };
  },
});
