import { describe, expect, test } from 'vitest';
import { builtinRegistry, createStrategy } from './create.js';
import { StrategyConfigError, StrategyInputError } from './errors.js';
import { StrategyRegistry } from './registry.js';
import { defineStrategy } from './strategy.js';
import { loadCandles } from './test-support/candles.js';
import { bucketStart } from './timeframe.js';
import type { HigherTimeframeView, Signal, StrategyCandle } from './types.js';
import { z } from 'zod';

/*
 * Higher timeframes resampled from the strategy's own bars. Expected bars and indicator values are
 * rebuilt here by grouping the base bars by hand (floor of the open time to the hour) and plain
 * loops for the averages, then compared with what the strategy saw on every bar.
 */

const HOUR = 3_600_000;
const FIVE_MINUTES = 300_000;
// ADA has five real gaps; one more whole hour and the last bar of another are cut out here, so
// an absent higher bar and a higher bar whose last base bar never came are both covered.
const adaAll = loadCandles('binance-ADA-BTC-5m');
const cutHour = bucketStart(adaAll[600]!.timestamp, '1h');
const cutLast = bucketStart(adaAll[1500]!.timestamp, '1h') + HOUR - FIVE_MINUTES;
const ada = adaAll.filter((c) => bucketStart(c.timestamp, '1h') !== cutHour && c.timestamp !== cutLast);
const eth = loadCandles('binance-ETH-BTC-5m');

interface Seen {
  timestamp: number;
  closed: boolean;
  view: HigherTimeframeView<{ ema: { type: 'ema'; period: number }; sma: { type: 'sma'; period: number } }>;
}

const probeParams = z.strictObject({ ema: z.number().default(5), keep: z.number().default(3) });

/** Records the hourly view on every bar it is evaluated on, and goes long on every closed one. */
function probe(seen: Seen[]) {
  return defineStrategy({
    type: 'probe',
    description: 'test probe',
    params: probeParams,
    indicators: () => ({ sma: { type: 'sma', period: 2 } }),
    higher: (p: z.output<typeof probeParams>) => ({
      hour: { timeframe: '1h', indicators: { ema: { type: 'ema', period: p.ema }, sma: { type: 'sma', period: 3 } }, keep: p.keep },
    }),
    evaluate(ctx) {
      seen.push({ timestamp: ctx.candle.timestamp, closed: ctx.closed, view: ctx.higher.hour });
      return ctx.closed ? { side: 'long', confidence: 0.5, reason: `hour close ${ctx.higher.hour.candle.close}` } : undefined;
    },
  });
}

function run(candles: readonly StrategyCandle[], forming?: (c: StrategyCandle) => StrategyCandle[]) {
  const seen: Seen[] = [];
  const strategy = createStrategy({ type: 'probe', timeframe: '5m' }, { registry: new StrategyRegistry([probe(seen)]) });
  const signals: Signal[] = [];
  for (const candle of candles) {
    if (forming !== undefined) for (const f of forming(candle)) strategy.onCandleUpdate(f);
    signals.push(...strategy.onCandle(candle));
  }
  return { strategy, seen, signals };
}

function aggregate(bars: readonly StrategyCandle[], start: number, timeframe: string): StrategyCandle {
  return {
    symbol: bars[0]!.symbol,
    timeframe,
    timestamp: start,
    open: bars[0]!.open,
    high: Math.max(...bars.map((b) => b.high)),
    low: Math.min(...bars.map((b) => b.low)),
    close: bars[bars.length - 1]!.close,
    volume: bars.reduce((sum, b) => sum + b.volume, 0),
  };
}

/** EMA seeded with the first value, k = 2 / (period + 1); undefined before `period` values. */
function emaOf(values: readonly number[], period: number): number | undefined {
  if (values.length < period) return undefined;
  const k = 2 / (period + 1);
  let current = values[0]!;
  for (let i = 1; i < values.length; i++) current = values[i]! * k + current * (1 - k);
  return current;
}

function smaOf(values: readonly number[], period: number): number | undefined {
  if (values.length < period) return undefined;
  return values.slice(-period).reduce((a, b) => a + b, 0) / period;
}

type Expected = ReturnType<typeof expectedAfter>;

/** What the hourly view must be after `hours` (the last one holding bar `bars[i]`), by hand. */
function expectedAfter(bars: readonly StrategyCandle[], i: number, hours: readonly StrategyCandle[], emaPeriod: number, keep: number) {
  const candle = hours[hours.length - 1]!;
  const closes = hours.map((h) => h.close);
  const valuesAt = (n: number) => ({ ema: emaOf(closes.slice(0, n), emaPeriod), sma: smaOf(closes.slice(0, n), 3) });
  return {
    candle,
    complete: bars[i]!.timestamp + FIVE_MINUTES === candle.timestamp + HOUR,
    closed: hours.slice(0, -1).slice(-keep),
    values: valuesAt(hours.length),
    closedValues: valuesAt(hours.length - 1),
    previousClosedValues: valuesAt(hours.length - 2),
  };
}

/** The expected hourly view after every bar: bars grouped by the floor of their open time to the hour. */
function expectedViews(bars: readonly StrategyCandle[], emaPeriod: number, keep: number): Expected[] {
  const out: Expected[] = [];
  const hours: StrategyCandle[] = [];
  let group: StrategyCandle[] = [];
  bars.forEach((bar, i) => {
    const start = Math.floor(bar.timestamp / HOUR) * HOUR;
    if (group.length > 0 && Math.floor(group[0]!.timestamp / HOUR) * HOUR !== start) group = [];
    else if (group.length > 0) hours.pop();
    group.push(bar);
    hours.push(aggregate(group, start, '1h'));
    out.push(expectedAfter(bars, i, hours, emaPeriod, keep));
  });
  return out;
}

function expectClose(actual: number, expected: number | undefined): void {
  expect(expected).toBeDefined();
  expect(Math.abs(actual - expected!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected!)));
}

describe('higher timeframes', () => {
  test('the hourly bars and their indicators equal a grouping by hand on every 5-minute bar, gaps included', () => {
    const { seen, strategy } = run(ada);
    expect(seen.length).toBeGreaterThan(5_000);
    const index = new Map(ada.map((c, i) => [c.timestamp, i]));
    const all = expectedViews(ada, 5, 3);
    let incomplete = 0;
    for (const { timestamp, view } of seen) {
      const expected = all[index.get(timestamp)!]!;
      expect(view.candle).toEqual(expected.candle);
      expect(view.complete).toBe(expected.complete);
      expect(view.closed).toEqual(expected.closed);
      for (const key of ['values', 'closedValues', 'previousClosedValues'] as const) {
        expectClose(view[key].ema, expected[key].ema);
        expectClose(view[key].sma, expected[key].sma);
      }
      if (!expected.complete && bucketStart(timestamp, '1h') === bucketStart(cutLast, '1h') && timestamp === cutLast - FIVE_MINUTES) incomplete++;
    }
    // The hour whose last bar was cut never shows as complete, and the cut hour is absent.
    expect(incomplete).toBe(1);
    expect(seen.some(({ view }) => view.candle.timestamp === cutHour || view.closed.some((c) => c.timestamp === cutHour))).toBe(false);
    expect(strategy.higherTimeframes).toEqual(['1h']);
  });

  test('warm-up covers the hourly indicators: the first evaluation is the first bar the hand count allows', () => {
    const { seen, strategy } = run(ada);
    // max(ema 5 + 2, keep 3 + 1) + 1 hourly bars of twelve 5-minute bars.
    expect(strategy.warmupBars).toBe(96);
    const all = expectedViews(ada, 5, 3);
    const first = ada.findIndex((_, i) => i >= strategy.warmupBars - 1 && all[i]!.previousClosedValues.ema !== undefined);
    expect(seen[0]!.timestamp).toBe(ada[first]!.timestamp);
  });

  test('no look-ahead: what bar t sees is the same whether the data stops at t or goes on', () => {
    const full = run(ada);
    for (const stop of [150, 151, 700, 1499, 2_000]) {
      const cut = run(ada.slice(0, stop + 1));
      const upTo = ada[stop]!.timestamp;
      const prefix = full.seen.filter((s) => s.timestamp <= upTo);
      expect(cut.seen).toEqual(prefix);
      expect(cut.signals).toEqual(full.signals.filter((s) => (s.metadata!.barTime as number) <= upTo));
    }
  });

  test('forming bars leave the higher timeframes as closed bars alone would, and see them as the last closed bar left them', () => {
    const plain = run(eth.slice(0, 1_200));
    const partial = (c: StrategyCandle): StrategyCandle[] => [
      { ...c, high: c.open, low: c.open, close: c.open, volume: 0 },
      { ...c, close: (c.open + c.close) / 2, high: Math.max(c.open, (c.open + c.close) / 2), low: Math.min(c.open, (c.open + c.close) / 2), volume: c.volume / 2 },
    ];
    const withForming = run(eth.slice(0, 1_200), partial);
    expect(withForming.signals).toEqual(plain.signals);
    const closedViews = withForming.seen.filter((s) => s.closed);
    expect(closedViews).toEqual(plain.seen);
    // Each forming evaluation sees the view of the closed bar before it.
    const byTime = new Map(plain.seen.map((s) => [s.timestamp, s.view]));
    const formingViews = withForming.seen.filter((s) => !s.closed);
    expect(formingViews.length).toBeGreaterThan(1_000);
    for (const { timestamp, view } of formingViews) {
      const before = byTime.get(timestamp - FIVE_MINUTES);
      if (before !== undefined) expect(view).toEqual(before);
    }
  });

  test('buckets: days from UTC midnight, weeks from Monday, months from the first', () => {
    const t = Date.UTC(2024, 1, 29, 13, 47, 5); // Thursday 29 February 2024
    expect(bucketStart(t, '1d')).toBe(Date.UTC(2024, 1, 29));
    expect(bucketStart(t, '4h')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(bucketStart(t, '1w')).toBe(Date.UTC(2024, 1, 26));
    expect(new Date(bucketStart(t, '1w')).getUTCDay()).toBe(1);
    expect(bucketStart(Date.UTC(2024, 1, 26), '1w')).toBe(Date.UTC(2024, 1, 26));
    expect(bucketStart(t, '1M')).toBe(Date.UTC(2024, 1, 1));
    expect(bucketStart(t, '3M')).toBe(Date.UTC(2024, 0, 1));
  });

  test('a strategy reading higher timeframes needs its own timeframe, and a higher one that is a multiple of it', () => {
    const registry = builtinRegistry().with(probe([]));
    const fail = (config: unknown): StrategyConfigError => {
      try {
        registry.create(config, { path: 'strategies[2]' });
      } catch (err) {
        expect(err).toBeInstanceOf(StrategyConfigError);
        return err as StrategyConfigError;
      }
      throw new Error('expected a StrategyConfigError');
    };
    // Without a configured timeframe the first bar tells it: warm-up covers the hours from then on.
    const unset = registry.create({ type: 'probe' });
    expect(unset.warmupBars).toBe(3);
    unset.onCandle(ada[0]!);
    expect(unset.warmupBars).toBe(96);
    expect(() => registry.create({ type: 'probe' }).onCandle({ ...ada[0]!, timeframe: '7m' })).toThrow(StrategyInputError);
    const notMultiple = fail({ type: 'probe', timeframe: '7m' });
    expect(notMultiple.message).toContain("'7m' or a whole multiple of it");
    const filter = fail({ type: 'ema-cross', timeframe: '1h', trendFilter: { timeframe: '90m' } });
    expect(filter.field).toBe('strategies[2].trendFilter.timeframe');
    expect(() => createStrategy({ type: 'ema-cross', timeframe: '1h', trendFilter: { timeframe: '1d', emma: 3 } })).toThrow(/trendFilter\.emma/);
  });
});

describe('trend filter', () => {
  /** The hourly trend at bar i by hand: the last completed hour's close against EMA(period) of the completed hours' closes. */
  function trendAt(bars: readonly StrategyCandle[], period: number) {
    const out: Array<{ up: boolean; down: boolean; ready: boolean }> = [];
    const hours: StrategyCandle[] = [];
    let group: StrategyCandle[] = [];
    bars.forEach((bar) => {
      const start = Math.floor(bar.timestamp / HOUR) * HOUR;
      if (group.length > 0 && Math.floor(group[0]!.timestamp / HOUR) * HOUR !== start) group = [];
      else if (group.length > 0) hours.pop();
      group.push(bar);
      hours.push(aggregate(group, start, '1h'));
      const complete = bar.timestamp + FIVE_MINUTES === start + HOUR;
      const done = complete ? hours : hours.slice(0, -1);
      const ema = emaOf(done.map((h) => h.close), period);
      const close = done[done.length - 1]?.close ?? NaN;
      out.push({ up: ema !== undefined && close > ema, down: ema !== undefined && close < ema, ready: hours.length >= period + 2 });
    });
    return out;
  }

  test('off by default; on, an entry against the hourly trend goes out as an exit and one with it unchanged', () => {
    const plain = createStrategy({ type: 'ema-cross', timeframe: '5m', params: { fast: 5, slow: 13 } });
    expect(plain.higherTimeframes).toEqual([]);
    const filtered = createStrategy({ type: 'ema-cross', timeframe: '5m', params: { fast: 5, slow: 13 }, trendFilter: { timeframe: '1h', ema: 10 } });
    expect(filtered.higherTimeframes).toEqual(['1h']);
    expect(filtered.warmupBars).toBe((10 + 2 + 1) * 12);
    const index = new Map(eth.map((c, i) => [c.timestamp, i]));
    const trend = trendAt(eth, 10);
    const plainSignals = eth.flatMap((c) => plain.onCandle(c));
    const filteredSignals = eth.flatMap((c) => filtered.onCandle(c));
    const expected = plainSignals
      .filter((s) => {
        const i = index.get(s.metadata!.barTime as number)!;
        return i >= filtered.warmupBars - 1 && trend[i]!.ready;
      })
      .map((s) => {
        const t = trend[index.get(s.metadata!.barTime as number)!]!;
        const keep = s.side === 'long' ? t.up : t.down;
        return { barTime: s.metadata!.barTime, side: keep ? s.side : 'flat', stop: keep ? s.stopLoss : undefined };
      });
    expect(filteredSignals.map((s) => ({ barTime: s.metadata!.barTime, side: s.side, stop: s.stopLoss }))).toEqual(expected);
    const exits = filteredSignals.filter((s) => s.side === 'flat');
    expect(exits.length).toBeGreaterThan(5);
    expect(filteredSignals.length - exits.length).toBeGreaterThan(5);
    expect(exits[0]!.reason).toMatch(/sent as an exit only: the 1h trend is not (up|down) \(close .*, EMA\(10\)/);
    expect(exits[0]!.metadata).toMatchObject({ originalSide: expect.stringMatching(/long|short/), trendFilter: { timeframe: '1h', rule: 'close-above-ema' } });
    expect(exits[0]!.id.endsWith(':flat')).toBe(true);
  });
});
