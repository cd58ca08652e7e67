import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createLogger } from '@tradebus/core';
import { BadSymbolError } from '../errors.js';
import { PaperExchange } from '../paper/paper-exchange.js';
import type { Candle, DataGap, Tick } from '../types.js';
import { ReplayDataError } from './parse.js';
import { ReplayProvider, type ReplayProviderOptions } from './replay-provider.js';

const dataDir = fileURLToPath(new URL('../../test-data/', import.meta.url));
const M5 = 300_000;

function csvBars(file: string): number[][] {
  return readFileSync(join(dataDir, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
}

function replay(sources: ReplayProviderOptions['sources'], extra: Partial<ReplayProviderOptions> = {}) {
  const clock = new VirtualClock(0);
  const provider = new ReplayProvider({ clock, sources, baseDir: dataDir, ...extra });
  return { clock, provider };
}

async function collect<T>(iterable: AsyncIterable<T>, onItem?: (item: T) => void | Promise<void>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
    await onItem?.(item);
  }
  return out;
}

const xrpEth = { type: 'candles', file: 'ohlcv/binance-XRP-ETH-5m.csv', symbol: 'XRP/ETH', timeframe: '5m' } as const;

describe('ReplayProvider: candles', () => {
  it('plays every bar at its close time on the virtual clock, in order', async () => {
    const { clock, provider } = replay([xrpEth]);
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv');
    const seenAt: number[] = [];
    const stream = collect(provider.watchCandles('xrp/eth', '5m', new AbortController().signal), (c) => {
      seenAt.push(clock.now() - c.timestamp);
    });
    const summary = await provider.start();
    const candles = await stream;
    expect(summary).toMatchObject({ records: rows.length, candles: rows.length, stopped: false });
    expect(candles.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume])).toEqual(rows);
    expect(candles.every((c) => c.closed && c.symbol === 'XRP/ETH' && c.timeframe === '5m')).toBe(true);
    expect(new Set(seenAt)).toEqual(new Set([M5]));
    expect(clock.now()).toBe(rows.at(-1)![0]! + M5);
  });

  it('merges symbols in time order and reports gaps without inventing bars', async () => {
    const ada = { type: 'candles', file: 'ohlcv/binance-ADA-BTC-5m-gaps.csv', symbol: 'ADA/BTC', timeframe: '5m' } as const;
    const eth = { type: 'candles', file: 'ohlcv/binance-ETH-BTC-5m-slice.csv', symbol: 'ETH/BTC', timeframe: '5m' } as const;
    const { provider } = replay([ada, eth]);
    const order: string[] = [];
    const gapsSeen: DataGap[] = [];
    provider.addListener({ candle: (c) => order.push(`${c.timestamp}:${c.symbol}`), gap: (g) => gapsSeen.push(g) });
    const adaBars = collect(provider.watchCandles('ADA/BTC', '5m', new AbortController().signal));
    await provider.start();
    expect(await adaBars).toHaveLength(81);
    expect(order).toHaveLength(81 + 121);
    const times = order.map((o) => Number(o.split(':')[0]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Same close time: sources in configuration order.
    expect(order.slice(0, 2)).toEqual(['1516004100000:ADA/BTC', '1516004100000:ETH/BTC']);
    const gaps = provider.gaps();
    expect(gaps.map((g) => g.missingBars)).toEqual([1, 1, 4, 1, 33]);
    expect(gaps[0]).toEqual({ symbol: 'ADA/BTC', timeframe: '5m', from: 1516010700000 + M5, to: 1516010700000 + M5, missingBars: 1 });
    expect(gapsSeen).toEqual(gaps);
  });

  it('warm-up bars are history: fetchOHLCV serves only what has closed, never the future', async () => {
    const { clock, provider } = replay([xrpEth], { warmupBars: 50 });
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv');
    await provider.load();
    expect(clock.now()).toBe(rows[49]![0]! + M5);
    const history = await provider.fetchOHLCV('XRP/ETH', '5m');
    expect(history).toHaveLength(50);
    expect(history.at(-1)!.timestamp).toBe(rows[49]![0]);
    expect((await provider.fetchOHLCV('XRP/ETH', '5m', undefined, 10)).map((c) => c.timestamp)).toEqual(rows.slice(40, 50).map((r) => r[0]));
    expect((await provider.fetchOHLCV('XRP/ETH', '5m', rows[10]![0], 2)).map((c) => c.timestamp)).toEqual([rows[10]![0], rows[11]![0]]);
    let checked = 0;
    const stream = collect(provider.watchCandles('XRP/ETH', '5m', new AbortController().signal), async (c) => {
      if (checked++ % 100 !== 0) return;
      const known = await provider.fetchOHLCV('XRP/ETH', '5m');
      expect(known.at(-1)!.timestamp).toBe(c.timestamp);
    });
    await provider.start();
    const played = await stream;
    expect(played).toHaveLength(rows.length - 50);
    expect(played[0]!.timestamp).toBe(rows[50]![0]);
  });

  it('builds longer bars from the data’s bars, and a ticker from the last 24 hours', async () => {
    const { provider } = replay([xrpEth], { endAt: csvBars('ohlcv/binance-XRP-ETH-5m.csv')[299]![0]! + M5 });
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv').slice(0, 300);
    const m15 = collect(provider.watchCandles('XRP/ETH', '15m', new AbortController().signal));
    await provider.start();
    const bars = await m15;
    expect(bars).toHaveLength(100);
    const [a, b, c] = rows as [number[], number[], number[]];
    expect(bars[0]).toMatchObject({
      timestamp: a[0],
      open: a[1],
      high: Math.max(a[2]!, b[2]!, c[2]!),
      low: Math.min(a[3]!, b[3]!, c[3]!),
      close: c[4],
      closed: true,
    });
    expect(bars[0]!.volume).toBeCloseTo(a[5]! + b[5]! + c[5]!, 9);
    expect(await provider.fetchOHLCV('XRP/ETH', '15m')).toHaveLength(100);
    const ticker = await provider.fetchTicker('XRP/ETH');
    const day = rows.slice(-288);
    expect(ticker.last).toBe(rows.at(-1)![4]);
    expect(ticker.change24hPct).toBeCloseTo(((rows.at(-1)![4]! - day[0]![1]!) / day[0]![1]!) * 100, 9);
    expect(ticker.quoteVolume24h).toBeCloseTo(day.reduce((s, r) => s + r[5]! * r[4]!, 0), 9);
  });

  it('unknown symbols and impossible timeframes are named', async () => {
    const { provider } = replay([xrpEth]);
    expect(() => provider.watchCandles('XRP/ETC', '5m', new AbortController().signal)).toThrow(BadSymbolError);
    expect(() => provider.watchCandles('XRP/ETC', '5m', new AbortController().signal)).toThrow(/Did you mean 'XRP\/ETH'/);
    await provider.load();
    expect(() => provider.watchCandles('XRP/ETH', '7m', new AbortController().signal)).toThrow(/5m bars/);
  });

  it('paces at a speed factor, shortening long pauses', async () => {
    const sleeps: number[] = [];
    let wall = 0;
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv');
    const { provider } = replay([xrpEth], {
      speed: 600,
      maxPauseMs: 400,
      endAt: rows[3]![0]! + M5,
      wallNow: () => wall,
      wallSleep: async (ms) => {
        sleeps.push(ms);
        wall += ms;
      },
    });
    await provider.start();
    expect(sleeps).toEqual([400, 400, 400]);
    const fast = replay([xrpEth], { speed: 6_000, endAt: rows[3]![0]! + M5, wallNow: () => wall, wallSleep: async (ms) => void sleeps.push(ms) });
    sleeps.length = 0;
    await fast.provider.start();
    expect(sleeps.map((s) => Math.round(s))).toEqual([50, 100, 150]);
  });

  it('a paper exchange on the feed sees each bar before strategies do: no look-ahead', async () => {
    const { clock, provider } = replay([xrpEth]);
    const paper = new PaperExchange({ clock, quoteCurrency: 'ETH', balances: { ETH: 10 }, fees: { maker: 0, taker: 0 }, marketFillOnCandle: 'close', spreadBps: 0, participation: 0 });
    provider.addListener(paper);
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv');
    const k = rows.findIndex((r) => r[4]! > r[3]!);
    // Below that bar's close but within its range: matching the order against the bar it was
    // decided on would fill it at once.
    const limit = (rows[k]![3]! + rows[k]![4]!) / 2;
    const stream = collect(provider.watchCandles('XRP/ETH', '5m', new AbortController().signal), async (c) => {
      if (c.timestamp !== rows[k]![0]) return;
      await paper.createOrder({ clientOrderId: 'look', symbol: 'XRP/ETH', side: 'buy', type: 'limit', quantity: 100, price: limit, reduceOnly: false });
    });
    await provider.start();
    await stream;
    const order = (await paper.fetchOrder('look', 'XRP/ETH'))!;
    const fillBar = rows.findIndex((r, i) => i > k && r[3]! <= limit);
    expect(fillBar).toBeGreaterThan(k);
    expect(order).toMatchObject({ status: 'filled', averagePrice: limit });
    // Stamped with its moment inside the bar that reached the limit.
    expect(order.fills[0]!.timestamp).toBeGreaterThanOrEqual(rows[fillBar]![0]!);
    expect(order.fills[0]!.timestamp).toBeLessThan(rows[fillBar]![0]! + M5);
  });
});

describe('ReplayProvider: trades', () => {
  const trades = { type: 'trades', file: 'trades/binance-XRP-ETH-trades-head1500.csv', symbol: 'XRP/ETH' } as const;
  const rows = readFileSync(join(dataDir, trades.file), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));

  it('plays ticks at their timestamps and closes 1m bars built from them at the minute boundary', async () => {
    const { clock, provider } = replay([trades]);
    const tickClock: number[] = [];
    const ticks = collect(provider.watchTicks('XRP/ETH', new AbortController().signal), (t: Tick) => {
      tickClock.push(clock.now() - t.timestamp);
    });
    const barClock: number[] = [];
    const bars = collect(provider.watchCandles('XRP/ETH', '1m', new AbortController().signal), (c: Candle) => {
      barClock.push(clock.now() - c.timestamp);
    });
    await provider.start();
    const got = await ticks;
    expect(got).toHaveLength(1500);
    expect(got[0]).toEqual({ symbol: 'XRP/ETH', price: Number(rows[0]![3]), volume: Number(rows[0]![4]), side: rows[0]![2], tradeId: rows[0]![1], timestamp: Number(rows[0]![0]) });
    expect(new Set(tickClock)).toEqual(new Set([0]));
    const built = await bars;
    expect(new Set(barClock)).toEqual(new Set([60_000]));
    const firstMinute = Math.floor(Number(rows[0]![0]) / 60_000) * 60_000;
    const inFirst = rows.filter((r) => Number(r[0]) < firstMinute + 60_000);
    expect(built[0]).toMatchObject({
      timestamp: firstMinute,
      open: Number(inFirst[0]![3]),
      close: Number(inFirst.at(-1)![3]),
      high: Math.max(...inFirst.map((r) => Number(r[3]))),
      low: Math.min(...inFirst.map((r) => Number(r[3]))),
    });
    const lastMinute = Math.floor(Number(rows.at(-1)![0]) / 60_000) * 60_000;
    // The last minute is incomplete when the data ends: it is not emitted.
    expect(built.at(-1)!.timestamp).toBeLessThan(lastMinute);
    expect(new Set(built.map((b) => b.timestamp)).size).toBe(built.length);
  });
});

describe('ReplayProvider: bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-replay-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const good = 'timestamp,open,high,low,close,volume\n1000,1,2,0.5,1.5,10\n';

  const cases: Array<[string, string, RegExp]> = [
    ['nan.csv', `${good}301000,1,x,0.5,1.5,10\n`, /nan\.csv:3: column 'high' is "x", not a number/],
    ['range.csv', `${good}301000,1,1.2,0.5,1.5,10\n`, /range\.csv:3: inconsistent bar/],
    ['order.csv', `${good}1000,1,2,0.5,1.5,10\n`, /order\.csv:3: timestamp 1000 is not after/],
    ['cols.csv', `${good}301000,1,2,0.5\n`, /cols\.csv:3: expected 6 columns, found 4/],
    ['header.csv', 'time,open,high,low,close,volume\n1000,1,2,0.5,1.5,10\n', /header\.csv:1: the header lacks column\(s\) timestamp/],
    ['neg.csv', `${good}301000,1,2,0.5,1.5,-3\n`, /neg\.csv:3: column 'volume' must be non-negative/],
    ['bad.json', '[[1000,1,2,0.5,1.5,10],[301000,1,2,0.5,"?",10]]', /bad\.json:\[1\]: column 'close'/],
    ['broken.json', '[[1000,1,2', /broken\.json:1: not valid JSON/],
  ];
  for (const [name, text, message] of cases) {
    it(`names the file and line: ${name}`, async () => {
      const file = write(name, text);
      const { provider } = replay([{ type: 'candles', file, symbol: 'A/B', timeframe: '5m' }]);
      const err = await provider.load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReplayDataError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain(dir);
    });
  }

  it('a trade with an unknown side, and a missing file', async () => {
    const file = write('t.csv', 'timestamp,id,side,price,amount,cost\n1,1,buy,1,1,1\n2,2,hold,1,1,1\n');
    const { provider } = replay([{ type: 'trades', file, symbol: 'A/B' }]);
    await expect(provider.load()).rejects.toThrow(/t\.csv:3: column 'side' is "hold": use buy or sell/);
    const { provider: missing } = replay([{ type: 'trades', file: join(dir, 'nope.csv'), symbol: 'A/B' }]);
    await expect(missing.load()).rejects.toThrow(/cannot read .*nope\.csv \(ENOENT\)\. Check sources\[0\]\.file/);
  });
});

describe('ReplayProvider: resuming after a restart', () => {
  it('resumes at the moment it was playing, with everything before it as history', async () => {
    const rows = csvBars('ohlcv/binance-XRP-ETH-5m.csv');
    const store = new MemoryStateStore();
    const first = replay([xrpEth], { store, warmupBars: 10 });
    let played = 0;
    first.provider.feed!.addListener({
      candle: () => {
        // The process dies after 25 bars: the replay stops playing there.
        if (++played === 25) first.provider.stop();
      },
    });
    await first.provider.start();
    const lastMoment = rows[10 + 24]![0]! + M5;
    expect(await store.get('position')).toMatchObject({ moment: lastMoment });

    const second = replay([xrpEth], { store, warmupBars: 10 });
    await second.provider.load();
    expect(second.provider.resumedAt).toBe(lastMoment);
    expect(second.clock.now()).toBe(lastMoment);
    const replayed: number[] = [];
    second.provider.feed!.addListener({ candle: (c: Candle) => void replayed.push(c.timestamp) });
    const history = await second.provider.fetchOHLCV('XRP/ETH', '5m', undefined, 1_000);
    expect(history.at(-1)!.timestamp).toBe(rows[10 + 23]![0]);
    const summary = await second.provider.start();
    // The moment it was playing comes again; nothing before it.
    expect(replayed[0]).toBe(rows[10 + 24]![0]);
    expect(summary.records).toBe(rows.length - 34);
  });

  it('starts over when told to, or when the stored position belongs to other data, and says so', async () => {
    const store = new MemoryStateStore();
    await store.set('position', { moment: Date.UTC(2018, 0, 2), sources: 'candles:BTC/USDT:5m:other.csv' });
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void lines.push(l) } });
    const other = replay([xrpEth], { store, logger });
    await other.provider.load();
    expect(other.provider.resumedAt).toBeUndefined();
    expect(lines.join('')).toContain('belongs to other data files');
    const first = replay([xrpEth], { store });
    await first.provider.start();
    const off = replay([xrpEth], { store, resume: false });
    await off.provider.load();
    expect(off.provider.resumedAt).toBeUndefined();
    expect(off.provider.recordsToPlay).toBe(csvBars('ohlcv/binance-XRP-ETH-5m.csv').length);
  });
});
