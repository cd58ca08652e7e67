import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { batch, createIndicator, type Candle } from '@tradebus/indicators';
import { describe, expect, it } from 'vitest';
import { FeatureConfigError, FeatureInputError } from './errors.js';
import { createFeaturePipeline, FeaturePipeline } from './pipeline.js';
import { featureNames, INDICATOR_FIELDS, parseFeatureConfig } from './config.js';

function loadCandles(): Candle[] {
  const file = fileURLToPath(new URL('../../test-data/binance-LTC-BTC-5m.csv', import.meta.url));
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  expect(header).toBe('timestamp,open,high,low,close,volume');
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
}

const candles = loadCandles();
const closes = candles.map((c) => c.close);
const volumes = candles.map((c) => c.volume);

const config = {
  returns: [1, 3, 12],
  volatility: [10, 30],
  volumeZScore: [20],
  calendar: {},
  indicators: { rsi: { type: 'rsi', period: 14 }, macd: { type: 'macd', fast: 5, slow: 13, signal: 4 }, slow: { type: 'sma', period: 50 } },
};

function run(pipeline: FeaturePipeline, bars: readonly Candle[]): (readonly number[] | undefined)[] {
  return bars.map((bar) => pipeline.update(bar));
}

/** Sample standard deviation, the textbook two-pass way. */
function sampleSd(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
}

function near(actual: number, expected: number, tolerance = 1e-12): boolean {
  return Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected));
}

describe('feature pipeline', () => {
  it('names the features in a stable order', () => {
    const pipeline = createFeaturePipeline(config);
    expect(pipeline.names).toEqual([
      'return_1', 'return_3', 'return_12', 'volatility_10', 'volatility_30', 'volume_z_20',
      'hour_of_day', 'day_of_week', 'rsi', 'macd.macd', 'macd.signal', 'macd.histogram', 'slow',
    ]);
    expect(featureNames(parseFeatureConfig(config))).toEqual(pipeline.names);
  });

  it('computes every feature as a direct computation over the same real bars does', () => {
    const pipeline = createFeaturePipeline(config);
    const vectors = run(pipeline, candles);
    const rsi = batch.rsi(closes, 14);
    const macd = batch.macd(closes, { fast: 5, slow: 13, signal: 4 });
    const first = vectors.findIndex((v) => v !== undefined);
    // SMA(50) needs 50 bars, MACD 13 + 4 - 1, volatility_30 needs 31 closes: the longest wins.
    expect(pipeline.warmupPeriod).toBe(50);
    expect(first).toBe(pipeline.warmupPeriod - 1);
    expect(vectors.slice(first).every((v) => v !== undefined)).toBe(true);
    const bad: string[] = [];
    for (let t = first; t < candles.length; t++) {
      const v = vectors[t]!;
      const logReturn = (k: number) => Math.log(closes[k]! / closes[k - 1]!);
      const window = (w: number, f: (k: number) => number) => Array.from({ length: w }, (_, i) => f(t - w + 1 + i));
      const volumeWindow = volumes.slice(t - 19, t + 1);
      const volumeMean = volumeWindow.reduce((a, b) => a + b, 0) / 20;
      const date = new Date(candles[t]!.timestamp);
      const expected = [
        Math.log(closes[t]! / closes[t - 1]!),
        Math.log(closes[t]! / closes[t - 3]!),
        Math.log(closes[t]! / closes[t - 12]!),
        sampleSd(window(10, logReturn)),
        sampleSd(window(30, logReturn)),
        (volumes[t]! - volumeMean) / sampleSd(volumeWindow),
        date.getUTCHours(),
        date.getUTCDay(),
        rsi[t]!,
        macd.macd[t]!,
        macd.signal[t]!,
        macd.histogram[t]!,
        closes.slice(t - 49, t + 1).reduce((a, b) => a + b, 0) / 50,
      ];
      for (let i = 0; i < expected.length; i++) {
        // The rsi/macd reference is another library: its running sums round differently.
        const tolerance = i >= 8 ? 1e-9 : 1e-12;
        if (!near(v[i]!, expected[i]!, tolerance) && bad.length < 5) bad.push(`bar ${t} ${pipeline.names[i]}: ${v[i]} != ${expected[i]}`);
      }
    }
    expect(bad).toEqual([]);
    // The data spans several days: both calendar features take more than one value.
    expect(new Set(vectors.slice(first).map((v) => v![7])).size).toBeGreaterThan(3);
    expect(new Set(vectors.slice(first).map((v) => v![6])).size).toBe(24);
  });

  it('never looks ahead: a value at bar t is the same whether the series stops at t or goes on', () => {
    const full = run(createFeaturePipeline(config), candles);
    for (const t of [49, 50, 77, 400, 1234, candles.length - 1]) {
      const truncated = run(createFeaturePipeline(config), candles.slice(0, t + 1));
      expect(truncated[t]).toEqual(full[t]);
      // A different future changes nothing up to t.
      const altered = candles.map((c, i) => (i > t ? { ...c, close: c.close * 1.5, volume: c.volume * 3 } : c));
      const alteredRun = run(createFeaturePipeline(config), altered);
      expect(alteredRun.slice(0, t + 1)).toEqual(full.slice(0, t + 1));
    }
  });

  it('ends in the same state after forming-bar replacements as after one update', () => {
    const plain = run(createFeaturePipeline(config), candles.slice(0, 300));
    const pipeline = createFeaturePipeline(config);
    const replaced = candles.slice(0, 300).map((bar, i) => {
      if (i % 3 === 0) return pipeline.update(bar);
      // The bar forms: first partial values, then the final ones through replaceLast.
      pipeline.update({ ...bar, close: bar.open, high: bar.open, low: bar.open, volume: bar.volume / 4 });
      pipeline.replaceLast({ ...bar, close: (bar.open + bar.close) / 2, volume: bar.volume / 2 });
      return pipeline.replaceLast(bar);
    });
    expect(replaced).toEqual(plain);
    expect(pipeline.count).toBe(300);
  });

  it('rejects a bad bar and keeps its state', () => {
    const reference = run(createFeaturePipeline(config), candles.slice(0, 120));
    const pipeline = createFeaturePipeline(config);
    run(pipeline, candles.slice(0, 100));
    expect(() => pipeline.update({ ...candles[100]!, close: Number.NaN })).toThrow(FeatureInputError);
    expect(() => pipeline.update({ ...candles[100]!, close: 0 })).toThrow(/positive close/);
    expect(() => pipeline.replaceLast({ ...candles[99]!, volume: Number.POSITIVE_INFINITY })).toThrow(/volume/);
    expect(pipeline.count).toBe(100);
    expect(run(pipeline, candles.slice(100, 120))).toEqual(reference.slice(100, 120));
    expect(pipeline.record()).toEqual(Object.fromEntries(pipeline.names.map((n, i) => [n, reference[119]![i]])));
  });

  it('starts over on reset', () => {
    const pipeline = createFeaturePipeline(config);
    run(pipeline, candles.slice(500, 700));
    pipeline.reset();
    expect(pipeline.value).toBeUndefined();
    expect(run(pipeline, candles.slice(0, 80))).toEqual(run(createFeaturePipeline(config), candles.slice(0, 80)));
  });

  it('lists the output fields of every multi-output indicator as the indicator produces them', () => {
    for (const [type, fields] of Object.entries(INDICATOR_FIELDS)) {
      const indicator = createIndicator({ type } as never);
      for (const bar of candles.slice(0, 300)) indicator.update(bar);
      expect(Object.keys(indicator.value as object).sort(), type).toEqual([...fields!].sort());
    }
  });

  it('gives volume z-score 0 when the window has no spread', () => {
    const pipeline = createFeaturePipeline({ volumeZScore: [3] });
    for (const bar of candles.slice(0, 5)) pipeline.update({ ...bar, volume: 7 });
    expect(pipeline.value).toEqual([0]);
  });

  it('names the bad key in configuration errors', () => {
    const error = (input: unknown, path?: string): FeatureConfigError => {
      try {
        parseFeatureConfig(input, { path });
      } catch (err) {
        expect(err).toBeInstanceOf(FeatureConfigError);
        return err as FeatureConfigError;
      }
      throw new Error('expected a FeatureConfigError');
    };
    expect(error({ volatilty: [20] }, 'agents[2].config.features').field).toBe('agents[2].config.features.volatilty');
    expect(error({ returns: [0] }).message).toMatch(/returns\[0\] must be at least 1 bar/);
    expect(error({ returns: [5, 5] }).message).toMatch(/returns must not repeat a horizon/);
    expect(error({ volatility: [1] }).message).toMatch(/volatility\[0\] must be at least 2 bars/);
    expect(error({ calendar: { hour: true } }).field).toBe('calendar.hour');
    expect(error({ calendar: 'yes' }).message).toMatch(/calendar must be true, false or \{ hourOfDay, dayOfWeek \}/);
    expect(parseFeatureConfig({ calendar: true }).calendar).toEqual({ hourOfDay: true, dayOfWeek: true });
    expect(featureNames(parseFeatureConfig({ calendar: { dayOfWeek: false }, returns: [2] }))).toEqual(['return_2', 'hour_of_day']);
    expect(error({}).message).toMatch(/declares no feature/);
    expect(error({ calendar: { hourOfDay: false, dayOfWeek: false } }).message).toMatch(/declares no feature/);
    const indicator = error({ indicators: { fast: { type: 'rsi', perod: 5 } } }, 'features');
    expect(indicator.field).toBe('features.indicators.fast.perod');
    expect(indicator.code).toBe('FEATURE_CONFIG_INVALID');
    expect(error({ indicators: { return_1: { type: 'rsi' } }, returns: [1] }).message).toMatch(/two features are named 'return_1'/);
    expect(error({ indicators: { '1x': { type: 'rsi' } } }).message).toMatch(/start with a letter/);
  });
});
