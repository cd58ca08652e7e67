import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, MemoryStateStore, VirtualClock } from '@tradebus/core';
import { createProviders } from '../factory.js';
import type { Candle } from '../types.js';
import { PaperExchange, type PaperExchangeOptions } from './paper-exchange.js';

const H = 3_600_000;
const M5 = 300_000;
/** 07:00 UTC: the first funding time (08:00) comes an hour in. */
const T0 = Date.UTC(2024, 0, 1, 7);
const PERP = 'XRP/USDT:USDT';

/** 5-minute bars whose open rises by 0.001 per bar from 0.5. */
const open = (i: number): number => 0.5 + 0.001 * i;
const bar = (i: number): Candle => ({ symbol: PERP, timeframe: '5m', timestamp: T0 + i * M5, open: open(i), high: open(i) + 0.002, low: open(i) - 0.002, close: open(i + 1), volume: 1e9, closed: true });

async function venue(extra: Partial<PaperExchangeOptions> = {}) {
  const clock = new VirtualClock(T0);
  const ex = new PaperExchange({ clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0, taker: 0 }, marketFillOnCandle: 'close', spreadBps: 0, participation: 0, ...extra });
  await ex.open();
  const feed = (i: number): void => {
    clock.advanceTo(T0 + (i + 1) * M5);
    ex.onCandle(bar(i));
  };
  return { ex, feed, clock };
}

const wallet = async (ex: PaperExchange): Promise<number> => (await ex.fetchBalances()).find((b) => b.asset === 'USDT')!.total;

describe('perpetual funding on the paper exchange', () => {
  /** Funding times after `from` up to the open of bar `last`, each paid at the open of the bar that starts there. */
  function expectedFunding(quantity: number, fromBar: number, lastBar: number, rateAt: (time: number) => number): number {
    let sum = 0;
    for (let i = fromBar + 1; i <= lastBar; i++) {
      const time = T0 + i * M5;
      if (time % (8 * H) === 0) sum += -quantity * open(i) * rateAt(time);
    }
    return sum;
  }

  it('a long pays and a short receives quantity × price × rate at every funding time it is held through', async () => {
    for (const [side, signed] of [['buy', 1_000], ['sell', -1_000]] as const) {
      const { ex, feed } = await venue({ funding: { rate: 0.0001 } });
      feed(0);
      await ex.createOrder({ clientOrderId: `open-${side}`, symbol: PERP, side, type: 'market', quantity: 1_000, reduceOnly: false });
      const before = await wallet(ex);
      // 17 hours of bars: funding at 08:00 and 16:00.
      for (let i = 1; i <= 12 * 17; i++) feed(i);
      const paid = (await wallet(ex)) - before;
      const expected = expectedFunding(signed, 0, 12 * 17, () => 0.0001);
      expect(expected).not.toBe(0);
      expect(Math.sign(paid)).toBe(-Math.sign(signed));
      expect(paid).toBeCloseTo(expected, 10);
      expect(ex.fundingBySymbol()[PERP]).toBeCloseTo(expected, 10);
      const [position] = await ex.fetchPositions();
      expect(position!.realizedPnl).toBeCloseTo(expected, 10);
    }
  });

  it('uses the recorded rate of each funding time, and nothing once the position is closed', async () => {
    const series = [
      { time: Date.UTC(2024, 0, 1, 8), rate: 0.0003 },
      { time: Date.UTC(2024, 0, 1, 16), rate: -0.0002 },
    ];
    const { ex, feed } = await venue({ funding: { series, rate: 0 } });
    feed(0);
    await ex.createOrder({ clientOrderId: 'long', symbol: PERP, side: 'buy', type: 'market', quantity: 500, reduceOnly: false });
    const before = await wallet(ex);
    for (let i = 1; i <= 12 * 17; i++) feed(i);
    const rateAt = (t: number): number => series.find((s) => s.time === t)?.rate ?? 0;
    const expected = expectedFunding(500, 0, 12 * 17, rateAt);
    const afterFunding = await wallet(ex);
    expect(afterFunding - before).toBeCloseTo(expected, 10);
    await ex.createOrder({ clientOrderId: 'close', symbol: PERP, side: 'sell', type: 'market', quantity: 500, reduceOnly: true });
    const closed = await wallet(ex);
    for (let i = 12 * 17 + 1; i <= 12 * 25; i++) feed(i);
    expect(await wallet(ex)).toBe(closed);
  });

  it('is settled once, even across a restart of the books', async () => {
    const store = new MemoryStateStore();
    const clock = new VirtualClock(T0);
    const options = { id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0, taker: 0 }, marketFillOnCandle: 'close', spreadBps: 0, participation: 0, funding: { rate: 0.0001 }, store } as const;
    const a = new PaperExchange(options);
    await a.open();
    const feed = (ex: PaperExchange, i: number): void => {
      clock.advanceTo(T0 + (i + 1) * M5);
      ex.onCandle(bar(i));
    };
    feed(a, 0);
    await a.createOrder({ clientOrderId: 'long', symbol: PERP, side: 'buy', type: 'market', quantity: 1_000, reduceOnly: false });
    for (let i = 1; i <= 13; i++) feed(a, i);
    await a.whenIdle();
    const afterFirst = await wallet(a);
    const b = new PaperExchange(options);
    await b.open();
    // The same bars again (a replay resuming) and one more funding time.
    for (let i = 1; i <= 12 * 9; i++) feed(b, i);
    expect((await wallet(b)) - 10_000).toBeCloseTo(expectedFunding(1_000, 0, 12 * 9, () => 0.0001), 10);
    expect(afterFirst).toBeCloseTo(10_000 + expectedFunding(1_000, 0, 13, () => 0.0001), 10);
  });

  it('reads recorded rates from a CSV next to the config, and names a bad file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-funding-'));
    writeFileSync(join(dir, 'funding.csv'), `fundingTime,fundingRate\n${Date.UTC(2024, 0, 1, 8)},0.0001\n`);
    const market = { kind: 'synthetic', symbols: [{ symbol: PERP, startPrice: 0.5 }] };
    const built = createProviders(
      { market, paper: { kind: 'paper', marketData: 'market', quoteCurrency: 'USDT', balances: { USDT: 1 }, funding: { file: 'funding.csv' } } },
      { clock: new VirtualClock(T0), configFile: join(dir, 'tradebus.yaml') },
    );
    expect(built.get('paper')).toBeDefined();
    writeFileSync(join(dir, 'bad.csv'), 'time,value\n1,2\n');
    let error: unknown;
    try {
      createProviders(
        { market, paper: { kind: 'paper', marketData: 'market', quoteCurrency: 'USDT', balances: { USDT: 1 }, funding: { file: 'bad.csv' } } },
        { clock: new VirtualClock(T0), configFile: join(dir, 'tradebus.yaml') },
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/providers\.paper\.funding\.file: .*needs a header with a timestamp/);
  });
});
