import { describe, expect, it } from 'vitest';
import { runBot } from './bot.js';

describe('custom bot example', () => {
  it('publishes its own event when a tick moves more than the threshold', async () => {
    const spikes = await runBot([100, 100.5, 102, 101.9, 99]);
    expect(spikes.map((s) => s.symbol)).toEqual(['XRP/ETH', 'XRP/ETH']);
    expect(spikes[0]!.change).toBeCloseTo(102 / 100.5 - 1, 12);
    expect(spikes[1]!.change).toBeCloseTo(99 / 101.9 - 1, 12);
  });

  it('stays quiet below the threshold', async () => {
    expect(await runBot([100, 100.5, 100.2], 0.01)).toEqual([]);
  });
});
