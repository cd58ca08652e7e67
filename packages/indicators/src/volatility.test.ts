import { atr, bb, dc, kc, mstd } from 'indicatorts';
import { describe, expect, it } from 'vitest';
import { ATR, BollingerBands, DonchianChannel, KeltnerChannel } from './volatility.js';
import {
  closes,
  field,
  highs,
  loadCandles,
  lows,
  mismatches,
  seriesNames,
  streamAll,
} from './test-support/candles.js';

describe.each(seriesNames)('volatility indicators on %s match indicatorts', (name) => {
  const candles = loadCandles(name);
  const values = closes(candles);
  const h = highs(candles);
  const l = lows(candles);

  it.each([5, 20])('BollingerBands(%i) equals indicatorts bb, and its deviation equals mstd', (period) => {
    const indicator = new BollingerBands({ period });
    const deviations: (number | undefined)[] = [];
    const rows = candles.map((candle) => {
      const row = indicator.update(candle);
      deviations.push(indicator.standardDeviation);
      return row && { ...row };
    });
    const reference = bb(values, { period });
    expect(mismatches(field(rows, 'upper'), reference.upper, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'middle'), reference.middle, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'lower'), reference.lower, period - 1)).toEqual([]);
    // The deviation alone is a far stricter check than the bands, which are dominated by the mean.
    expect(mismatches(deviations, mstd(values, { period }), period - 1)).toEqual([]);
  });

  it('BollingerBands with a custom multiplier scales the deviation', () => {
    const rows = streamAll(new BollingerBands({ period: 20, multiplier: 2.5 }), values);
    const middle = bb(values, { period: 20 }).middle;
    const deviation = mstd(values, { period: 20 });
    const upper = middle.map((m, i) => m + 2.5 * deviation[i]!);
    expect(mismatches(field(rows, 'upper'), upper, 19)).toEqual([]);
  });

  it.each([1, 14])('ATR(%i) equals indicatorts atr', (period) => {
    const streamed = streamAll(new ATR(period), candles);
    expect(mismatches(streamed, atr(h, l, values, { period }).atrLine, period - 1)).toEqual([]);
  });

  it.each([10, 20])('KeltnerChannel(%i) equals indicatorts kc', (period) => {
    const rows = streamAll(new KeltnerChannel({ period }), candles);
    const reference = kc(h, l, values, { period });
    expect(mismatches(field(rows, 'upper'), reference.upper, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'middle'), reference.middle, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'lower'), reference.lower, period - 1)).toEqual([]);
  });

  it.each([4, 20])('DonchianChannel(%i) equals indicatorts dc (on closes)', (period) => {
    const rows = streamAll(new DonchianChannel(period), candles);
    const reference = dc(values, { period });
    expect(mismatches(field(rows, 'upper'), reference.upper, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'middle'), reference.middle, period - 1)).toEqual([]);
    expect(mismatches(field(rows, 'lower'), reference.lower, period - 1)).toEqual([]);
  });
});

describe('Bollinger deviation stays accurate', () => {
  it('recovers the small deviation of a quiet window right after a spike has left it', () => {
    const values = [...Array.from({ length: 10 }, (_, i) => 0.1 + i * 1e-7), 50, 0.1, 0.1000001, 0.1000002];
    for (let i = 0; i < 40; i++) values.push(0.1 + ((i * 7) % 5) * 1e-7);
    const indicator = new BollingerBands({ period: 5 });
    const deviations = values.map((v) => (indicator.update(v), indicator.standardDeviation));
    expect(mismatches(deviations, mstd(values, { period: 5 }), 4)).toEqual([]);
  });

  it('keeps the deviation of a tiny spread on a large price level', () => {
    // Sum-of-squares would lose every digit here: mean 1e6, spread 1e-3.
    const values = Array.from({ length: 500 }, (_, i) => 1e6 + Math.sin(i) * 1e-3);
    const indicator = new BollingerBands({ period: 20 });
    const deviations = values.map((v) => (indicator.update(v), indicator.standardDeviation));
    const reference = mstd(values, { period: 20 });
    const worst = Math.max(
      ...deviations.slice(19).map((d, i) => Math.abs(d! - reference[i + 19]!) / reference[i + 19]!),
    );
    expect(worst).toBeLessThan(1e-9);
  });
});
