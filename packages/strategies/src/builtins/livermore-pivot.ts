import { z } from 'zod';
import { defineStrategy } from '../strategy.js';
import { confidenceFrom, format } from './common.js';

const percent = (fallback: number) =>
  z
    .number({ error: 'must be a percentage' })
    .gt(0, { error: 'must be more than 0' })
    .max(100, { error: 'must be at most 100' })
    .default(fallback);

export const livermorePivotParams = z
  .strictObject({
    /** A move against the trend this large (percent of price) is a natural reaction or rally: Livermore's "about six points". */
    swingPct: percent(6),
    /** A pivotal point counts as broken once the close passes it by this much: his "three points". */
    confirmPct: percent(3),
    /** Go short when the trend turns down; off: a down turn only exits the long. */
    short: z.boolean().default(true),
  })
  .refine((p) => p.confirmPct <= p.swingPct, { path: ['confirmPct'], error: 'must not exceed swingPct' });

export type LivermorePivotParams = z.output<typeof livermorePivotParams>;

/**
 * Where the market stands in Livermore's record: `up` (upward trend), `reaction` (natural reaction
 * in an up trend), `down`, `rally` (natural rally in a down trend), or `start` before either trend
 * has shown itself.
 */
export type LivermorePhase = 'start' | 'up' | 'reaction' | 'down' | 'rally';

export interface LivermoreState {
  phase: LivermorePhase;
  /** Highest close of the current up leg (or since the start), lowest close of the down leg (or since the start). */
  high: number;
  low: number;
  /** Top of the upward trend where the natural reaction began: the pivotal point a resumed advance must clear. */
  upPivot: number | undefined;
  /** Bottom of the natural reaction, set once a rally of `swingPct` came off it: breaking it turns the trend down. */
  reactionPivot: number | undefined;
  /** Bottom of the downward trend where the natural rally began. */
  downPivot: number | undefined;
  /** Top of the natural rally, set once a reaction of `swingPct` came off it: clearing it turns the trend up. */
  rallyPivot: number | undefined;
}

export type LivermoreEvent =
  | { kind: 'up'; pivot: number; via: 'resumed' | 'reversed' }
  | { kind: 'down'; pivot: number; via: 'resumed' | 'reversed' }
  | undefined;

export function livermoreStart(): LivermoreState {
  return { phase: 'start', high: -Infinity, low: Infinity, upPivot: undefined, reactionPivot: undefined, downPivot: undefined, rallyPivot: undefined };
}

/**
 * One close through Livermore's market key (pure: returns the next state). A signal is a
 * pivotal point broken by `confirmPct`: the up-trend top after a natural reaction (the advance
 * resumes), the top of a natural rally in a down trend (the trend turns up), and their mirrors.
 */
export function livermoreStep(s: LivermoreState, close: number, p: LivermorePivotParams): { state: LivermoreState; event: LivermoreEvent } {
  const swing = p.swingPct / 100;
  const confirm = p.confirmPct / 100;
  const next = { ...s };
  const toUp = (pivot: number, via: 'resumed' | 'reversed') => {
    Object.assign(next, { phase: 'up', high: close, upPivot: undefined, reactionPivot: undefined, downPivot: undefined, rallyPivot: undefined });
    return { state: next, event: { kind: 'up' as const, pivot, via } };
  };
  const toDown = (pivot: number, via: 'resumed' | 'reversed') => {
    Object.assign(next, { phase: 'down', low: close, upPivot: undefined, reactionPivot: undefined, downPivot: undefined, rallyPivot: undefined });
    return { state: next, event: { kind: 'down' as const, pivot, via } };
  };
  switch (s.phase) {
    case 'start':
      next.high = Math.max(s.high, close);
      next.low = Math.min(s.low, close);
      // The first swing of `swingPct` from the extreme so far sets the trend; no signal: there is no pivotal point yet.
      if (close >= next.low * (1 + swing)) Object.assign(next, { phase: 'up', high: close });
      else if (close <= next.high * (1 - swing)) Object.assign(next, { phase: 'down', low: close });
      return { state: next, event: undefined };
    case 'up':
      if (close > s.high) next.high = close;
      else if (close <= s.high * (1 - swing)) Object.assign(next, { phase: 'reaction', upPivot: s.high, low: close, reactionPivot: undefined });
      return { state: next, event: undefined };
    case 'reaction': {
      const upPivot = s.upPivot!;
      if (close >= upPivot * (1 + confirm)) return toUp(upPivot, 'resumed');
      if (s.reactionPivot !== undefined) {
        if (close <= s.reactionPivot * (1 - confirm)) return toDown(s.reactionPivot, 'reversed');
      } else if (close < s.low) next.low = close;
      else if (close >= s.low * (1 + swing)) next.reactionPivot = s.low;
      return { state: next, event: undefined };
    }
    case 'down':
      if (close < s.low) next.low = close;
      else if (close >= s.low * (1 + swing)) Object.assign(next, { phase: 'rally', downPivot: s.low, high: close, rallyPivot: undefined });
      return { state: next, event: undefined };
    case 'rally': {
      const downPivot = s.downPivot!;
      if (close <= downPivot * (1 - confirm)) return toDown(downPivot, 'resumed');
      if (s.rallyPivot !== undefined) {
        if (close >= s.rallyPivot * (1 + confirm)) return toUp(s.rallyPivot, 'reversed');
      } else if (close > s.high) next.high = close;
      else if (close <= s.high * (1 - swing)) next.rallyPivot = s.high;
      return { state: next, event: undefined };
    }
  }
}

/**
 * Jesse Livermore's pivotal points ("How to Trade in Stocks", 1940), read on closes with
 * percentages for his points. An up trend runs until the close falls `swingPct` from its top: a
 * natural reaction, and that top becomes a pivotal point. Long when a later close clears it by
 * `confirmPct` (the advance resumes), or when, in a down trend, the top of a natural rally is
 * cleared by `confirmPct` after a reaction of `swingPct` came off it (the trend turns). Short on
 * the mirror images. A move that does not reach the pivot by `confirmPct` is no signal, as he
 * waited for the price to "go through" the pivotal point.
 */
export const livermorePivot = defineStrategy({
  type: 'livermore-pivot',
  description: "Livermore's pivotal points: buy when a close clears the last up-trend top by 3%, after a 6% reaction (mirror for shorts).",
  params: livermorePivotParams,
  indicators: () => ({}),
  memory: (): { state: LivermoreState } => ({ state: livermoreStart() }),
  evaluate({ candle, memory, params, lastSignal, closed }) {
    // The key is kept on closing prices; a forming bar would move it back and forth.
    if (!closed) return;
    const { event } = livermoreStep(memory.state, candle.close, params);
    if (event === undefined) return;
    const strength = confidenceFrom(((Math.abs(candle.close / event.pivot - 1) * 100) / params.confirmPct - 1) * 2 + (event.via === 'resumed' ? 0.5 : 0));
    const metadata = { pivot: event.pivot, via: event.via, phase: event.kind };
    const how = event.via === 'resumed' ? 'the trend resumed' : 'the trend turned';
    if (event.kind === 'up') {
      if (lastSignal?.side === 'long') return;
      return { side: 'long', confidence: strength, reason: `Close ${format(candle.close)} cleared the pivotal point ${format(event.pivot)} by ${params.confirmPct}%: ${how} up`, metadata };
    }
    if (params.short) {
      if (lastSignal?.side === 'short') return;
      return { side: 'short', confidence: strength, reason: `Close ${format(candle.close)} broke the pivotal point ${format(event.pivot)} by ${params.confirmPct}%: ${how} down`, metadata };
    }
    if (lastSignal?.side !== 'long') return;
    return { side: 'flat', confidence: 1, reason: `Close ${format(candle.close)} broke the pivotal point ${format(event.pivot)} by ${params.confirmPct}%: ${how} down, leaving the long`, metadata };
  },
  commit({ candle, memory, params, closed }) {
    if (closed) memory.state = livermoreStep(memory.state, candle.close, params).state;
  },
});
