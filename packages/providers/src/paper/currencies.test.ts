import { describe, expect, it } from 'vitest';
import { ConfigError, createLogger, VirtualClock } from '@tradebus/core';
import { createProviders } from '../factory.js';
import type { Candle } from '../types.js';
import { conversionGaps } from './currencies.js';
import { PaperExchange } from './paper-exchange.js';

const T0 = Date.UTC(2018, 0, 10);
const M5 = 300_000;
const candle = (symbol: string, close: number, i = 0): Candle => ({ symbol, timeframe: '5m', timestamp: T0 + i * M5, open: close, high: close, low: close, close, volume: 1_000, closed: true });

describe('conversionGaps', () => {
  it('names what cannot be valued from a list of markets', () => {
    expect(conversionGaps('USDT', ['ETH/BTC', 'LTC/BTC'], ['USDT'])).toEqual([
      { asset: 'BTC', pair: 'BTC/USDT' },
      { asset: 'ETH', pair: 'ETH/USDT' },
      { asset: 'LTC', pair: 'LTC/USDT' },
    ]);
    expect(conversionGaps('USDT', ['ETH/BTC', 'LTC/BTC', 'BTC/USDT'], ['USDT'])).toEqual([]);
    expect(conversionGaps('BTC', ['ETH/BTC'], ['BTC', 'DOGE'])).toEqual([{ asset: 'DOGE', pair: 'DOGE/BTC' }]);
    // A derivative settles in its quote: no base coins to value.
    expect(conversionGaps('USDT', ['XRP/USDT:USDT'], ['USDT'])).toEqual([]);
  });
});

describe('a paper account in another currency than its markets', () => {
  const sources = (symbols: string[]) => ({
    kind: 'synthetic',
    symbols: symbols.map((symbol) => ({ symbol, startPrice: 1 })),
  });

  it('is refused before anything runs, naming the missing pair and what to do', () => {
    let error: unknown;
    try {
      createProviders(
        { market: sources(['ETH/BTC', 'LTC/BTC']), paper: { kind: 'paper', marketData: 'market', quoteCurrency: 'USDT', balances: { BTC: 1 } } },
        { clock: new VirtualClock(T0) },
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('providers.paper.quoteCurrency');
    expect(message).toContain('BTC/USDT');
    expect(message).toMatch(/set quoteCurrency/);
  });

  it('is valued through the pair that converts it when the data has one', () => {
    const built = createProviders(
      { market: sources(['ETH/BTC', 'BTC/USDT']), paper: { kind: 'paper', marketData: 'market', quoteCurrency: 'USDT', balances: { BTC: 1, ETH: 10 } } },
      { clock: new VirtualClock(T0) },
    );
    const paper = built.get('paper')!.execution as PaperExchange;
    paper.onCandle(candle('BTC/USDT', 20_000));
    paper.onCandle(candle('ETH/BTC', 0.05));
    // 1 BTC × 20 000 + 10 ETH × 0.05 BTC × 20 000, computed here from the prices fed.
    expect(paper.equity()).toBeCloseTo(1 * 20_000 + 10 * 0.05 * 20_000, 6);
  });

  it('a currency that no price converts is reported once instead of counting silently as 0', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
    const paper = new PaperExchange({ clock: new VirtualClock(T0), quoteCurrency: 'USDT', balances: { USDT: 100, DOGE: 5 }, logger });
    paper.onCandle(candle('BTC/USDT', 20_000));
    expect(paper.equity()).toBe(100);
    expect(paper.equity()).toBe(100);
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; asset?: string }).filter((r) => r.asset === 'DOGE');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('DOGE/USDT');
  });
});
