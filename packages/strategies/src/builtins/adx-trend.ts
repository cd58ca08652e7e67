import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import type { SignalDraft } from '../types.js';
import { atrLevels, atrMultiple, bars, confidenceFrom, format, level, source, stopParams } from './common.js';

export const adxTrendParams = z
  .strictObject({
    fast: bars(20),
    slow: bars(50),
    adxPeriod: bars(14),
    /** ADX at or above this: the market trends strongly enough to follow. */
    adxThreshold: level(25),
    /** ADX below this after an entry: the trend has faded, go flat. */
    exitThreshold: level(20),
    source,
    ...stopParams,
    stopAtr: atrMultiple(2.5),
    takeProfitAtr: atrMultiple(4),
  })
  .refine((p) => p.fast < p.slow, { path: ['fast'], error: 'must be shorter than slow' })
  .refine((p) => p.exitThreshold <= p.adxThreshold, { path: ['exitThreshold'], error: 'must not exceed adxThreshold' });

export type AdxTrendParams = z.output<typeof adxTrendParams>;

type Trend = 'long' | 'short' | undefined;

/**
 * Trend following with a strength filter: the trend is up when the fast EMA is above the slow EMA
 * and +DI leads -DI, down in the mirror case, and it is only followed while ADX is at least
 * `adxThreshold` (a trending, not a ranging, market). A signal fires on the bar where the
 * filtered trend appears; a flat signal follows when ADX fades below `exitThreshold` or the EMAs
 * turn against the entry (a reversal emits the flat signal, then the new entry). Confidence grows with ADX above the threshold.
 */
export const adxTrend = defineStrategy({
  type: 'adx-trend',
  description: 'Follow the EMA trend when ADX confirms it is strong; exit when ADX fades.',
  params: adxTrendParams,
  indicators: (p: AdxTrendParams) => ({
    fast: { type: 'ema', period: p.fast, source: p.source },
    slow: { type: 'ema', period: p.slow, source: p.source },
    adx: { type: 'adx', period: p.adxPeriod },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  evaluate({ values, previous, candle, params, lastSignal }) {
    const trend = trendOf(values, params.adxThreshold);
    const before = trendOf(previous, params.adxThreshold);
    const { adx, plusDI, minusDI } = values.adx;
    const close = candle.close;
    const position = lastSignal?.side;
    const out: SignalDraft[] = [];
    if (position === 'long' || position === 'short') {
      const against = position === 'long' ? values.fast < values.slow : values.fast > values.slow;
      const faded = adx < params.exitThreshold;
      if (against || faded) {
        out.push({
          side: 'flat',
          confidence: 1,
          reason: against
            ? `EMA(${params.fast}) turned ${position === 'long' ? 'below' : 'above'} EMA(${params.slow}) against the ${position}`
            : `ADX ${adx.toFixed(1)} faded below ${params.exitThreshold}: the ${position} trend is over`,
          metadata: { adx, fastEma: values.fast, slowEma: values.slow },
        });
      }
    }
    if (trend !== undefined && trend !== before && position !== trend) {
      out.push({
        side: trend,
        confidence: confidenceFrom((adx - params.adxThreshold) / 10 + Math.abs(plusDI - minusDI) / 40),
        reason:
          `${trend === 'long' ? 'Up' : 'Down'}trend confirmed: EMA(${params.fast}) ${trend === 'long' ? 'above' : 'below'} ` +
          `EMA(${params.slow}), ADX ${adx.toFixed(1)} ≥ ${params.adxThreshold}, +DI ${plusDI.toFixed(1)} / -DI ${minusDI.toFixed(1)}, at ${format(close)}`,
        ...atrLevels(trend, close, values.atr, params.stopAtr, params.takeProfitAtr),
        metadata: { adx, plusDI, minusDI, fastEma: values.fast, slowEma: values.slow, atr: values.atr },
      });
    }
    return out;
  },
});

function trendOf(values: { fast: number; slow: number; adx: { adx: number; plusDI: number; minusDI: number } }, threshold: number): Trend {
  const { adx, plusDI, minusDI } = values.adx;
  if (adx < threshold) return undefined;
  if (values.fast > values.slow && plusDI > minusDI) return 'long';
  if (values.fast < values.slow && minusDI > plusDI) return 'short';
  return undefined;
}
