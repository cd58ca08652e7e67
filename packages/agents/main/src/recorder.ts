import type { DataStore, EventBus, BuiltinEvents, Logger, Subscription } from '@tradebus/core';
import { toError } from '@tradebus/core';
import type { ApiDataSource } from './api/app.js';

/**
 * Writes the trading history agents publish (orders, trades, positions, account snapshots) into
 * the data store, so the REST API, the dashboard and a restarted system see it. Agents only
 * publish events; this is the one writer of history.
 *
 * Each event's write starts as the event arrives, in delivery order (the repositories apply
 * writes in call order). Writes are not awaited one by one: they share the stores' syncs, so the
 * recorder keeps up with a position update per tick instead of one write per sync interval.
 *
 * With `ackWhenDurable` (events that come from other processes, where the transport redelivers
 * what was not acknowledged) a handler settles once its write is durable. In one process nobody
 * needs to wait: the history is written behind the agents, and a replay does not hold for it.
 */
export class HistoryRecorder {
  private readonly subscriptions: Subscription[] = [];
  private readonly ackWhenDurable: boolean;

  constructor(
    private readonly data: DataStore,
    private readonly bus: EventBus<BuiltinEvents>,
    private readonly logger: Logger,
    options: { ackWhenDurable?: boolean } = {},
  ) {
    this.ackWhenDurable = options.ackWhenDurable ?? true;
  }

  start(): void {
    const guard =
      <T>(what: string, write: (payload: T) => Promise<unknown>) =>
      (event: { payload: T; type: string }): Promise<void> | void => {
        const written = write(event.payload).then(
          () => undefined,
          (err: unknown) => {
            this.logger.error({ err: toError(err), what, type: event.type }, 'history not recorded');
            throw err;
          },
        );
        if (this.ackWhenDurable) return written;
        // Logged above; the store raises its own alert when it stops taking writes.
        written.catch(() => undefined);
      };
    this.subscriptions.push(
      this.bus.subscribe('order.requested', guard('order', (p: BuiltinEvents['order.requested']) => this.data.orders.recordRequested(p))),
      this.bus.subscribe('order.updated', guard('order', (p: BuiltinEvents['order.updated']) => this.data.orders.upsert(p))),
      this.bus.subscribe('trade.closed', guard('trade', (p: BuiltinEvents['trade.closed']) => this.data.trades.append(p))),
      this.bus.subscribe(
        'position.updated',
        guard('position', (p: BuiltinEvents['position.updated']) => (p.side === 'flat' || p.quantity === 0 ? this.data.positions.remove(p.symbol) : this.data.positions.upsert(p))),
      ),
      this.bus.subscribe('account.updated', guard('account', (p: BuiltinEvents['account.updated']) => this.data.accounts.append(p))),
    );
  }

  stop(): void {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }
}

/** The REST API's view of history, read from the data store. */
export function dataSourceOf(data: DataStore): ApiDataSource {
  return {
    async events(q) {
      const entries = await data.journal.query({ types: q.type, since: q.since, until: q.until, limit: q.limit, order: q.order });
      return entries.map((e) => e.envelope);
    },
    orders: (q) =>
      q.status === 'open'
        ? data.orders.listOpen({ symbol: q.symbol }).then((o) => o.slice(0, q.limit))
        : data.orders.query({
            symbol: q.symbol,
            since: q.since,
            until: q.until,
            limit: q.limit,
            status: q.status === 'closed' ? ['filled', 'cancelled', 'rejected', 'expired'] : undefined,
          }),
    trades: (q) => data.trades.query({ symbol: q.symbol, since: q.since, until: q.until, limit: q.limit }),
    positions: () => data.positions.listOpen(),
    account: () => data.accounts.latest(),
  };
}
