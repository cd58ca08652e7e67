import { describe, expect, it } from 'vitest';
import { CurrencyConverter } from './currencies.js';

describe('CurrencyConverter', () => {
  it('values a currency directly, inverted, or through one currency in between', () => {
    const c = new CurrencyConverter();
    c.update('ETH/BTC', 0.05);
    c.update('BTC/USDT', 20_000);
    c.update('USDT/EUR', 0.9);
    expect(c.rate('BTC', 'USDT')).toBe(20_000);
    expect(c.rate('USDT', 'BTC')).toBeCloseTo(1 / 20_000, 15);
    expect(c.rate('ETH', 'USDT')).toBeCloseTo(0.05 * 20_000, 9);
    expect(c.rate('EUR', 'BTC')).toBeCloseTo(1 / 0.9 / 20_000, 15);
    // Two currencies in between: refused, not guessed.
    expect(c.rate('ETH', 'EUR')).toBeUndefined();
    expect(c.rate('XMR', 'USDT')).toBeUndefined();
  });
});
