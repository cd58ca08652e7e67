import type { BuiltinEvents } from '@tradebus/core';

export type OrderStatus = BuiltinEvents['order.updated']['status'];

/**
 * The legal moves of an order. A venue may skip states (a market order goes from submitted
 * straight to filled), but it never goes back: an update that would is refused and logged.
 */
const NEXT: Record<OrderStatus, readonly OrderStatus[]> = {
  // Cancelled before it was sent: the cancel overtook the intent.
  requested: ['submitted', 'rejected', 'cancelled'],
  submitted: ['accepted', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired'],
  accepted: ['partially_filled', 'filled', 'cancelled', 'expired'],
  partially_filled: ['partially_filled', 'filled', 'cancelled', 'expired'],
  filled: [],
  cancelled: [],
  rejected: [],
  expired: [],
};

export function isFinal(status: OrderStatus): boolean {
  return NEXT[status].length === 0;
}

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return NEXT[from].includes(to);
}

/** Where an order may go from `from`, for error messages. */
export function nextStatuses(from: OrderStatus): readonly OrderStatus[] {
  return NEXT[from];
}
