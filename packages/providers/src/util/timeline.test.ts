import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import type { Candle } from '../types.js';
import { MarketTimeline, type TimelineRecord } from './timeline.js';

const M5 = 300_000;

function bar(symbol: string, i: number): TimelineRecord {
  const candle: Candle = { symbol, timeframe: '5m', timestamp: i * M5, open: 1, high: 2, low: 0.5, close: 1 + i / 100, volume: 1, closed: true };
  return { kind: 'candle', time: (i + 1) * M5, candle };
}

function market(symbols: string[]): { clock: VirtualClock; timeline: MarketTimeline } {
  const clock = new VirtualClock(0);
  const timeline = new MarketTimeline({ id: 'test', clock });
  for (const s of symbols) timeline.registerSymbol(s, '5m');
  return { clock, timeline };
}

describe('MarketTimeline: one moment at a time', () => {
  it('hands out every record of a moment before waiting, and waits for step listeners before moving the clock', async () => {
    const symbols = ['A/X', 'B/X', 'C/X'];
    const { clock, timeline } = market(symbols);
    const records = [0, 1, 2].flatMap((i) => symbols.map((s) => bar(s, i)));
    const log: string[] = [];
    let release: (() => void) | undefined;
    timeline.addListener({
      candle: (c) => log.push(`candle ${c.symbol} @${clock.now()}`),
      step: (time) => {
        log.push(`step @${time}`);
        // The first moment is held until the test lets it go.
        if (time === M5) return new Promise<void>((r) => (release = r));
        return undefined;
      },
    });
    const run = timeline.run(records);
    await new Promise((r) => setTimeout(r, 20));
    // Held after the first moment: all three of its bars are out, nothing of the next.
    expect(log).toEqual(['candle A/X @300000', 'candle B/X @300000', 'candle C/X @300000', 'step @300000']);
    expect(clock.now()).toBe(M5);
    release!();
    const summary = await run;
    expect(summary).toMatchObject({ records: 9, candles: 9, firstTime: M5, lastTime: 3 * M5, stopped: false });
    expect(log.filter((l) => l.startsWith('step'))).toEqual(['step @300000', 'step @600000', 'step @900000']);
    expect(log.slice(4, 8)).toEqual(['candle A/X @600000', 'candle B/X @600000', 'candle C/X @600000', 'step @600000']);
  });

  it('a watcher of each symbol has taken its bar before the step listener runs', async () => {
    const symbols = ['A/X', 'B/X'];
    const { timeline } = market(symbols);
    const taken = new Map<string, number>();
    const controller = new AbortController();
    const consumers = symbols.map(async (s) => {
      for await (const c of timeline.watchCandles(s, '5m', controller.signal)) {
        // A consumer that needs a few turns of its own per bar.
        await Promise.resolve();
        await new Promise((r) => setImmediate(r));
        taken.set(s, c.timestamp);
      }
    });
    const atStep: string[] = [];
    timeline.addListener({ step: (time) => void atStep.push(`${time}:${taken.get('A/X')}:${taken.get('B/X')}`) });
    await timeline.run([0, 1].flatMap((i) => symbols.map((s) => bar(s, i))));
    await Promise.all(consumers);
    expect(atStep).toEqual([`${M5}:0:0`, `${2 * M5}:${M5}:${M5}`]);
  });

  it('stops between moments when asked, and says it stopped', async () => {
    const { timeline } = market(['A/X']);
    let steps = 0;
    timeline.addListener({
      step: () => {
        if (++steps === 2) timeline.stop();
      },
    });
    const summary = await timeline.run([0, 1, 2, 3].map((i) => bar('A/X', i)));
    expect(summary).toMatchObject({ records: 2, stopped: true, lastTime: 2 * M5 });
  });
});
