import type { TradeManagerConfig } from './config.js';
import type { EntryGates, MarginWatch } from './entry-gates.js';
import { scanBook } from './invariants.js';
import type { Book, OrderPurpose, OrderRecord, TradeRecord } from './state.js';

/** The exit reason of trades closed by a flatten command. */
export const FLATTEN = 'flatten';
/** The exit reason of trades closed to bring margin utilisation back under its target. */
export const MARGIN = 'margin';

/** What the safety actions need of the trade manager: its books and the one way each action is taken. */
export interface SafetyHost {
  readonly config: TradeManagerConfig;
  readonly gates: EntryGates;
  book(): Book;
  activeTrades(): TradeRecord[];
  /** A trade's position at risk and its value, in the account currency. */
  valuation(trade: TradeRecord): { risk: number; notional: number };
  requestExit(trade: TradeRecord, reason: string, purpose: OrderPurpose): void;
  cancelOrder(order: OrderRecord, reason: string): void;
  placeProtection(trade: TradeRecord): void;
  alert(level: 'info' | 'warning' | 'error' | 'critical', code: string, message: string, details?: Record<string, unknown>): void;
  publishRiskState(force: boolean): void;
}

/**
 * The actions the trade manager takes on its own positions for safety rather than for a
 * strategy: flattening, reducing before the venue liquidates, and repairing what the books say
 * is missing at the venue. Each one goes through the manager's ordinary exit and order paths.
 */
export class SafetyActions {
  constructor(private readonly host: SafetyHost) {}

  /**
   * Closes every position at market, reduce-only: protective orders are cancelled first and the
   * close follows their confirmation (the exit path every close takes), so a stop and the close
   * cannot both fill. Entries not yet filled are cancelled; what they filled meanwhile is closed.
   */
  flattenAll(why: string): void {
    const h = this.host;
    const closing = h.activeTrades();
    for (const trade of closing) {
      // An exit already under way (a signal's, a time stop's) goes on; it closes the same quantity.
      if (trade.pendingExit !== undefined && trade.pendingExit.reason !== FLATTEN) continue;
      h.requestExit(trade, FLATTEN, 'exit');
    }
    h.alert('warning', 'FLATTEN', `Flatten (${why}): closing ${closing.length} position(s) at market${closing.length > 0 ? `: ${closing.map((t) => `${t.side} ${t.symbol}`).join(', ')}` : ''}. New entries stay halted until resume.`, {
      trades: closing.map((t) => ({ tradeId: t.id, symbol: t.symbol, side: t.side })),
    });
  }

  /**
   * Margin utilisation crossing a level is an alert; at the critical level positions are closed,
   * largest risk first, until the projected utilisation is back under the target, well before
   * the venue would liquidate them.
   */
  watchMargin(watch: MarginWatch): void {
    const h = this.host;
    const u = h.config.margin.utilisation;
    const pct = watch.pct.toFixed(1);
    if (watch.level !== watch.previous) {
      if (watch.level === 'ok') h.alert('info', 'MARGIN_OK', `Margin utilisation ${pct}% is back under ${u.warningPct}%: new entries allowed.`, { utilisationPct: watch.pct });
      else if (watch.level === 'warning') h.alert('warning', 'MARGIN_WARNING', `Margin utilisation ${pct}% reached margin.utilisation.warningPct ${u.warningPct}%: no new entries.`, { utilisationPct: watch.pct });
      h.publishRiskState(true);
    }
    if (watch.level !== 'critical') return;
    const open = h.activeTrades().filter((t) => t.status === 'open' && t.pendingExit === undefined);
    const plan = h.gates.reduction(open.map((t) => ({ id: t.id, symbol: t.symbol, ...h.valuation(t) })));
    const book = h.book();
    if (watch.previous !== 'critical' || plan.length > 0) {
      const closing = plan.map((id) => book.trades[id]!).map((t) => `${t.side} ${t.symbol}`);
      h.alert(
        'critical',
        'MARGIN_CRITICAL',
        `Margin utilisation ${pct}% reached margin.utilisation.criticalPct ${u.criticalPct}%: ${closing.length > 0 ? `closing ${closing.join(', ')} at market to get under ${u.targetPct}%` : 'closes already under way'}.`,
        { utilisationPct: watch.pct, closing: plan },
      );
    }
    for (const id of plan) h.requestExit(book.trades[id]!, MARGIN, 'exit');
  }

  /**
   * The books checked against what must hold between trades and orders; each finding is an alert,
   * and repaired where that is safe: a missing stop is placed again, an order of no trade is
   * cancelled.
   */
  checkInvariants(): void {
    const h = this.host;
    const repair = h.config.invariants.repair;
    for (const f of scanBook(h.book(), { stopsAtVenue: h.config.exits.protectiveOrdersAtVenue })) {
      if (f.kind === 'naked_position') {
        const t = f.trade;
        h.alert('error', 'INVARIANT_NAKED_POSITION', `Trade ${t.id} (${t.side} ${t.symbol}) is open without its stop at the venue${repair ? `: placing the stop at ${t.stopLoss} again` : ''}.`, {
          tradeId: t.id,
          symbol: t.symbol,
          stopLoss: t.stopLoss,
          repaired: repair,
        });
        if (repair) h.placeProtection(t);
      } else {
        const o = f.order.request;
        h.alert('warning', 'INVARIANT_ORPHAN_ORDER', `Order ${o.clientOrderId} (${o.purpose} ${o.side} ${o.symbol}) belongs to no open trade${repair ? ': cancelling it' : ''}.`, {
          clientOrderId: o.clientOrderId,
          tradeId: f.order.tradeId,
          repaired: repair,
        });
        if (repair) h.cancelOrder(f.order, 'belongs to no open trade');
      }
    }
  }
}
