import type { PositionSide, TradeRecord } from './state.js';

/** +1 for long, -1 for short: P&L is direction × (exit − entry). */
export const direction = (side: PositionSide): 1 | -1 => (side === 'long' ? 1 : -1);

/** Quantities closer than this are equal: venues round, floating point drifts. */
export const QTY_EPSILON = 1e-9;

export function averageEntryPrice(trade: TradeRecord): number {
  return trade.entryQuantity > 0 ? trade.entryValue / trade.entryQuantity : trade.plannedEntryPrice;
}

export function averageExitPrice(trade: TradeRecord): number | undefined {
  return trade.exitQuantity > 0 ? trade.exitValue / trade.exitQuantity : undefined;
}

export function openQuantity(trade: TradeRecord): number {
  const q = trade.entryQuantity - trade.exitQuantity;
  return q > QTY_EPSILON * Math.max(1, trade.entryQuantity) ? q : 0;
}

/** P&L of the part already closed, after every fee paid so far. */
export function realizedPnl(trade: TradeRecord): number {
  if (trade.entryQuantity <= 0) return -trade.fees;
  const closedEntryValue = trade.entryValue * (trade.exitQuantity / trade.entryQuantity);
  return direction(trade.side) * (trade.exitValue - closedEntryValue) - trade.fees;
}

export function unrealizedPnl(trade: TradeRecord, markPrice: number | undefined): number {
  const open = openQuantity(trade);
  if (open === 0 || markPrice === undefined) return 0;
  return direction(trade.side) * (markPrice - averageEntryPrice(trade)) * open;
}

/** Realised P&L as a percent of the capital put in (entry value). */
export function pnlPct(pnl: number, trade: TradeRecord): number {
  return trade.entryValue > 0 ? (pnl / trade.entryValue) * 100 : 0;
}

/**
 * What the trade loses if its stop is hit now (0 once the stop is at or past the entry); without
 * a stop, its whole entry value is at risk.
 */
export function tradeRisk(trade: TradeRecord): number {
  const open = trade.status === 'pending' ? trade.plannedQuantity : openQuantity(trade);
  if (open === 0) return 0;
  const entry = averageEntryPrice(trade);
  if (trade.stopLoss === undefined) return entry * open;
  return Math.max(0, direction(trade.side) * (entry - trade.stopLoss)) * open;
}

export function tradeExposure(trade: TradeRecord, markPrice: number | undefined): number {
  if (trade.status === 'pending') return trade.plannedQuantity * trade.plannedEntryPrice;
  return openQuantity(trade) * (markPrice ?? averageEntryPrice(trade));
}

const parsedSymbols = new Map<string, { base: string; quote: string }>();

/** Quote (settlement) currency of a unified symbol: `ETH/BTC` → BTC, `XRP/USDT:USDT` → USDT. */
export function quoteOf(symbol: string): { base: string; quote: string } {
  const known = parsedSymbols.get(symbol);
  if (known !== undefined) return known;
  const [pair, settle] = symbol.split(':');
  const [base, quote] = (pair ?? symbol).split('/');
  const parsed = Object.freeze({ base: base ?? symbol, quote: settle ?? quote ?? '' });
  // Asked on every fill; a bounded cache of the symbols traded.
  if (parsedSymbols.size < 10_000) parsedSymbols.set(symbol, parsed);
  return parsed;
}

/** A fee in quote currency: fees charged in the base asset are valued at the fill price. */
export function feeInQuote(symbol: string, fee: number, feeCurrency: string, fillPrice: number): number {
  const { base } = quoteOf(symbol);
  return feeCurrency === base ? fee * fillPrice : fee;
}

export function roundDown(value: number, step: number | undefined): number {
  if (step === undefined || step <= 0) return value;
  // The small nudge keeps 0.3 / 0.1 = 2.9999999 from losing a whole step; toFixed drops the
  // binary noise (0.30000000000000004) that a venue would refuse as off-step.
  const steps = Math.floor(value / step + 1e-9);
  return Number((steps * step).toFixed(decimalsOf(step)));
}

function decimalsOf(step: number): number {
  const text = step.toString();
  const exp = /e-(\d+)$/.exec(text);
  if (exp) return Number(exp[1]) + (text.split('e')[0]!.split('.')[1]?.length ?? 0);
  return text.split('.')[1]?.length ?? 0;
}
