import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { atrLevels, bars, confidenceFrom, crossedAbove, crossedBelow, format, ratio, source, stopParams } from './common.js';

export const emaCrossParams = z
  .strictObject({
    fast: bars(12),
    slow: bars(26),
    source,
    ...stopParams,
  })
  .refine((p) => p.fast < p.slow, { path: ['fast'], error: 'must be shorter than slow' });

export type EmaCrossParams = z.output<typeof emaCrossParams>;

/**
 * Trend entry on moving-average crossovers: long on the bar where the fast EMA closes above the
 * slow one after being at or below it, short on the opposite cross. Confidence grows with how
 * sharply the lines crossed (change of their distance over the bar, in ATRs).
 */
export const emaCross = defineStrategy({
  type: 'ema-cross',
  description: 'Long when the fast EMA crosses above the slow EMA, short when it crosses below.',
  params: emaCrossParams,
  indicators: (p: EmaCrossParams) => ({
    fast: { type: 'ema', period: p.fast, source: p.source },
    slow: { type: 'ema', period: p.slow, source: p.source },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  evaluate({ values, previous, candle, params }) {
    const { fast, slow, atr } = values;
    const up = crossedAbove(previous.fast, previous.slow, fast, slow);
    const down = crossedBelow(previous.fast, previous.slow, fast, slow);
    if (!up && !down) return;
    const side = up ? 'long' : 'short';
    const angle = ratio(Math.abs(fast - slow - (previous.fast - previous.slow)), atr);
    return {
      side,
      confidence: confidenceFrom(angle * 6),
      reason: `EMA(${params.fast}) crossed ${up ? 'above' : 'below'} EMA(${params.slow}) at ${format(candle.close)}`,
      ...atrLevels(side, candle.close, atr, params.stopAtr, params.takeProfitAtr),
      metadata: { fastEma: fast, slowEma: slow, atr },
    };
  },
});
