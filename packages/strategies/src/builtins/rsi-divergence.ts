import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import type { SignalDraft, StrategyCandle } from '../types.js';
import { atrMultiple, bars, confidenceFrom, format, level, onSide, source } from './common.js';

export const rsiDivergenceParams = z
  .strictObject({
    period: bars(14),
    /** Bars on each side of a swing low/high; a swing is confirmed this many bars after it. */
    pivotBars: z
      .number({ error: 'must be a number of bars' })
      .int({ error: 'must be a whole number of bars' })
      .min(1, { error: 'must be at least 1 bar' })
      .max(50, { error: 'must be at most 50 bars' })
      .default(3),
    /** Fewest and most bars between the two swings compared. */
    minGap: bars(5),
    maxGap: bars(60),
    /** A bullish divergence needs the earlier swing's RSI at or below this (a real low). */
    bullishBelow: level(40),
    /** A bearish divergence needs the earlier swing's RSI at or above this. */
    bearishAbove: level(60),
    source,
    atrPeriod: bars(14),
    /** Stop this many ATRs beyond the swing that formed the divergence. */
    stopBufferAtr: atrMultiple(0.5),
    /** Take profit at this multiple of the entry-to-stop distance; 0: none. */
    riskReward: atrMultiple(2),
  })
  .refine((p) => p.minGap <= p.maxGap, { path: ['minGap'], error: 'must not exceed maxGap' });

export type RsiDivergenceParams = z.output<typeof rsiDivergenceParams>;

interface Swing {
  price: number;
  rsi: number;
  bar: number;
  time: number;
}

/** The last `2 × pivotBars` closed bars, oldest first, in a fixed ring. */
interface DivergenceMemory {
  capacity: number;
  size: number;
  next: number;
  lows: Float64Array;
  highs: Float64Array;
  rsis: Float64Array;
  times: Float64Array;
  lastLow: Swing | undefined;
  lastHigh: Swing | undefined;
}

/**
 * Divergence between price and RSI at swing points: a bullish divergence is a swing low below the
 * previous swing low while RSI makes a higher low (selling pressure fading) and gives a long; a
 * bearish divergence is a higher price swing high with a lower RSI high and gives a short. A swing
 * is a bar whose low (high) is beyond the `pivotBars` bars on either side, so it is known
 * `pivotBars` bars later: that is where the signal fires. The stop sits beyond the swing.
 */
export const rsiDivergence = defineStrategy({
  type: 'rsi-divergence',
  description: 'Long on bullish RSI divergence at a swing low, short on bearish divergence at a swing high.',
  params: rsiDivergenceParams,
  indicators: (p: RsiDivergenceParams) => ({
    rsi: { type: 'rsi', period: p.period, source: p.source },
    atr: { type: 'atr', period: p.atrPeriod },
  }),
  memory: (p: RsiDivergenceParams): DivergenceMemory => {
    const capacity = 2 * p.pivotBars;
    return {
      capacity,
      size: 0,
      next: 0,
      lows: new Float64Array(capacity),
      highs: new Float64Array(capacity),
      rsis: new Float64Array(capacity),
      times: new Float64Array(capacity),
      lastLow: undefined,
      lastHigh: undefined,
    };
  },
  evaluate({ memory, candle, values, params, bar }) {
    const swings = findSwings(memory, params.pivotBars, candle, bar);
    const out: SignalDraft[] = [];
    const close = candle.close;
    const { atr } = values;
    const previousLow = memory.lastLow;
    if (swings.low !== undefined && previousLow !== undefined) {
      const low = swings.low;
      const gap = low.bar - previousLow.bar;
      if (
        gap >= params.minGap &&
        gap <= params.maxGap &&
        low.price < previousLow.price &&
        low.rsi > previousLow.rsi &&
        previousLow.rsi <= params.bullishBelow
      ) {
        const stop = low.price - params.stopBufferAtr * atr;
        const target = close + params.riskReward * (close - stop);
        out.push({
          side: 'long',
          confidence: confidenceFrom((low.rsi - previousLow.rsi) / 6),
          reason:
            `Bullish RSI divergence: price low ${format(low.price)} under ${format(previousLow.price)} ${gap} bars earlier ` +
            `while RSI rose from ${previousLow.rsi.toFixed(1)} to ${low.rsi.toFixed(1)}`,
          ...(onSide('long', 'stop', stop, close) ? { stopLoss: stop } : {}),
          ...(params.riskReward > 0 && onSide('long', 'stop', stop, close) ? { takeProfit: target } : {}),
          metadata: { swingTime: low.time, swingPrice: low.price, swingRsi: low.rsi, previousSwingTime: previousLow.time, previousSwingPrice: previousLow.price, previousSwingRsi: previousLow.rsi, atr },
        });
      }
    }
    const previousHigh = memory.lastHigh;
    if (swings.high !== undefined && previousHigh !== undefined) {
      const high = swings.high;
      const gap = high.bar - previousHigh.bar;
      if (
        gap >= params.minGap &&
        gap <= params.maxGap &&
        high.price > previousHigh.price &&
        high.rsi < previousHigh.rsi &&
        previousHigh.rsi >= params.bearishAbove
      ) {
        const stop = high.price + params.stopBufferAtr * atr;
        const target = close - params.riskReward * (stop - close);
        out.push({
          side: 'short',
          confidence: confidenceFrom((previousHigh.rsi - high.rsi) / 6),
          reason:
            `Bearish RSI divergence: price high ${format(high.price)} over ${format(previousHigh.price)} ${gap} bars earlier ` +
            `while RSI fell from ${previousHigh.rsi.toFixed(1)} to ${high.rsi.toFixed(1)}`,
          ...(onSide('short', 'stop', stop, close) ? { stopLoss: stop } : {}),
          ...(params.riskReward > 0 && onSide('short', 'stop', stop, close) && onSide('short', 'target', target, close)
            ? { takeProfit: target }
            : {}),
          metadata: { swingTime: high.time, swingPrice: high.price, swingRsi: high.rsi, previousSwingTime: previousHigh.time, previousSwingPrice: previousHigh.price, previousSwingRsi: previousHigh.rsi, atr },
        });
      }
    }
    return out;
  },
  commit({ memory, candle, values, params, bar }) {
    const swings = findSwings(memory, params.pivotBars, candle, bar);
    if (swings.low !== undefined) memory.lastLow = swings.low;
    if (swings.high !== undefined) memory.lastHigh = swings.high;
    const slot = memory.next;
    memory.lows[slot] = candle.low;
    memory.highs[slot] = candle.high;
    memory.rsis[slot] = values.rsi;
    memory.times[slot] = candle.timestamp;
    memory.next = (slot + 1) % memory.capacity;
    if (memory.size < memory.capacity) memory.size++;
  },
});

/**
 * The swing confirmed by `candle`: the bar `k` bars back is a swing low when its low is strictly
 * below the `k` lows before it and not above the `k` lows after it (ties go to the earlier bar);
 * highs mirror that. Reads memory without changing it.
 */
function findSwings(
  memory: DivergenceMemory,
  k: number,
  candle: StrategyCandle,
  bar: number,
): { low?: Swing; high?: Swing } {
  if (memory.size < memory.capacity) return {};
  const { capacity, next } = memory;
  // Window position i (0 = oldest) of the 2k stored bars plus the current one at position 2k.
  const low = (i: number) => (i === capacity ? candle.low : memory.lows[(next + i) % capacity]!);
  const high = (i: number) => (i === capacity ? candle.high : memory.highs[(next + i) % capacity]!);
  const centre = k;
  const centreLow = low(centre);
  const centreHigh = high(centre);
  let isLow = true;
  let isHigh = true;
  for (let i = 0; i <= capacity && (isLow || isHigh); i++) {
    if (i === centre) continue;
    const before = i < centre;
    if (before ? low(i) <= centreLow : low(i) < centreLow) isLow = false;
    if (before ? high(i) >= centreHigh : high(i) > centreHigh) isHigh = false;
  }
  const slot = (next + centre) % capacity;
  const swing = (price: number): Swing => ({ price, rsi: memory.rsis[slot]!, bar: bar - k, time: memory.times[slot]! });
  const out: { low?: Swing; high?: Swing } = {};
  if (isLow) out.low = swing(centreLow);
  if (isHigh) out.high = swing(centreHigh);
  return out;
}
