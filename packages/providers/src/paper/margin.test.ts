import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import type { AccountSnapshot, Candle, Market } from '../types.js';
import { PaperExchange, type PaperExchangeOptions } from './paper-exchange.js';

const T0 = 1_700_000_000_000;
const M5 = 300_000;
const BTC = 'BTC/USDT:USDT';
const ETH = 'ETH/USDT:USDT';

function bar(symbol: string, i: number, close: number): Candle {
  return { symbol, timeframe: '5m', timestamp: T0 + i * M5, open: close, high: close, low: close, close, volume: 1_000, closed: true };
}

function setup(extra: Partial<PaperExchangeOptions> = {}) {
  const clock = new VirtualClock(T0);
  const ex = new PaperExchange({
    clock,
    quoteCurrency: 'USDT',
    balances: { USDT: 10_000 },
    fees: { maker: 0.001, taker: 0.002 },
    marketFillOnCandle: 'close',
    spreadBps: 0,
    participation: 0,
    leverage: 10,
    leverageBySymbol: { [ETH]: 4 },
    maintenanceMarginRate: 0.01,
    ...extra,
  });
  const accounts: AccountSnapshot[] = [];
  ex.subscribe({ account: (a) => accounts.push(a) });
  /** Delivers bar i of each symbol at its close time, as a replay would. */
  const feed = (i: number, closes: Record<string, number>): void => {
    clock.advanceTo(T0 + (i + 1) * M5);
    for (const [symbol, close] of Object.entries(closes)) ex.onCandle(bar(symbol, i, close));
  };
  return { ex, feed, accounts };
}

const market = (symbol: string, extra: Partial<Market> = {}): Market => {
  const [pair, settle] = symbol.split(':');
  const [base, quote] = pair!.split('/') as [string, string];
  return {
    symbol,
    base,
    quote,
    settle: settle ?? quote,
    type: settle === undefined ? 'spot' : 'swap',
    linear: settle === undefined ? undefined : settle === quote,
    contractSize: 1,
    active: true,
    precision: { price: 0.1, amount: 0.001 },
    limits: { amount: { min: 0.001 }, price: {}, cost: { min: 5 } },
    ...extra,
  };
};

describe('PaperExchange: margin of perpetuals', () => {
  it('reports no margin for an account without perpetuals', async () => {
    const { ex, feed } = setup();
    feed(0, { 'BTC/USDT': 100 });
    await ex.createOrder({ clientOrderId: 'spot', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false });
    expect(ex.margin()).toBeUndefined();
    expect(ex.accountSnapshot().margin).toBeUndefined();
  });

  it('holds Σ quantity × entry ÷ leverage for positions and what resting orders hold; needs Σ |quantity| × mark × maintenance rate', async () => {
    const { ex, feed, accounts } = setup({ accountUpdates: 'every_bar' });
    feed(0, { [BTC]: 100, [ETH]: 50 });
    await ex.createOrder({ clientOrderId: 'b', symbol: BTC, side: 'buy', type: 'market', quantity: 20, reduceOnly: false });
    await ex.createOrder({ clientOrderId: 'e', symbol: ETH, side: 'sell', type: 'market', quantity: 8, reduceOnly: false });
    // A resting entry holds its opening margin and the taker fee while it rests.
    await ex.createOrder({ clientOrderId: 'rest', symbol: BTC, side: 'buy', type: 'limit', price: 90, quantity: 5, reduceOnly: false });
    feed(1, { [BTC]: 110, [ETH]: 45 });

    const positionMargin = (20 * 100) / 10 + (8 * 50) / 4;
    const orderHold = (5 * 90) / 10 + 5 * 90 * 0.002;
    const maintenance = 20 * 110 * 0.01 + 8 * 45 * 0.01;
    const margin = ex.margin()!;
    expect(margin.used).toBeCloseTo(positionMargin + orderHold, 9);
    expect(margin.maintenance).toBeCloseTo(maintenance, 9);
    // The wallet's held amount is the same money, counted by the venue's books.
    expect((await ex.fetchBalances()).find((b) => b.asset === 'USDT')!.used).toBeCloseTo(positionMargin + orderHold, 9);

    const snapshot = ex.accountSnapshot();
    expect(snapshot.margin).toEqual(margin);
    // Each position says what it needs on its own.
    const positions = await ex.fetchPositions();
    expect(positions.find((p) => p.symbol === BTC)!.maintenanceMargin).toBeCloseTo(20 * 110 * 0.01, 9);
    expect(positions.find((p) => p.symbol === ETH)!.maintenanceMargin).toBeCloseTo(8 * 45 * 0.01, 9);
    // The snapshot pushed after the bar carries it too.
    expect(accounts.at(-1)!.margin!.used).toBeCloseTo(positionMargin + orderHold, 9);
    expect(accounts.at(-1)!.margin!.maintenance).toBeCloseTo(maintenance, 9);

    await ex.cancelOrder('rest', BTC);
    await ex.createOrder({ clientOrderId: 'xb', symbol: BTC, side: 'sell', type: 'market', quantity: 20, reduceOnly: true });
    await ex.createOrder({ clientOrderId: 'xe', symbol: ETH, side: 'buy', type: 'market', quantity: 8, reduceOnly: true });
    expect(ex.margin()).toBeUndefined();
    expect(accounts.at(-1)!.margin).toBeUndefined();
  });

  it('converts margin into the account currency the way equity is converted', async () => {
    const { ex, feed } = setup({ quoteCurrency: 'BTC', balances: { USDT: 10_000 } });
    feed(0, { [ETH]: 50, 'BTC/USDT': 25_000 });
    await ex.createOrder({ clientOrderId: 'e', symbol: ETH, side: 'buy', type: 'market', quantity: 8, reduceOnly: false });
    const margin = ex.margin()!;
    expect(margin.used).toBeCloseTo((8 * 50) / 4 / 25_000, 12);
    expect(margin.maintenance).toBeCloseTo((8 * 50 * 0.01) / 25_000, 12);
    expect(ex.equity()).toBeCloseTo((10_000 - 8 * 50 * 0.002) / 25_000, 12);
  });
});

describe('PaperExchange: markets on its own terms', () => {
  it('gives linear perpetuals the leverage of the symbol as cap, 1 ÷ leverage as initial rate and the maintenance rate; the rest stays as listed', () => {
    const { ex } = setup();
    const listed = [market(BTC, { limits: { amount: { min: 0.001 }, price: {}, cost: { min: 5 }, leverage: { min: 1, max: 125 } } }), market(ETH), market('BTC/USDT'), market('BTC/USD:BTC')];
    const [btc, eth, spot, inverse] = ex.venueMarkets(listed);
    expect(btc).toMatchObject({ limits: { leverage: { min: 1, max: 10 }, amount: { min: 0.001 }, cost: { min: 5 } }, initialMarginRate: 1 / 10, maintenanceMarginRate: 0.01 });
    expect(btc!.precision).toEqual({ price: 0.1, amount: 0.001 });
    expect(eth).toMatchObject({ limits: { leverage: { max: 4 } }, initialMarginRate: 1 / 4, maintenanceMarginRate: 0.01 });
    expect(spot).toBe(listed[2]);
    expect(inverse).toBe(listed[3]);
    // The listed markets are not changed in place.
    expect(listed[0]!.limits.leverage!.max).toBe(125);
    expect(listed[0]!.initialMarginRate).toBeUndefined();
  });
});
