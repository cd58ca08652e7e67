import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { barCloseTime, timeframeSchema } from '../timeframe.js';
import type { HigherTimeframeView, IndicatorSpecMap, SignalDraft, StrategyCandle } from '../types.js';
import { bars, confidenceFrom, format } from './common.js';

export const weinsteinStageParams = z
  .strictObject({
    /** The timeframe stages are read on: weeks, as in the book, resampled from the strategy's bars (or its own bars when equal). */
    stageTimeframe: timeframeSchema.default('1w'),
    /** The simple moving average stages are judged against: 30 weeks in the book. */
    maPeriod: bars(30),
    /** The MA's direction is its change over this many stage bars. */
    slopeBars: bars(4),
    /** An MA that moved less than this (percent) over `slopeBars` is flat: no trend, stage 1 or 3. */
    flatPct: z.number({ error: 'must be a percentage' }).min(0).max(50).default(0.5),
    /** The base (stage 1) a breakout must clear: the highest high of this many stage bars before. */
    baseBars: bars(10),
    /** Breakout volume is compared with the average of this many stage bars before. */
    volumeBars: bars(4),
    /** Breakout volume must be at least this multiple of that average ("at least twice" in the book). */
    volumeMultiple: z.number({ error: 'must be a number' }).min(0).max(100).default(2),
    /** Also go short on a stage-4 breakdown (the book's short side); off: stage 4 only exits longs. */
    short: z.boolean().default(true),
  });

export type WeinsteinStageParams = z.output<typeof weinsteinStageParams>;

export type WeinsteinStage = 1 | 2 | 3 | 4;

/** What one completed stage bar shows. */
export interface WeinsteinReading {
  stage: WeinsteinStage;
  bar: StrategyCandle;
  ma: number;
  maBefore: number;
  /** MA change over `slopeBars`, percent. */
  slopePct: number;
  /** Highest high and lowest low of the `baseBars` stage bars before `bar`. */
  resistance: number;
  support: number;
  /** `bar`'s volume over the average of the `volumeBars` before it. */
  volumeRatio: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Reads the stage of the last bar of `history` (completed stage bars, oldest first; at least
 * `maPeriod + slopeBars` of them and `baseBars + 1`, `volumeBars + 1`). A flat MA is stage 3 after
 * an advance (stage 2 or 3 before) and stage 1 otherwise.
 */
export function readWeinsteinStage(history: readonly StrategyCandle[], p: WeinsteinStageParams, before: WeinsteinStage | undefined): WeinsteinReading {
  const n = history.length;
  const bar = history[n - 1]!;
  const closes = history.map((b) => b.close);
  const ma = mean(closes.slice(n - p.maPeriod));
  const maBefore = mean(closes.slice(n - p.slopeBars - p.maPeriod, n - p.slopeBars));
  const slopePct = maBefore > 0 ? ((ma - maBefore) / maBefore) * 100 : 0;
  const rising = slopePct > p.flatPct;
  const falling = slopePct < -p.flatPct;
  let stage: WeinsteinStage;
  if (bar.close > ma && rising) stage = 2;
  else if (bar.close < ma && falling) stage = 4;
  else stage = before === 2 || before === 3 ? 3 : 1;
  const base = history.slice(n - 1 - p.baseBars, n - 1);
  const volumeBase = mean(history.slice(n - 1 - p.volumeBars, n - 1).map((b) => b.volume));
  return {
    stage,
    bar,
    ma,
    maBefore,
    slopePct,
    resistance: Math.max(...base.map((b) => b.high)),
    support: Math.min(...base.map((b) => b.low)),
    volumeRatio: volumeBase > 0 ? bar.volume / volumeBase : 0,
  };
}

type StageView = HigherTimeframeView<IndicatorSpecMap>;

/**
 * The stage bar completed with the base bar being evaluated: the higher bar itself when this base
 * bar closed it, or the one before when this base bar opened a new one and the last base bar of
 * the old one never came (weekends and holidays: a Friday bar does not close a Monday week).
 */
export function newlyCompleted(view: StageView, previousCandle: StrategyCandle): readonly StrategyCandle[] | undefined {
  if (view.complete) return [...view.closed, view.candle];
  const last = view.closed[view.closed.length - 1]!;
  const lastEnd = barCloseTime(last.timestamp, last.timeframe)!;
  // The bar before this one was the last of `last` but did not close it: `last` is complete only now.
  const wasInLast = previousCandle.timestamp >= last.timestamp && previousCandle.timestamp < lastEnd;
  const closedIt = barCloseTime(previousCandle.timestamp, previousCandle.timeframe)! >= lastEnd;
  return wasInLast && !closedIt ? view.closed : undefined;
}

/**
 * Stan Weinstein's stage analysis ("Secrets for Profiting in Bull and Bear Markets", 1988): a
 * stock is in stage 1 (base: flat 30-week MA), 2 (advance: price above a rising MA), 3 (top: the
 * MA flattens after an advance) or 4 (decline: price below a falling MA). Buy the stage-2
 * breakout: a completed week closing above the base's resistance and the MA, the MA no longer
 * falling, on volume at least twice the average of the weeks before. Leave a long when stage 4
 * begins; short a stage-4 breakdown below the base's support (no volume needed, as the book
 * says). Judged once per completed stage bar.
 */
export const weinsteinStage = defineStrategy({
  type: 'weinstein-stage',
  description: 'Weinstein stage analysis: buy the stage-2 breakout on volume, exit (or short) in stage 4.',
  params: weinsteinStageParams,
  indicators: () => ({}),
  higher: (p: WeinsteinStageParams) => ({
    stage: { timeframe: p.stageTimeframe, indicators: {}, keep: Math.max(p.maPeriod + p.slopeBars, p.baseBars + 1, p.volumeBars + 1) },
  }),
  memory: (): { stage: WeinsteinStage | undefined } => ({ stage: undefined }),
  evaluate({ higher, previousCandle, closed, params, memory, lastSignal, candle }) {
    if (!closed) return;
    const history = newlyCompleted(higher.stage, previousCandle);
    if (history === undefined || history.length < params.maPeriod + params.slopeBars) return;
    const r = readWeinsteinStage(history, params, memory.stage);
    const week = `${params.stageTimeframe} bar of ${new Date(r.bar.timestamp).toISOString().slice(0, 10)}`;
    const metadata = { stage: r.stage, stageBarTime: r.bar.timestamp, ma: r.ma, slopePct: r.slopePct, resistance: r.resistance, support: r.support, volumeRatio: r.volumeRatio };
    const out: SignalDraft[] = [];
    const position = lastSignal?.side;
    if (position === 'long' && r.stage === 4) {
      out.push({ side: 'flat', confidence: 1, reason: `Stage 4 on the ${week}: close ${format(r.bar.close)} below the falling ${params.maPeriod}-bar MA ${format(r.ma)}`, metadata });
    }
    const breakout = r.bar.close > r.resistance && r.bar.close > r.ma && r.slopePct >= -params.flatPct && r.volumeRatio >= params.volumeMultiple;
    if (breakout && position !== 'long') {
      const stop = r.support < candle.close ? { stopLoss: r.support } : {};
      out.push({
        side: 'long',
        confidence: confidenceFrom((r.volumeRatio / Math.max(params.volumeMultiple, 1) - 1) + (r.bar.close / r.resistance - 1) * 10),
        reason: `Stage-2 breakout on the ${week}: close ${format(r.bar.close)} above the base high ${format(r.resistance)} and the ${params.maPeriod}-bar MA ${format(r.ma)}, volume ${r.volumeRatio.toFixed(1)}× the ${params.volumeBars}-bar average`,
        ...stop,
        metadata,
      });
    }
    const breakdown = params.short && r.bar.close < r.support && r.bar.close < r.ma && r.slopePct <= params.flatPct;
    if (breakdown && position !== 'short') {
      const stop = r.resistance > candle.close ? { stopLoss: r.resistance } : {};
      out.push({
        side: 'short',
        confidence: confidenceFrom((1 - r.bar.close / r.support) * 10 + (r.stage === 4 ? 0.5 : 0)),
        reason: `Stage-4 breakdown on the ${week}: close ${format(r.bar.close)} below the base low ${format(r.support)} and the ${params.maPeriod}-bar MA ${format(r.ma)}`,
        ...stop,
        metadata,
      });
    }
    return out;
  },
  commit({ higher, previousCandle, closed, params, memory }) {
    if (!closed) return;
    const history = newlyCompleted(higher.stage, previousCandle);
    if (history === undefined || history.length < params.maPeriod + params.slopeBars) return;
    memory.stage = readWeinsteinStage(history, params, memory.stage).stage;
  },
});
