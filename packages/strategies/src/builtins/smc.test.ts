import { SmartMoneyConcepts, type Candle } from '@tradebus/indicators';
import { describe, expect, test } from 'vitest';
import { createStrategy } from '../create.js';
import { StrategyConfigError } from '../errors.js';
import { format } from './common.js';
import { loadCandles, type SeriesName } from '../test-support/candles.js';
import type { Signal, StrategyCandle } from '../types.js';

/*
 * The SMC strategy over real Binance 5-minute candles with an hourly bias. Its signals are checked
 * against engines fed here independently: the 5-minute engine from the bars before the signal, the
 * hourly engine from hourly bars resampled here.
 */

const HOUR = 3_600_000;
const FIVE_MINUTES = 300_000;

function run(name: SeriesName, params: Record<string, unknown> = {}) {
  const candles = loadCandles(name);
  const strategy = createStrategy({ type: 'smc', timeframe: '5m', params });
  const signals: Signal[] = candles.flatMap((candle) => strategy.onCandle(candle));
  const index = new Map(candles.map((c, i) => [c.timestamp, i]));
  return { candles, signals, barOf: (s: Signal) => index.get(s.metadata!.barTime as number)! };
}

/** Hourly bars from 5-minute ones: epoch-aligned hours, open of the first, high/low over all, close of the last. */
function hourly(candles: readonly StrategyCandle[]): { bar: Candle; lastTime: number }[] {
  const out: { bar: Candle; lastTime: number }[] = [];
  for (const c of candles) {
    const start = Math.floor(c.timestamp / HOUR) * HOUR;
    const last = out.at(-1);
    if (last === undefined || last.bar.timestamp !== start) out.push({ bar: { timestamp: start, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume }, lastTime: c.timestamp });
    else {
      last.bar = { ...last.bar, high: Math.max(last.bar.high, c.high), low: Math.min(last.bar.low, c.low), close: c.close, volume: last.bar.volume + c.volume };
      last.lastTime = c.timestamp;
    }
  }
  return out;
}

describe.each(['binance-ETH-BTC-5m', 'binance-ADA-BTC-5m'] as const)('smc on %s', (name) => {
  const { candles, signals, barOf } = run(name);
  const entries = signals.filter((s) => s.side !== 'flat');

  test('produces entries both ways, each with its stop beyond the zone and on the right side of the price', () => {
    expect(entries.length).toBeGreaterThan(3);
    expect(entries.some((s) => s.side === 'long') && entries.some((s) => s.side === 'short')).toBe(true);
    expect(signals.some((s) => s.side === 'flat')).toBe(true);
    for (const s of entries) {
      const m = s.metadata!;
      expect(s.price).toBe(candles[barOf(s)]!.close);
      expect(s.timestamp).toBe((m.barTime as number) + FIVE_MINUTES);
      if (s.side === 'long') {
        expect(s.stopLoss!).toBeLessThan(s.price);
        expect(s.stopLoss!).toBeLessThanOrEqual(m.zoneBottom as number);
        if (s.takeProfit !== undefined) expect(s.takeProfit).toBeGreaterThan(s.price);
        expect(m.zoneTop as number).toBeLessThanOrEqual(m.equilibrium as number);
        expect(m.bias).toBe(1);
      } else {
        expect(s.stopLoss!).toBeGreaterThan(s.price);
        expect(s.stopLoss!).toBeGreaterThanOrEqual(m.zoneTop as number);
        if (s.takeProfit !== undefined) expect(s.takeProfit).toBeLessThan(s.price);
        expect(m.zoneBottom as number).toBeGreaterThanOrEqual(m.equilibrium as number);
        expect(m.bias).toBe(-1);
      }
      expect(s.reason).toMatch(/^1h bias (bullish|bearish).* traded into the (bullish|bearish) (order block|fair value gap) .* zone \(equilibrium .*\); stop beyond .*, target .*/);
    }
    // Each zone gives one entry.
    const keys = entries.map((s) => s.metadata!.zoneKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("every entry's zone, range and bias are the engines' state before its bar", () => {
    for (const signal of entries) {
      const t = barOf(signal);
      const m = signal.metadata!;
      const engine = new SmartMoneyConcepts({ swingLength: 10 });
      const from = t - (m.barsSeen as number);
      for (const bar of candles.slice(from, t)) engine.update(bar);
      const state = engine.value!;
      expect(state.equilibrium).toBe(m.equilibrium);
      expect([state.rangeHigh, state.rangeLow]).toEqual([m.rangeHigh, m.rangeLow]);
      const zone =
        m.zoneKind === 'orderBlock'
          ? engine.orderBlocks.find((b) => `ob:${b.direction}:${b.createdIndex}` === m.zoneKey)
          : engine.fairValueGaps.find((g) => `fvg:${g.direction}:${g.index}` === m.zoneKey);
      expect(zone).toBeDefined();
      expect([zone!.top, zone!.bottom, zone!.index]).toEqual([m.zoneTop, m.zoneBottom, m.zoneIndex]);
      if ('status' in zone!) expect(zone.status).toBe('active');
      else expect(zone!.mitigatedIndex).toBeUndefined();
      const kind = m.zoneKind === 'orderBlock' ? 'order block' : 'fair value gap';
      expect(signal.reason).toContain(`${kind} ${format(zone!.bottom)}–${format(zone!.top)} in the ${signal.side === 'long' ? 'discount' : 'premium'} zone (equilibrium ${format(state.equilibrium)})`);
      const bar = candles[t]!;
      if (signal.side === 'long') {
        expect(bar.low).toBeLessThanOrEqual(zone!.top);
        // Default stop: the zone's bottom less a tenth of its height.
        expect(signal.stopLoss).toBeCloseTo(zone!.bottom - 0.1 * (zone!.top - zone!.bottom), 12);
      } else {
        expect(bar.high).toBeGreaterThanOrEqual(zone!.bottom);
        expect(signal.stopLoss).toBeCloseTo(zone!.top + 0.1 * (zone!.top - zone!.bottom), 12);
      }
      // The bias: an hourly engine fed the hours that had closed before this bar.
      const hours = hourly(candles).filter((h) => h.bar.timestamp >= (m.higherFrom as number) && h.lastTime < bar.timestamp);
      const higher = new SmartMoneyConcepts({ swingLength: 5 });
      for (const h of hours.slice(0, m.higherBars as number)) higher.update(h.bar);
      expect(higher.count).toBe(m.higherBars);
      expect(higher.value!.trend).toBe(m.bias);
      const brk = higher.value!.lastBreak!;
      expect(signal.reason.startsWith(`1h bias ${m.bias === 1 ? 'bullish' : 'bearish'} (${brk.kind} of ${format(brk.level)}); `)).toBe(true);
    }
  });

  test('a position is left with a flat signal when the hourly bias turns against it', () => {
    const flats = signals.filter((s) => s.side === 'flat');
    for (const flat of flats) {
      const before = signals.filter((s) => barOf(s) < barOf(flat)).at(-1)!;
      expect(before.side).not.toBe('flat');
      expect(flat.metadata!.bias).toBe(before.side === 'long' ? -1 : 1);
      expect(flat.reason).toMatch(/^1h bias turned (bullish|bearish), leaving the (long|short)$/);
    }
  });
});

describe('smc on forming bars', () => {
  test('forming updates before each close leave the closed-bar signals as the closed bars alone give them', () => {
    const candles = loadCandles('binance-ETH-BTC-5m');
    const plain = createStrategy({ type: 'smc', timeframe: '5m' });
    const live = createStrategy({ type: 'smc', timeframe: '5m' });
    const expected = candles.flatMap((c) => plain.onCandle(c));
    let provisional = 0;
    const actual = candles.flatMap((c) => {
      provisional += live.onCandleUpdate({ ...c, high: c.open, low: c.open, close: c.open }).length;
      provisional += live.onCandleUpdate({ ...c, low: Math.min(c.low * 0.995, c.open), close: c.low }).length;
      return live.onCandle(c);
    });
    expect(actual).toEqual(expected);
    expect(expected.length).toBeGreaterThan(3);
    expect(provisional).toBeGreaterThan(0);
  });
});

describe('smc parameters', () => {
  test('targets at a multiple of the risk with target: rr', () => {
    const { signals } = run('binance-ETH-BTC-5m', { target: 'rr', rewardRisk: 3 });
    const entries = signals.filter((s) => s.side !== 'flat');
    expect(entries.length).toBeGreaterThan(0);
    for (const s of entries) expect(Math.abs(s.takeProfit! - s.price)).toBeCloseTo(3 * Math.abs(s.price - s.stopLoss!), 12);
  });

  test('order blocks only, and stops beyond the last swing with stopAt: swing', () => {
    const { signals } = run('binance-ETH-BTC-5m', { zones: 'orderBlocks', stopAt: 'swing' });
    const entries = signals.filter((s) => s.side !== 'flat');
    expect(entries.length).toBeGreaterThan(0);
    let beyondZone = 0;
    for (const s of entries) {
      const m = s.metadata!;
      expect(m.zoneKind).toBe('orderBlock');
      const buffer = 0.1 * ((m.zoneTop as number) - (m.zoneBottom as number));
      const zoneStop = s.side === 'long' ? (m.zoneBottom as number) - buffer : (m.zoneTop as number) + buffer;
      // Never closer than the zone's own stop; further where the last swing lies beyond the zone.
      if (s.side === 'long') expect(s.stopLoss!).toBeLessThanOrEqual(zoneStop);
      else expect(s.stopLoss!).toBeGreaterThanOrEqual(zoneStop);
      if (s.stopLoss !== zoneStop) {
        beyondZone++;
        expect(s.reason).toMatch(/stop beyond the swing (low|high)/);
      }
    }
    expect(beyondZone).toBeLessThanOrEqual(entries.length);
  });

  test('unknown or invalid parameters are refused with the field named', () => {
    expect(() => createStrategy({ type: 'smc', timeframe: '5m', params: { swingLenght: 5 } })).toThrow(StrategyConfigError);
    expect(() => createStrategy({ type: 'smc', timeframe: '5m', params: { target: 'moon' } })).toThrow(/target/);
    expect(() => createStrategy({ type: 'smc', timeframe: '5m', params: { higherTimeframe: '7m' } })).toThrow(/timeframe/);
  });
});
