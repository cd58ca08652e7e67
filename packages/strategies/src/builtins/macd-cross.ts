import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { atrLevels, bars, confidenceFrom, format, ratio, source, stopParams } from './common.js';

export const macdCrossParams = z
  .strictObject({
    fast: bars(12),
    slow: bars(26),
    signal: bars(9),
    /** Only take longs below the zero line and shorts above it (crosses against the prevailing move). */
    zeroLineFilter: z.boolean({ error: 'must be true or false' }).default(false),
    source,
    ...stopParams,
  })
  .refine((p) => p.fast < p.slow, { path: ['fast'], error: 'must be shorter than slow' });

export type MacdCrossParams = z.output<typeof macdCrossParams>;

/**
 * Momentum entry on MACD signal-line crosses: long when the MACD line crosses above its signal line
 * (histogram turns positive), short when it crosses below. A cross on the far side of the zero
 * line (long below zero, short above) is the stronger setup and gets a higher confidence.
 */
export const macdCross = defineStrategy({
  type: 'macd-cross',
  description: 'Long when MACD crosses above its signal line, short when it crosses below.',
  params: macdCrossParams,
  indicators: (p: MacdCrossParams) => ({
    macd: { type: 'macd', fast: p.fast, slow: p.slow, signal: p.signal, source: p.source },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  evaluate({ values, previous, candle, params }) {
    const { macd, atr } = values;
    const before = previous.macd.histogram;
    const now = macd.histogram;
    const up = before <= 0 && now > 0;
    const down = before >= 0 && now < 0;
    if (!up && !down) return;
    const side = up ? 'long' : 'short';
    const farSide = up ? macd.macd < 0 : macd.macd > 0;
    if (params.zeroLineFilter && !farSide) return;
    const swing = ratio(Math.abs(now - before), atr);
    return {
      side,
      confidence: confidenceFrom(swing * 10 + (farSide ? 0.3 : 0)),
      reason:
        `MACD(${params.fast},${params.slow},${params.signal}) crossed ${up ? 'above' : 'below'} its signal line ` +
        `${farSide ? (up ? 'below' : 'above') + ' the zero line ' : ''}at ${format(candle.close)}`,
      ...atrLevels(side, candle.close, atr, params.stopAtr, params.takeProfitAtr),
      metadata: { macd: macd.macd, signal: macd.signal, histogram: now, atr },
    };
  },
});
