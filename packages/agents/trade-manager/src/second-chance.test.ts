import { MemoryStateStore } from '@tradebus/core';
import { ADX } from '@tradebus/indicators';
import { SignalAggregator } from '@tradebus/strategies';
import { afterEach, describe, expect, it } from 'vitest';
import { AdxReadings, RejectionPatterns } from './second-chance.js';
import { startHarness, type Harness } from './test-support/harness.js';

const T = Date.UTC(2024, 0, 1);
const MIN = 60_000;

describe('rejection patterns', () => {
  it('counts only outcomes closed by the decision time, latest window first, per regime when asked', () => {
    const patterns = new RejectionPatterns(() => 100);
    // Outcomes arrive out of order; wins at 1..4 min, losses at 6..8 min.
    const outcomes = [
      { at: 3, pnl: 1 },
      { at: 1, pnl: 2 },
      { at: 7, pnl: -1 },
      { at: 2, pnl: 0.5 },
      { at: 4, pnl: 0.1 },
      { at: 6, pnl: -2 },
      { at: 8, pnl: 0 },
    ];
    outcomes.forEach((o, i) => {
      patterns.rejected(`s${i}`, i % 2 === 0 ? 'bull' : 'bear');
      patterns.outcome({ signalId: `s${i}`, strategyId: 'alpha', symbol: 'BTC/USDT', pnlPct: o.pnl, closedAt: T + o.at * MIN });
    });
    const byHand = (asOf: number, window: number, regime?: 'bull' | 'bear') => {
      const known = outcomes
        .map((o, i) => ({ ...o, regime: i % 2 === 0 ? 'bull' : 'bear' }))
        .filter((o) => T + o.at * MIN <= asOf && (regime === undefined || o.regime === regime))
        .sort((a, b) => a.at - b.at)
        .slice(-window);
      return { samples: known.length, wins: known.filter((o) => o.pnl > 0).length };
    };
    for (const asOf of [T, T + 2 * MIN, T + 5 * MIN, T + 6 * MIN + 1, T + 9 * MIN]) {
      for (const window of [2, 3, 100]) {
        expect(patterns.outcomes('alpha', 'BTC/USDT', undefined, asOf, window)).toEqual(byHand(asOf, window));
        expect(patterns.outcomes('alpha', 'BTC/USDT', 'bull', asOf, window)).toEqual(byHand(asOf, window, 'bull'));
      }
    }
    // At 5 min the four wins are known and none of the later losses: no look-ahead.
    expect(patterns.outcomes('alpha', 'BTC/USDT', undefined, T + 5 * MIN, 100)).toEqual({ samples: 4, wins: 4 });
    expect(patterns.outcomes('alpha', 'ETH/USDT', undefined, T + 9 * MIN, 100)).toEqual({ samples: 0, wins: 0 });
    expect(patterns.outcomes('beta', 'BTC/USDT', undefined, T + 9 * MIN, 100)).toEqual({ samples: 0, wins: 0 });
  });

  it('keeps the configured window per key and survives a save and restore', () => {
    let capacity = 3;
    const patterns = new RejectionPatterns(() => capacity);
    for (let i = 0; i < 5; i++) patterns.outcome({ signalId: `s${i}`, strategyId: 'a', symbol: 'X/Y', pnlPct: i < 2 ? 1 : -1, closedAt: T + i });
    expect(patterns.outcomes('a', 'X/Y', undefined, T + 10, 100)).toEqual({ samples: 3, wins: 0 });
    capacity = 10;
    const copy = new RejectionPatterns(() => capacity);
    expect(copy.restore(JSON.parse(JSON.stringify(patterns.toJSON())))).toBe(true);
    expect(copy.outcomes('a', 'X/Y', undefined, T + 10, 100)).toEqual({ samples: 3, wins: 0 });
    expect(copy.restore({ version: 2 })).toBe(false);
  });

  it('with the aggregator: a near-miss is rescued while the wins are what is known, not once later losses are', () => {
    const patterns = new RejectionPatterns(() => 100);
    // 7 wins closed before the decision at T, 5 losses after it.
    for (let i = 0; i < 12; i++) {
      patterns.outcome({ signalId: `s${i}`, strategyId: 'alpha', symbol: 'BTC/USDT', pnlPct: i < 7 ? 1 : -1, closedAt: i < 7 ? T - (i + 1) * MIN : T + (i + 1) * MIN });
    }
    const aggregator = new SignalAggregator({ minConfidence: 0.5, secondChance: { enabled: true, agreement: { enabled: false }, pattern: { enabled: true, minSamples: 10, minWinRate: 0.6, boost: 0.05 } } });
    const signal = (at: number) => ({ id: `sig-${at}`, strategyId: 'alpha', symbol: 'BTC/USDT', side: 'long' as const, confidence: 0.46, price: 100, reason: 't', timestamp: at });
    // Before T only 7 outcomes are known: fewer than minSamples.
    const early = aggregator.aggregate([signal(T)], { now: T, rejectionPatterns: patterns }).decisions[0]!;
    expect(early.accepted).toBe(false);
    expect(early.reasons.join(' ')).toContain('7 known outcomes of rejected signals of alpha on BTC/USDT, fewer than 10');
    // Once 3 more outcomes are known: 7 wins of 10 = 70 % ≥ 60 %: 0.46 + 0.05 ≥ 0.5.
    const at10 = T + 10 * MIN;
    const rescued = aggregator.aggregate([signal(at10)], { now: at10, rejectionPatterns: patterns }).decisions[0]!;
    expect(7 / 10).toBeGreaterThanOrEqual(0.6);
    expect(rescued.accepted).toBe(true);
    expect(rescued.adjustments).toEqual([{ rule: 'pattern', amount: 0.05, detail: 'rejected signals of alpha on BTC/USDT would have won 7 of 10 (70 % ≥ 60 %)' }]);
    // With every outcome known: 7 of 12 = 58 % < 60 %.
    const late = T + 20 * MIN;
    expect(aggregator.aggregate([signal(late)], { now: late, rejectionPatterns: patterns }).decisions[0]!.accepted).toBe(7 / 12 >= 0.6);
  });
});

describe('ADX readings', () => {
  it('follow the ADX of each symbol’s bars and start afresh when the period changes', () => {
    let period = 3;
    const readings = new AdxReadings(() => period);
    const reference = new ADX(3);
    const bars = Array.from({ length: 12 }, (_, i) => ({ high: 101 + i * 1.5, low: 99 + i, close: 100 + i * 1.2 }));
    for (const bar of bars) {
      readings.update('BTC/USDT', bar);
      reference.update(bar);
      expect(readings.adx('BTC/USDT')).toBe(reference.value?.adx);
    }
    expect(readings.adx('BTC/USDT')).toBeGreaterThan(0);
    expect(readings.adx('ETH/USDT')).toBeUndefined();
    period = 4;
    readings.update('BTC/USDT', bars[0]!);
    expect(readings.adx('BTC/USDT')).toBeUndefined();
  });
});

describe('second chance in the trade manager', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('learns from what its rejected signals would have earned and rescues the next near miss, saying why', async () => {
    h = await startHarness({
      aggregation: {
        minConfidence: 0.5,
        secondChance: { enabled: true, agreement: { enabled: false }, pattern: { enabled: true, minSamples: 2, minWinRate: 0.5, boost: 0.05 } },
      },
      // Followed one bar: the outcome is that bar's close.
      counterfactual: { enabled: true, maxBars: 1 },
    });
    await h.candle({ high: 100, low: 100, close: 100 });
    const first = await h.signal({ confidence: 0.46, price: 100 });
    expect(h.decision(first.id)!.decision).toBe('rejected');
    expect(h.decision(first.id)!.reasons.join(' ')).toContain('0 known outcomes');
    await h.candle({ high: 102, low: 99.5, close: 101 });
    const second = await h.signal({ confidence: 0.46, price: 101 });
    // One outcome known (a win): fewer than minSamples.
    expect(h.decision(second.id)!.decision).toBe('rejected');
    await h.candle({ high: 103, low: 100.5, close: 102 });
    const outcomes = h.of('signal.decided').filter((d) => d.decision === 'outcome');
    expect(outcomes.map((o) => o.outcome!.pnlPct > 0)).toEqual([true, true]);
    const third = await h.signal({ confidence: 0.46, price: 102 });
    const decided = h.decision(third.id)!;
    expect(decided.decision).toBe('accepted');
    expect(decided.adjustments).toEqual([{ rule: 'pattern', amount: 0.05, detail: 'rejected signals of alpha on BTC/USDT would have won 2 of 2 (100 % ≥ 50 %)' }]);
    expect(h.of('trade.opened')).toHaveLength(1);
  });

  it('keeps what it learned across a restart', async () => {
    const store = new MemoryStateStore();
    const config = {
      aggregation: { minConfidence: 0.5, secondChance: { enabled: true, agreement: { enabled: false }, pattern: { enabled: true, minSamples: 1, minWinRate: 1, boost: 0.05 } } },
      counterfactual: { enabled: true, maxBars: 1 },
    };
    h = await startHarness(config, { store });
    await h.candle({ high: 100, low: 100, close: 100 });
    const rejected = await h.signal({ confidence: 0.46, price: 100 });
    expect(h.decision(rejected.id)!.decision).toBe('rejected');
    await h.candle({ high: 102, low: 99.5, close: 101 });
    expect(h.of('signal.decided').filter((d) => d.decision === 'outcome')).toHaveLength(1);
    const clock = h.clock;
    await h.stop();
    h = await startHarness(config, { store, clock });
    const next = await h.signal({ confidence: 0.46, price: 101 });
    expect(h.decision(next.id)).toMatchObject({ decision: 'accepted', adjustments: [{ rule: 'pattern', amount: 0.05 }] });
  });

  it('the regime factor reads the regime the manager follows from its candles', async () => {
    h = await startHarness({ allowShort: true, regime: { fastPeriod: 2, slowPeriod: 3, band: 0 }, aggregation: { minConfidence: 0.5, regime: { enabled: true } } });
    for (const close of [100, 101, 102, 103]) await h.candle({ high: close, low: close, close });
    // Bull: a short is scaled by 0.6 (0.8 × 0.6 = 0.48 < 0.5), a long is not.
    const short = await h.signal({ side: 'short', confidence: 0.8, price: 103, symbol: 'BTC/USDT' });
    expect(h.decision(short.id)!.decision).toBe('rejected');
    expect(h.decision(short.id)!.reasons.join(' ')).toContain('BTC/USDT is bull: short confidence ×0.60');
    expect(h.decision(short.id)!.reasons.join(' ')).toContain('adjusted confidence 0.48 (raw 0.80) is below the minimum 0.50');
    const long = await h.signal({ side: 'long', confidence: 0.5, price: 103 });
    expect(h.decision(long.id)!.decision).toBe('accepted');
  });

  it('boosts a signal that goes with the regime the manager follows from its candles', async () => {
    h = await startHarness({
      regime: { fastPeriod: 2, slowPeriod: 3, band: 0 },
      aggregation: { minConfidence: 0.5, secondChance: { enabled: true, agreement: { enabled: false }, trend: { enabled: true, boost: 0.05 } } },
    });
    const early = await h.signal({ confidence: 0.46, price: 100 });
    expect(h.decision(early.id)!.reasons.join(' ')).toContain('regime of BTC/USDT not known yet');
    for (const close of [100, 101, 102, 103]) await h.candle({ high: close, low: close, close });
    const long = await h.signal({ confidence: 0.46, price: 103 });
    expect(h.decision(long.id)).toMatchObject({ decision: 'accepted', adjustments: [{ rule: 'trend', amount: 0.05 }] });
  });
});
