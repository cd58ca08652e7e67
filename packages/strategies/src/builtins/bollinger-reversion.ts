import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { atrLevels, bars, confidenceFrom, format, onSide, ratio, source, stopParams } from './common.js';

export const bollingerReversionParams = z.strictObject({
  period: bars(20),
  stdDev: z
    .number({ error: 'must be a number of standard deviations' })
    .positive({ error: 'must be greater than 0' })
    .max(10, { error: 'must be at most 10' })
    .default(2),
  /** Emit flat when the close crosses the middle band after an entry. */
  exitAtMiddle: z.boolean({ error: 'must be true or false' }).default(true),
  source,
  ...stopParams,
});

export type BollingerReversionParams = z.output<typeof bollingerReversionParams>;

/**
 * Mean reversion on Bollinger bands: long when a close comes back inside the lower band after
 * closing below it, short when a close comes back inside the upper band. The target is the middle
 * band (the mean); confidence grows with how far the previous close stretched outside the band, in
 * standard deviations. If the bar already crossed the middle band, the move is over and nothing is
 * emitted.
 */
export const bollingerReversion = defineStrategy({
  type: 'bollinger-reversion',
  description: 'Long when price closes back inside the lower band, short when back inside the upper band; target the middle band.',
  params: bollingerReversionParams,
  indicators: (p: BollingerReversionParams) => ({
    bands: { type: 'bollinger', period: p.period, multiplier: p.stdDev, source: p.source },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  evaluate({ values, previous, candle, previousCandle, params, lastSignal }) {
    const { bands, atr } = values;
    const close = candle.close;
    const before = previousCandle.close;
    const deviation = (previous.bands.upper - previous.bands.middle) / params.stdDev;
    if (before < previous.bands.lower && close >= bands.lower && onSide('long', 'target', bands.middle, close)) {
      const stretch = ratio(previous.bands.lower - before, deviation);
      return {
        side: 'long',
        confidence: confidenceFrom(stretch * 2 + 0.2),
        reason: `Close ${format(close)} came back above the lower Bollinger band (${params.period}, ${params.stdDev}σ)`,
        ...atrLevels('long', close, atr, params.stopAtr, 0),
        takeProfit: bands.middle,
        metadata: { ...bands, stretch, atr },
      };
    }
    if (before > previous.bands.upper && close <= bands.upper && onSide('short', 'target', bands.middle, close)) {
      const stretch = ratio(before - previous.bands.upper, deviation);
      return {
        side: 'short',
        confidence: confidenceFrom(stretch * 2 + 0.2),
        reason: `Close ${format(close)} came back below the upper Bollinger band (${params.period}, ${params.stdDev}σ)`,
        ...atrLevels('short', close, atr, params.stopAtr, 0),
        takeProfit: bands.middle,
        metadata: { ...bands, stretch, atr },
      };
    }
    if (!params.exitAtMiddle) return;
    if (lastSignal?.side === 'long' && before < previous.bands.middle && close >= bands.middle) {
      return { side: 'flat', confidence: 1, reason: 'Price reverted to the middle Bollinger band after the long entry', metadata: { middle: bands.middle } };
    }
    if (lastSignal?.side === 'short' && before > previous.bands.middle && close <= bands.middle) {
      return { side: 'flat', confidence: 1, reason: 'Price reverted to the middle Bollinger band after the short entry', metadata: { middle: bands.middle } };
    }
  },
});
