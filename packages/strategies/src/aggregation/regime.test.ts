import { batch } from '@tradebus/indicators';
import { expect, test } from 'vitest';
import { StrategyConfigError } from '../errors.js';
import { closes, loadCandles } from '../test-support/candles.js';
import { RegimeDetector, type Regime } from './regime.js';

test('classifies each bar from SMA 20/50 exactly as a batch recomputation does', () => {
  const candles = loadCandles('binance-ETH-BTC-5m');
  const fast = batch.sma(closes(candles), 20);
  const slow = batch.sma(closes(candles), 50);
  const detector = new RegimeDetector();
  const seen: Record<Regime, number> = { bull: 0, bear: 0, sideways: 0 };
  let mismatches = 0;
  candles.forEach((candle, i) => {
    const regime = detector.update(candle);
    if (i < 49) {
      expect(regime).toBeUndefined();
      return;
    }
    const spread = (fast[i]! - slow[i]!) / slow[i]!;
    const expected: Regime = spread > 0.002 ? 'bull' : spread < -0.002 ? 'bear' : 'sideways';
    if (regime !== expected && Math.abs(Math.abs(spread) - 0.002) > 1e-9) mismatches++;
    seen[regime!]++;
  });
  expect(mismatches).toBe(0);
  expect(seen.bull).toBeGreaterThan(100);
  expect(seen.bear).toBeGreaterThan(100);
  expect(seen.sideways).toBeGreaterThan(100);
});

test('keeps symbols apart and ignores repeated bars', () => {
  const eth = loadCandles('binance-ETH-BTC-5m').slice(0, 200);
  const ada = loadCandles('binance-ADA-BTC-5m').slice(0, 200);
  const alone = new RegimeDetector();
  for (const c of eth) alone.update(c);
  const mixed = new RegimeDetector({ band: 0.002 });
  for (let i = 0; i < 200; i++) {
    mixed.update(eth[i]!);
    mixed.update(eth[i]!);
    mixed.update(ada[i]!);
  }
  expect(mixed.regime('ETH/BTC')).toBe(alone.regime('ETH/BTC'));
  expect(mixed.spread('ETH/BTC')).toBe(alone.spread('ETH/BTC'));
  expect(mixed.regime('XRP/BTC')).toBeUndefined();
});

test('a wider band means more sideways bars', () => {
  const candles = loadCandles('binance-futures-XRP-USDT-5m');
  const count = (band: number) => {
    const d = new RegimeDetector({ band });
    return candles.filter((c) => d.update(c) === 'sideways').length;
  };
  expect(count(0.01)).toBeGreaterThan(count(0.001));
});

test('config errors name the field', () => {
  expect(() => new RegimeDetector({ fastPeriod: 60 })).toThrow(StrategyConfigError);
  expect(() => new RegimeDetector({ fastPeriod: 60 })).toThrow(/fastPeriod: must be shorter than slowPeriod/);
  expect(() => new RegimeDetector({ band: -1 })).toThrow(/band: must be 0 or more/);
});
