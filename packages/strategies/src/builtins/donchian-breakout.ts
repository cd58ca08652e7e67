import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { atrLevels, atrMultiple, bars, confidenceFrom, format, ratio } from './common.js';

export const donchianBreakoutParams = z
  .strictObject({
    /** Breakout channel (turtle system 1). */
    entryPeriod: bars(20),
    /** Longer channel (turtle system 2); a breakout of both is the stronger signal. */
    confirmPeriod: bars(55),
    /** Exit channel: flat when the close breaks the opposite side of this shorter channel. */
    exitPeriod: bars(10),
    /** ATR period for N, the turtle volatility unit. */
    atrPeriod: bars(20),
    stopAtr: atrMultiple(2),
    takeProfitAtr: atrMultiple(0),
  })
  .refine((p) => p.exitPeriod < p.entryPeriod, { path: ['exitPeriod'], error: 'must be shorter than entryPeriod' })
  .refine((p) => p.entryPeriod <= p.confirmPeriod, { path: ['confirmPeriod'], error: 'must not be shorter than entryPeriod' });

export type DonchianBreakoutParams = z.output<typeof donchianBreakoutParams>;

/**
 * Turtle-style channel breakout: long when the close rises above the highest high of the previous
 * `entryPeriod` bars, short when it falls below their lowest low; a breakout of the
 * `confirmPeriod` channel as well is stronger. The stop sits `stopAtr` × N (ATR) away. As the
 * turtles did, a new breakout in the direction of the last entry is skipped; the position is left
 * with a flat signal when the close breaks the `exitPeriod` channel the other way. Breakouts are
 * judged on closes, so a wick through the channel that closes back inside is no signal.
 */
export const donchianBreakout = defineStrategy({
  type: 'donchian-breakout',
  description: 'Turtle breakout: long above the 20-bar high, short below the 20-bar low, 2-ATR stops, 10-bar exit channel.',
  params: donchianBreakoutParams,
  indicators: (p: DonchianBreakoutParams) => ({
    entryHigh: { type: 'donchian', period: p.entryPeriod, source: 'high' },
    entryLow: { type: 'donchian', period: p.entryPeriod, source: 'low' },
    confirmHigh: { type: 'donchian', period: p.confirmPeriod, source: 'high' },
    confirmLow: { type: 'donchian', period: p.confirmPeriod, source: 'low' },
    exitHigh: { type: 'donchian', period: p.exitPeriod, source: 'high' },
    exitLow: { type: 'donchian', period: p.exitPeriod, source: 'low' },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  evaluate({ values, previous, candle, params, lastSignal }) {
    // Channels of the bars before this one: a bar cannot break out of a range that includes itself.
    const close = candle.close;
    const atr = values.atr;
    const highest = previous.entryHigh.upper;
    const lowest = previous.entryLow.lower;
    const out = [];
    const position = lastSignal?.side;
    if (position === 'long' && close < previous.exitLow.lower) {
      out.push({ side: 'flat' as const, confidence: 1, reason: `Close ${format(close)} broke the ${params.exitPeriod}-bar low, leaving the long`, metadata: { exitLevel: previous.exitLow.lower } });
    } else if (position === 'short' && close > previous.exitHigh.upper) {
      out.push({ side: 'flat' as const, confidence: 1, reason: `Close ${format(close)} broke the ${params.exitPeriod}-bar high, leaving the short`, metadata: { exitLevel: previous.exitHigh.upper } });
    }
    if (close > highest && position !== 'long') {
      const confirmed = close > previous.confirmHigh.upper;
      out.push({
        side: 'long' as const,
        confidence: confidenceFrom(ratio(close - highest, atr) + (confirmed ? 0.7 : 0)),
        reason: `Close ${format(close)} broke above the ${params.entryPeriod}-bar high ${format(highest)}${confirmed ? ` and the ${params.confirmPeriod}-bar high` : ''}`,
        ...atrLevels('long', close, atr, params.stopAtr, params.takeProfitAtr),
        metadata: { channelHigh: highest, confirmHigh: previous.confirmHigh.upper, confirmed, atr },
      });
    } else if (close < lowest && position !== 'short') {
      const confirmed = close < previous.confirmLow.lower;
      out.push({
        side: 'short' as const,
        confidence: confidenceFrom(ratio(lowest - close, atr) + (confirmed ? 0.7 : 0)),
        reason: `Close ${format(close)} broke below the ${params.entryPeriod}-bar low ${format(lowest)}${confirmed ? ` and the ${params.confirmPeriod}-bar low` : ''}`,
        ...atrLevels('short', close, atr, params.stopAtr, params.takeProfitAtr),
        metadata: { channelLow: lowest, confirmLow: previous.confirmLow.lower, confirmed, atr },
      });
    }
    return out;
  },
});
