import { isTerminal, type Book, type OrderRecord, type TradeRecord } from './state.js';

export type Finding =
  | { kind: 'naked_position'; trade: TradeRecord }
  | { kind: 'orphan_order'; order: OrderRecord };

/**
 * What must hold between the manager's trades and orders, checked on the books as they are:
 * - an open trade with a stop, whose stops are placed at the venue and whose entry is complete,
 *   has a live stop order there (unless the venue refused it; while an entry is still filling,
 *   and after a refusal, the manager watches the level itself);
 * - every working order belongs to a trade that is still active.
 * Trades the venue no longer holds are found by account sync, which compares with the venue.
 */
export function scanBook(book: Book, options: { stopsAtVenue: boolean }): Finding[] {
  const findings: Finding[] = [];
  const live = (id: string | undefined): OrderRecord | undefined => {
    const o = id === undefined ? undefined : book.orders[id];
    return o !== undefined && !isTerminal(o.status) ? o : undefined;
  };
  if (options.stopsAtVenue) {
    for (const trade of Object.values(book.trades)) {
      if (trade.status !== 'open' || trade.pendingExit !== undefined || trade.stopLoss === undefined) continue;
      if (live(trade.stopOrderId) !== undefined || live(trade.entryOrderId) !== undefined) continue;
      const last = trade.stopOrderId === undefined ? undefined : book.orders[trade.stopOrderId];
      if (last?.status === 'rejected') continue;
      findings.push({ kind: 'naked_position', trade });
    }
  }
  for (const order of Object.values(book.orders)) {
    // An order being cancelled is on its way out already.
    if (isTerminal(order.status) || order.request.purpose === 'adopt' || order.cancelRequestedAt !== undefined) continue;
    const trade = book.trades[order.tradeId];
    if (trade === undefined || trade.status === 'closed' || trade.status === 'cancelled') findings.push({ kind: 'orphan_order', order });
  }
  return findings;
}
