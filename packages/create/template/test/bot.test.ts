import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticCandles } from '@tradebus/providers';
import { market, runBot } from '../src/bot.js';

test('the bot flags exactly the bars that moved at least the threshold', async () => {
  const bars = 600;
  const threshold = 0.0015;
  const { bars: seen, moves } = await runBot({ bars, threshold });

  // The same market computed directly, without agents or a bus.
  const candles = syntheticCandles({ ...market, seed: market.seed });
  const expected = [];
  for (let i = 0; i < bars; i++) {
    for (const bar of candles.next().value!) {
      const change = bar.close / bar.open - 1;
      if (Math.abs(change) >= threshold) expected.push({ symbol: bar.symbol, change, timestamp: bar.timestamp });
    }
  }

  assert.equal(seen, bars);
  assert.ok(expected.length > 0, 'the market should move enough for a test');
  assert.deepEqual(moves, expected);
});
