import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { IndicatorConfigError } from './errors.js';
import { createIndicator, indicatorSpecSchema, indicatorTypes, parseIndicatorSpec } from './factory.js';
import { MACD, RSI } from './momentum.js';
import { EMA } from './moving-averages.js';
import { loadCandles } from './test-support/candles.js';

function configError(run: () => unknown): IndicatorConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof IndicatorConfigError) return error;
    throw error;
  }
  throw new Error('expected an IndicatorConfigError');
}

describe('createIndicator', () => {
  it('builds the indicator a spec names, with its parameters', () => {
    const ema = createIndicator({ type: 'ema', period: 12 });
    expectTypeOf(ema).toEqualTypeOf<EMA>();
    expect(ema).toBeInstanceOf(EMA);
    expect(ema.period).toBe(12);
    const macd = createIndicator({ type: 'macd', fast: 5, slow: 20, signal: 4 });
    expect(macd).toBeInstanceOf(MACD);
    expect([macd.fast, macd.slow, macd.signal]).toEqual([5, 20, 4]);
  });

  it('fills in the documented defaults', () => {
    const rsi = createIndicator({ type: 'rsi' });
    expect(rsi).toBeInstanceOf(RSI);
    expect(rsi.period).toBe(14);
    expect(parseIndicatorSpec({ type: 'macd' })).toEqual({ type: 'macd', fast: 12, slow: 26, signal: 9 });
    expect(parseIndicatorSpec({ type: 'ichimoku' })).toEqual({
      type: 'ichimoku',
      conversionPeriod: 9,
      basePeriod: 26,
      spanPeriod: 52,
    });
  });

  it('builds every known type and every one accepts whole candles', () => {
    const candles = loadCandles('nasdaq-GOOG-1d').slice(0, 200);
    for (const type of indicatorTypes) {
      const spec = ['sma', 'ema', 'wma', 'dema', 'tema'].includes(type) ? { type, period: 10 } : { type };
      const indicator = createIndicator(spec);
      for (const candle of candles) indicator.update(candle);
      expect(indicator.isReady, type).toBe(true);
      expect(indicator.value, type).toBeDefined();
    }
    expect(indicatorTypes).toHaveLength(22);
  });

  it.each([
    [{ type: 'ema', period: 0 }, 'period', /period must be at least 1 bar/],
    [{ type: 'ema' }, 'period', /period must be a number of bars/],
    [{ type: 'sma', period: 2.5 }, 'period', /whole number/],
    [{ type: 'rsi', period: '14' }, 'period', /must be a number of bars/],
    [{ type: 'ema', period: 12, perod: 3 }, 'perod', /perod is not a field of a ema indicator; allowed fields: type, period, source/],
    [{ type: 'ema', period: 12, source: 'mid' }, 'source', /source must be one of open, high/],
    [{ type: 'macd', fast: 26, slow: 12 }, 'fast', /fast must be shorter than slow/],
    [{ type: 'bollinger', multiplier: -1 }, 'multiplier', /multiplier must be greater than 0/],
    [{ type: 'psar', step: 0.3 }, 'step', /step must not exceed max/],
    [{ type: 'emaa', period: 12 }, 'type', /type is "emaa"; use one of sma, ema, wma/],
    [{ period: 12 }, 'type', /type is missing/],
    [{ type: 'toString' }, 'type', /type is "toString"; use one of/],
  ])('rejects %j naming the field', (spec, fieldName, message) => {
    const error = configError(() => createIndicator(spec as unknown));
    expect(error.field).toBe(fieldName);
    expect(error.code).toBe('INDICATOR_CONFIG_INVALID');
    expect(error.message).toMatch(message);
  });

  it('prefixes the field with the caller-supplied config path', () => {
    const error = configError(() =>
      createIndicator({ type: 'ema', period: -3 }, { path: 'strategies.trend.indicators.fast' }),
    );
    expect(error.field).toBe('strategies.trend.indicators.fast.period');
    expect(error.message).toContain('strategies.trend.indicators.fast.period must be at least 1 bar');
    expect(error.cause).toBeInstanceOf(z.ZodError);
  });

  it('rejects something that is not an object', () => {
    expect(() => createIndicator('ema', { path: 'indicators.0' })).toThrow(/at indicators\.0: expected an object/);
    expect(() => createIndicator(null)).toThrow(IndicatorConfigError);
  });

  it('exposes a schema that embeds in bigger config schemas', () => {
    const config = z.object({ indicators: z.record(z.string(), indicatorSpecSchema) });
    const parsed = config.parse({ indicators: { fast: { type: 'ema', period: 9 }, osc: { type: 'rsi' } } });
    expect(parsed.indicators.osc).toEqual({ type: 'rsi', period: 14 });
    const failure = config.safeParse({ indicators: { fast: { type: 'ema', period: 0 } } });
    expect(failure.success).toBe(false);
    expect(failure.error?.issues[0]?.path).toEqual(['indicators', 'fast', 'period']);
  });
});
