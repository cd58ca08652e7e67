import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('housekeeping', () => {
  it('an exit order that fills bar by bar sets no retry timer: nothing runs on every event while it works', async () => {
    const x = (h = await startHarness({ timeframe: '5m', exits: { exitRetryMs: 30_000 } }, { autoFill: false }));
    await x.signal({ price: 100 });
    const [entry] = x.requests('entry');
    x.venue.fill(entry!.clientOrderId, 100);
    await x.idle();
    await x.signal({ side: 'flat', price: 100 });
    const [exit] = x.requests('exit');
    // A volume cap fills a tenth per bar: the exit order works across the next bars.
    const tm = x.tm as unknown as { onHousekeeping(): void };
    let runs = 0;
    const original = tm.onHousekeeping.bind(tm);
    tm.onHousekeeping = () => {
      runs++;
      original();
    };
    for (let i = 0; i < 9; i++) {
      await x.candle({ high: 101, low: 99, close: 100 });
      x.venue.fill(exit!.clientOrderId, 100, exit!.quantity / 10);
      await x.idle();
    }
    expect(x.requests('exit')).toHaveLength(1);
    expect(x.of('trade.closed')).toHaveLength(0);
    expect(runs).toBe(0);
    x.venue.fill(exit!.clientOrderId, 100);
    await x.idle();
    expect(x.of('trade.closed')).toHaveLength(1);
  });
});
