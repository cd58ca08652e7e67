import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import { InsufficientFundsError, InvalidOrderError } from '../errors.js';
import type { AccountSnapshot, Candle, OrderRequest, OrderUpdate } from '../types.js';
import { firstReach, pathPoints } from './intrabar.js';
import { PaperExchange, type PaperExchangeOptions } from './paper-exchange.js';

const T0 = 1_700_000_000_000;
const M5 = 300_000;

function bar(i: number, open: number, high: number, low: number, close: number, volume = 1_000, symbol = 'BTC/USDT'): Candle {
  return { symbol, timeframe: '5m', timestamp: T0 + i * M5, open, high, low, close, volume, closed: true };
}

/**
 * The matching mechanics, each test switching on what it checks: fills at the close of the bar
 * an order follows, no spread, no participation cap (the defaults are tested on their own below).
 */
const RAW: Partial<PaperExchangeOptions> = { marketFillOnCandle: 'close', spreadBps: 0, participation: 0 };

function setup(extra: Partial<PaperExchangeOptions> = {}) {
  const clock = new VirtualClock(T0);
  const ex = new PaperExchange({ clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0.001, taker: 0.002 }, ...RAW, ...extra });
  const orders: OrderUpdate[] = [];
  const accounts: AccountSnapshot[] = [];
  ex.subscribe({ order: (u) => orders.push(u), account: (a) => accounts.push(a) });
  /** Delivers bar i at its close time, as a replay would. */
  const feed = (c: Candle): void => {
    clock.advanceTo(c.timestamp + M5);
    ex.onCandle(c);
  };
  return { clock, ex, orders, accounts, feed };
}

const req = (o: Partial<OrderRequest> & Pick<OrderRequest, 'clientOrderId' | 'side' | 'type' | 'quantity'>): OrderRequest => ({
  symbol: 'BTC/USDT',
  reduceOnly: false,
  ...o,
});

const balance = async (ex: PaperExchange, asset: string) => (await ex.fetchBalances()).find((b) => b.asset === asset);

describe('intrabar path', () => {
  it('goes open → nearer extreme → other extreme → close; ties go low first', () => {
    expect(pathPoints({ open: 100, high: 103, low: 90, close: 95 })).toEqual([100, 103, 90, 95]);
    expect(pathPoints({ open: 100, high: 110, low: 97, close: 105 })).toEqual([100, 97, 110, 105]);
    expect(pathPoints({ open: 100, high: 110, low: 90, close: 105 })).toEqual([100, 90, 110, 105]);
  });

  it('finds the first crossing, fills gaps at the open, honours strict and a start point', () => {
    const points = [100, 90, 110, 105];
    expect(firstReach(points, 95, 'down')).toEqual({ at: 0.5, price: 95 });
    expect(firstReach(points, 108, 'up')!.at).toBeCloseTo(1.9, 10);
    expect(firstReach(points, 102, 'down')).toEqual({ at: 0, price: 100 });
    expect(firstReach(points, 90, 'down', 0, true)).toBeUndefined();
    expect(firstReach(points, 90, 'down', 0, false)).toEqual({ at: 1, price: 90 });
    expect(firstReach(points, 95, 'down', 1.5)).toBeUndefined();
    expect(firstReach(points, 107, 'down', 2)!.at).toBeGreaterThan(2);
  });
});

describe('PaperExchange: spot', () => {
  it('a market buy fills at the last close plus slippage, pays the taker fee and reports like a venue', async () => {
    const { ex, orders, accounts, feed } = setup({ slippage: { model: 'bps', bps: 10 } });
    feed(bar(0, 100, 101, 99, 100));
    const order = await ex.createOrder(req({ clientOrderId: 'm1', side: 'buy', type: 'market', quantity: 2 }));
    const price = 100 * 1.001;
    expect(order).toMatchObject({ status: 'filled', filledQuantity: 2, remainingQuantity: 0, averagePrice: price, venueOrderId: 'paper-1' });
    expect(order.fee).toBeCloseTo(2 * price * 0.002, 10);
    expect(order.fills).toHaveLength(1);
    expect(order.fills[0]).toMatchObject({ liquidity: 'taker', quantity: 2, price, feeCurrency: 'USDT' });
    expect((await balance(ex, 'USDT'))!.total).toBeCloseTo(10_000 - 2 * price * 1.002, 8);
    expect((await balance(ex, 'BTC'))!.total).toBe(2);
    expect(orders.map((u) => [u.order.status, u.fills.length])).toEqual([
      ['accepted', 0],
      ['filled', 1],
    ]);
    expect(accounts).toHaveLength(1);
    expect(accounts[0]!.equity).toBeCloseTo(10_000 - 2 * price * 1.002 + 2 * 100, 8);
    const [position] = await ex.fetchPositions();
    expect(position).toMatchObject({ symbol: 'BTC/USDT', side: 'long', quantity: 2, entryPrice: price, markPrice: 100 });
  });

  it('is idempotent on clientOrderId: the second request returns the first order and places nothing', async () => {
    const { ex, orders, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    const a = await ex.createOrder(req({ clientOrderId: 'dup', side: 'buy', type: 'market', quantity: 1 }));
    const b = await ex.createOrder(req({ clientOrderId: 'dup', side: 'buy', type: 'market', quantity: 5 }));
    expect(b).toEqual(a);
    expect((await balance(ex, 'BTC'))!.total).toBe(1);
    expect(orders).toHaveLength(2);
    expect(await ex.fetchMyTrades('BTC/USDT')).toHaveLength(1);
  });

  it('a resting limit order holds funds, fills at its price as maker when touched, and cancelling releases the hold', async () => {
    const { ex, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'l1', side: 'buy', type: 'limit', quantity: 10, price: 95 }));
    await ex.createOrder(req({ clientOrderId: 'l2', side: 'buy', type: 'limit', quantity: 10, price: 90 }));
    const held = await balance(ex, 'USDT');
    expect(held!.used).toBeCloseTo(10 * 95 * 1.002 + 10 * 90 * 1.002, 8);
    feed(bar(1, 100, 100, 96, 97));
    expect((await ex.fetchOrder('l1', 'BTC/USDT'))!.status).toBe('accepted');
    feed(bar(2, 97, 98, 94, 96));
    const filled = (await ex.fetchOrder('l1', 'BTC/USDT'))!;
    expect(filled).toMatchObject({ status: 'filled', averagePrice: 95 });
    expect(filled.fills[0]!.liquidity).toBe('maker');
    expect(filled.fee).toBeCloseTo(10 * 95 * 0.001, 10);
    const cancelled = await ex.cancelOrder('l2', 'BTC/USDT');
    expect(cancelled.status).toBe('cancelled');
    const after = (await balance(ex, 'USDT'))!;
    expect(after.used).toBeCloseTo(0, 10);
    expect(after.total).toBeCloseTo(10_000 - 950 - 0.95, 8);
    expect(await ex.fetchOpenOrders()).toEqual([]);
  });

  it("with limitFill 'through' a touch is not enough", async () => {
    const { ex, feed } = setup({ limitFill: 'through' });
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'l', side: 'buy', type: 'limit', quantity: 1, price: 95 }));
    feed(bar(1, 100, 100, 95, 97));
    expect((await ex.fetchOrder('l', 'BTC/USDT'))!.status).toBe('accepted');
    feed(bar(2, 97, 98, 94.9, 96));
    expect((await ex.fetchOrder('l', 'BTC/USDT'))!.status).toBe('filled');
  });

  it('stop before target: when one bar touches both, the stop fills and the reduce-only target is dropped', async () => {
    for (const [high, low] of [
      [110, 90],
      [109, 90], // the high is nearer the open, yet the stop still goes first
    ] as const) {
      const { ex, feed } = setup();
      feed(bar(0, 100, 101, 99, 100));
      await ex.createOrder(req({ clientOrderId: 'entry', side: 'buy', type: 'market', quantity: 1 }));
      await ex.createOrder(req({ clientOrderId: 'sl', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 95, reduceOnly: true }));
      await ex.createOrder(req({ clientOrderId: 'tp', side: 'sell', type: 'limit', quantity: 1, price: 108, reduceOnly: true }));
      feed(bar(1, 100, high, low, 105));
      expect((await ex.fetchOrder('sl', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 95 });
      expect((await ex.fetchOrder('tp', 'BTC/USDT'))!).toMatchObject({ status: 'expired', filledQuantity: 0 });
      expect(await ex.fetchPositions()).toEqual([]);
    }
  });

  it('a bar that opens beyond a stop fills it at the open; a take-profit triggers on the favourable side', async () => {
    const { ex, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'e', side: 'buy', type: 'market', quantity: 2 }));
    await ex.createOrder(req({ clientOrderId: 'sl', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 95, reduceOnly: true }));
    await ex.createOrder(req({ clientOrderId: 'tp', side: 'sell', type: 'take_profit', quantity: 1, stopPrice: 104, reduceOnly: true }));
    feed(bar(1, 100, 105, 99, 103));
    expect((await ex.fetchOrder('tp', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 104 });
    expect((await ex.fetchOrder('sl', 'BTC/USDT'))!.status).toBe('accepted');
    feed(bar(2, 92, 93, 90, 91));
    expect((await ex.fetchOrder('sl', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 92 });
  });

  it('stop-limit: fills within its limit when triggered; after a gap past the limit it rests until price returns', async () => {
    const { ex, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'sb', side: 'buy', type: 'stop_limit', quantity: 1, stopPrice: 102, price: 103 }));
    await ex.createOrder(req({ clientOrderId: 'sb2', side: 'buy', type: 'stop_limit', quantity: 1, stopPrice: 104, price: 104.5 }));
    feed(bar(1, 100, 103, 100, 102.5));
    expect((await ex.fetchOrder('sb', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 102 });
    expect((await ex.fetchOrder('sb2', 'BTC/USDT'))!.status).toBe('accepted');
    feed(bar(2, 106, 107, 105, 106)); // gaps over 104.5: triggered, not fillable
    expect((await ex.fetchOrder('sb2', 'BTC/USDT'))!).toMatchObject({ status: 'accepted', filledQuantity: 0 });
    feed(bar(3, 106, 106, 104, 105));
    const sb2 = (await ex.fetchOrder('sb2', 'BTC/USDT'))!;
    expect(sb2).toMatchObject({ status: 'filled', averagePrice: 104.5 });
    expect(sb2.fills[0]!.liquidity).toBe('maker');
  });

  it('rejects what a venue rejects: immediate triggers, reduce-only without a position, missing funds, marketable post-only', async () => {
    const { ex, feed, orders } = setup();
    const none = await ex.createOrder(req({ clientOrderId: 'x', side: 'buy', type: 'market', quantity: 1 })).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(InvalidOrderError);
    expect((none as Error).message).toContain('no market data');
    feed(bar(0, 100, 101, 99, 100));
    await expect(ex.createOrder(req({ clientOrderId: 'a', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 101 }))).rejects.toThrow(/trigger immediately/);
    await expect(ex.createOrder(req({ clientOrderId: 'b', side: 'sell', type: 'limit', quantity: 1, price: 110, reduceOnly: true }))).rejects.toThrow(/no long/);
    const funds = await ex.createOrder(req({ clientOrderId: 'c', side: 'buy', type: 'market', quantity: 1_000 })).catch((e: unknown) => e);
    expect(funds).toBeInstanceOf(InsufficientFundsError);
    await expect(ex.createOrder(req({ clientOrderId: 'd', side: 'buy', type: 'limit', quantity: 1, price: 101, timeInForce: 'PO' }))).rejects.toThrow(/post-only/);
    await expect(ex.createOrder(req({ clientOrderId: 'e', side: 'buy', type: 'limit', quantity: 1 }))).rejects.toThrow(/price/);
    expect(orders).toEqual([]);
    expect(await ex.fetchOrder('c', 'BTC/USDT')).toBeUndefined();
    const ioc = await ex.createOrder(req({ clientOrderId: 'f', side: 'buy', type: 'limit', quantity: 1, price: 90, timeInForce: 'IOC' }));
    expect(ioc.status).toBe('expired');
  });

  it('fills at bid and ask on ticks', async () => {
    const { ex, clock } = setup();
    ex.onTick({ symbol: 'BTC/USDT', price: 100, bid: 99.9, ask: 100.1, timestamp: T0 });
    expect((await ex.createOrder(req({ clientOrderId: 'b', side: 'buy', type: 'market', quantity: 1 }))).averagePrice).toBe(100.1);
    expect((await ex.createOrder(req({ clientOrderId: 's', side: 'sell', type: 'market', quantity: 0.5 }))).averagePrice).toBe(99.9);
    await ex.createOrder(req({ clientOrderId: 'l', side: 'buy', type: 'limit', quantity: 1, price: 99.5 }));
    clock.advanceBy(1_000);
    ex.onTick({ symbol: 'BTC/USDT', price: 99.6, bid: 99.55, ask: 99.6, timestamp: T0 + 1_000 });
    expect((await ex.fetchOrder('l', 'BTC/USDT'))!.status).toBe('accepted');
    ex.onTick({ symbol: 'BTC/USDT', price: 99.5, bid: 99.4, ask: 99.5, timestamp: T0 + 1_000 });
    expect((await ex.fetchOrder('l', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 99.5 });
    expect((await ex.fetchOrder('l', 'BTC/USDT'))!.fills[0]!.timestamp).toBe(T0 + 1_000);
  });

  it('partial fills: a limit order takes at most its share of each bar’s volume, reporting only new fills per update', async () => {
    const { ex, feed, orders } = setup({ partialFills: { maxVolumeShare: 0.1 } });
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'p', side: 'buy', type: 'limit', quantity: 70, price: 99 }));
    for (let i = 1; i <= 3; i++) feed(bar(i, 100, 100, 98, 99, 300));
    const order = (await ex.fetchOrder('p', 'BTC/USDT'))!;
    expect(order).toMatchObject({ status: 'filled', filledQuantity: 70 });
    const updates = orders.filter((u) => u.order.clientOrderId === 'p');
    expect(updates.map((u) => [u.order.status, u.order.filledQuantity, u.fills.map((f) => f.quantity)])).toEqual([
      ['accepted', 0, []],
      ['partially_filled', 30, [30]],
      ['partially_filled', 60, [30]],
      ['filled', 70, [10]],
    ]);
    expect((await balance(ex, 'USDT'))!.used).toBeCloseTo(0, 8);
  });

  it('volume slippage grows with order size relative to bar volume; next_open mode fills at the next bar', async () => {
    const { ex, feed } = setup({ slippage: { model: 'volume', baseBps: 1, impactBps: 100, maxBps: 50 }, marketFillOnCandle: 'next_open' });
    feed(bar(0, 100, 101, 99, 100, 100));
    const pending = await ex.createOrder(req({ clientOrderId: 'n', side: 'buy', type: 'market', quantity: 10 }));
    expect(pending.status).toBe('accepted');
    feed(bar(1, 102, 103, 101, 102, 100));
    // 1 bp + 100 bp × (10 / 100) = 11 bp over the next open.
    expect((await ex.fetchOrder('n', 'BTC/USDT'))!.averagePrice).toBeCloseTo(102 * 1.0011, 10);
  });

  it('a protective order sent in reaction to an entry fill is matched against the rest of that bar, as a bracket order would be', async () => {
    const { ex, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    ex.subscribe({
      order: (u) => {
        if (u.order.clientOrderId === 'entry' && u.order.status === 'filled') {
          void ex.createOrder(req({ clientOrderId: 'stop', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 94, reduceOnly: true }));
          // Not protective: an order of its own waits for the next bar.
          void ex.createOrder(req({ clientOrderId: 'more', side: 'buy', type: 'limit', quantity: 1, price: 93.5 }));
        }
      },
    });
    await ex.createOrder(req({ clientOrderId: 'entry', side: 'buy', type: 'limit', quantity: 1, price: 95 }));
    // The path goes 100 → 93 (the entry fills at 95 on the way) → 100 → 96: the stop at 94 is reached after the entry.
    feed(bar(1, 100, 100, 93, 96));
    await Promise.resolve();
    const [entry, stop, more] = await Promise.all(['entry', 'stop', 'more'].map((id) => ex.fetchOrder(id, 'BTC/USDT')));
    expect(entry!.status).toBe('filled');
    expect(stop).toMatchObject({ status: 'filled', averagePrice: 94 });
    expect(stop!.fills[0]!.timestamp).toBeGreaterThan(entry!.fills[0]!.timestamp);
    expect(stop!.fills[0]!.timestamp).toBeLessThan(T0 + 2 * M5);
    expect(more!.status).toBe('accepted');
  });

  it('a protective stop placed when its bar did not come back to it rests until a later bar reaches it', async () => {
    const { ex, feed } = setup();
    feed(bar(0, 100, 101, 99, 100));
    ex.subscribe({
      order: (u) => {
        if (u.order.clientOrderId === 'entry' && u.order.status === 'filled') {
          void ex.createOrder(req({ clientOrderId: 'stop', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 92, reduceOnly: true }));
        }
      },
    });
    await ex.createOrder(req({ clientOrderId: 'entry', side: 'buy', type: 'limit', quantity: 1, price: 95 }));
    feed(bar(1, 100, 100, 93, 96));
    await Promise.resolve();
    expect((await ex.fetchOrder('stop', 'BTC/USDT'))!.status).toBe('accepted');
    feed(bar(2, 96, 97, 91, 94.5));
    expect((await ex.fetchOrder('stop', 'BTC/USDT'))!).toMatchObject({ status: 'filled', averagePrice: 92 });
  });
});

describe('PaperExchange: linear futures', () => {
  const perp = 'BTC/USDT:USDT';
  const fbar = (i: number, o: number, h: number, l: number, c: number) => bar(i, o, h, l, c, 1_000, perp);

  it('opens with margin, reports a liquidation price, and a long that hits it is liquidated losing its margin', async () => {
    const { ex, feed, orders } = setup({ leverage: 10, fees: { maker: 0, taker: 0 } });
    feed(fbar(0, 100, 101, 99, 100));
    await ex.createOrder({ clientOrderId: 'long', symbol: perp, side: 'buy', type: 'market', quantity: 10, reduceOnly: false });
    const [pos] = await ex.fetchPositions();
    expect(pos).toMatchObject({ side: 'long', quantity: 10, entryPrice: 100, leverage: 10, margin: 100, marginMode: 'isolated' });
    // Where margin + unrealised P&L equals the maintenance margin: 10·100/10 + 10·(P − 100) = 10·P·0.005.
    const liq = 100 * (1 - 0.1) / (1 - 0.005);
    expect(10 * 100 / 10 + 10 * (liq - 100)).toBeCloseTo(10 * liq * 0.005, 10);
    expect(pos!.liquidationPrice).toBeCloseTo(liq, 10);
    expect((await balance(ex, 'USDT'))!).toMatchObject({ total: 10_000, used: 100 });
    feed(fbar(1, 100, 100, 92, 95));
    expect((await ex.fetchPositions())[0]!.unrealizedPnl).toBeCloseTo(-50, 10);
    // Equity is the wallet plus the open position's P&L, however it is asked for.
    expect(ex.equity()).toBeCloseTo(10_000 - 50, 8);
    expect(ex.accountSnapshot().equity).toBe(ex.equity());
    feed(fbar(2, 95, 95, 90, 91));
    expect(await ex.fetchPositions()).toEqual([]);
    expect((await balance(ex, 'USDT'))!).toMatchObject({ total: 9_900, used: 0 });
    const liquidation = orders.at(-1)!;
    expect(liquidation.order.clientOrderId).toMatch(/^liquidation-/);
    expect(liquidation.order).toMatchObject({ side: 'sell', status: 'filled', reduceOnly: true });
    expect(liquidation.order.reason).toContain('liquidated');
  });

  it('shorts earn when price falls; an order larger than the position flips it', async () => {
    const { ex, feed } = setup({ leverage: 5, fees: { maker: 0, taker: 0.0005 } });
    feed(fbar(0, 100, 101, 99, 100));
    await ex.createOrder({ clientOrderId: 's', symbol: perp, side: 'sell', type: 'market', quantity: 4, reduceOnly: false });
    feed(fbar(1, 100, 100, 89, 90));
    const flip = await ex.createOrder({ clientOrderId: 'f', symbol: perp, side: 'buy', type: 'market', quantity: 6, reduceOnly: false });
    expect(flip.status).toBe('filled');
    const [pos] = await ex.fetchPositions();
    expect(pos).toMatchObject({ side: 'long', quantity: 2, entryPrice: 90, margin: 36 });
    const fees = 4 * 100 * 0.0005 + 6 * 90 * 0.0005;
    const usdt = (await balance(ex, 'USDT'))!;
    expect(usdt.total).toBeCloseTo(10_000 + 4 * 10 - fees, 8);
    expect(usdt.used).toBeCloseTo(36, 8);
    // A reduce-only order larger than the position only closes it.
    const close = await ex.createOrder({ clientOrderId: 'c', symbol: perp, side: 'sell', type: 'market', quantity: 5, reduceOnly: true });
    expect(close).toMatchObject({ filledQuantity: 2 });
    expect(await ex.fetchPositions()).toEqual([]);
  });
});

describe('PaperExchange on real data', () => {
  const csv = readFileSync(fileURLToPath(new URL('../../test-data/ohlcv/binance-XRP-ETH-5m.csv', import.meta.url)), 'utf8');
  const candles: Candle[] = csv
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [t, o, h, l, c, v] = line.split(',').map(Number) as [number, number, number, number, number, number];
      return { symbol: 'XRP/ETH', timeframe: '5m', timestamp: t, open: o, high: h, low: l, close: c, volume: v, closed: true };
    });

  /** A crossing of two moving averages with stop and target exits, trading through the paper exchange. */
  async function run() {
    const clock = new VirtualClock(candles[0]!.timestamp);
    const ex = new PaperExchange({ clock, quoteCurrency: 'ETH', balances: { ETH: 10 }, slippage: { model: 'bps', bps: 5 }, partialFills: { maxVolumeShare: 0.5 }, ...RAW });
    const log: string[] = [];
    ex.subscribe({ order: (u) => log.push(`${u.order.clientOrderId}:${u.order.status}:${u.order.filledQuantity}:${u.fills.map((f) => f.price).join('/')}`) });
    const closes: number[] = [];
    let n = 0;
    for (const c of candles) {
      clock.advanceTo(c.timestamp + M5);
      ex.onCandle(c);
      closes.push(c.close);
      if (closes.length < 30) continue;
      const fast = closes.slice(-10).reduce((s, x) => s + x, 0) / 10;
      const slow = closes.slice(-30).reduce((s, x) => s + x, 0) / 30;
      const flat = (await ex.fetchPositions()).length === 0 && (await ex.fetchOpenOrders()).length === 0;
      if (fast > slow && flat) {
        const id = `e${++n}`;
        ex.createOrderSync({ clientOrderId: id, symbol: 'XRP/ETH', side: 'buy', type: 'market', quantity: 1_000, reduceOnly: false });
        ex.createOrderSync({ clientOrderId: `${id}-sl`, symbol: 'XRP/ETH', side: 'sell', type: 'stop_market', quantity: 1_000, stopPrice: c.close * 0.995, reduceOnly: true });
        ex.createOrderSync({ clientOrderId: `${id}-tp`, symbol: 'XRP/ETH', side: 'sell', type: 'limit', quantity: 1_000, price: c.close * 1.005, reduceOnly: true });
      }
    }
    return { ex, log };
  }

  it('is deterministic and its balances reconcile with its fills', async () => {
    const a = await run();
    const b = await run();
    expect(a.log.length).toBeGreaterThan(20);
    expect(b.log).toEqual(a.log);
    const trades = await a.ex.fetchMyTrades('XRP/ETH');
    let eth = 10;
    let xrp = 0;
    for (const t of trades) {
      if (t.side === 'buy') {
        eth -= t.quantity * t.price + t.fee;
        xrp += t.quantity;
      } else {
        eth += t.quantity * t.price - t.fee;
        xrp -= t.quantity;
      }
    }
    const balances = await a.ex.fetchBalances();
    expect(balances.find((x) => x.asset === 'ETH')!.total).toBeCloseTo(eth, 9);
    expect(balances.find((x) => x.asset === 'XRP')?.total ?? 0).toBeCloseTo(xrp, 9);
    expect(xrp).toBeGreaterThanOrEqual(0);
    const snapshot = a.ex.accountSnapshot();
    expect(snapshot.equity).toBeCloseTo(eth + xrp * candles.at(-1)!.close, 9);
  });
});

describe('PaperExchange: the fill model by default', () => {
  /** The defaults, with fees and slippage out of the way so each price can be checked by hand. */
  function defaults(extra: Partial<PaperExchangeOptions> = {}) {
    const clock = new VirtualClock(T0);
    const ex = new PaperExchange({ clock, quoteCurrency: 'USDT', balances: { USDT: 1_000_000 }, fees: { maker: 0, taker: 0 }, ...extra });
    const feed = (c: Candle): void => {
      clock.advanceTo(c.timestamp + M5);
      ex.onCandle(c);
    };
    return { clock, ex, feed };
  }

  it("fills a market order at the next bar's open, paying half the 2 bp spread, stamped with that open", async () => {
    const { ex, feed } = defaults();
    feed(bar(0, 100, 101, 99, 100));
    const placed = await ex.createOrder(req({ clientOrderId: 'b', side: 'buy', type: 'market', quantity: 1 }));
    expect(placed.status).toBe('accepted');
    feed(bar(1, 102, 103, 101, 102.5));
    const filled = (await ex.fetchOrder('b', 'BTC/USDT'))!;
    expect(filled.averagePrice).toBeCloseTo(102 * (1 + 1 / 10_000), 12);
    expect(filled.fills[0]!.timestamp).toBe(T0 + M5);
    await ex.createOrder(req({ clientOrderId: 's', side: 'sell', type: 'market', quantity: 1 }));
    feed(bar(2, 104, 105, 103, 104));
    expect((await ex.fetchOrder('s', 'BTC/USDT'))!.averagePrice).toBeCloseTo(104 * (1 - 1 / 10_000), 12);
  });

  it('with a latency, fills at the open of the first bar that starts after it', async () => {
    const { ex, feed } = defaults({ latencyMs: 7 * 60_000 });
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'late', side: 'buy', type: 'market', quantity: 1 }));
    feed(bar(1, 101, 101, 101, 101));
    feed(bar(2, 102, 102, 102, 102));
    expect((await ex.fetchOrder('late', 'BTC/USDT'))!.status).toBe('accepted');
    // Placed at bar 0's close (T0 + 5 min): bar 3 opens at T0 + 15 min, the first open at or after 5 + 7 min.
    feed(bar(3, 103, 103, 103, 103));
    expect((await ex.fetchOrder('late', 'BTC/USDT'))!.averagePrice).toBeCloseTo(103 * 1.0001, 12);
  });

  it("fills no more than a tenth of a bar's volume per bar; the rest fills in the next bars at their opens", async () => {
    const { ex, feed } = defaults({ spreadBps: 0 });
    feed(bar(0, 100, 101, 99, 100));
    await ex.createOrder(req({ clientOrderId: 'big', side: 'buy', type: 'market', quantity: 250 }));
    feed(bar(1, 101, 102, 100, 101, 1_000));
    feed(bar(2, 103, 104, 102, 103, 1_000));
    feed(bar(3, 105, 106, 104, 105, 1_000));
    const order = (await ex.fetchOrder('big', 'BTC/USDT'))!;
    expect(order.fills.map((f) => [f.quantity, f.price])).toEqual([
      [100, 101],
      [100, 103],
      [50, 105],
    ]);
    expect(order.status).toBe('filled');
    expect(order.averagePrice).toBeCloseTo((100 * 101 + 100 * 103 + 50 * 105) / 250, 10);
  });

  it("caps a stop too, and the rest of it goes at the next bar's open", async () => {
    const { ex, feed } = defaults({ spreadBps: 0 });
    feed(bar(0, 100, 101, 99, 100, 100_000));
    await ex.createOrder(req({ clientOrderId: 'in', side: 'buy', type: 'market', quantity: 150 }));
    feed(bar(1, 100, 100, 100, 100, 100_000));
    await ex.createOrder(req({ clientOrderId: 'stop', side: 'sell', type: 'stop_market', quantity: 150, stopPrice: 95, reduceOnly: true }));
    feed(bar(2, 99, 99, 94, 96, 1_000));
    feed(bar(3, 93, 97, 92, 96, 1_000));
    const stop = (await ex.fetchOrder('stop', 'BTC/USDT'))!;
    expect(stop.fills.map((f) => [f.quantity, f.price])).toEqual([
      [100, 95],
      [50, 93],
    ]);
  });

  it('stop_first fills the stop of a bar that reaches both; path fills whichever the path reaches first', async () => {
    const scenario = async (intrabar: 'stop_first' | 'path') => {
      const { ex, feed } = defaults({ spreadBps: 0, intrabar, marketFillOnCandle: 'close' });
      feed(bar(0, 100, 101, 99, 100, 1e9));
      await ex.createOrder(req({ clientOrderId: 'in', side: 'buy', type: 'market', quantity: 1 }));
      await ex.createOrder(req({ clientOrderId: 'stop', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 95, reduceOnly: true }));
      await ex.createOrder(req({ clientOrderId: 'target', side: 'sell', type: 'take_profit', quantity: 1, stopPrice: 103, reduceOnly: true }));
      // Nearer extreme first: the open (100) is nearer the high (104) than the low (94).
      feed(bar(1, 100, 104, 94, 97, 1e9));
      return Promise.all(['stop', 'target'].map(async (id) => (await ex.fetchOrder(id, 'BTC/USDT'))!.status));
    };
    expect(await scenario('stop_first')).toEqual(['filled', 'expired']);
    expect(await scenario('path')).toEqual(['expired', 'filled']);
  });
});
