import { SmartMoneyConcepts, type SmcDirection, type SmcFairValueGap, type SmcOrderBlock } from '@tradebus/indicators';
import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { timeframeSchema } from '../timeframe.js';
import type { SignalDraft, StrategyCandle } from '../types.js';
import { bars, confidenceFrom, format, onSide } from './common.js';

export const smcParams = z.strictObject({
  /** Bars each side of a swing on the strategy's own timeframe. */
  swingLength: bars(10),
  /** The timeframe whose market structure gives the bias (a whole multiple of the strategy's). */
  higherTimeframe: timeframeSchema.default('1h'),
  /** Bars each side of a swing on the higher timeframe. */
  higherSwingLength: bars(5),
  /** Which zones an entry may come from. */
  zones: z.enum(['both', 'orderBlocks', 'fairValueGaps'], { error: 'must be both, orderBlocks or fairValueGaps' }).default('both'),
  /** The stop goes beyond the zone's far side (`zone`) or beyond the last swing if that is further (`swing`). */
  stopAt: z.enum(['zone', 'swing'], { error: 'must be zone or swing' }).default('zone'),
  /** Extra distance beyond the stop level, as a fraction of the zone's height. */
  stopBuffer: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(5, { error: 'must be at most 5' }).default(0.1),
  /** `liquidity`: the nearest equal highs (lows) beyond the price, else the dealing range's far end; `rr`: a multiple of the risk. */
  target: z.enum(['liquidity', 'rr'], { error: 'must be liquidity or rr' }).default('liquidity'),
  /** Reward-to-risk of the target with `target: rr`, and the fallback when no liquidity lies beyond the price. */
  rewardRisk: z.number({ error: 'must be a number' }).positive({ error: 'must be greater than 0' }).max(20, { error: 'must be at most 20' }).default(2),
  /** Leave a position when the higher-timeframe bias turns against it. */
  exitOnBiasFlip: z.boolean({ error: 'must be true or false' }).default(true),
});

export type SmcParams = z.output<typeof smcParams>;

/** Per-symbol state: the engines and the zones already traded into (each zone gives one entry, on its first touch). */
export interface SmcMemory {
  readonly engine: SmartMoneyConcepts;
  readonly higher: SmartMoneyConcepts;
  /** Open time of the last higher bar fed to `higher`. */
  higherFed: number;
  /** Open time of the first higher bar fed to `higher`. */
  higherFrom: number | undefined;
  touched: Set<string>;
}

type Zone = { kind: 'order block'; key: string; zone: SmcOrderBlock } | { kind: 'fair value gap'; key: string; zone: SmcFairValueGap };

/** Unused zones of one direction, as the engine knows them after the previous closed bar. */
function zonesOf(memory: SmcMemory, direction: SmcDirection, params: SmcParams): Zone[] {
  const out: Zone[] = [];
  if (params.zones !== 'fairValueGaps') {
    for (const block of memory.engine.orderBlocks) {
      const key = `ob:${block.direction}:${block.createdIndex}`;
      if (block.direction === direction && block.status === 'active' && !memory.touched.has(key)) out.push({ kind: 'order block', key, zone: block });
    }
  }
  if (params.zones !== 'orderBlocks') {
    for (const gap of memory.engine.fairValueGaps) {
      const key = `fvg:${gap.direction}:${gap.index}`;
      if (gap.direction === direction && gap.mitigatedIndex === undefined && !memory.touched.has(key)) out.push({ kind: 'fair value gap', key, zone: gap });
    }
  }
  return out;
}

/** The bar traded into the zone and closed without going through it. */
const tradedInto = (candle: StrategyCandle, zone: Zone, direction: SmcDirection) =>
  direction === 1
    ? candle.low <= zone.zone.top && candle.close > zone.zone.bottom
    : candle.high >= zone.zone.bottom && candle.close < zone.zone.top;

const sideName = (direction: SmcDirection) => (direction === 1 ? 'bullish' : 'bearish');

function entry(candle: StrategyCandle, memory: SmcMemory, params: SmcParams, bias: SmcDirection): SignalDraft | undefined {
  const state = memory.engine.value;
  if (state === undefined || !(state.rangeHigh > state.rangeLow)) return undefined;
  const eq = state.equilibrium;
  const side = bias === 1 ? 'long' : 'short';
  // Inside the discount zone (long) or premium zone (short): the whole zone on its side of equilibrium.
  const candidates = zonesOf(memory, bias, params).filter(
    (z) => (bias === 1 ? z.zone.top <= eq : z.zone.bottom >= eq) && tradedInto(candle, z, bias),
  );
  if (candidates.length === 0) return undefined;
  // The zone price reached first: the highest below (lowest above), order blocks before gaps on ties.
  candidates.sort((a, b) => (bias === 1 ? b.zone.top - a.zone.top : a.zone.bottom - b.zone.bottom));
  const chosen = candidates[0]!;
  const { top, bottom } = chosen.zone;
  const price = candle.close;
  const buffer = params.stopBuffer * (top - bottom);
  let stopLevel = bias === 1 ? bottom : top;
  let stopFrom = `the ${chosen.kind}'s ${bias === 1 ? 'bottom' : 'top'}`;
  const swing = bias === 1 ? state.swingLow : state.swingHigh;
  if (params.stopAt === 'swing' && swing !== undefined && (bias === 1 ? swing.level < stopLevel : swing.level > stopLevel)) {
    stopLevel = swing.level;
    stopFrom = `the swing ${bias === 1 ? 'low' : 'high'} ${format(swing.level)}`;
  }
  const stopLoss = stopLevel - bias * buffer;
  if (!onSide(side, 'stop', stopLoss, price)) return undefined;
  const risk = Math.abs(price - stopLoss);
  let takeProfit = price + bias * params.rewardRisk * risk;
  let targetFrom = `${params.rewardRisk}R`;
  if (params.target === 'liquidity') {
    const pools = memory.engine.liquidity.filter((p) => p.direction === bias && (bias === 1 ? p.level > price : p.level < price));
    const nearest = pools.sort((a, b) => bias * (a.level - b.level))[0];
    const rangeEnd = bias === 1 ? state.rangeHigh : state.rangeLow;
    if (nearest !== undefined) {
      takeProfit = nearest.level;
      targetFrom = `equal ${bias === 1 ? 'highs' : 'lows'} ${format(nearest.level)}`;
    } else if (onSide(side, 'target', rangeEnd, price)) {
      takeProfit = rangeEnd;
      targetFrom = `the range ${bias === 1 ? 'high' : 'low'} ${format(rangeEnd)}`;
    }
  }
  // Depth into the discount (premium) half: 0 at equilibrium, 1 at the range's end.
  const half = (state.rangeHigh - state.rangeLow) / 2;
  const depth = half > 0 ? Math.min(1, Math.abs(eq - (top + bottom) / 2) / half) : 0;
  const reward = Math.abs(takeProfit - price);
  const higherBreak = memory.higher.value?.lastBreak;
  return {
    side,
    confidence: confidenceFrom(depth + Math.min(1, reward / risk / 3)),
    reason:
      `${params.higherTimeframe} bias ${sideName(bias)}${higherBreak ? ` (${higherBreak.kind} of ${format(higherBreak.level)})` : ''}; ` +
      `price traded into the ${sideName(bias)} ${chosen.kind} ${format(bottom)}–${format(top)} in the ${bias === 1 ? 'discount' : 'premium'} ` +
      `zone (equilibrium ${format(eq)}); stop beyond ${stopFrom}, target ${targetFrom}`,
    stopLoss,
    ...(onSide(side, 'target', takeProfit, price) ? { takeProfit } : {}),
    metadata: {
      zoneKind: chosen.kind === 'order block' ? 'orderBlock' : 'fairValueGap',
      zoneKey: chosen.key,
      zoneIndex: chosen.zone.index,
      zoneTop: top,
      zoneBottom: bottom,
      equilibrium: eq,
      rangeHigh: state.rangeHigh,
      rangeLow: state.rangeLow,
      bias,
      target: targetFrom,
      barsSeen: memory.engine.count,
      higherFrom: memory.higherFrom,
      higherBars: memory.higher.count,
    },
  };
}

/**
 * Smart money concepts: trade with the higher timeframe's market structure, entering where
 * institutions are assumed to have left orders. The bias is the direction of the latest break of
 * structure (BOS or CHoCH) on `higherTimeframe`; with a bullish bias a long is taken when price
 * trades into an unused bullish order block or unmitigated fair value gap lying in the discount
 * half of the current dealing range (short: bearish zone in the premium half). The stop sits beyond
 * the zone (or the last swing), the target at the opposing liquidity or `rewardRisk` × the risk.
 * Zones and structure come from `SmartMoneyConcepts` of @tradebus/indicators, fed once per closed
 * bar; the higher timeframe's engine gets the framework's resampled higher bars once they close
 * (the bias therefore ignores the forming higher bar). The engines see bars from the end of the
 * framework's warm-up on (the higher one also the completed higher bars kept then), and a bar's
 * decision reads them as the bars before it left them: zones are known before price trades into them.
 */
export const smc = defineStrategy({
  type: 'smc',
  description: 'Smart money concepts: higher-timeframe structure bias, entries at unused order blocks / fair value gaps in discount (long) or premium (short).',
  params: smcParams,
  indicators: () => ({}),
  higher: (p: SmcParams) => ({ bias: { timeframe: p.higherTimeframe, indicators: {}, keep: 2 } }),
  memory: (p: SmcParams): SmcMemory => ({
    engine: new SmartMoneyConcepts({ swingLength: p.swingLength }),
    higher: new SmartMoneyConcepts({ swingLength: p.higherSwingLength }),
    higherFed: -Infinity,
    higherFrom: undefined,
    touched: new Set(),
  }),
  evaluate({ candle, memory, params, lastSignal }) {
    const bias = memory.higher.value?.trend ?? 0;
    const position = lastSignal?.side;
    if (params.exitOnBiasFlip && bias !== 0 && ((position === 'long' && bias === -1) || (position === 'short' && bias === 1))) {
      return {
        side: 'flat',
        confidence: 1,
        reason: `${params.higherTimeframe} bias turned ${sideName(bias)}, leaving the ${position}`,
        metadata: { bias },
      };
    }
    if (bias === 0) return undefined;
    if ((bias === 1 && position === 'long') || (bias === -1 && position === 'short')) return undefined;
    return entry(candle, memory, params, bias);
  },
  commit({ candle, memory, params, higher }) {
    // Zones this bar traded into are used up, whether or not they gave a signal.
    for (const direction of [1, -1] as const) {
      for (const zone of zonesOf(memory, direction, params)) {
        if (direction === 1 ? candle.low <= zone.zone.top : candle.high >= zone.zone.bottom) memory.touched.add(zone.key);
      }
    }
    memory.engine.update(candle);
    const view = higher.bias;
    for (const bar of view.complete ? [...view.closed, view.candle] : view.closed) {
      if (bar.timestamp <= memory.higherFed) continue;
      memory.higher.update(bar);
      memory.higherFed = bar.timestamp;
      memory.higherFrom ??= bar.timestamp;
    }
    // Forget zones the engine no longer tracks.
    if (memory.touched.size > 0) {
      const live = new Set<string>();
      for (const b of memory.engine.orderBlocks) live.add(`ob:${b.direction}:${b.createdIndex}`);
      for (const g of memory.engine.fairValueGaps) live.add(`fvg:${g.direction}:${g.index}`);
      for (const key of memory.touched) if (!live.has(key)) memory.touched.delete(key);
    }
  },
});
