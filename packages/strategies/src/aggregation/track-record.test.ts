import { builtinEvents, type EventPayload } from '@tradebus/core';
import { describe, expect, test } from 'vitest';
import { createStrategy } from '../create.js';
import { StrategyConfigError, TrackRecordFormatError } from '../errors.js';
import { loadCandles } from '../test-support/candles.js';
import { TrackRecord } from './track-record.js';

type TradeClosed = EventPayload<'trade.closed'>;

function trade(strategyId: string | undefined, n: number, pnlPct: number, closedAt = 1_000 + n): TradeClosed {
  const entryPrice = 100;
  const exitPrice = entryPrice * (1 + pnlPct / 100);
  const out: TradeClosed = {
    tradeId: `${strategyId ?? 'manual'}-${n}`,
    symbol: 'ETH/USDT',
    side: 'long',
    quantity: 1,
    entryPrice,
    exitPrice,
    pnl: exitPrice - entryPrice,
    pnlPct,
    fees: 0,
    exitReason: 'signal',
    openedAt: closedAt - 1,
    closedAt,
  };
  if (strategyId !== undefined) out.strategyId = strategyId;
  return out;
}

/**
 * Trades an ema-cross strategy would have made on real ETH/BTC candles: enter at a signal's
 * price, leave at the next opposite signal. Shaped exactly like `trade.closed`.
 */
function emaCrossTrades(): TradeClosed[] {
  const strategy = createStrategy({ type: 'ema-cross' });
  const signals = loadCandles('binance-ETH-BTC-5m').flatMap((c) => strategy.onCandle(c));
  const trades: TradeClosed[] = [];
  for (let i = 1; i < signals.length; i++) {
    const entry = signals[i - 1]!;
    const exit = signals[i]!;
    const side = entry.side === 'long' ? 'long' : 'short';
    const direction = side === 'long' ? 1 : -1;
    const pnl = direction * (exit.price - entry.price);
    trades.push({
      tradeId: `t${i}`,
      symbol: entry.symbol,
      side,
      quantity: 1,
      entryPrice: entry.price,
      exitPrice: exit.price,
      pnl,
      pnlPct: (pnl / entry.price) * 100,
      fees: 0,
      strategyId: entry.strategyId,
      exitReason: 'opposite signal',
      openedAt: entry.timestamp,
      closedAt: exit.timestamp,
    });
  }
  return trades;
}

describe('TrackRecord', () => {
  test('computes win rate, profit factor and expectancy from trade.closed payloads', () => {
    const record = new TrackRecord();
    const pnls = [2, -1, 3, -1, 0];
    pnls.forEach((p, i) => expect(record.record(trade('s', i, p))).toBe(true));
    const stats = record.stats('s');
    expect(stats).toMatchObject({ strategyId: 's', count: 5, wins: 2, losses: 2, winRate: 0.4, lastClosedAt: 1_004 });
    expect(stats.profitFactor).toBeCloseTo(5 / 2, 12);
    expect(stats.expectancyPct).toBeCloseTo(3 / 5, 12);
    expect(stats.expectancy).toBeCloseTo(3 / 5, 9);
    expect(stats.averageWinPct).toBeCloseTo(2.5, 12);
    expect(stats.averageLossPct).toBeCloseTo(-1, 12);
    // factor = (n × PF + prior) / (n + prior) with the default prior of 20 trades.
    expect(stats.factor).toBeCloseTo((5 * 1.5 + 20) / 25, 12);
  });

  test('a strategy with no trades is neutral; profit factor edge cases', () => {
    const record = new TrackRecord();
    expect(record.stats('nobody')).toMatchObject({ count: 0, winRate: 0, profitFactor: null, factor: 1 });
    record.record(trade('lucky', 0, 5));
    expect(record.stats('lucky').profitFactor).toBe(Infinity);
    expect(record.stats('lucky').factor).toBeCloseTo((1 * 1.5 + 20) / 21, 12);
    record.record(trade('unlucky', 0, -5));
    expect(record.stats('unlucky').profitFactor).toBe(0);
  });

  test('the factor moves within minFactor..maxFactor as the record grows', () => {
    const record = new TrackRecord({ priorTrades: 5, minFactor: 0.6, maxFactor: 1.4 });
    for (let i = 0; i < 200; i++) record.record(trade('good', i, i % 4 === 0 ? -1 : 2));
    for (let i = 0; i < 200; i++) record.record(trade('bad', i, i % 4 === 0 ? 1 : -2));
    expect(record.factor('good')).toBeCloseTo((200 * 1.4 + 5) / 205, 12);
    expect(record.factor('bad')).toBe(0.6);
  });

  test('counts a redelivered trade once and ignores trades without a strategy', () => {
    const record = new TrackRecord();
    expect(record.record(trade('s', 1, 2))).toBe(true);
    expect(record.record(trade('s', 1, 2))).toBe(false);
    expect(record.record(trade(undefined, 2, 2))).toBe(false);
    expect(record.stats('s').count).toBe(1);
    expect(record.strategies()).toEqual(['s']);
  });

  test('keeps only the fields it needs from a whole trade.closed payload', () => {
    const record = new TrackRecord({ window: 3 });
    const closed = trade('s', 1, 2.5, 100);
    expect(record.record(closed)).toBe(true);
    expect(record.toJSON().strategies.s).toStrictEqual([{ tradeId: 's-1', symbol: 'ETH/USDT', side: 'long', pnl: closed.pnl, pnlPct: 2.5, closedAt: 100 }]);
  });

  test('keeps the most recent `window` trades, whatever order they arrive in', () => {
    const record = new TrackRecord({ window: 3 });
    record.record(trade('s', 1, 1, 100));
    record.record(trade('s', 2, 1, 300));
    record.record(trade('s', 3, -1, 200));
    record.record(trade('s', 4, -1, 400)); // pushes out closedAt 100
    expect(record.record(trade('s', 5, 9, 50))).toBe(false); // older than the whole window
    const snapshot = record.toJSON();
    expect(snapshot.strategies.s!.map((t) => t.closedAt)).toEqual([200, 300, 400]);
    expect(record.stats('s')).toMatchObject({ count: 3, wins: 1, losses: 2 });
  });

  test('round-trips through JSON text with identical statistics', () => {
    const trades = emaCrossTrades();
    expect(trades.length).toBeGreaterThan(100);
    for (const t of trades) expect(builtinEvents['trade.closed'].safeParse(t).success).toBe(true);
    const record = new TrackRecord({ window: 500 });
    for (const t of trades) record.record(t);
    const stats = record.stats('ema-cross');
    expect(stats.count).toBe(Math.min(500, trades.length));
    expect(stats.wins + stats.losses).toBeLessThanOrEqual(stats.count);
    expect(stats.wins).toBeGreaterThan(0);
    expect(stats.losses).toBeGreaterThan(0);

    const text = JSON.stringify(record);
    const restored = TrackRecord.fromJSON(text);
    expect(restored.stats('ema-cross')).toEqual(stats);
    expect(restored.config).toEqual(record.config);
    expect(TrackRecord.fromJSON(JSON.parse(text)).toJSON()).toEqual(record.toJSON());
    // A changed window applies on restore.
    expect(TrackRecord.fromJSON(text, { window: 10 }).stats('ema-cross').count).toBe(10);
    // Replaying the same trades after a restart does not double count.
    for (const t of trades.slice(-50)) expect(restored.record(t)).toBe(false);
  });

  test('a damaged snapshot or trade fails with a message that says where', () => {
    expect(() => TrackRecord.fromJSON('{nope')).toThrow(TrackRecordFormatError);
    const bad = { version: 1, config: {}, strategies: { s: [{ tradeId: 'x', symbol: 'A/B', side: 'long', pnl: 'lots', pnlPct: 1, closedAt: 1 }] } };
    expect(() => TrackRecord.fromJSON(bad)).toThrow(/strategies\.s\.0\.pnl/);
    expect(() => TrackRecord.fromJSON({ version: 2, config: {}, strategies: {} })).toThrow(/version/);
    expect(() => TrackRecord.fromJSON({ version: 1, config: { window: -1 }, strategies: {} })).toThrow(/invalid config/);
    expect(() => new TrackRecord().record({ ...trade('s', 1, 1), pnl: NaN })).toThrow(/pnl/);
    try {
      new TrackRecord({ minFactor: 2 }, { path: 'tradeManager.trackRecord' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(StrategyConfigError);
      expect((err as StrategyConfigError).field).toBe('tradeManager.trackRecord.minFactor');
    }
  });
});
