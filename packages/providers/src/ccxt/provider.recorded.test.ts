import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import { AuthenticationError, BadSymbolError, InvalidOrderError } from '../errors.js';
import type { OrderRequest } from '../types.js';
import { assertKnownExchange, CcxtProvider, credentialsFromEnv } from './provider.js';

// Offline tests through ccxt's own request building and response parsing: the exchange's
// low-level `fetch` answers with Binance's recorded HTTP bodies, as ccxt's static tests do.

const dataDir = fileURLToPath(new URL('../../test-data/binance/', import.meta.url));
const load = (name: string): any => JSON.parse(readFileSync(dataDir + name, 'utf8'));
const responses = load('responses.json');
const requests = load('requests.json');
const options = load('options.json');

/** The stored markets count precision in digits; ccxt's binance works in tick sizes. */
function tickSizeMarkets(): Record<string, any> {
  const markets = load('markets.json');
  for (const m of Object.values<any>(markets)) {
    for (const key of ['amount', 'price', 'base', 'quote']) {
      if (typeof m.precision?.[key] === 'number') m.precision[key] = 10 ** -m.precision[key];
    }
  }
  return markets;
}

interface Captured {
  url: URL;
  method: string;
  body: string | undefined;
}

function offlineBinance(reply: (req: Captured) => unknown, withKeys = true): { exchange: ccxt.Exchange; captured: Captured[] } {
  const exchange = new ccxt.binance({
    ...(withKeys ? { apiKey: 'test-key', secret: 'test-secret' } : {}),
    markets: tickSizeMarkets(),
    options: structuredClone(options.responseFile.options),
  });
  const captured: Captured[] = [];
  (exchange as any).fetch = async (url: string, method: string, _headers: unknown, body: string | undefined) => {
    const req = { url: new URL(url), method, body };
    captured.push(req);
    return structuredClone(reply(req));
  };
  return { exchange, captured };
}

function provider(reply: (req: Captured) => unknown, extra: Partial<ConstructorParameters<typeof CcxtProvider>[0]> = {}, withKeys = true) {
  const { exchange, captured } = offlineBinance(reply, withKeys);
  const p = new CcxtProvider({ id: 'binance', exchange: 'binance', instance: exchange, checkExistingBeforeCreate: false, ...extra });
  return { p, captured, exchange };
}

const entry = (method: string, description: string): any => {
  const found = [...(responses[method] ?? []), ...(requests[method] ?? [])].find((e: any) => e.description === description);
  if (!found) throw new Error(`no recorded entry ${method} / ${description}`);
  return found;
};

describe('CcxtProvider on recorded Binance payloads', () => {
  it('loads markets with tick sizes, types and limits', async () => {
    const { p } = provider(() => {
      throw new Error('no request expected');
    });
    const markets = await p.loadMarkets();
    expect(markets.map((m) => m.symbol).sort()).toEqual(Object.keys(load('markets.json')).sort());
    const spot = markets.find((m) => m.symbol === 'BTC/USDT')!;
    expect(spot).toMatchObject({ base: 'BTC', quote: 'USDT', settle: 'USDT', type: 'spot', active: true, contractSize: 1 });
    expect(spot.precision.price).toBeCloseTo(0.01, 12);
    expect(spot.precision.amount).toBeCloseTo(0.00001, 12);
    expect(spot.limits.cost.min).toBe(5);
    const swap = markets.find((m) => m.symbol === 'BTC/USDT:USDT')!;
    expect(swap).toMatchObject({ type: 'swap', linear: true, settle: 'USDT' });
    expect(markets.find((m) => m.symbol === 'BTC/USD:BTC')).toMatchObject({ type: 'swap', linear: false, settle: 'BTC' });
  });

  it('normalises symbols in one place and lists near matches for unknown ones', async () => {
    const { p } = provider(() => ({}));
    expect(await p.resolveSymbol('btc/usdt')).toBe('BTC/USDT');
    expect(await p.resolveSymbol('BTC-USDT')).toBe('BTC/USDT');
    expect(await p.resolveSymbol('ltc_usdt')).toBe('LTC/USDT');
    expect(await p.resolveSymbol('BTCUSDT')).toBe('BTC/USDT');
    expect(await p.resolveSymbol('btcusdt:usdt')).toBe('BTC/USDT:USDT');
    const err = await p.resolveSymbol('BTC/USDX').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadSymbolError);
    expect((err as BadSymbolError).message).toContain("'BTC/USDT'");
    expect((err as BadSymbolError).retryable).toBe(false);
  });

  it('fetchTicker: last, bid, ask, 24h quote volume and change from the recorded ticker', async () => {
    const e = entry('fetchTicker', 'public spot ticker');
    const { p, captured } = provider(() => e.httpResponse);
    const t = await p.fetchTicker('BTC/USDT');
    const parsed = e.parsedResponse;
    expect(t).toMatchObject({
      symbol: 'BTC/USDT',
      timestamp: parsed.timestamp,
      last: parsed.last,
      bid: parsed.bid,
      ask: parsed.ask,
      high24h: parsed.high,
      low24h: parsed.low,
      quoteVolume24h: parsed.quoteVolume,
      change24hPct: parsed.percentage,
    });
    expect(captured[0]!.url.pathname).toBe('/api/v3/ticker/24hr');
    expect(captured[0]!.url.searchParams.get('symbol')).toBe('BTCUSDT');
  });

  it('fetchOHLCV: spot and swap bars as ccxt parses them, the bar still forming flagged', async () => {
    for (const description of ['Spot OHLCV with since and limit', 'swap ohlcv']) {
      const e = entry('fetchOHLCV', description);
      const rows: number[][] = e.parsedResponse;
      const lastOpen = rows.at(-1)![0]!;
      const clock = new VirtualClock(lastOpen + 1_000);
      const { p, captured } = provider(() => e.httpResponse, { clock });
      const [symbol, timeframe, since, limit] = e.input;
      const candles = await p.fetchOHLCV(symbol, timeframe, since ?? undefined, limit ?? undefined);
      expect(candles.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume])).toEqual(rows);
      expect(candles.map((c) => c.closed)).toEqual([...rows.slice(0, -1).map(() => true), false]);
      expect(candles.every((c) => c.symbol === symbol && c.timeframe === timeframe)).toBe(true);
      expect(captured[0]!.url.searchParams.get('interval')).toBe(timeframe);
    }
  });

  it('fetchOrderBookTop: best bid and ask with sizes', async () => {
    for (const description of ['spot orderbook', 'swap orderbook']) {
      const e = entry('fetchOrderBook', description);
      const { p } = provider(() => e.httpResponse);
      const top = await p.fetchOrderBookTop(e.input[0]);
      expect(top).toMatchObject({
        symbol: e.input[0],
        bid: e.parsedResponse.bids[0][0],
        bidSize: e.parsedResponse.bids[0][1],
        ask: e.parsedResponse.asks[0][0],
        askSize: e.parsedResponse.asks[0][1],
      });
    }
  });

  it('fetchOrder looks the order up by client order id and maps status, fills and prices', async () => {
    const e = entry('fetchOrder', 'Fetch spot closed order');
    const clientOrderId = e.parsedResponse.clientOrderId as string;
    const { p, captured } = provider(() => e.httpResponse);
    const order = await p.fetchOrder(clientOrderId, 'LTC/USDT');
    expect(order).toMatchObject({
      clientOrderId,
      venueOrderId: e.parsedResponse.id,
      symbol: 'LTC/USDT',
      side: 'sell',
      type: 'market',
      status: 'filled',
      quantity: 0.1,
      filledQuantity: 0.1,
      remainingQuantity: 0,
      averagePrice: 90.8,
      reduceOnly: false,
      createdAt: e.parsedResponse.timestamp,
    });
    expect(captured).toHaveLength(1);
    expect(captured[0]!.url.pathname).toBe('/api/v3/order');
    expect(captured[0]!.url.searchParams.get('origClientOrderId')).toBe(clientOrderId);
    expect(captured[0]!.url.searchParams.has('orderId')).toBe(false);
  });

  it('fetchOpenOrders: a LIMIT_MAKER order is a post-only limit order, accepted', async () => {
    const e = entry('fetchOpenOrders', 'Fetch spot open orders');
    const { p } = provider(() => e.httpResponse);
    const [order] = await p.fetchOpenOrders('LTC/USDT');
    expect(order).toMatchObject({ type: 'limit', timeInForce: 'PO', status: 'accepted', price: 50, quantity: 0.2, filledQuantity: 0, side: 'buy' });
    expect(order!.clientOrderId).toBe(e.parsedResponse[0].clientOrderId);
  });

  it('fetchMyTrades: price, quantity, fee and liquidity of spot and swap trades', async () => {
    for (const description of ['Spot private trade', 'Swap private trade']) {
      const e = entry('fetchMyTrades', description);
      const { p } = provider(() => e.httpResponse);
      const trades = await p.fetchMyTrades(e.input[0], undefined, 1);
      const parsed = e.parsedResponse;
      expect(trades).toHaveLength(parsed.length);
      trades.forEach((t, i) => {
        expect(t).toMatchObject({
          tradeId: parsed[i].id,
          symbol: parsed[i].symbol,
          side: parsed[i].side,
          price: parsed[i].price,
          quantity: parsed[i].amount,
          fee: parsed[i].fee.cost,
          feeCurrency: parsed[i].fee.currency,
          liquidity: parsed[i].takerOrMaker,
          venueOrderId: parsed[i].order,
          timestamp: parsed[i].timestamp,
        });
      });
    }
  });

  it('fetchBalances keeps non-zero assets of spot and of the futures wallet', async () => {
    const spot = entry('fetchBalance', 'Spot balance');
    const { p } = provider(() => spot.httpResponse);
    const balances = await p.fetchBalances();
    const nonZero = Object.entries<number>(spot.parsedResponse.total).filter(([, v]) => v !== 0);
    expect(balances.map((b) => b.asset).sort()).toEqual(nonZero.map(([k]) => k).sort());
    for (const b of balances) {
      expect(b.total).toBe(spot.parsedResponse.total[b.asset]);
      expect(b.free).toBe(spot.parsedResponse.free[b.asset]);
      expect(b.used).toBe(spot.parsedResponse.used[b.asset]);
    }
    const swap = entry('fetchBalance', 'Linear swap balance');
    const { p: p2, exchange, captured } = provider(() => swap.httpResponse);
    exchange.options['defaultType'] = 'swap';
    expect(await p2.fetchBalances()).toEqual([{ asset: 'USDT', free: swap.parsedResponse.free.USDT, used: swap.parsedResponse.used.USDT, total: 31.022612 }]);
    expect(captured[0]!.url.pathname.startsWith('/fapi/')).toBe(true);
  });

  it('fetchPositions: open linear positions with entry, mark, PnL, liquidation price, margin held and maintenance margin', async () => {
    for (const description of ['Fetch linear positions without symbols', 'Fetch linear positions with symbols']) {
      const e = entry('fetchPositions', description);
      const { p } = provider(() => e.httpResponse);
      const positions = await p.fetchPositions(e.input[0] ?? undefined);
      const open = e.parsedResponse.filter((x: any) => x.contracts > 0);
      expect(positions).toHaveLength(open.length);
      positions.forEach((pos, i) => {
        expect(pos).toMatchObject({
          symbol: open[i].symbol,
          side: open[i].side,
          quantity: open[i].contracts * open[i].contractSize,
          entryPrice: open[i].entryPrice,
          markPrice: open[i].markPrice,
          unrealizedPnl: open[i].unrealizedPnl,
          liquidationPrice: open[i].liquidationPrice,
          marginMode: open[i].marginMode,
          margin: open[i].initialMargin,
          maintenanceMargin: open[i].maintenanceMargin,
        });
      });
    }
  });

  it('markets carry the venue rules market.snapshot passes on: price step, quantity step, minimum quantity and value', async () => {
    const { p } = provider(() => {
      throw new Error('no request expected');
    });
    const swap = (await p.loadMarkets()).find((m) => m.symbol === 'BTC/USDT:USDT')!;
    // From Binance's own filters of the market, as recorded.
    const filters: any[] = load('markets.json')['BTC/USDT:USDT'].info.filters;
    const filter = (type: string): any => filters.find((f) => f.filterType === type);
    expect(swap.precision.price).toBeCloseTo(Number(filter('PRICE_FILTER').tickSize), 12);
    expect(swap.precision.amount).toBeCloseTo(Number(filter('LOT_SIZE').stepSize), 12);
    expect(swap.limits.amount.min).toBe(Number(filter('LOT_SIZE').minQty));
    expect(swap.limits.cost.min).toBe(Number(filter('MIN_NOTIONAL').notional));
    // The recorded market states no leverage range and ccxt's unified market has no margin rates.
    expect(swap.limits.leverage?.max).toBeUndefined();
    expect(swap.initialMarginRate).toBeUndefined();
    expect(swap.maintenanceMarginRate).toBeUndefined();
  });

  describe('createOrder and cancelOrder build the requests ccxt recorded', () => {
    const skip = new Set<string>([...options.requestFile.skipKeys, 'clientAlgoId']);
    const params = (s: string): Record<string, string> => Object.fromEntries([...new URLSearchParams(s)].filter(([k]) => !skip.has(k)));
    // A Binance order answer, adjusted to the recorded request's market and to our client order id.
    const orderReply = (symbolId: string, clientOrderId: string, extra: Record<string, string> = {}) => ({
      ...entry('createOrder', 'spot +selfTradePrevention +iceberg').httpResponse,
      symbol: symbolId,
      clientOrderId,
      ...extra,
    });

    const cases: Array<{ description: string; request: Omit<OrderRequest, 'clientOrderId'> }> = [
      { description: 'Spot limit buy order', request: { symbol: 'LTC/USDT', side: 'buy', type: 'limit', quantity: 0.2, price: 50, reduceOnly: false } },
      {
        description: 'Spot limit buy with postOnly',
        request: { symbol: 'LTC/USDT', side: 'buy', type: 'limit', quantity: 0.2, price: 50, reduceOnly: false, timeInForce: 'PO' },
      },
      {
        description: 'Spot limit buy with triggerPrice',
        request: { symbol: 'LTC/USDT', side: 'buy', type: 'stop_limit', quantity: 0.2, price: 50, stopPrice: 100, reduceOnly: false },
      },
      { description: 'Swap market buy order', request: { symbol: 'LTC/USDT:USDT', side: 'buy', type: 'market', quantity: 0.1, reduceOnly: false } },
      {
        description: 'Swap limit buy with reduce only (closing short position)',
        request: { symbol: 'LTC/USDT:USDT', side: 'buy', type: 'limit', quantity: 0.2, price: 60, reduceOnly: true },
      },
    ];

    for (const { description, request } of cases) {
      it(description, async () => {
        const recorded = entry('createOrder', description);
        const clientOrderId = `tb-${description.length}-abc`;
        const { p, captured } = provider(() => orderReply('LTCUSDT', clientOrderId));
        const order = await p.createOrder({ ...request, clientOrderId });
        expect(captured).toHaveLength(1);
        const sent = captured[0]!;
        expect(sent.method).toBe('POST');
        expect(sent.url.pathname).toBe(new URL(recorded.url).pathname);
        expect(params(sent.body ?? '')).toEqual(params(recorded.output));
        expect(new URLSearchParams(sent.body ?? '').get('newClientOrderId')).toBe(clientOrderId);
        expect(order.clientOrderId).toBe(clientOrderId);
        expect(order.type).toBe(request.type);
        expect(order.status).toBe('accepted');
      });
    }

    it('cancelOrder by client order id', async () => {
      const recorded = entry('cancelOrder', 'cancel swap order with clientOrderId');
      const { p, captured } = provider(() => ({
        ...entry('fetchOrder', 'Fetch spot closed order').httpResponse,
        symbol: 'BTCUSDT',
        clientOrderId: 'myswap',
        status: 'CANCELED',
        executedQty: '0',
        cummulativeQuoteQty: '0',
        type: 'LIMIT',
        price: '30000',
      }));
      const order = await p.cancelOrder('myswap', 'BTC/USDT:USDT');
      expect(captured[0]!.method).toBe('DELETE');
      expect(captured[0]!.url.pathname).toBe(new URL(recorded.url).pathname);
      expect(params(captured[0]!.url.search)).toEqual(params(new URL(recorded.url).search));
      expect(order).toMatchObject({ clientOrderId: 'myswap', status: 'cancelled', filledQuantity: 0 });
    });

    it('rejects what the market does not allow before sending anything', async () => {
      const { p, captured } = provider(() => ({}));
      // The recorded BTC/USDT market lists no STOP_LOSS order type.
      const err = await p
        .createOrder({ clientOrderId: 'tb-stop-1', symbol: 'BTC/USDT', side: 'sell', type: 'stop_market', quantity: 0.001, stopPrice: 40_000, reduceOnly: false })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOrderError);
      expect((err as InvalidOrderError).retryable).toBe(false);
      const missingPrice = await p
        .createOrder({ clientOrderId: 'tb-limit-1', symbol: 'BTC/USDT', side: 'buy', type: 'limit', quantity: 0.001, reduceOnly: false })
        .catch((e: unknown) => e);
      expect(missingPrice).toBeInstanceOf(InvalidOrderError);
      expect((missingPrice as Error).message).toContain('price');
      expect(captured).toHaveLength(0);
    });
  });

  it('private calls without credentials say which environment variables to set', async () => {
    const { p, captured } = provider(() => ({}), {}, false);
    const err = await p.fetchBalances().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain('TRADEBUS_BINANCE_API_KEY');
    expect(captured).toHaveLength(0);
  });
});

describe('credentials and exchange ids', () => {
  it('reads keys from the environment, provider name before exchange id', () => {
    expect(credentialsFromEnv('main', 'binance', {})).toBeUndefined();
    expect(credentialsFromEnv('main', 'binance', { TRADEBUS_BINANCE_API_KEY: 'k', TRADEBUS_BINANCE_SECRET: 's' })).toEqual({ apiKey: 'k', secret: 's', password: undefined });
    expect(
      credentialsFromEnv('main', 'binance', {
        TRADEBUS_BINANCE_API_KEY: 'k',
        TRADEBUS_BINANCE_SECRET: 's',
        TRADEBUS_MAIN_API_KEY: 'k2',
        TRADEBUS_MAIN_SECRET: 's2',
      }),
    ).toEqual({ apiKey: 'k2', secret: 's2', password: undefined });
    expect(() => credentialsFromEnv('main', 'binance', { TRADEBUS_BINANCE_API_KEY: 'k' })).toThrow(/TRADEBUS_MAIN_SECRET/);
  });

  it('an unknown exchange id lists near matches', () => {
    expect(() => assertKnownExchange('binanse')).toThrow(/Did you mean 'binance'/);
    expect(() => assertKnownExchange('binance')).not.toThrow();
  });
});
