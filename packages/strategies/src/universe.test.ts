import { describe, expect, test } from 'vitest';
import { loadCandles } from './test-support/candles.js';
import { UniverseTable } from './universe.js';

const eth = loadCandles('binance-ETH-BTC-5m');
const ada = loadCandles('binance-ADA-BTC-5m');

describe('UniverseTable', () => {
  test('keeps the last bars of every symbol and reads them up to a time, however long it runs', () => {
    const table = new UniverseTable(21);
    for (let i = 0; i < 1_000; i++) {
      table.add(ada[i]!);
      table.add(eth[i]!);
      // Read before the newest bar, as a strategy does: always the full 21 bars before it.
      const before = table.bars('ETH/BTC', eth[i]!.timestamp, 21);
      expect(before).toEqual(eth.slice(Math.max(0, i - 21), i));
    }
    expect(table.symbols()).toEqual(['ADA/BTC', 'ETH/BTC']);
    expect(table.bars('ETH/BTC', eth[500]!.timestamp, 5)).toEqual([]); // trimmed long ago
    expect(table.bars('XRP/BTC', eth[999]!.timestamp, 5)).toEqual([]);
    table.delete('ADA/BTC');
    expect(table.symbols()).toEqual(['ETH/BTC']);
  });

  test('memo: one computation per moment, again after a bar older than the newest arrives', () => {
    const table = new UniverseTable(10);
    let runs = 0;
    const read = (before: number) => table.memo('n', before, () => ++runs);
    for (const bar of eth.slice(0, 20)) table.add(bar);
    const t = eth[19]!.timestamp;
    expect(read(t)).toBe(1);
    table.add({ ...ada[19]!, timestamp: t }); // the same moment: nothing before t changed
    expect(read(t)).toBe(1);
    table.add(ada[18]!); // an older bar: what lies before t changed
    expect(read(t)).toBe(2);
    expect(read(eth[18]!.timestamp)).toBe(3);
    table.delete();
    expect(read(eth[18]!.timestamp)).toBe(4);
  });

  test('keeps nothing when no strategy asked for it', () => {
    const table = new UniverseTable(0);
    table.add(eth[0]!);
    expect(table.symbols()).toEqual([]);
  });
});
