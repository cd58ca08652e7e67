import { z } from 'zod';
import { format } from './builtins/common.js';
import { timeframeSchema } from './timeframe.js';
import type { HigherTimeframeView, SignalDraft } from './types.js';

/**
 * A trend filter any strategy can run behind (`trendFilter` in its config): entries only in the
 * direction of a higher timeframe's trend, judged on that timeframe's last completed bar.
 */
export const trendFilterSchema = z
  .strictObject({
    timeframe: timeframeSchema.describe("The higher timeframe whose trend decides, e.g. '1d' over '1h' bars; resampled from the strategy's own bars"),
    ema: z
      .number({ error: 'must be a number of bars' })
      .int({ error: 'must be a whole number of bars' })
      .min(1, { error: 'must be at least 1 bar' })
      .max(1_000, { error: 'must be at most 1000 bars' })
      .default(50)
      .describe('EMA period, in higher-timeframe bars'),
    rule: z
      .enum(['close-above-ema', 'ema-rising', 'both'], { error: "must be 'close-above-ema', 'ema-rising' or 'both'" })
      .default('close-above-ema')
      .describe('Up trend: the close above the EMA, the EMA rising since the bar before, or both (down: the mirror image)'),
  })
  .describe('Longs only in an up trend and shorts only in a down trend of a higher timeframe; a signal against the trend goes out as an exit (flat)');

export type TrendFilterConfig = z.output<typeof trendFilterSchema>;
export type TrendFilterInput = z.input<typeof trendFilterSchema>;

export interface TrendReading {
  up: boolean;
  down: boolean;
  close: number;
  ema: number;
  emaBefore: number;
  /** Open time of the higher bar judged. */
  barTime: number;
}

/** The trend on the latest completed higher bar: the one just closed with this base bar, or the one before. */
export function readTrend(view: HigherTimeframeView<{ ema: { type: 'ema'; period: number } }>, rule: TrendFilterConfig['rule']): TrendReading {
  const latest = view.complete
    ? { bar: view.candle, ema: view.values.ema, emaBefore: view.closedValues.ema }
    : { bar: view.closed[view.closed.length - 1]!, ema: view.closedValues.ema, emaBefore: view.previousClosedValues.ema };
  const { bar, ema, emaBefore } = latest;
  const above = bar.close > ema;
  const below = bar.close < ema;
  const rising = ema > emaBefore;
  const falling = ema < emaBefore;
  const up = rule === 'close-above-ema' ? above : rule === 'ema-rising' ? rising : above && rising;
  const down = rule === 'close-above-ema' ? below : rule === 'ema-rising' ? falling : below && falling;
  return { up, down, close: bar.close, ema, emaBefore, barTime: bar.timestamp };
}

/**
 * Lets entries with the trend through and turns one against it into a flat signal: the trade
 * manager still closes a position the other way on it (as it would on the opposite entry), but
 * nothing is opened against the trend. A bar that already carries a flat keeps only that one.
 */
export function filterByTrend(drafts: readonly SignalDraft[], trend: TrendReading, config: TrendFilterConfig): readonly SignalDraft[] {
  if (drafts.length === 0) return drafts;
  const out: SignalDraft[] = [];
  let flat = drafts.some((d) => d.side === 'flat');
  for (const draft of drafts) {
    if (draft.side === 'flat' || (draft.side === 'long' ? trend.up : trend.down)) {
      out.push(draft);
      continue;
    }
    if (flat) continue;
    flat = true;
    const direction = draft.side === 'long' ? 'up' : 'down';
    const { stopLoss: _stop, takeProfit: _target, ...rest } = draft;
    out.push({
      ...rest,
      side: 'flat',
      reason: `${draft.reason}; sent as an exit only: the ${config.timeframe} trend is not ${direction} (close ${format(trend.close)}, EMA(${config.ema}) ${format(trend.ema)}, before ${format(trend.emaBefore)})`,
      metadata: { ...draft.metadata, originalSide: draft.side, trendFilter: { timeframe: config.timeframe, rule: config.rule, close: trend.close, ema: trend.ema, emaBefore: trend.emaBefore, barTime: trend.barTime } },
    });
  }
  return out;
}
