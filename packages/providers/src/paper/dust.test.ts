import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import type { Candle, OrderRequest } from '../types.js';
import { PaperExchange } from './paper-exchange.js';

const T0 = 1_516_000_000_000;
const M5 = 300_000;
const bar = (i: number, price: number): Candle => ({ symbol: 'XLM/BTC', timeframe: '5m', timestamp: T0 + i * M5, open: price, high: price, low: price, close: price, volume: 1e9, closed: true });
const market = (clientOrderId: string, side: 'buy' | 'sell', quantity: number): OrderRequest => ({ clientOrderId, symbol: 'XLM/BTC', side, type: 'market', quantity, reduceOnly: false });

/**
 * Quantities in the tens of thousands (an XLM position in BTC) leave a rounding residue of a few
 * 1e-12 when fills are added and the sum is sold: no venue holds such a remainder, and an account
 * sync that sees it adopts a "position" it cannot close, on every check.
 */
describe('a position sold in full', () => {
  it('leaves no balance, hold or position behind from rounding', async () => {
    const clock = new VirtualClock(T0);
    const ex = new PaperExchange({ clock, quoteCurrency: 'BTC', balances: { BTC: 10 }, fees: { maker: 0, taker: 0.001 }, marketFillOnCandle: 'close', spreadBps: 0, participation: 0 });
    const feed = (i: number): void => {
      clock.advanceTo(T0 + (i + 1) * M5);
      ex.onCandle(bar(i, 0.00004));
    };
    feed(0);
    await ex.createOrder(market('b1', 'buy', 10_000.1));
    feed(1);
    await ex.createOrder(market('b2', 'buy', 20_000.2));
    feed(2);
    // The float sum of the two fills is not the decimal the seller types.
    expect(10_000.1 + 20_000.2 - 30_000.3).not.toBe(0);
    await ex.createOrder(market('s1', 'sell', 30_000.3));
    feed(3);
    const balances = await ex.fetchBalances();
    expect(balances.map((b) => b.asset)).toEqual(['BTC']);
    expect(await ex.fetchPositions()).toEqual([]);
  });
});
