import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import type { UniverseView } from '../types.js';
import { atrLevels, bars, confidenceFrom, format, stopParams } from './common.js';

export const btsLynchParams = z
  .strictObject({
    /** Trend: close above this EMA and the EMA rising. */
    trendPeriod: bars(50),
    /** Strength: the return over this many bars, ranked across the universe. */
    strengthBars: bars(20),
    /** Leaders: the top this share of the universe by that return. */
    leaderShare: z.number({ error: 'must be a share between 0 and 1' }).gt(0).max(1).default(0.3),
    /** Breakout: the close above the highest high of this many bars before. */
    breakoutBars: bars(20),
    /** Fewer symbols with enough history than this: no ranking, no entry. */
    minSymbols: z.number().int().min(1).max(10_000).default(3),
    ...stopParams,
  });

export type BtsLynchParams = z.output<typeof btsLynchParams>;

/** Each symbol's return over `strengthBars`, from its bars opening before `before`; symbols with too little history are left out. */
export function strengthByReturn(universe: UniverseView, before: number, strengthBars: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const symbol of universe.symbols()) {
    const recent = universe.bars(symbol, before, strengthBars + 1);
    if (recent.length < strengthBars + 1 || !(recent[0]!.close > 0)) continue;
    out.set(symbol, recent[recent.length - 1]!.close / recent[0]!.close - 1);
  }
  return out;
}

/** How many symbols did strictly better than `symbol` (0 = the leader), and how many were ranked. */
export function rankOf(returns: ReadonlyMap<string, number>, symbol: string): { ahead: number; ranked: number } | undefined {
  const own = returns.get(symbol);
  if (own === undefined) return undefined;
  let ahead = 0;
  for (const r of returns.values()) if (r > own) ahead++;
  return { ahead, ranked: returns.size };
}

/**
 * "Buy strength in leaders", a trend strategy after Peter Lynch's advice to back the companies
 * that are winning rather than bottom-fish the losers, in this reading: a symbol is a leader when
 * its return over `strengthBars` is in the top `leaderShare` of the universe (the symbols this
 * strategy runs on, ranked on bars before the current one). Long a leader in an up trend (close
 * above a rising EMA) when it closes above its `breakoutBars` high. Flat on the bar the close
 * falls below the EMA or the symbol drops to the lower half of the ranking. Long only. The rules
 * keep no state of their own (no "am I long" memory), so what a bar signals depends on the bars
 * before it alone, not on the order a runner warmed the symbols up in.
 */
export const btsLynch = defineStrategy({
  type: 'bts-lynch',
  description: "Buy strength in leaders: long the universe's relative-strength leaders on a breakout in an up trend.",
  params: btsLynchParams,
  indicators: (p: BtsLynchParams) => ({
    ema: { type: 'ema', period: p.trendPeriod },
    channel: { type: 'donchian', period: p.breakoutBars, source: 'high' },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  // One bar more than the ranking needs: the previous bar's ranking is read too.
  universe: (p: BtsLynchParams) => ({ bars: p.strengthBars + 2 }),
  warmup: (p: BtsLynchParams) => p.strengthBars + 2,
  evaluate({ candle, previousCandle, values, previous, params, universe, symbol, closed }) {
    // Other symbols' bars of this moment may not be in yet: rank on the bars before it only.
    const returns = universe.memo('strength', candle.timestamp, () => strengthByReturn(universe, candle.timestamp, params.strengthBars));
    const rank = rankOf(returns, symbol);
    const close = candle.close;
    const metadata = { ema: values.ema, rank: rank?.ahead, ranked: rank?.ranked, strength: returns.get(symbol), breakoutLevel: previous.channel.upper };
    if (previousCandle.close >= previous.ema && close < values.ema) {
      return { side: 'flat', confidence: 1, reason: `Close ${format(close)} fell below EMA(${params.trendPeriod}) ${format(values.ema)}: the up trend is over`, metadata };
    }
    if (closed && rank !== undefined && rank.ahead >= rank.ranked / 2) {
      const before = previousCandle.timestamp;
      const was = rankOf(universe.memo('strength-before', before, () => strengthByReturn(universe, before, params.strengthBars)), symbol);
      if (was !== undefined && was.ahead < was.ranked / 2) {
        return { side: 'flat', confidence: 1, reason: `${symbol} fell to ${rank.ahead + 1} of ${rank.ranked} by ${params.strengthBars}-bar return: no longer a leader`, metadata };
      }
    }
    if (rank === undefined || rank.ranked < params.minSymbols) return;
    const leaders = Math.max(1, Math.ceil(rank.ranked * params.leaderShare));
    const leader = rank.ahead < leaders;
    const uptrend = close > values.ema && values.ema > previous.ema;
    const breakout = close > previous.channel.upper;
    if (!(leader && uptrend && breakout)) return;
    return {
      side: 'long',
      confidence: confidenceFrom(1 - rank.ahead / leaders + (close - previous.channel.upper) / Math.max(values.atr, Number.MIN_VALUE)),
      reason: `${symbol} leads (${rank.ahead + 1} of ${rank.ranked} by ${params.strengthBars}-bar return ${(returns.get(symbol)! * 100).toFixed(2)}%), above a rising EMA(${params.trendPeriod}), and closed ${format(close)} above its ${params.breakoutBars}-bar high ${format(previous.channel.upper)}`,
      ...atrLevels('long', close, values.atr, params.stopAtr, params.takeProfitAtr),
      metadata,
    };
  },
});
