import { mfi, obv, vwap } from 'indicatorts';
import { describe, expect, it } from 'vitest';
import { MFI, OBV, VWAP } from './volume.js';
import {
  closes,
  highs,
  loadCandles,
  lows,
  mismatches,
  seriesNames,
  streamAll,
  volumes,
} from './test-support/candles.js';

describe.each(seriesNames)('volume indicators on %s match indicatorts', (name) => {
  const candles = loadCandles(name);
  const values = closes(candles);

  it('OBV equals indicatorts obv from the first bar', () => {
    const streamed = streamAll(new OBV(), candles);
    expect(mismatches(streamed, obv(values, volumes(candles)), 0)).toEqual([]);
  });

  it.each([5, 14])('VWAP(%i) equals indicatorts vwap', (period) => {
    const streamed = streamAll(new VWAP(period), candles);
    expect(mismatches(streamed, vwap(values, volumes(candles), { period }), period - 1)).toEqual([]);
  });

  it.each([5, 14])('MFI(%i) equals indicatorts mfi', (period) => {
    const streamed = streamAll(new MFI(period), candles);
    const reference = mfi(highs(candles), lows(candles), values, volumes(candles), { period });
    expect(mismatches(streamed, reference, period)).toEqual([]);
  });
});

describe('volume edge cases', () => {
  const quiet = Array.from({ length: 20 }, (_, i) => ({ high: 2, low: 1, close: 1.5 + (i % 2) / 10, volume: 0 }));

  it('VWAP of a window without volume is the close', () => {
    expect(streamAll(new VWAP(5), quiet).at(-1)).toBe(quiet.at(-1)!.close);
  });

  it('MFI without money flow is 50', () => {
    expect(streamAll(new MFI(5), quiet).at(-1)).toBe(50);
  });

  it('OBV is ready from the first bar', () => {
    const indicator = new OBV();
    expect(indicator.isReady).toBe(false);
    expect(indicator.update({ close: 1, volume: 10 })).toBe(0);
    expect(indicator.update({ close: 2, volume: 10 })).toBe(10);
    expect(indicator.update({ close: 1, volume: 4 })).toBe(6);
  });
});
