import { batch } from '@tradebus/indicators';
import { describe, expect, test } from 'vitest';
import { createStrategy } from '../create.js';
import { closes, highs, loadCandles, lows } from '../test-support/candles.js';
import type { Signal, StrategyCandle } from '../types.js';

/*
 * Every built-in runs over real Binance 5-minute candles. The expected signals are recomputed here
 * independently, from indicatorts' batch series (through @tradebus/indicators' `batch`) or plain
 * loops, and must match the streaming strategy bar for bar.
 */

const FIVE_MINUTES = 300_000;
const eth = loadCandles('binance-ETH-BTC-5m');
const xrp = loadCandles('binance-futures-XRP-USDT-5m');

type Side = Signal['side'];
interface Expected {
  bar: number;
  side: Side;
}

function run(config: Record<string, unknown>, candles: readonly StrategyCandle[]) {
  const strategy = createStrategy(config);
  const signals = candles.flatMap((candle) => strategy.onCandle(candle));
  const index = new Map(candles.map((c, i) => [c.timestamp, i]));
  const bars = signals.map((s) => ({ bar: index.get(s.metadata!.barTime as number)!, side: s.side }));
  return { strategy, signals, bars };
}

/** Plain-loop EMA seeded with the first value, as indicatorts; NaN before `period` values. */
function ema(values: readonly number[], period: number): number[] {
  const k = 2 / (1 + period);
  const m = 1 - k;
  const out: number[] = [];
  let current = 0;
  values.forEach((x, i) => {
    current = i === 0 ? x : x * k + current * m;
    out.push(i + 1 >= period ? current : NaN);
  });
  return out;
}

/** Highest of `values[from..to)` (plain loop). */
function highest(values: readonly number[], from: number, to: number): number {
  let best = -Infinity;
  for (let i = from; i < to; i++) best = Math.max(best, values[i]!);
  return best;
}

function lowest(values: readonly number[], from: number, to: number): number {
  let best = Infinity;
  for (let i = from; i < to; i++) best = Math.min(best, values[i]!);
  return best;
}

function near(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(actual), Math.abs(expected));
}

/** Properties every signal of every built-in must have. */
function checkSignals(signals: readonly Signal[], strategyId: string): void {
  const ids = new Set<string>();
  for (const s of signals) {
    expect(s.strategyId).toBe(strategyId);
    expect(s.confidence).toBeGreaterThanOrEqual(0);
    expect(s.confidence).toBeLessThanOrEqual(1);
    expect(s.timestamp).toBe((s.metadata!.barTime as number) + FIVE_MINUTES);
    expect(s.id).toBe(`${strategyId}:${s.symbol}:5m:${s.metadata!.barTime}:${s.side}`);
    expect(ids.has(s.id)).toBe(false);
    ids.add(s.id);
    if (s.side === 'long') {
      if (s.stopLoss !== undefined) expect(s.stopLoss).toBeLessThan(s.price);
      if (s.takeProfit !== undefined) expect(s.takeProfit).toBeGreaterThan(s.price);
    } else if (s.side === 'short') {
      if (s.stopLoss !== undefined) expect(s.stopLoss).toBeGreaterThan(s.price);
      if (s.takeProfit !== undefined) expect(s.takeProfit).toBeLessThan(s.price);
    } else {
      expect(s.stopLoss).toBeUndefined();
      expect(s.takeProfit).toBeUndefined();
    }
  }
}

function countSides(signals: readonly Signal[]): Record<Side, number> {
  const out: Record<Side, number> = { long: 0, short: 0, flat: 0 };
  for (const s of signals) out[s.side]++;
  return out;
}

describe('ema-cross', () => {
  test('signals exactly where the fast EMA crossed the slow EMA, with 2/3-ATR stops', () => {
    const { signals, bars, strategy } = run({ type: 'ema-cross' }, eth);
    const fast = ema(closes(eth), 12);
    const slow = ema(closes(eth), 26);
    const atr = batch.atr(eth, 14);
    const expected: Expected[] = [];
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      const before = fast[i - 1]! - slow[i - 1]!;
      const now = fast[i]! - slow[i]!;
      if (before <= 0 && now > 0) expected.push({ bar: i, side: 'long' });
      if (before >= 0 && now < 0) expected.push({ bar: i, side: 'short' });
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(50);
    expect(sides.short).toBeGreaterThan(50);
    expect(sides.flat).toBe(0);
    checkSignals(signals, 'ema-cross');
    signals.forEach((s, n) => {
      const i = bars[n]!.bar;
      expect(s.price).toBe(eth[i]!.close);
      const direction = s.side === 'long' ? 1 : -1;
      expect(near(s.stopLoss!, s.price - direction * 2 * atr[i]!)).toBe(true);
      expect(near(s.takeProfit!, s.price + direction * 3 * atr[i]!)).toBe(true);
    });
  });

  test('custom periods change the crossings', () => {
    const { bars, strategy } = run({ type: 'ema-cross', params: { fast: 5, slow: 35, stopAtr: 0, takeProfitAtr: 0 } }, xrp);
    expect(strategy.warmupBars).toBe(36);
    const fast = ema(closes(xrp), 5);
    const slow = ema(closes(xrp), 35);
    const expected: Expected[] = [];
    for (let i = 35; i < xrp.length; i++) {
      const before = fast[i - 1]! - slow[i - 1]!;
      const now = fast[i]! - slow[i]!;
      if (before <= 0 && now > 0) expected.push({ bar: i, side: 'long' });
      if (before >= 0 && now < 0) expected.push({ bar: i, side: 'short' });
    }
    expect(bars).toEqual(expected);
    expect(expected.length).toBeGreaterThan(10);
    const { signals } = run({ type: 'ema-cross', params: { fast: 5, slow: 35, stopAtr: 0, takeProfitAtr: 0 } }, xrp);
    expect(signals.every((s) => s.stopLoss === undefined && s.takeProfit === undefined)).toBe(true);
  });
});

describe('rsi-reversion', () => {
  test('enters when RSI leaves 30/70 and exits at 50 after an entry', () => {
    const { signals, bars, strategy } = run({ type: 'rsi-reversion' }, eth);
    const rsi = batch.rsi(closes(eth), 14);
    const expected: Expected[] = [];
    let position: Side | undefined;
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      const before = rsi[i - 1]!;
      const now = rsi[i]!;
      let side: Side | undefined;
      if (before <= 30 && now > 30) side = 'long';
      else if (before >= 70 && now < 70) side = 'short';
      else if (position === 'long' && before < 50 && now >= 50) side = 'flat';
      else if (position === 'short' && before > 50 && now <= 50) side = 'flat';
      if (side !== undefined) {
        expected.push({ bar: i, side });
        position = side;
      }
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(10);
    expect(sides.short).toBeGreaterThan(10);
    expect(sides.flat).toBeGreaterThan(10);
    checkSignals(signals, 'rsi-reversion');
    // Deeper excursions give higher confidence: the reported extreme is the lowest RSI of the dip.
    for (const [n, s] of signals.entries()) {
      if (s.side !== 'long') continue;
      const i = bars[n]!.bar;
      let j = i - 1;
      let low = Infinity;
      while (j >= 0 && rsi[j]! <= 30) low = Math.min(low, rsi[j--]!);
      expect(near(s.metadata!.extremeRsi as number, low)).toBe(true);
    }
  });

  test('exitLevel null emits no flat signals', () => {
    const { signals } = run({ type: 'rsi-reversion', params: { exitLevel: null } }, eth);
    expect(countSides(signals).flat).toBe(0);
    expect(signals.length).toBeGreaterThan(20);
  });
});

describe('macd-cross', () => {
  test('signals exactly where the MACD histogram changes sign', () => {
    const { signals, bars, strategy } = run({ type: 'macd-cross' }, eth);
    expect(strategy.warmupBars).toBe(26 + 9 - 1 + 1);
    const { histogram } = batch.macd(closes(eth));
    const expected: Expected[] = [];
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      if (histogram[i - 1]! <= 0 && histogram[i]! > 0) expected.push({ bar: i, side: 'long' });
      if (histogram[i - 1]! >= 0 && histogram[i]! < 0) expected.push({ bar: i, side: 'short' });
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(50);
    expect(sides.short).toBeGreaterThan(50);
    checkSignals(signals, 'macd-cross');
  });

  test('zeroLineFilter keeps only longs below and shorts above the zero line', () => {
    const all = run({ type: 'macd-cross' }, eth).signals;
    const { signals } = run({ type: 'macd-cross', params: { zeroLineFilter: true } }, eth);
    const expected = all.filter((s) => (s.side === 'long' ? (s.metadata!.macd as number) < 0 : (s.metadata!.macd as number) > 0));
    expect(signals.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    expect(signals.length).toBeLessThan(all.length);
    expect(countSides(signals).long).toBeGreaterThan(0);
    expect(countSides(signals).short).toBeGreaterThan(0);
  });
});

describe('bollinger-reversion', () => {
  test('enters when a close returns inside a band, targets the middle band, exits there', () => {
    const { signals, bars, strategy } = run({ type: 'bollinger-reversion' }, eth);
    const closing = closes(eth);
    const { upper, middle, lower } = batch.bollinger(closing, { period: 20, multiplier: 2 });
    const expected: Expected[] = [];
    let position: Side | undefined;
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      const before = closing[i - 1]!;
      const now = closing[i]!;
      let side: Side | undefined;
      if (before < lower[i - 1]! && now >= lower[i]! && middle[i]! > now) side = 'long';
      else if (before > upper[i - 1]! && now <= upper[i]! && middle[i]! < now) side = 'short';
      else if (position === 'long' && before < middle[i - 1]! && now >= middle[i]!) side = 'flat';
      else if (position === 'short' && before > middle[i - 1]! && now <= middle[i]!) side = 'flat';
      if (side !== undefined) {
        expected.push({ bar: i, side });
        position = side;
      }
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(50);
    expect(sides.short).toBeGreaterThan(50);
    checkSignals(signals, 'bollinger-reversion');
    signals.forEach((s, n) => {
      if (s.side !== 'flat') expect(near(s.takeProfit!, middle[bars[n]!.bar]!)).toBe(true);
    });
  });
});

describe('donchian-breakout', () => {
  test('breaks the previous 20-bar channel, skips repeats, exits on the 10-bar channel', () => {
    const { signals, bars, strategy } = run({ type: 'donchian-breakout' }, eth);
    expect(strategy.warmupBars).toBe(56);
    const high = highs(eth);
    const low = lows(eth);
    const expected: Expected[] = [];
    let position: Side | undefined;
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      const close = eth[i]!.close;
      const out: Side[] = [];
      if (position === 'long' && close < lowest(low, i - 10, i)) out.push('flat');
      else if (position === 'short' && close > highest(high, i - 10, i)) out.push('flat');
      if (close > highest(high, i - 20, i) && position !== 'long') out.push('long');
      else if (close < lowest(low, i - 20, i) && position !== 'short') out.push('short');
      for (const side of out) expected.push({ bar: i, side });
      if (out.length > 0) position = out[out.length - 1];
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(20);
    expect(sides.short).toBeGreaterThan(20);
    expect(sides.flat).toBeGreaterThan(20);
    checkSignals(signals, 'donchian-breakout');
    const atr = batch.atr(eth, 20);
    signals.forEach((s, n) => {
      const i = bars[n]!.bar;
      if (s.side === 'flat') return;
      const direction = s.side === 'long' ? 1 : -1;
      expect(near(s.stopLoss!, s.price - direction * 2 * atr[i]!)).toBe(true);
      expect(s.takeProfit).toBeUndefined();
      const confirmed = s.side === 'long' ? s.price > highest(high, i - 55, i) : s.price < lowest(low, i - 55, i);
      expect(s.metadata!.confirmed).toBe(confirmed);
    });
    // A breakout through the 55-bar channel too is the stronger signal.
    const confirmed = signals.filter((s) => s.metadata?.confirmed === true);
    const plain = signals.filter((s) => s.metadata?.confirmed === false);
    expect(confirmed.length).toBeGreaterThan(0);
    expect(plain.length).toBeGreaterThan(0);
    expect(Math.min(...confirmed.map((s) => s.confidence))).toBeGreaterThan(Math.min(...plain.map((s) => s.confidence)));
  });
});

describe('adx-trend', () => {
  test('follows the EMA trend only while ADX confirms it, and exits when it fades', () => {
    const { signals, bars, strategy } = run({ type: 'adx-trend' }, eth);
    expect(strategy.warmupBars).toBe(51);
    const fast = ema(closes(eth), 20);
    const slow = ema(closes(eth), 50);
    const { adx, plusDI, minusDI } = batch.adx(eth, 14);
    const trend = (i: number): Side | undefined => {
      if (adx[i]! < 25) return undefined;
      if (fast[i]! > slow[i]! && plusDI[i]! > minusDI[i]!) return 'long';
      if (fast[i]! < slow[i]! && minusDI[i]! > plusDI[i]!) return 'short';
      return undefined;
    };
    const expected: Expected[] = [];
    let position: Side | undefined;
    for (let i = strategy.warmupBars - 1; i < eth.length; i++) {
      const out: Side[] = [];
      if (position === 'long' || position === 'short') {
        const against = position === 'long' ? fast[i]! < slow[i]! : fast[i]! > slow[i]!;
        if (against || adx[i]! < 20) out.push('flat');
      }
      const now = trend(i);
      if (now !== undefined && now !== trend(i - 1) && now !== position) out.push(now);
      for (const side of out) expected.push({ bar: i, side });
      if (out.length > 0) position = out[out.length - 1];
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(10);
    expect(sides.short).toBeGreaterThan(10);
    checkSignals(signals, 'adx-trend');
    for (const s of signals) if (s.side !== 'flat') expect(s.metadata!.adx as number).toBeGreaterThanOrEqual(25);
  });

  test('a higher ADX threshold gives fewer, stronger entries', () => {
    const base = run({ type: 'adx-trend' }, eth).signals.filter((s) => s.side !== 'flat');
    const strict = run({ type: 'adx-trend', params: { adxThreshold: 40, exitThreshold: 30 } }, eth).signals.filter((s) => s.side !== 'flat');
    expect(strict.length).toBeGreaterThan(0);
    expect(strict.length).toBeLessThan(base.length);
    for (const s of strict) expect(s.metadata!.adx as number).toBeGreaterThanOrEqual(40);
  });
});

describe('rsi-divergence', () => {
  test('signals at confirmed swings where price and RSI diverge', () => {
    const { signals, bars, strategy } = run({ type: 'rsi-divergence' }, eth);
    const rsi = batch.rsi(closes(eth), 14);
    const high = highs(eth);
    const low = lows(eth);
    const k = 3;
    const first = strategy.warmupBars - 1;
    const expected: Expected[] = [];
    let lastLow: { bar: number; price: number; rsi: number } | undefined;
    let lastHigh: { bar: number; price: number; rsi: number } | undefined;
    // The strategy sees swings only among bars it evaluated (from the warm-up on).
    for (let i = first + 2 * k; i < eth.length; i++) {
      const c = i - k;
      let isLow = true;
      let isHigh = true;
      for (let j = c - k; j <= c + k; j++) {
        if (j === c) continue;
        if (j < c ? low[j]! <= low[c]! : low[j]! < low[c]!) isLow = false;
        if (j < c ? high[j]! >= high[c]! : high[j]! > high[c]!) isHigh = false;
      }
      if (isLow) {
        if (lastLow && c - lastLow.bar >= 5 && c - lastLow.bar <= 60 && low[c]! < lastLow.price && rsi[c]! > lastLow.rsi && lastLow.rsi <= 40) {
          expected.push({ bar: i, side: 'long' });
        }
        lastLow = { bar: c, price: low[c]!, rsi: rsi[c]! };
      }
      if (isHigh) {
        if (lastHigh && c - lastHigh.bar >= 5 && c - lastHigh.bar <= 60 && high[c]! > lastHigh.price && rsi[c]! < lastHigh.rsi && lastHigh.rsi >= 60) {
          expected.push({ bar: i, side: 'short' });
        }
        lastHigh = { bar: c, price: high[c]!, rsi: rsi[c]! };
      }
    }
    expect(bars).toEqual(expected);
    const sides = countSides(signals);
    expect(sides.long).toBeGreaterThan(10);
    expect(sides.short).toBeGreaterThan(10);
    checkSignals(signals, 'rsi-divergence');
    for (const s of signals) {
      // The stop sits beyond the swing that formed the divergence, the target at twice the risk.
      const swing = s.metadata!.swingPrice as number;
      if (s.side === 'long') expect(s.stopLoss!).toBeLessThan(swing);
      if (s.side === 'short') expect(s.stopLoss!).toBeGreaterThan(swing);
      expect(near(Math.abs(s.takeProfit! - s.price), 2 * Math.abs(s.price - s.stopLoss!))).toBe(true);
      expect(s.metadata!.swingTime as number).toBe((s.metadata!.barTime as number) - k * FIVE_MINUTES);
    }
  });
});
