import { averageEntryPrice, direction } from './accounting.js';
import type { TradeManagerConfig } from './config.js';
import type { OrderPurpose, PositionSide, TradeRecord } from './state.js';

/** A price observation: a closed candle's range, or a tick (high = low = price). */
export interface PriceRange {
  high: number;
  low: number;
  close: number;
}

export interface ExitTrigger {
  reason: 'stop_loss' | 'take_profit' | 'trailing_stop' | 'time_stop';
  purpose: OrderPurpose;
  /** The level that was crossed (for reporting; the exit order is a market order). */
  level?: number | undefined;
}

/**
 * Moves the stop of an open trade behind the best price once the trade is far enough in profit.
 * The stop only ever tightens. Returns true when it moved.
 */
export function trailStop(config: TradeManagerConfig, trade: TradeRecord, range: PriceRange, atr: number | undefined): boolean {
  const t = config.exits.trailing;
  const d = direction(trade.side);
  const best = trade.side === 'long' ? range.high : range.low;
  if (trade.bestPrice === undefined || d * (best - trade.bestPrice) > 0) trade.bestPrice = best;
  if (!t.enabled) return false;
  const entry = averageEntryPrice(trade);
  const bestPrice = trade.bestPrice;
  const profitPct = ((d * (bestPrice - entry)) / entry) * 100;
  if (profitPct < t.activationPct) return false;
  let distance: number | undefined;
  if (t.distancePct !== undefined) distance = (bestPrice * t.distancePct) / 100;
  else if (t.atrMultiple !== undefined && atr !== undefined) distance = t.atrMultiple * atr;
  if (distance === undefined || !(distance > 0)) return false;
  const candidate = bestPrice - d * distance;
  if (trade.stopLoss !== undefined && d * (candidate - trade.stopLoss) <= 0) return false;
  trade.stopLoss = candidate;
  trade.trailingActive = true;
  return true;
}

/** Did the stop or the target trade within `range`? A bar that touched both counts as the stop: we cannot know which came first, so assume the worse. */
export function levelHit(
  side: PositionSide,
  range: PriceRange,
  stop: number | undefined,
  target: number | undefined,
): 'stop' | 'target' | undefined {
  if (stop !== undefined && (side === 'long' ? range.low <= stop : range.high >= stop)) return 'stop';
  if (target !== undefined && (side === 'long' ? range.high >= target : range.low <= target)) return 'target';
  return undefined;
}

/**
 * The exit the manager must take itself for `trade`, if any. Levels that have a live protective
 * order at the venue are left to the venue, so the two never both sell.
 */
export function exitFor(
  config: TradeManagerConfig,
  trade: TradeRecord,
  range: PriceRange,
  now: number,
  venue: { stop: boolean; target: boolean },
): ExitTrigger | undefined {
  const hit = levelHit(trade.side, range, venue.stop ? undefined : trade.stopLoss, venue.target ? undefined : trade.takeProfit);
  if (hit === 'stop') {
    return trade.trailingActive
      ? { reason: 'trailing_stop', purpose: 'trailing_stop', level: trade.stopLoss }
      : { reason: 'stop_loss', purpose: 'stop_loss', level: trade.stopLoss };
  }
  if (hit === 'target') return { reason: 'take_profit', purpose: 'take_profit', level: trade.takeProfit };
  if (config.exits.timeStopMs > 0 && trade.openedAt !== undefined && now - trade.openedAt >= config.exits.timeStopMs) {
    return { reason: 'time_stop', purpose: 'exit' };
  }
  return undefined;
}
