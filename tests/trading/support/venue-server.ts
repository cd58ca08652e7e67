import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VirtualClock } from '@tradebus/core';
import { PaperExchange, ProviderError, type AccountSnapshot, type OrderUpdate } from '@tradebus/providers';

/**
 * A paper exchange that outlives the trading process: it runs in the test process and serves the
 * system under test over loopback HTTP, the way a real venue keeps its orders while a bot is
 * killed and restarted. Requests are JSON `{ method, args }`; every response carries the order
 * updates and account snapshots the exchange pushed since the previous one, which the client
 * hands to its listeners (a venue's user stream, in short). It counts `createOrder` calls per
 * client order id, so a test can prove nothing was placed twice.
 */
export class VenueServer {
  readonly paper: PaperExchange;
  readonly clock = new VirtualClock(0);
  readonly createCalls = new Map<string, number>();
  private readonly server: Server;
  private orders: OrderUpdate[] = [];
  private accounts: AccountSnapshot[] = [];
  private readonly lastBar = new Map<string, number>();
  url = '';
  /** Called with each createOrder before the exchange acts on it (a test may kill the caller here). */
  beforeCreate: ((request: { clientOrderId: string; symbol: string }) => void) | undefined;

  constructor(options: { balances: Record<string, number>; quoteCurrency: string }) {
    // A venue that answers a market order at once (at the last close, no spread, no volume cap):
    // the restart scenarios count on positions and orders being where the last answer left them.
    this.paper = new PaperExchange({
      id: 'paper',
      clock: this.clock,
      quoteCurrency: options.quoteCurrency,
      balances: options.balances,
      fees: { maker: 0.001, taker: 0.001 },
      marketFillOnCandle: 'close',
      spreadBps: 0,
      participation: 0,
    });
    this.paper.subscribe({ order: (u) => void this.orders.push(u), account: (s) => void this.accounts.push(s) });
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        void this.handle(body).then((reply) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(reply));
        });
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(body: string): Promise<unknown> {
    let result: unknown;
    let error: unknown;
    try {
      const { method, args } = JSON.parse(body) as { method: string; args: unknown[] };
      result = await this.dispatch(method, args);
    } catch (err) {
      error =
        err instanceof ProviderError
          ? { code: err.code, message: err.message, retryable: err.retryable, outcomeUnknown: err.outcomeUnknown }
          : { code: 'PROVIDER_EXCHANGE_ERROR', message: (err as Error).message, retryable: false, outcomeUnknown: false };
    }
    const orders = this.orders;
    const accounts = this.accounts;
    this.orders = [];
    this.accounts = [];
    return error === undefined ? { ok: true, result: result ?? null, orders, accounts } : { ok: false, error, orders, accounts };
  }

  private dispatch(method: string, args: unknown[]): Promise<unknown> | unknown {
    const p = this.paper;
    switch (method) {
      case 'createOrder': {
        const request = args[0] as Parameters<PaperExchange['createOrder']>[0];
        this.createCalls.set(request.clientOrderId, (this.createCalls.get(request.clientOrderId) ?? 0) + 1);
        this.beforeCreate?.({ clientOrderId: request.clientOrderId, symbol: request.symbol });
        return p.createOrder(request);
      }
      case 'cancelOrder':
        return p.cancelOrder(args[0] as string, args[1] as string);
      case 'fetchOrder':
        return p.fetchOrder(args[0] as string, args[1] as string);
      case 'fetchOpenOrders':
        return p.fetchOpenOrders(args[0] as string | undefined);
      case 'fetchMyTrades':
        return p.fetchMyTrades(args[0] as string, args[1] as number | undefined, args[2] as number | undefined);
      case 'fetchBalances':
        return p.fetchBalances();
      case 'fetchPositions':
        return p.fetchPositions(args[0] as string[] | undefined);
      case 'onCandle': {
        const candle = args[0] as Parameters<PaperExchange['onCandle']>[0];
        // One market, one timeline: a restarted bot replaying a bar the venue has seen changes nothing.
        if (candle.timestamp <= (this.lastBar.get(candle.symbol) ?? -Infinity)) return null;
        this.lastBar.set(candle.symbol, candle.timestamp);
        this.clock.advanceTo(candle.timestamp + 300_000);
        p.onCandle(candle);
        return null;
      }
      default:
        throw new Error(`unknown method ${method}`);
    }
  }
}
