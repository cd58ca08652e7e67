import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { VirtualClock, WallClock, createLogger, type Clock, type TimerHandle } from '@tradebus/core';
import type { Candle } from '../types.js';
import { SeededRandom, SyntheticProvider, SyntheticSpeedError, syntheticCandles, type SyntheticSymbol } from './synthetic-provider.js';

const START = Date.UTC(2024, 0, 1);
const btc: SyntheticSymbol = { symbol: 'BTC/USDT', startPrice: 40_000, drift: 0.1, volatility: 0.6 };
const eth: SyntheticSymbol = { symbol: 'ETH/USDT', startPrice: 2_000, drift: -0.05, volatility: 0.8, jumpIntensity: 50, jumpStd: 0.03 };

function take(n: number, seed: number | string, symbols = [btc, eth], stepsPerBar = 12): Candle[][] {
  const gen = syntheticCandles({ seed, symbols, start: START, timeframe: '1m', stepsPerBar });
  return Array.from({ length: n }, () => gen.next().value as Candle[]);
}

describe('synthetic series', () => {
  it('the same seed gives the same series; another seed a different one', () => {
    const a = take(500, 42);
    expect(take(500, 42)).toEqual(a);
    const b = take(500, 43);
    expect(b[499]![0]!.close).not.toBe(a[499]![0]!.close);
    // Each symbol has its own stream: adding a symbol does not change the others.
    expect(take(500, 42, [btc]).map((bars) => bars[0])).toEqual(a.map((bars) => bars[0]));
  });

  it('bars are continuous and consistent', () => {
    const bars = take(2_000, 'demo').map((x) => x[1]!);
    for (let i = 0; i < bars.length; i++) {
      const b = bars[i]!;
      expect(b.high).toBeGreaterThanOrEqual(Math.max(b.open, b.close));
      expect(b.low).toBeLessThanOrEqual(Math.min(b.open, b.close));
      expect(b.low).toBeGreaterThan(0);
      expect(b.volume).toBeGreaterThan(0);
      expect(b.timestamp).toBe(START + i * 60_000);
      if (i > 0) expect(b.open).toBe(bars[i - 1]!.close);
    }
  });

  it('log returns have the configured volatility and drift; jumps fatten the tails', () => {
    const steps = 1;
    const n = 40_000;
    const sigma = 0.6;
    const plain = take(n, 7, [{ symbol: 'A/B', startPrice: 100, drift: 0, volatility: sigma }], steps).map((x) => Math.log(x[0]!.close / x[0]!.open));
    const dt = 60_000 / (365 * 86_400_000);
    const mean = plain.reduce((s, r) => s + r, 0) / n;
    const sd = Math.sqrt(plain.reduce((s, r) => s + (r - mean) ** 2, 0) / (n - 1));
    expect(sd / (sigma * Math.sqrt(dt))).toBeGreaterThan(0.98);
    expect(sd / (sigma * Math.sqrt(dt))).toBeLessThan(1.02);
    // The mean is −σ²/2·dt, far inside one standard error.
    expect(Math.abs(mean - (-(sigma * sigma) / 2) * dt)).toBeLessThan((3 * sd) / Math.sqrt(n));
    const kurtosis = (r: number[]): number => {
      const m = r.reduce((s, x) => s + x, 0) / r.length;
      const v = r.reduce((s, x) => s + (x - m) ** 2, 0) / r.length;
      return r.reduce((s, x) => s + (x - m) ** 4, 0) / r.length / (v * v);
    };
    expect(kurtosis(plain)).toBeLessThan(3.3);
    const jumpy = take(n, 7, [{ symbol: 'A/B', startPrice: 100, volatility: sigma, jumpIntensity: 20_000, jumpStd: 0.01 }], steps).map((x) => Math.log(x[0]!.close / x[0]!.open));
    expect(kurtosis(jumpy)).toBeGreaterThan(6);
  });

  it('SeededRandom is uniform enough and reproducible', () => {
    const r = new SeededRandom('x');
    const values = Array.from({ length: 10_000 }, () => r.next());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((s, v) => s + v, 0) / values.length).toBeCloseTo(0.5, 1);
    const again = new SeededRandom('x');
    expect(again.next()).toBe(values[0]);
  });
});

describe('SyntheticProvider', () => {
  it('serves warm-up history, plays bars at their close on the virtual clock, and repeats exactly with the same seed', async () => {
    async function play() {
      const clock = new VirtualClock(0);
      const provider = new SyntheticProvider({ clock, seed: 1, symbols: [btc, eth], timeframe: '5m', historyBars: 50, bars: 100 });
      expect(clock.now()).toBe(START);
      const history = await provider.fetchOHLCV('BTC/USDT', '5m');
      expect(history).toHaveLength(50);
      expect(history.at(-1)!.timestamp + 300_000).toBe(START);
      const got: Array<[number, number]> = [];
      const lag: number[] = [];
      const stream = (async () => {
        for await (const c of provider.watchCandles('ETH/USDT', '5m', new AbortController().signal)) {
          got.push([c.timestamp, c.close]);
          lag.push(clock.now() - c.timestamp);
        }
      })();
      const summary = await provider.start();
      await stream;
      expect(summary.candles).toBe(200);
      expect(new Set(lag)).toEqual(new Set([300_000]));
      expect((await provider.fetchTicker('ETH/USDT')).last).toBe(got.at(-1)![1]);
      expect(await provider.fetchOHLCV('ETH/USDT', '15m')).toHaveLength(50);
      return { history, got };
    }
    const a = await play();
    const b = await play();
    expect(a.got).toHaveLength(100);
    expect(b).toEqual(a);
    expect(a.got[0]![0]).toBe(START);
  });

  it('an endless series stops on request and ends its consumers’ streams', async () => {
    const clock = new VirtualClock(START);
    const provider = new SyntheticProvider({ clock, seed: 'endless', symbols: [btc], historyBars: 0 });
    let n = 0;
    const stream = (async () => {
      for await (const _ of provider.watchTicks('btc/usdt', new AbortController().signal)) if (++n === 25) provider.stop();
    })();
    const summary = await provider.start();
    await stream;
    expect(summary.stopped).toBe(true);
    expect(n).toBe(25);
  });
});

/** A clock that is not virtual (so the market plays live on it) and whose timers the test fires. */
class HandClock implements Clock {
  readonly kind = 'wall' as const;
  timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  constructor(private time: number) {}
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer = { at: this.time + delayMs, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  setInterval(): TimerHandle {
    throw new Error('not used');
  }
  async sleep(): Promise<void> {
    throw new Error('a live market waits on its own timers, never on sleep');
  }
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
  /** Fires the next pending timer, with the clock at its time. */
  fireNext(): void {
    const timer = this.timers.find((t) => !t.cancelled)!;
    timer.cancelled = true;
    this.time = timer.at;
    timer.fn();
  }
}

function logLines(): { logger: ReturnType<typeof createLogger>; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('SyntheticProvider on the wall clock', () => {
  it('refuses a speed the wall clock cannot give, naming the key', () => {
    const make = (speed: number | 'max' | undefined) => new SyntheticProvider({ id: 'market', clock: new WallClock(), seed: 1, symbols: [btc], historyBars: 0, speed });
    expect(() => make(600)).toThrow(SyntheticSpeedError);
    expect(() => make('max')).toThrow(/providers\.market\.speed: speed max needs market time: on the wall clock a synthetic market plays in real time/);
    expect(() => make(undefined)).not.toThrow();
    expect(() => make(1)).not.toThrow();
  });

  it('plays bars as they close in real time, starting when a stream is watched, and stops at once while waiting', async () => {
    const clock = new HandClock(START + 15_000);
    const provider = new SyntheticProvider({ clock, seed: 1, symbols: [btc, eth], historyBars: 0 });
    const got: Array<[number, number]> = [];
    const controller = new AbortController();
    const ended = provider.pushCandles('BTC/USDT', '1m', (c) => void got.push([c.timestamp, clock.now()]), controller.signal);
    // Watching started it: it waits for the close of the current bar.
    expect(provider.done).toBeDefined();
    expect(clock.timers.map((t) => t.at)).toEqual([START + 60_000]);
    clock.fireNext();
    // The bar goes out, then the market waits for the next close.
    for (let i = 0; i < 200 && clock.pending === 0; i++) await new Promise((r) => setImmediate(r));
    expect(got).toEqual([[START, START + 60_000]]);
    expect(clock.timers.filter((t) => !t.cancelled).map((t) => t.at)).toEqual([START + 120_000]);
    // Stopped while waiting for the next bar: the wait is cancelled (nothing keeps a process alive).
    provider.stop();
    expect(clock.pending).toBe(0);
    const summary = await provider.done!;
    await ended;
    expect(summary).toMatchObject({ candles: 2, stopped: true });
  });
});

describe('SyntheticProvider on a virtual clock', () => {
  it('says that nothing plays when streams wait for a start() that does not come', async () => {
    const { logger, lines } = logLines();
    const provider = new SyntheticProvider({ clock: new VirtualClock(START), seed: 1, symbols: [btc], historyBars: 0, logger, notStartedWarningMs: 20 });
    const controller = new AbortController();
    void provider.pushCandles('BTC/USDT', '1m', () => undefined, controller.signal);
    for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(provider.done).toBeUndefined();
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: "synthetic market 'synthetic' is being watched but plays nothing until its start() is called: on a virtual clock, call start() once every agent has subscribed (after system.start())",
      }),
    ]);
    provider.stop();
    controller.abort();
  });

  it('says nothing when start() comes in time', async () => {
    const { logger, lines } = logLines();
    const provider = new SyntheticProvider({ clock: new VirtualClock(START), seed: 1, symbols: [btc], historyBars: 0, bars: 3, logger, notStartedWarningMs: 20 });
    const closes: number[] = [];
    const streamed = provider.pushCandles('BTC/USDT', '1m', (c) => void closes.push(c.close), new AbortController().signal);
    await provider.start();
    await streamed;
    await new Promise((r) => setTimeout(r, 40));
    expect(closes).toHaveLength(3);
    expect(lines).toEqual([]);
  });
});
