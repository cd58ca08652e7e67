import type { BuiltinEvents } from '@tradebus/core';

export type OrderRequest = BuiltinEvents['order.requested'];
export type OrderUpdate = BuiltinEvents['order.updated'];
export type OrderPurpose = OrderRequest['purpose'];
export type OrderStatus = OrderUpdate['status'];
export type PositionSide = 'long' | 'short';

const TERMINAL = new Set<OrderStatus>(['filled', 'cancelled', 'rejected', 'expired']);
export const isTerminal = (status: OrderStatus): boolean => TERMINAL.has(status);

/** One order the manager asked for, as far as it knows it. */
export interface OrderRecord {
  request: OrderRequest;
  tradeId: string;
  status: OrderStatus;
  filledQuantity: number;
  /** Venue fill ids already booked: a fill reported twice (redelivery, resync) counts once. */
  fillIds: string[];
  /** Set when a cancel was requested, so it is not requested again on every candle. */
  cancelRequestedAt?: number | undefined;
  cancelReason?: string | undefined;
  /** True once the executor acknowledged the intent with any order.updated. */
  acknowledged: boolean;
  updatedAt: number;
  reason?: string | undefined;
}

export type TradeStatus = 'pending' | 'open' | 'closing' | 'closed' | 'cancelled';

export interface TradeRecord {
  id: string;
  symbol: string;
  side: PositionSide;
  status: TradeStatus;
  strategyId?: string | undefined;
  signalId?: string | undefined;
  signalIds: string[];
  adopted: boolean;
  plannedQuantity: number;
  plannedEntryPrice: number;
  /** Sum of entry fill quantities and of quantity × price; the average entry is their ratio. */
  entryQuantity: number;
  entryValue: number;
  exitQuantity: number;
  exitValue: number;
  /** In quote currency. */
  fees: number;
  stopLoss?: number | undefined;
  initialStop?: number | undefined;
  takeProfit?: number | undefined;
  /** Best price since entry: the highest high of a long, the lowest low of a short. */
  bestPrice?: number | undefined;
  trailingActive: boolean;
  requestedAt: number;
  /** Market time of the first entry fill and of the last exit fill, as the venue stamped them. */
  entryFilledAt?: number | undefined;
  exitFilledAt?: number | undefined;
  /** Market time: a replay against a wall clock keeps the times of its data. */
  openedAt?: number | undefined;
  closedAt?: number | undefined;
  openedPublished: boolean;
  exitReason?: string | undefined;
  /** Why the exit was asked for; kept while protective orders are being cancelled first. */
  pendingExit?: { reason: string; purpose: OrderPurpose; since: number } | undefined;
  entryOrderId?: string | undefined;
  stopOrderId?: string | undefined;
  targetOrderId?: string | undefined;
  /** Revisions of exit and stop orders; each replacement gets a new client order id. */
  exitRevision: number;
  stopRevision: number;
  targetRevision: number;
  lastExitAttemptAt?: number | undefined;
  realizedPnl: number;
}

export interface Breaker {
  tripped: boolean;
  reason?: string | undefined;
  until?: number | undefined;
}

export interface RiskSnapshot {
  killSwitch: boolean;
  reducingOnly: boolean;
  peakEquity: number;
  /** UTC day number (epoch ms / 86 400 000) the daily counters belong to. */
  day: number;
  dayStartEquity: number;
  entriesToday: number;
  lastEntryAt?: number | undefined;
  consecutiveLosses: number;
  breakers: { dailyLoss: Breaker; drawdown: Breaker; consecutiveLosses: Breaker };
  symbolCooldowns: Record<string, number>;
  realizedPnl: number;
  accountEquity?: number | undefined;
}

export interface Counterfactual {
  signalId: string;
  strategyId: string;
  symbol: string;
  side: PositionSide;
  entry: number;
  stop: number;
  target?: number | undefined;
  barsLeft: number;
  since: number;
}


/** A foreign order at the venue that account-sync reported and the manager keeps an eye on. */
export interface AdoptedOrder {
  clientOrderId: string;
  symbol: string;
  side: 'buy' | 'sell';
  status: OrderStatus;
  quantity: number;
  filledQuantity: number;
  seenAt: number;
}

/**
 * What the manager is working on: live trades with their orders (a finished trade leaves once
 * none of its orders can change any more), foreign orders it watches, and signals waiting for a
 * decision. Finished trades and orders are history, recorded from the bus events the manager
 * publishes, not kept here.
 */
export interface Book {
  trades: Record<string, TradeRecord>;
  orders: Record<string, OrderRecord>;
  adoptedOrders: Record<string, AdoptedOrder>;
  /** Signals waiting to be aggregated as one batch, and when the first of them arrived. */
  batch: BuiltinEvents['signal.generated'][];
  batchSince?: number | undefined;
  /**
   * Per symbol: the opposite signal that closes the position there and opens its own once the
   * position is closed (a reversal), decided when the close is confirmed.
   */
  reversals?: Record<string, BuiltinEvents['signal.generated']> | undefined;
}

export const emptyBook = (): Book => ({ trades: {}, orders: {}, adoptedOrders: {}, batch: [] });
