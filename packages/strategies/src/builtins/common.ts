import { priceSourceSchema } from '@tradebus/indicators';
import { z } from 'zod';
import type { SignalDraft } from '../types.js';

/** A window length in bars. */
export const bars = (fallback: number) =>
  z
    .number({ error: 'must be a number of bars' })
    .int({ error: 'must be a whole number of bars' })
    .min(1, { error: 'must be at least 1 bar' })
    .max(10_000, { error: 'must be at most 10000 bars' })
    .default(fallback);

/** A distance in ATRs; 0 turns the level off. */
export const atrMultiple = (fallback: number) =>
  z
    .number({ error: 'must be a number of ATRs' })
    .min(0, { error: 'must be 0 (off) or more' })
    .max(100, { error: 'must be at most 100 ATRs' })
    .default(fallback);

/** An oscillator level on the 0..100 scale (RSI, ADX). */
export const level = (fallback: number) =>
  z
    .number({ error: 'must be a number between 0 and 100' })
    .min(0, { error: 'must be at least 0' })
    .max(100, { error: 'must be at most 100' })
    .default(fallback);

export const source = priceSourceSchema.default('close');

/** ATR-based protective levels shared by the built-ins. */
export const stopParams = {
  atrPeriod: bars(14),
  stopAtr: atrMultiple(2),
  takeProfitAtr: atrMultiple(3),
};

/**
 * Stop-loss and take-profit at `stopAtr` / `takeProfitAtr` ATRs from `price`. A level that would
 * not be strictly on its side of the price (ATR of 0 in a market that did not move) or below zero
 * is left out, so the trade manager applies its own default instead of a nonsensical level.
 */
export function atrLevels(
  side: 'long' | 'short',
  price: number,
  atr: number,
  stopAtr: number,
  takeProfitAtr: number,
): Pick<SignalDraft, 'stopLoss' | 'takeProfit'> {
  const direction = side === 'long' ? 1 : -1;
  const out: Pick<SignalDraft, 'stopLoss' | 'takeProfit'> = {};
  if (stopAtr > 0) {
    const stop = price - direction * stopAtr * atr;
    if (onSide(side, 'stop', stop, price)) out.stopLoss = stop;
  }
  if (takeProfitAtr > 0) {
    const target = price + direction * takeProfitAtr * atr;
    if (onSide(side, 'target', target, price)) out.takeProfit = target;
  }
  return out;
}

/** True when `level` is a usable stop (or target) for a `side` position entered at `price`. */
export function onSide(side: 'long' | 'short', kind: 'stop' | 'target', level: number, price: number): boolean {
  if (!(Number.isFinite(level) && level >= 0)) return false;
  const below = (side === 'long') === (kind === 'stop');
  return below ? level < price : level > price;
}

/**
 * Maps a non-negative signal strength (in the strategy's own unit, usually ATRs) onto
 * `floor..ceiling` with diminishing returns: 0 gives `floor`, 1 gives about two thirds of the way.
 * Built-in confidences therefore span 0.35..0.95, leaving room for the aggregator's minimum.
 */
export function confidenceFrom(strength: number, floor = 0.35, ceiling = 0.95): number {
  const s = Number.isFinite(strength) && strength > 0 ? strength : 0;
  const value = floor + (ceiling - floor) * (1 - Math.exp(-s));
  return Math.min(1, Math.max(0, value));
}

/** `a` went from at or below `b` to above it between the previous and the current bar. */
export function crossedAbove(previousA: number, previousB: number, a: number, b: number): boolean {
  return previousA <= previousB && a > b;
}

/** `a` went from at or above `b` to below it between the previous and the current bar. */
export function crossedBelow(previousA: number, previousB: number, a: number, b: number): boolean {
  return previousA >= previousB && a < b;
}

/** Ratio guarded against a zero denominator (a market that did not move). */
export function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

export const format = (x: number): string => (Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(4));
