import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { atrLevels, atrMultiple, bars, confidenceFrom, format, level, source, stopParams } from './common.js';

export const rsiReversionParams = z
  .strictObject({
    period: bars(14),
    oversold: level(30),
    overbought: level(70),
    exitLevel: level(50).nullable().describe('Emit flat when RSI crosses this level after an entry; null: never'),
    source,
    ...stopParams,
    takeProfitAtr: atrMultiple(2),
  })
  .refine((p) => p.oversold < p.overbought, { path: ['oversold'], error: 'must be below overbought' });

export type RsiReversionParams = z.output<typeof rsiReversionParams>;

interface Excursion {
  /** Lowest RSI since it went below `oversold` (Infinity outside the zone). */
  low: number;
  /** Highest RSI since it went above `overbought` (-Infinity outside the zone). */
  high: number;
}

/**
 * Mean reversion on RSI extremes: long when RSI climbs back above `oversold` after being at or
 * below it, short when it falls back below `overbought`. Waiting for the way back (rather than
 * buying the first oversold bar) avoids catching a falling knife. Confidence grows with how deep
 * the excursion went. After an entry, a flat signal follows when RSI crosses `exitLevel`.
 */
export const rsiReversion = defineStrategy({
  type: 'rsi-reversion',
  description: 'Long when RSI leaves the oversold zone, short when it leaves the overbought zone.',
  params: rsiReversionParams,
  indicators: (p: RsiReversionParams) => ({
    rsi: { type: 'rsi', period: p.period, source: p.source },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  memory: (): Excursion => ({ low: Infinity, high: -Infinity }),
  evaluate({ values, previous, candle, params, memory, lastSignal }) {
    const { rsi, atr } = values;
    const before = previous.rsi;
    const { oversold, overbought, exitLevel } = params;
    if (before <= oversold && rsi > oversold) {
      const deepest = Math.min(memory.low, before);
      return {
        side: 'long',
        confidence: confidenceFrom((oversold - deepest) / 8),
        reason: `RSI(${params.period}) rose back above ${oversold} (to ${rsi.toFixed(1)}, low ${deepest.toFixed(1)}) at ${format(candle.close)}`,
        ...atrLevels('long', candle.close, atr, params.stopAtr, params.takeProfitAtr),
        metadata: { rsi, extremeRsi: deepest, atr },
      };
    }
    if (before >= overbought && rsi < overbought) {
      const highest = Math.max(memory.high, before);
      return {
        side: 'short',
        confidence: confidenceFrom((highest - overbought) / 8),
        reason: `RSI(${params.period}) fell back below ${overbought} (to ${rsi.toFixed(1)}, high ${highest.toFixed(1)}) at ${format(candle.close)}`,
        ...atrLevels('short', candle.close, atr, params.stopAtr, params.takeProfitAtr),
        metadata: { rsi, extremeRsi: highest, atr },
      };
    }
    if (exitLevel === null) return;
    if (lastSignal?.side === 'long' && before < exitLevel && rsi >= exitLevel) {
      return { side: 'flat', confidence: 1, reason: `RSI(${params.period}) reverted to ${exitLevel} after the long entry`, metadata: { rsi } };
    }
    if (lastSignal?.side === 'short' && before > exitLevel && rsi <= exitLevel) {
      return { side: 'flat', confidence: 1, reason: `RSI(${params.period}) reverted to ${exitLevel} after the short entry`, metadata: { rsi } };
    }
  },
  commit({ values, params, memory }) {
    const { rsi } = values;
    memory.low = rsi <= params.oversold ? Math.min(memory.low, rsi) : Infinity;
    memory.high = rsi >= params.overbought ? Math.max(memory.high, rsi) : -Infinity;
  },
});
