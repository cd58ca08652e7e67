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
}

export interface SizingResult {
  quantity: number;
  stopLoss: number;
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

/** Default stop for a signal without one: ATR based when configured and known, else a percent. */
export function defaultStop(config: TradeManagerConfig, side: PositionSide, entry: number, atr: number | undefined): number {
  const d = direction(side);
  if (config.sizing.atrStopMultiple > 0 && atr !== undefined && atr > 0) return entry - d * config.sizing.atrStopMultiple * atr;
  return entry * (1 - (d * config.sizing.defaultStopPct) / 100);
}

export function defaultTarget(config: TradeManagerConfig, side: PositionSide, entry: number, stop: number): number | undefined {
  if (config.sizing.rewardRisk <= 0) return undefined;
  return entry + direction(side) * config.sizing.rewardRisk * Math.abs(entry - stop);
}

/**
 * Position size: fixed-fractional risk to the stop (or fractional Kelly once the strategy has a
 * track record), scaled by confidence and volatility, then capped by exposure, position size and
 * portfolio heat. Each step is a small rule that says in `notes` when it changed the size.
 */
export function sizeEntry(config: TradeManagerConfig, input: SizingInput): SizingResult {
  const s = config.sizing;
  const notes: string[] = [];
  const rejections: string[] = [];
  const d = direction(input.side);
  const entry = input.entryPrice;
  const stop = input.stopLoss ?? defaultStop(config, input.side, entry, input.atr);
  const target = input.takeProfit ?? defaultTarget(config, input.side, entry, stop);
  const stopDistance = d * (entry - stop);
  if (!(stopDistance > 0)) {
    return { quantity: 0, stopLoss: stop, takeProfit: target, riskPct: 0, notes, rejections: [`stop ${stop} is not on the losing side of entry ${entry}`] };
  }
  if (target !== undefined && !(d * (target - entry) > 0)) {
    rejections.push(`target ${target} is not on the winning side of entry ${entry}`);
  }

  let riskPct = s.riskPerTradePct;
  if (s.kelly.enabled && input.edge !== undefined && input.edge.trades >= s.kelly.minTrades) {
    const f = kellyFraction(input.edge);
    if (f <= 0) {
      rejections.push(`kelly: no edge after ${input.edge.trades} trades (win rate ${(input.edge.winRate * 100).toFixed(1)}%, payoff ${input.edge.payoff.toFixed(2)})`);
    } else {
      riskPct = Math.min(s.kelly.maxRiskPct, f * s.kelly.fraction * 100);
      notes.push(`kelly: risk ${riskPct.toFixed(3)}% of equity (f*=${f.toFixed(3)} over ${input.edge.trades} trades)`);
    }
  }
  let quantity = (input.equity * riskPct) / 100 / stopDistance;

  if (s.confidence.enabled) {
    if (input.confidence < s.confidence.min) rejections.push(`confidence ${input.confidence} is below the minimum ${s.confidence.min}`);
    const m = Math.max(s.confidence.floor, Math.min(1, input.confidence));
    if (m !== 1) notes.push(`confidence: size × ${m.toFixed(3)}`);
    quantity *= m;
  }

  if (s.volatility.enabled && input.atr !== undefined && input.atr > 0) {
    const atrPct = (input.atr / entry) * 100;
    const m = Math.min(s.volatility.maxMultiplier, Math.max(s.volatility.minMultiplier, s.volatility.targetAtrPct / atrPct));
    if (m !== 1) notes.push(`volatility: ATR ${atrPct.toFixed(3)}% of price, size × ${m.toFixed(3)}`);
    quantity *= m;
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
  capped('max position size', ((input.equity * s.maxPositionPct) / 100) / entry);
  capped('max exposure per symbol', ((input.equity * l.maxExposurePerSymbolPct) / 100 - input.symbolExposure) / entry);
  capped('max total exposure', ((input.equity * l.maxTotalExposurePct) / 100 - input.totalExposure) / entry);
  capped('max portfolio heat', ((input.equity * l.maxPortfolioHeatPct) / 100 - input.heat) / stopDistance);

  const market = s.markets[input.symbol];
  quantity = roundDown(quantity, market?.quantityStep ?? s.quantityStep);
  const minNotional = market?.minNotional ?? s.minNotional;
  const minQuantity = market?.minQuantity ?? 0;
  if (!(quantity > 0) || quantity < minQuantity || quantity * entry < minNotional) {
    rejections.push(
      lastCap !== undefined
        ? `${lastCap} leaves no room for a position (size ${quantity})`
        : `size ${quantity} is below the venue minimum (quantity ${minQuantity}, value ${minNotional})`,
    );
  }
  return { quantity: rejections.length > 0 ? 0 : quantity, stopLoss: stop, takeProfit: target, riskPct, notes, rejections };
}
