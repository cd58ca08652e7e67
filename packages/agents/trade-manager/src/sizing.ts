import { direction, roundDown } from './accounting.js';
import type { TradeManagerConfig } from './config.js';
import type { PositionSide } from './state.js';

/** A strategy's closed-trade statistics, as far as Kelly sizing needs them. */
export interface EdgeStats {
  trades: number;
  /** Fraction of winning trades, 0..1. */
  winRate: number;
  /** Average win divided by average loss (Infinity when there were no losses). */
  payoff: number;
}

export interface SizingInput {
  symbol: string;
  /** The strategy the trade is booked to: picks its `sizing.byStrategy` settings. */
  strategyId?: string | undefined;
  side: PositionSide;
  entryPrice: number;
  stopLoss?: number | undefined;
  takeProfit?: number | undefined;
  confidence: number;
  /** Latest ATR of the symbol, when warmed up. */
  atr?: number | undefined;
  equity: number;
  edge?: EdgeStats | undefined;
  /** Value of what is already held (and pending) on this symbol and in total. */
  symbolExposure: number;
  totalExposure: number;
  /** What every open trade loses at its stop. */
  heat: number;
  /**
   * Risk's own multipliers (the drawdown ladder, correlation with open positions): they apply to
   * every sizing mode, a fixed quantity included, since they exist to take risk off.
   */
  scale?: ReadonlyArray<{ factor: number; note: string }> | undefined;
  /** The venue's own increments and minimums for the symbol, used where the config sets none for it. */
  venue?: { stepSize?: number | undefined; minQuantity?: number | undefined; minNotional?: number | undefined } | undefined;
}

export interface SizingResult {
  quantity: number;
  /** Absent when the signal has none and no default applies. */
  stopLoss: number | undefined;
  takeProfit?: number | undefined;
  riskPct: number;
  /** How the size was shaped: multipliers and caps that applied. */
  notes: string[];
  /** Why no order can be placed; empty when one can. */
  rejections: string[];
}

/** Full Kelly fraction f* = W − (1 − W) / R. */
export function kellyFraction(edge: EdgeStats): number {
  if (edge.payoff === Infinity) return edge.winRate;
  if (!(edge.payoff > 0)) return -1;
  return edge.winRate - (1 - edge.winRate) / edge.payoff;
}

/** The sizing settings that apply to `strategyId`: the shared ones with its `byStrategy` entry on top. */
export function sizingFor(config: TradeManagerConfig, strategyId: string | undefined): SizingSettings {
  const s = config.sizing;
  const own = strategyId === undefined ? undefined : s.byStrategy[strategyId];
  if (own === undefined) return s;
  const merged: SizingSettings = { ...s };
  for (const [key, value] of Object.entries(own) as Array<[keyof SizingSettings, never]>) if (value !== undefined) merged[key] = value;
  return merged;
}

export type SizingSettings = Pick<
  TradeManagerConfig['sizing'],
  'mode' | 'riskPerTradePct' | 'fractionPct' | 'notional' | 'quantity' | 'defaultStopPct' | 'atrStopMultiple' | 'rewardRisk'
>;

/**
 * Default stop for a signal without one: ATR based when configured and known, else a percent;
 * none when both are 0 (a strategy that exits only on its own signals).
 */
export function defaultStop(settings: SizingSettings, side: PositionSide, entry: number, atr: number | undefined): number | undefined {
  const d = direction(side);
  if (settings.atrStopMultiple > 0 && atr !== undefined && atr > 0) return entry - d * settings.atrStopMultiple * atr;
  if (!(settings.defaultStopPct > 0)) return undefined;
  return entry * (1 - (d * settings.defaultStopPct) / 100);
}

export function defaultTarget(settings: SizingSettings, side: PositionSide, entry: number, stop: number | undefined): number | undefined {
  if (settings.rewardRisk <= 0 || stop === undefined) return undefined;
  return entry + direction(side) * settings.rewardRisk * Math.abs(entry - stop);
}

/** A cap in percent of equity; 0 means no cap. */
function percentCap(equity: number, pct: number, used: number, per: number): number {
  return pct > 0 ? ((equity * pct) / 100 - used) / per : Infinity;
}

/**
 * Position size by `sizing.mode`: risk to the stop (fixed-fractional, or fractional Kelly once the
 * strategy has a track record), a fraction of equity, a fixed value or a fixed quantity. Risk and
 * fraction sizes are scaled by confidence and volatility; fixed ones are not. Every mode is then
 * capped by exposure, position size and portfolio heat. Each step says in `notes` when it changed
 * the size.
 */
export function sizeEntry(config: TradeManagerConfig, input: SizingInput): SizingResult {
  const s = config.sizing;
  const own = sizingFor(config, input.strategyId);
  const notes: string[] = [];
  const rejections: string[] = [];
  const d = direction(input.side);
  const entry = input.entryPrice;
  const stop = input.stopLoss ?? defaultStop(own, input.side, entry, input.atr);
  const target = input.takeProfit ?? defaultTarget(own, input.side, entry, stop);
  const stopDistance = stop === undefined ? undefined : d * (entry - stop);
  const reject = (reason: string): SizingResult => ({ quantity: 0, stopLoss: stop, takeProfit: target, riskPct: 0, notes, rejections: [reason] });
  if (stopDistance !== undefined && !(stopDistance > 0)) return reject(`stop ${stop} is not on the losing side of entry ${entry}`);
  if (target !== undefined && !(d * (target - entry) > 0)) {
    rejections.push(`target ${target} is not on the winning side of entry ${entry}`);
  }

  let riskPct = 0;
  let quantity: number;
  switch (own.mode) {
    case 'risk': {
      if (stopDistance === undefined) {
        return reject(
          'risk sizing needs a stop: the signal has none and sizing.defaultStopPct and sizing.atrStopMultiple are 0; give the strategy a stop, set one of them, or size by fraction, notional or quantity (sizing.mode)',
        );
      }
      riskPct = own.riskPerTradePct;
      if (s.kelly.enabled && input.edge !== undefined && input.edge.trades >= s.kelly.minTrades) {
        const f = kellyFraction(input.edge);
        if (f <= 0) {
          rejections.push(`kelly: no edge after ${input.edge.trades} trades (win rate ${(input.edge.winRate * 100).toFixed(1)}%, payoff ${input.edge.payoff.toFixed(2)})`);
        } else {
          riskPct = Math.min(s.kelly.maxRiskPct, f * s.kelly.fraction * 100);
          notes.push(`kelly: risk ${riskPct.toFixed(3)}% of equity (f*=${f.toFixed(3)} over ${input.edge.trades} trades)`);
        }
      }
      quantity = (input.equity * riskPct) / 100 / stopDistance;
      break;
    }
    case 'fraction':
      quantity = (input.equity * own.fractionPct) / 100 / entry;
      notes.push(`fraction: ${own.fractionPct}% of equity`);
      break;
    case 'notional':
      quantity = (own.notional ?? 0) / entry;
      notes.push(`notional: ${own.notional ?? 0} at ${entry}`);
      break;
    case 'quantity':
      quantity = own.quantity ?? 0;
      notes.push(`fixed quantity: ${quantity}`);
      break;
  }

  const scaled = own.mode === 'risk' || own.mode === 'fraction';
  if (s.confidence.enabled) {
    if (input.confidence < s.confidence.min) rejections.push(`confidence ${input.confidence} is below the minimum ${s.confidence.min}`);
    const m = Math.max(s.confidence.floor, Math.min(1, input.confidence));
    if (scaled && m !== 1) {
      notes.push(`confidence: size × ${m.toFixed(3)}`);
      quantity *= m;
    }
  }

  if (scaled && s.volatility.enabled && input.atr !== undefined && input.atr > 0) {
    const atrPct = (input.atr / entry) * 100;
    const m = Math.min(s.volatility.maxMultiplier, Math.max(s.volatility.minMultiplier, s.volatility.targetAtrPct / atrPct));
    if (m !== 1) notes.push(`volatility: ATR ${atrPct.toFixed(3)}% of price, size × ${m.toFixed(3)}`);
    quantity *= m;
  }

  for (const { factor, note } of input.scale ?? []) {
    if (factor === 1) continue;
    notes.push(`${note}: size × ${factor.toFixed(3)}`);
    quantity *= factor;
  }

  const capped = (label: string, maxQuantity: number): void => {
    if (quantity > maxQuantity) {
      quantity = Math.max(0, maxQuantity);
      notes.push(`capped by ${label}`);
      lastCap = label;
    }
  };
  let lastCap: string | undefined;
  const l = config.limits;
  capped('max position size', percentCap(input.equity, s.maxPositionPct, 0, entry));
  capped('max exposure per symbol', percentCap(input.equity, l.maxExposurePerSymbolPct, input.symbolExposure, entry));
  capped('max total exposure', percentCap(input.equity, l.maxTotalExposurePct, input.totalExposure, entry));
  // Without a stop the whole position is at risk.
  capped('max portfolio heat', percentCap(input.equity, l.maxPortfolioHeatPct, input.heat, stopDistance ?? entry));

  const market = s.markets[input.symbol];
  const venue = input.venue;
  quantity = roundDown(quantity, market?.quantityStep ?? venue?.stepSize ?? s.quantityStep);
  const minNotional = market?.minNotional ?? venue?.minNotional ?? s.minNotional;
  const minQuantity = market?.minQuantity ?? venue?.minQuantity ?? 0;
  if (!(quantity > 0) || quantity < minQuantity || quantity * entry < minNotional) {
    rejections.push(
      lastCap !== undefined
        ? `${lastCap} leaves no room for a position (size ${quantity})`
        : `size ${quantity} is below the venue minimum (quantity ${minQuantity}, value ${minNotional})`,
    );
  }
  return { quantity: rejections.length > 0 ? 0 : quantity, stopLoss: stop, takeProfit: target, riskPct, notes, rejections };
}
