import { ConfigError } from '@tradebus/core';
import { batch } from '@tradebus/indicators';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { builtinStrategies } from './builtins/index.js';
import { builtinRegistry, createStrategies, createStrategy } from './create.js';
import { StrategyConfigError, StrategyInputError, StrategySignalError } from './errors.js';
import { StrategyRegistry } from './registry.js';
import { defineStrategy } from './strategy.js';
import { loadCandles } from './test-support/candles.js';
import { barCloseTime } from './timeframe.js';
import type { Signal, StrategyCandle } from './types.js';

const eth = loadCandles('binance-ETH-BTC-5m');
const ada = loadCandles('binance-ADA-BTC-5m');

function feed(strategy: ReturnType<typeof createStrategy>, candles: readonly StrategyCandle[]): Signal[] {
  return candles.flatMap((candle) => strategy.onCandle(candle));
}

function configError(fn: () => unknown): StrategyConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StrategyConfigError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as StrategyConfigError).code).toBe('CONFIG_INVALID');
    return err as StrategyConfigError;
  }
  throw new Error('expected a StrategyConfigError');
}

describe('createStrategy', () => {
  test('fills defaults, derives the indicators and the warm-up', () => {
    const strategy = createStrategy({ type: 'macd-cross' });
    expect(strategy.id).toBe('macd-cross');
    expect(strategy.type).toBe('macd-cross');
    expect(strategy.params).toMatchObject({ fast: 12, slow: 26, signal: 9, zeroLineFilter: false, atrPeriod: 14 });
    expect(strategy.indicators).toEqual({
      macd: { type: 'macd', fast: 12, slow: 26, signal: 9, source: 'close' },
      atr: { type: 'atr', period: 14 },
    });
    expect(strategy.warmupBars).toBe(35);
  });

  test('every built-in builds from its defaults', () => {
    for (const definition of builtinStrategies) {
      const strategy = createStrategy({ type: definition.type });
      expect(strategy.warmupBars).toBeGreaterThanOrEqual(2);
      // Every one runs on real bars from its defaults (some read no indicators: stages, pivots, breadth).
      feed(strategy, eth.slice(0, 300));
      expect(strategy.status('ETH/BTC')?.bars).toBe(300);
    }
    const types = builtinRegistry().types();
    expect(types).toEqual(builtinStrategies.map((d) => d.type));
    expect(types).toEqual(
      expect.arrayContaining([
        'ema-cross',
        'rsi-reversion',
        'macd-cross',
        'bollinger-reversion',
        'donchian-breakout',
        'adx-trend',
        'rsi-divergence',
        'weinstein-stage',
        'livermore-pivot',
        'zweig-breadth',
        'bts-lynch',
      ]),
    );
  });

  test('a bad parameter names the field, with the caller path', () => {
    const error = configError(() =>
      createStrategy({ type: 'ema-cross', params: { fast: 30, slow: 26 } }, { path: 'agents[1].config.strategies[0]' }),
    );
    expect(error.field).toBe('agents[1].config.strategies[0].params.fast');
    expect(error.message).toContain('agents[1].config.strategies[0].params.fast: must be shorter than slow');

    expect(configError(() => createStrategy({ type: 'rsi-reversion', params: { period: 0 } })).message).toContain('params.period: must be at least 1 bar');
    expect(configError(() => createStrategy({ type: 'rsi-reversion', params: { period: 'x' } })).field).toBe('params.period');
    expect(configError(() => createStrategy({ type: 'rsi-reversion', params: { oversold: 120 } })).field).toBe('params.oversold');
  });

  test('a misspelt parameter is an error, not a silent default', () => {
    const error = configError(() => createStrategy({ type: 'ema-cross', params: { fsat: 9 } }));
    expect(error.field).toBe('params.fsat');
    expect(error.message).toContain("unknown key 'fsat'");
  });

  test('an unknown type suggests the closest one', () => {
    const error = configError(() => createStrategy({ type: 'ema-crosss' }, { path: 'strategies[2]' }));
    expect(error.field).toBe('strategies[2].type');
    expect(error.message).toContain("Did you mean 'ema-cross'?");
  });

  test('id, timeframe and unknown keys of the config are checked', () => {
    expect(configError(() => createStrategy({ type: 'ema-cross', id: 'has space' })).field).toBe('id');
    expect(configError(() => createStrategy({ type: 'ema-cross', timeframe: '5 minutes' })).field).toBe('timeframe');
    expect(configError(() => createStrategy({ type: 'ema-cross', symbol: 'ETH/BTC' })).field).toBe('symbol');
    expect(configError(() => createStrategy('ema-cross')).message).toContain('Invalid strategy config');
  });

  test('createStrategies rejects two strategies with one id', () => {
    const strategies = createStrategies([{ type: 'ema-cross' }, { type: 'ema-cross', id: 'slow-ema', params: { fast: 50, slow: 200 } }]);
    expect(strategies.map((s) => s.id)).toEqual(['ema-cross', 'slow-ema']);
    const error = configError(() => createStrategies([{ type: 'ema-cross' }, { type: 'ema-cross' }], { path: 'strategies' }));
    expect(error.field).toBe('strategies[1].id');
  });
});

describe('running a strategy', () => {
  test('no signal during warm-up, and warm-up then live equals running from the start', () => {
    const split = 2000;
    const continuous = createStrategy({ type: 'rsi-reversion' });
    const all = feed(continuous, eth);
    const expected = all.filter((s) => (s.metadata!.barTime as number) >= eth[split]!.timestamp);
    expect(expected.length).toBeGreaterThan(10);

    const warmed = createStrategy({ type: 'rsi-reversion' });
    expect(warmed.isReady('ETH/BTC')).toBe(false);
    warmed.warmUp(eth.slice(0, split));
    expect(warmed.isReady('ETH/BTC')).toBe(true);
    expect(warmed.status('ETH/BTC')).toMatchObject({ bars: split, ready: true, lastBarTime: eth[split - 1]!.timestamp, timeframe: '5m' });
    expect(feed(warmed, eth.slice(split))).toEqual(expected);

    const fresh = createStrategy({ type: 'rsi-reversion' });
    const early = feed(fresh, eth.slice(0, fresh.warmupBars - 1));
    expect(early).toEqual([]);
    expect(fresh.isReady('ETH/BTC')).toBe(false);
  });

  test('is deterministic: two runs give identical signals and ids', () => {
    const a = feed(createStrategy({ type: 'bollinger-reversion' }), eth);
    const b = feed(createStrategy({ type: 'bollinger-reversion' }), eth);
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
  });

  test('keeps state per symbol: interleaved symbols give the same signals as separate instances', () => {
    const ethAlone = feed(createStrategy({ type: 'macd-cross' }), eth);
    const adaAlone = feed(createStrategy({ type: 'macd-cross' }), ada);
    const mixed = [...eth, ...ada].sort((x, y) => x.timestamp - y.timestamp || x.symbol.localeCompare(y.symbol));
    const shared = createStrategy({ type: 'macd-cross' });
    const together = feed(shared, mixed);
    expect(together.filter((s) => s.symbol === 'ETH/BTC')).toEqual(ethAlone);
    expect(together.filter((s) => s.symbol === 'ADA/BTC')).toEqual(adaAlone);
    expect(shared.symbols().sort()).toEqual(['ADA/BTC', 'ETH/BTC']);
  });

  test('a redelivered or late bar is ignored and does not move the indicators', () => {
    const clean = createStrategy({ type: 'ema-cross' });
    const expected = feed(clean, eth.slice(0, 1500));
    const noisy = createStrategy({ type: 'ema-cross' });
    const signals: Signal[] = [];
    eth.slice(0, 1500).forEach((candle, i) => {
      signals.push(...noisy.onCandle(candle));
      signals.push(...noisy.onCandle({ ...candle })); // at-least-once delivery
      if (i > 10) signals.push(...noisy.onCandle(eth[i - 5]!)); // late bar
    });
    expect(signals).toEqual(expected);
    expect(noisy.indicatorValues('ETH/BTC')).toEqual(clean.indicatorValues('ETH/BTC'));
    expect(noisy.status('ETH/BTC')!.ignored).toBe(1500 + 1489);
  });

  test('gaps in the data are fed as they are: the ADA series with missing bars runs through', () => {
    const strategy = createStrategy({ type: 'donchian-breakout' });
    const signals = feed(strategy, ada);
    expect(strategy.status('ADA/BTC')!.bars).toBe(ada.length);
    expect(signals.some((s) => s.side === 'long') && signals.some((s) => s.side === 'short')).toBe(true);
  });

  test('an invalid candle throws StrategyInputError and leaves the state unchanged', () => {
    const strategy = createStrategy({ type: 'ema-cross' });
    strategy.warmUp(eth.slice(0, 100));
    const before = strategy.indicatorValues('ETH/BTC');
    const bad = [
      { ...eth[100]!, close: NaN },
      { ...eth[100]!, high: eth[100]!.low / 2 },
      { ...eth[100]!, volume: -1 },
      { ...eth[100]!, timestamp: 1.5 },
      { ...eth[100]!, open: Infinity },
    ];
    for (const candle of bad) {
      expect(() => strategy.onCandle(candle)).toThrow(StrategyInputError);
    }
    expect(strategy.indicatorValues('ETH/BTC')).toEqual(before);
    expect(strategy.status('ETH/BTC')!.bars).toBe(100);
  });

  test('one series has one timeframe; a configured timeframe filters the others out', () => {
    const strategy = createStrategy({ type: 'ema-cross' });
    strategy.onCandle(eth[0]!);
    const error = (() => {
      try {
        strategy.onCandle({ ...eth[1]!, timeframe: '1h' });
      } catch (err) {
        return err as StrategyInputError;
      }
    })();
    expect(error).toBeInstanceOf(StrategyInputError);
    expect(error!.code).toBe('STRATEGY_INPUT_INVALID');
    expect(error!.message).toContain("Set 'timeframe' in the strategy config");

    const filtered = createStrategy({ type: 'ema-cross', timeframe: '5m' });
    expect(filtered.onCandle({ ...eth[0]!, timeframe: '1h' })).toEqual([]);
    expect(filtered.symbols()).toEqual([]);
    filtered.onCandle(eth[0]!);
    expect(filtered.status('ETH/BTC')!.bars).toBe(1);
    expect(() => createStrategy({ type: 'ema-cross' }).onCandle({ ...eth[0]!, timeframe: 'weekly' })).toThrow(/bar length/);
  });

  test('indicatorValues are flattened for indicator.updated, null while warming up', () => {
    const strategy = createStrategy({ type: 'macd-cross' });
    strategy.warmUp(eth.slice(0, 20));
    expect(strategy.indicatorValues('ETH/BTC')).toEqual({ macd: null, atr: expect.any(Number) });
    strategy.warmUp(eth.slice(20, 200));
    const values = strategy.indicatorValues('ETH/BTC');
    const reference = batch.macd(eth.slice(0, 200).map((c) => c.close));
    expect(Object.keys(values).sort()).toEqual(['atr', 'macd.histogram', 'macd.macd', 'macd.signal']);
    expect(values['macd.histogram']).toBeCloseTo(reference.histogram[199]!, 12);
    expect(strategy.indicatorValues('NOPE/BTC')).toEqual({ macd: null, atr: null });
  });

  test('reset forgets a symbol', () => {
    const strategy = createStrategy({ type: 'ema-cross' });
    strategy.warmUp(eth.slice(0, 50));
    strategy.reset('ETH/BTC');
    expect(strategy.status('ETH/BTC')).toBeUndefined();
    expect(strategy.isReady('ETH/BTC')).toBe(false);
  });
});

describe('forming bars', () => {
  /** Splits a closed bar into the updates an exchange would stream while it forms. */
  function formingUpdates(candle: StrategyCandle): StrategyCandle[] {
    const mid = (candle.open + candle.close) / 2;
    return [
      { ...candle, high: Math.max(candle.open, mid), low: Math.min(candle.open, mid), close: mid, volume: candle.volume / 3 },
      { ...candle, close: candle.open, volume: candle.volume / 2 },
      { ...candle },
    ];
  }

  test('closed-bar signals are the same with or without forming updates in between', () => {
    const slice = eth.slice(0, 1200);
    const expected = feed(createStrategy({ type: 'rsi-reversion' }), slice);
    const strategy = createStrategy({ type: 'rsi-reversion' });
    const closed: Signal[] = [];
    const provisional: Signal[] = [];
    for (const candle of slice) {
      for (const update of formingUpdates(candle)) provisional.push(...strategy.onCandleUpdate(update, candle.timestamp + 60_000));
      closed.push(...strategy.onCandle(candle));
    }
    expect(closed).toEqual(expected);
    expect(provisional.length).toBeGreaterThan(0);
    for (const s of provisional) {
      expect(s.id.endsWith(':forming')).toBe(true);
      expect(s.metadata!.forming).toBe(true);
      expect(s.timestamp).toBe((s.metadata!.barTime as number) + 60_000);
    }
    // Each side at most once per forming bar.
    const keys = provisional.map((s) => `${s.metadata!.barTime}:${s.side}`);
    expect(new Set(keys).size).toBe(keys.length);
    // The last update equals the closed bar, so every closed signal was announced provisionally.
    const announced = new Set(keys);
    for (const s of expected) expect(announced.has(`${s.metadata!.barTime}:${s.side}`)).toBe(true);
  });

  test('a forming bar that never closes is dropped like a missing bar', () => {
    const strategy = createStrategy({ type: 'ema-cross' });
    const reference = createStrategy({ type: 'ema-cross' });
    const withoutBar = [...eth.slice(0, 300), ...eth.slice(301, 400)];
    strategy.warmUp(eth.slice(0, 300));
    strategy.onCandleUpdate(eth[300]!); // the close of bar 300 is lost
    const got = feed(strategy, eth.slice(301, 400));
    const want = feed(reference, withoutBar).filter((s) => (s.metadata!.barTime as number) > eth[300]!.timestamp);
    expect(got).toEqual(want);
    expect(strategy.indicatorValues('ETH/BTC')).toEqual(reference.indicatorValues('ETH/BTC'));
  });

  test('late and stale forming updates are ignored', () => {
    const strategy = createStrategy({ type: 'ema-cross' });
    strategy.warmUp(eth.slice(0, 100));
    const values = strategy.indicatorValues('ETH/BTC');
    expect(strategy.onCandleUpdate(eth[50]!)).toEqual([]);
    strategy.onCandleUpdate(eth[101]!);
    expect(strategy.onCandleUpdate(eth[100]!)).toEqual([]);
    expect(strategy.indicatorValues('ETH/BTC')).toEqual(values);
  });
});

describe('custom strategies', () => {
  const breakoutOfOpen = defineStrategy({
    type: 'open-breakout',
    description: 'Long when the close is a given fraction above the open.',
    params: z.strictObject({ threshold: z.number().positive().default(0.01), badStop: z.boolean().default(false) }),
    indicators: () => ({ sma: { type: 'sma', period: 3 } }),
    memory: () => ({ ticks: 0 }),
    evaluate({ candle, params, values }) {
      if (candle.close > candle.open * (1 + params.threshold)) {
        return {
          side: 'long',
          confidence: 0.7,
          reason: `close ${candle.close} is above the open`,
          stopLoss: params.badStop ? candle.close * 1.1 : candle.open,
          metadata: { sma: values.sma },
        };
      }
    },
    onTick({ tick, lastCandle, memory }) {
      memory.ticks++;
      if (tick.price < lastCandle.low) return { side: 'flat', confidence: 1, reason: `tick ${tick.price} under the last low (${memory.ticks} ticks)` };
    },
  });

  const registry = builtinRegistry().register(breakoutOfOpen);

  test('registers, validates its params and runs like a built-in', () => {
    const strategy = createStrategy({ type: 'open-breakout', id: 'ob', params: { threshold: 0.005 } }, { registry });
    expect(strategy.warmupBars).toBe(4);
    const signals = feed(strategy, eth);
    expect(signals.length).toBeGreaterThan(0);
    for (const s of signals) {
      const bar = eth.find((c) => c.timestamp === s.metadata!.barTime)!;
      expect(bar.close).toBeGreaterThan(bar.open * 1.005);
      expect(s.stopLoss).toBe(bar.open);
      expect(s.id).toBe(`ob:ETH/BTC:5m:${bar.timestamp}:long`);
    }
    expect(configError(() => createStrategy({ type: 'open-breakout', params: { threshold: -1 } }, { registry })).field).toBe('params.threshold');
    expect(() => createStrategy({ type: 'open-breakout' })).toThrow(/not a known strategy type/);
  });

  test('a stop on the wrong side of the price never leaves the strategy', () => {
    const strategy = createStrategy({ type: 'open-breakout', params: { badStop: true } }, { registry });
    let error: unknown;
    try {
      feed(strategy, eth);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StrategySignalError);
    expect((error as StrategySignalError).message).toContain('stopLoss');
    expect((error as StrategySignalError).message).toContain('wrong side');
  });

  test('ticks reach onTick with the last closed bar', () => {
    const strategy = createStrategy({ type: 'open-breakout' }, { registry });
    expect(strategy.onTick({ symbol: 'ETH/BTC', price: 0.01, timestamp: 1 })).toEqual([]);
    strategy.warmUp(eth.slice(0, 10));
    const last = eth[9]!;
    expect(strategy.onTick({ symbol: 'ETH/BTC', price: last.low * 1.001, timestamp: last.timestamp + 301_000 })).toEqual([]);
    const [signal] = strategy.onTick({ symbol: 'ETH/BTC', price: last.low * 0.99, timestamp: last.timestamp + 302_000 });
    expect(signal).toMatchObject({
      id: `open-breakout:ETH/BTC:5m:tick:${last.timestamp + 302_000}:flat`,
      side: 'flat',
      price: last.low * 0.99,
      timestamp: last.timestamp + 302_000,
      reason: expect.stringContaining('(2 ticks)'),
    });
    expect(() => strategy.onTick({ symbol: 'ETH/BTC', price: NaN, timestamp: 5 })).toThrow(StrategyInputError);
    // Built-ins ignore ticks.
    const builtin = createStrategy({ type: 'ema-cross' });
    builtin.warmUp(eth.slice(0, 100));
    expect(builtin.onTick({ symbol: 'ETH/BTC', price: 1, timestamp: 1 })).toEqual([]);
  });

  test('a registry refuses a second definition under a taken type', () => {
    const clash = { ...breakoutOfOpen };
    expect(() => new StrategyRegistry([breakoutOfOpen, clash])).toThrow(/already registered/);
    expect(() => new StrategyRegistry([{ ...breakoutOfOpen, type: 'has space' }])).toThrow(/not valid/);
  });
});

test('the example of docs/strategies.md type-checks and runs', () => {
  const keltnerBreakout = defineStrategy({
    type: 'keltner-breakout',
    description: 'Long when the close leaves the Keltner channel upwards.',
    params: z.strictObject({ period: z.number().int().min(2).default(20) }),
    indicators: (p) => ({ channel: { type: 'keltner', period: p.period }, atr: { type: 'atr', period: 14 } }),
    memory: () => ({ breakouts: 0 }),
    evaluate({ candle, previousCandle, values, previous }) {
      if (previousCandle.close <= previous.channel.upper && candle.close > values.channel.upper) {
        return {
          side: 'long',
          confidence: 0.6,
          reason: `close ${candle.close} left the Keltner channel`,
          stopLoss: values.channel.middle,
        };
      }
    },
    commit({ candle, values, memory }) {
      if (candle.close > values.channel.upper) memory.breakouts++;
    },
  });
  const registry = builtinRegistry().register(keltnerBreakout);
  const strategy = createStrategy({ type: 'keltner-breakout', params: { period: 30 } }, { registry });
  expect(strategy.warmupBars).toBe(31);
  const signals = feed(strategy, eth);
  expect(signals.length).toBeGreaterThan(10);
  expect(signals.every((s) => s.side === 'long' && s.stopLoss! < s.price)).toBe(true);
});

test('barCloseTime handles fixed bars and calendar months', () => {
  expect(barCloseTime(0, '5m')).toBe(300_000);
  expect(barCloseTime(0, '4h')).toBe(4 * 3_600_000);
  expect(barCloseTime(Date.UTC(2024, 0, 1), '1M')).toBe(Date.UTC(2024, 1, 1));
  expect(barCloseTime(Date.UTC(2024, 1, 1), '1M')).toBe(Date.UTC(2024, 2, 1));
  expect(barCloseTime(0, '5 minutes')).toBeUndefined();
});
