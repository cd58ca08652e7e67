import { describe, expect, test } from 'vitest';
import { createStrategy } from '../create.js';
import { btcPairs, loadCandles } from '../test-support/candles.js';
import type { Signal, StrategyCandle } from '../types.js';

/*
 * Stage analysis, pivotal points, breadth thrust and buy-strength-in-leaders on real data. The
 * expected signals are recomputed here from the published rules with plain loops over the raw
 * bars (weeks grouped by calendar, breadth counted over the whole history), not through the
 * strategies' own helpers.
 */

const DAY = 86_400_000;
const goog = loadCandles('nasdaq-GOOG-1d');
const pairs = btcPairs.map((p) => loadCandles(`binance-${p}-BTC-5m`));
/** Every pair's bars in time order, symbols of one moment in alphabetical order. */
const universe = pairs.flat().sort((a, b) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol));

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function emaSeries(values: readonly number[], period: number): number[] {
  const k = 2 / (period + 1);
  const out: number[] = [];
  values.forEach((x, i) => out.push(i === 0 ? x : x * k + out[i - 1]! * (1 - k)));
  return out;
}

function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const brief = (s: Signal) => ({ symbol: s.symbol, barTime: s.metadata!.barTime as number, side: s.side });

describe('weinstein-stage', () => {
  test('on GOOG weeks grouped by calendar from the daily bars: stages, the volume breakout, the stage-4 exit and breakdown', () => {
    const strategy = createStrategy({ type: 'weinstein-stage', timeframe: '1d' });
    const signals = goog.flatMap((c) => strategy.onCandle(c));

    // Weeks Monday to Sunday, by the calendar; a week is known complete at the first bar after it.
    const mondayOf = (t: number) => {
      const d = new Date(t);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    };
    const weeks: StrategyCandle[] = [];
    const expected: Array<{ barTime: number; side: string; stage: number; stopLoss?: number }> = [];
    let current: StrategyCandle | undefined;
    let stage: number | undefined;
    let position: string | undefined;
    const p = { maPeriod: 30, slopeBars: 4, flatPct: 0.5, baseBars: 10, volumeBars: 4, volumeMultiple: 2 };
    goog.forEach((bar, i) => {
      const monday = mondayOf(bar.timestamp);
      let known = false;
      if (current !== undefined && current.timestamp !== monday) {
        weeks.push(current);
        known = true;
        current = undefined;
      }
      current =
        current === undefined
          ? { ...bar, timestamp: monday, timeframe: '1w' }
          : { ...current, high: Math.max(current.high, bar.high), low: Math.min(current.low, bar.low), close: bar.close, volume: current.volume + bar.volume };
      if (!known || i < strategy.warmupBars - 1 || weeks.length < p.maPeriod + p.slopeBars) return;
      const n = weeks.length;
      const w = weeks[n - 1]!;
      const closes = weeks.map((x) => x.close);
      const ma = mean(closes.slice(n - 30));
      const maBefore = mean(closes.slice(n - 34, n - 4));
      const slope = ((ma - maBefore) / maBefore) * 100;
      const next = w.close > ma && slope > p.flatPct ? 2 : w.close < ma && slope < -p.flatPct ? 4 : stage === 2 || stage === 3 ? 3 : 1;
      const base = weeks.slice(n - 11, n - 1);
      const resistance = Math.max(...base.map((x) => x.high));
      const support = Math.min(...base.map((x) => x.low));
      const volumeRatio = w.volume / mean(weeks.slice(n - 5, n - 1).map((x) => x.volume));
      const out: Array<{ barTime: number; side: string; stage: number; stopLoss?: number }> = [];
      if (position === 'long' && next === 4) out.push({ barTime: bar.timestamp, side: 'flat', stage: next });
      if (w.close > resistance && w.close > ma && slope >= -p.flatPct && volumeRatio >= 2 && position !== 'long') {
        out.push({ barTime: bar.timestamp, side: 'long', stage: next, ...(support < bar.close ? { stopLoss: support } : {}) });
      }
      if (w.close < support && w.close < ma && slope <= p.flatPct && position !== 'short') {
        out.push({ barTime: bar.timestamp, side: 'short', stage: next, ...(resistance > bar.close ? { stopLoss: resistance } : {}) });
      }
      expected.push(...out);
      if (out.length > 0) position = out[out.length - 1]!.side;
      stage = next;
    });

    expect(signals.map((s) => ({ barTime: s.metadata!.barTime, side: s.side, stage: s.metadata!.stage, ...(s.stopLoss === undefined ? {} : { stopLoss: s.stopLoss }) }))).toEqual(expected);
    expect(new Set(expected.map((e) => e.side))).toEqual(new Set(['long', 'short', 'flat']));
    // (30 + 4 weeks kept + 2) weeks of 7 daily bars.
    expect(strategy.warmupBars).toBe(36 * 7);
    const long = signals.find((s) => s.side === 'long')!;
    expect(long.reason).toMatch(/^Stage-2 breakout on the 1w bar of \d{4}-\d\d-\d\d: close .* above the base high .* and the 30-bar MA .*, volume \d+\.\d× the 4-bar average$/);
    // Signals come on the first trading day after the week, never inside it.
    for (const s of signals) expect(mondayOf(s.metadata!.barTime as number)).toBeGreaterThan(s.metadata!.stageBarTime as number);
  });
});

describe('livermore-pivot', () => {
  const bars = (closes: number[]): StrategyCandle[] =>
    closes.map((close, i) => ({ symbol: 'X', timeframe: '1d', timestamp: i * DAY, open: close, high: close, low: close, close, volume: 1 }));

  test('a hand-worked record: the advance resumes through the pivotal point, then a failed rally turns the trend down', () => {
    // 6% swings, 3% confirmation. 100 → 110 starts the up trend; 120 top; 112 (≤ 112.8) a natural
    // reaction, pivotal point 120; 108 low; 115 (≥ 114.48) a rally off it, reaction pivot 108;
    // 124 (≥ 123.6) clears 120 by 3%: long. 130 top; 121 (≤ 122.2) reaction, pivot 130; 118 low;
    // 126 (≥ 125.08) rally, reaction pivot 118; 114 (≤ 114.46) breaks 118 by 3%: short.
    const closes = [100, 100, 110, 120, 112, 108, 115, 123, 124, 130, 121, 118, 126, 115, 114, 113];
    const strategy = createStrategy({ type: 'livermore-pivot' });
    const signals = bars(closes).flatMap((c) => strategy.onCandle(c));
    expect(signals.map((s) => [s.metadata!.barTime as number / DAY, s.side, s.metadata!.pivot, s.metadata!.via])).toEqual([
      [8, 'long', 120, 'resumed'],
      [14, 'short', 118, 'reversed'],
    ]);
    expect(signals[0]!.reason).toBe('Close 124.00 cleared the pivotal point 120.00 by 3%: the trend resumed up');
    const noShort = createStrategy({ type: 'livermore-pivot', params: { short: false } });
    expect(bars(closes).flatMap((c) => noShort.onCandle(c)).map((s) => s.side)).toEqual(['long', 'flat']);
  });

  test('on GOOG every signal breaks, for the first time, a pivotal close that a swing of 6% came off', () => {
    const strategy = createStrategy({ type: 'livermore-pivot', timeframe: '1d' });
    const signals = goog.flatMap((c) => strategy.onCandle(c));
    expect(signals.length).toBeGreaterThan(10);
    const index = new Map(goog.map((c, i) => [c.timestamp, i]));
    const closes = goog.map((c) => c.close);
    let previousSide: string | undefined;
    for (const s of signals) {
      const i = index.get(s.metadata!.barTime as number)!;
      const pivot = s.metadata!.pivot as number;
      const up = s.side === 'long';
      expect(up ? closes[i]! >= pivot * 1.03 : closes[i]! <= pivot * 0.97).toBe(true);
      // The pivot is an earlier close...
      const j = closes.lastIndexOf(pivot, i - 1);
      expect(j).toBeGreaterThanOrEqual(0);
      const between = closes.slice(j + 1, i);
      // ...a swing of at least 6% against the signal came off it...
      expect(between.some((c) => (up ? c <= pivot * 0.94 : c >= pivot * 1.06))).toBe(true);
      // ...and no close before this one went through it by 3%.
      expect(between.every((c) => (up ? c < pivot * 1.03 : c > pivot * 0.97))).toBe(true);
      expect(s.side).not.toBe(previousSide);
      previousSide = s.side;
    }
  });
});

describe('zweig-breadth', () => {
  test('the thrust is the one a breadth count over the whole history finds; each symbol goes long on its first bar after it and flat on its first bar 100 bar times later', () => {
    const strategy = createStrategy({ type: 'zweig-breadth' });
    const signals = universe.flatMap((c) => strategy.onCandle(c));

    // Advancers and decliners per bar time over all nine pairs, each against its own previous bar.
    const counts = new Map<number, { adv: number; dec: number }>();
    for (const series of pairs) {
      for (let i = 1; i < series.length; i++) {
        const change = series[i]!.close - series[i - 1]!.close;
        if (change === 0) continue;
        const c = counts.get(series[i]!.timestamp) ?? { adv: 0, dec: 0 };
        if (change > 0) c.adv++;
        else c.dec++;
        counts.set(series[i]!.timestamp, c);
      }
    }
    const times = [...counts.keys()].sort((a, b) => a - b);
    const ema = emaSeries(times.map((t) => counts.get(t)!.adv / (counts.get(t)!.adv + counts.get(t)!.dec)), 10);
    const thrusts: number[] = [];
    times.forEach((t, n) => {
      // Thrusts are read once 9 EMA periods and the 10-bar look-back lie before them.
      if (n < 100 || !(ema[n]! > 0.615 && ema[n - 1]! <= 0.615)) return;
      const c = counts.get(t)!;
      if (c.adv + c.dec < 3) return;
      if (ema.slice(n - 10, n).some((e) => e < 0.4)) thrusts.push(n);
    });
    expect(thrusts.length).toBeGreaterThan(3);

    const expected: Array<{ symbol: string; barTime: number; side: string }> = [];
    for (const series of pairs) {
      series.forEach((bar, i) => {
        if (i < 1) return; // warm-up: the strategy needs two bars of its own
        // The last bar time of the universe before this bar, and before the symbol's previous bar.
        const now = lowerBound(times, bar.timestamp) - 1;
        const before = lowerBound(times, series[i - 1]!.timestamp) - 1;
        const latest = thrusts.filter((n) => n <= now).pop();
        if (latest === undefined) return;
        if (latest > before && now - latest < 100) expected.push({ symbol: bar.symbol, barTime: bar.timestamp, side: 'long' });
        else if (latest <= before && now - latest >= 100 && before - latest < 100) expected.push({ symbol: bar.symbol, barTime: bar.timestamp, side: 'flat' });
      });
    }
    const order = (a: { symbol: string; barTime: number }, b: { symbol: string; barTime: number }) => a.barTime - b.barTime || a.symbol.localeCompare(b.symbol);
    expect(signals.map(brief).sort(order)).toEqual(expected.sort(order));
    expect(expected.filter((e) => e.side === 'flat').length).toBeGreaterThan(3);
    const first = signals[0]!;
    expect(first.reason).toMatch(/^Breadth thrust: the 10-bar EMA of advancers rose from 0\.3\d+ \(.*\) to 0\.6\d+ \(.* UTC\)$/);
  });

  test('signals do not depend on the order symbols were warmed up in: one symbol at a time gives the same as time order', () => {
    const warm = 2_000;
    const timeOrder = createStrategy({ type: 'zweig-breadth' });
    const oneByOne = createStrategy({ type: 'zweig-breadth' });
    // As a runner warms: each symbol's history in turn, then the live bars in time order.
    timeOrder.warmUp(universe.filter((c) => c.timestamp < pairs[0]![warm]!.timestamp));
    for (const series of pairs) oneByOne.warmUp(series.filter((c) => c.timestamp < pairs[0]![warm]!.timestamp));
    const live = universe.filter((c) => c.timestamp >= pairs[0]![warm]!.timestamp);
    const a = live.flatMap((c) => timeOrder.onCandle(c)).map(brief);
    const b = live.flatMap((c) => oneByOne.onCandle(c)).map(brief);
    expect(a.length).toBeGreaterThan(4);
    expect(b).toEqual(a);
  });

  test('the same signals whatever order one moment’s bars arrive in', () => {
    const forward = createStrategy({ type: 'zweig-breadth', params: { leaders: 3 } });
    const backward = createStrategy({ type: 'zweig-breadth', params: { leaders: 3 } });
    const reversed = [...universe].sort((a, b) => a.timestamp - b.timestamp || b.symbol.localeCompare(a.symbol));
    const a = universe.flatMap((c) => forward.onCandle(c)).map(brief);
    const b = reversed.flatMap((c) => backward.onCandle(c)).map(brief);
    const order = (x: { symbol: string; barTime: number }, y: { symbol: string; barTime: number }) => x.barTime - y.barTime || x.symbol.localeCompare(y.symbol);
    expect(a.length).toBeGreaterThan(4);
    expect(b.sort(order)).toEqual(a.sort(order));
    // With leaders: 3, at most three symbols go long on one thrust.
    const perTime = new Map<number, number>();
    for (const s of a) if (s.side === 'long') perTime.set(s.barTime, (perTime.get(s.barTime) ?? 0) + 1);
    expect(Math.max(...perTime.values())).toBeLessThanOrEqual(3);
  });
});

describe('bts-lynch', () => {
  test('long the relative-strength leaders on a breakout above a rising EMA; flat on the bar the close falls below it or the symbol drops out of the top half', () => {
    const strategy = createStrategy({ type: 'bts-lynch' });
    const signals = universe.flatMap((c) => strategy.onCandle(c));
    const times = pairs.map((s) => s.map((c) => c.timestamp));
    const closes = pairs.map((s) => s.map((c) => c.close));
    /** Every pair's 20-bar return on its bars before `t`, by pair index. */
    const returnsBefore = (t: number): Map<number, number> => {
      const out = new Map<number, number>();
      pairs.forEach((_, s) => {
        const k = lowerBound(times[s]!, t);
        if (k >= 21) out.set(s, closes[s]![k - 1]! / closes[s]![k - 21]! - 1);
      });
      return out;
    };
    const rank = (t: number, s: number) => {
      const all = returnsBefore(t);
      const own = all.get(s);
      return own === undefined ? undefined : { ahead: [...all.values()].filter((r) => r > own).length, ranked: all.size };
    };

    const expected: Array<{ symbol: string; barTime: number; side: string }> = [];
    pairs.forEach((series, s) => {
      const ema = emaSeries(closes[s]!, 50);
      series.forEach((bar, i) => {
        if (i < 50) return; // EMA(50) warm-up, plus one bar for the previous values
        const now = rank(bar.timestamp, s);
        const was = rank(series[i - 1]!.timestamp, s);
        const belowEma = series[i - 1]!.close >= ema[i - 1]! && bar.close < ema[i]!;
        const outOfTop = now !== undefined && was !== undefined && now.ahead >= now.ranked / 2 && was.ahead < was.ranked / 2;
        if (belowEma || outOfTop) {
          expected.push({ symbol: bar.symbol, barTime: bar.timestamp, side: 'flat' });
          return;
        }
        if (now === undefined || now.ranked < 3) return;
        const high = Math.max(...series.slice(i - 20, i).map((b) => b.high));
        if (now.ahead < Math.ceil(now.ranked * 0.3) && bar.close > ema[i]! && ema[i]! > ema[i - 1]! && bar.close > high) {
          expected.push({ symbol: bar.symbol, barTime: bar.timestamp, side: 'long' });
        }
      });
    });
    const order = (a: { symbol: string; barTime: number }, b: { symbol: string; barTime: number }) => a.barTime - b.barTime || a.symbol.localeCompare(b.symbol);
    expect(expected.filter((e) => e.side === 'long').length).toBeGreaterThan(50);
    expect(signals.map(brief).sort(order)).toEqual(expected.sort(order));
    const entry = signals.find((x) => x.side === 'long')!;
    expect(entry.reason).toMatch(/^\w+\/BTC leads \([123] of 9 by 20-bar return -?\d+\.\d\d%\), above a rising EMA\(50\), and closed .* above its 20-bar high .*$/);
    expect(entry.stopLoss).toBeLessThan(entry.price);
    expect(signals.some((x) => x.reason.includes('no longer a leader'))).toBe(true);
  });

  test('signals do not depend on the order symbols were warmed up in', () => {
    const cut = pairs[0]![1_500]!.timestamp;
    const timeOrder = createStrategy({ type: 'bts-lynch' });
    const oneByOne = createStrategy({ type: 'bts-lynch' });
    timeOrder.warmUp(universe.filter((c) => c.timestamp < cut));
    for (const series of pairs) oneByOne.warmUp(series.filter((c) => c.timestamp < cut));
    const live = universe.filter((c) => c.timestamp >= cut);
    const a = live.flatMap((c) => timeOrder.onCandle(c)).map(brief);
    expect(a.length).toBeGreaterThan(50);
    expect(live.flatMap((c) => oneByOne.onCandle(c)).map(brief)).toEqual(a);
  });
});

describe('parameters', () => {
  test('defaults fill in, and a bad value names its field', () => {
    expect(createStrategy({ type: 'weinstein-stage', timeframe: '1d' }).params).toEqual({
      stageTimeframe: '1w', maPeriod: 30, slopeBars: 4, flatPct: 0.5, baseBars: 10, volumeBars: 4, volumeMultiple: 2, short: true,
    });
    expect(createStrategy({ type: 'livermore-pivot' }).params).toEqual({ swingPct: 6, confirmPct: 3, short: true });
    expect(createStrategy({ type: 'zweig-breadth' }).params).toMatchObject({ emaPeriod: 10, low: 0.4, high: 0.615, withinBars: 10, leaders: 0 });
    expect(createStrategy({ type: 'bts-lynch' }).params).toMatchObject({ trendPeriod: 50, strengthBars: 20, leaderShare: 0.3, breakoutBars: 20 });
    const field = (config: unknown): string => {
      try {
        createStrategy(config);
      } catch (err) {
        return (err as { field: string }).field;
      }
      throw new Error('expected an error');
    };
    expect(field({ type: 'livermore-pivot', params: { swingPct: 2, confirmPct: 3 } })).toBe('params.confirmPct');
    expect(field({ type: 'zweig-breadth', params: { low: 0.7 } })).toBe('params.low');
    expect(field({ type: 'bts-lynch', params: { leaderShare: 0 } })).toBe('params.leaderShare');
    expect(field({ type: 'weinstein-stage', params: { maPeriod: 30.5 } })).toBe('params.maPeriod');
    expect(field({ type: 'weinstein-stage', params: { stagetimeframe: '1w' } })).toBe('params.stagetimeframe');
    // Stages on weeks from 7-hour bars cannot be resampled: named at config time when timeframe is set.
    expect(field({ type: 'weinstein-stage', timeframe: '7h' })).toBe('timeframe');
  });
});
