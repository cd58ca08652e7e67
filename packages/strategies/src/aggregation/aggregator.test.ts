import { builtinEvents } from '@tradebus/core';
import { describe, expect, test } from 'vitest';
import { builtinStrategies } from '../builtins/index.js';
import { createStrategy } from '../create.js';
import { StrategyConfigError } from '../errors.js';
import { loadCandles } from '../test-support/candles.js';
import type { Signal, SignalSide } from '../types.js';
import { SignalAggregator, aggregateSignals, type AggregationResult, type SignalDecision } from './aggregator.js';
import { RegimeDetector } from './regime.js';
import { TrackRecord } from './track-record.js';

const T = 1_700_000_000_000;

function signal(strategyId: string, side: SignalSide, confidence: number, symbol = 'ETH/BTC', extra: Partial<Signal> = {}): Signal {
  return {
    id: `${strategyId}:${symbol}:5m:${T}:${side}`,
    strategyId,
    symbol,
    timeframe: '5m',
    side,
    confidence,
    price: 0.05,
    reason: `${strategyId} says ${side}`,
    metadata: { barTime: T - 300_000 },
    timestamp: T,
    ...extra,
  };
}

function decisionOf(result: AggregationResult, id: string): SignalDecision {
  const found = result.decisions.find((d) => d.signal.id === id);
  if (found === undefined) throw new Error(`no decision for ${id}`);
  return found;
}

const acceptedIds = (result: AggregationResult) => result.accepted.map((d) => d.signal.id);

describe('screening', () => {
  test('an invalid payload is rejected with the bad field named; valid ones pass', () => {
    const bad = signal('a', 'long', 1.5);
    const good = signal('b', 'long', 0.8);
    const result = aggregateSignals([bad, good]);
    expect(decisionOf(result, bad.id)).toMatchObject({ accepted: false, decision: 'rejected', droppedBy: 'validation' });
    expect(decisionOf(result, bad.id).reasons[0]).toMatch(/^validation: .*confidence/);
    expect(decisionOf(result, good.id).accepted).toBe(true);
  });

  test('a repeated signal id counts once', () => {
    const s = signal('a', 'long', 0.8);
    const other = signal('a', 'long', 0.8, 'ADA/BTC');
    const result = aggregateSignals([s, { ...s }, other]);
    expect(result.decisions[1]!.droppedBy).toBe('duplicate-id');
    expect(result.decisions[0]!.accepted).toBe(true);
    expect(result.decisions[2]!.accepted).toBe(true);
  });

  test('maxAgeMs drops stale signals against context.now, and insists on a clock', () => {
    const old = signal('a', 'long', 0.8, 'ETH/BTC', { timestamp: T - 120_000 });
    const fresh = signal('b', 'long', 0.8, 'ADA/BTC', { timestamp: T - 30_000 });
    const aggregator = new SignalAggregator({ maxAgeMs: 60_000 });
    const result = aggregator.aggregate([old, fresh], { now: T });
    expect(decisionOf(result, old.id).droppedBy).toBe('stale');
    expect(decisionOf(result, old.id).reasons[0]).toContain('120000 ms old');
    expect(decisionOf(result, fresh.id).accepted).toBe(true);
    expect(() => aggregator.aggregate([fresh])).toThrow(/context\.now/);
  });

  test('provisional (forming-bar) signals are dropped unless accepted explicitly', () => {
    const provisional = signal('a', 'long', 0.9, 'ETH/BTC', { id: 'a:ETH/BTC:5m:1:long:forming', metadata: { forming: true } });
    expect(aggregateSignals([provisional]).decisions[0]!.droppedBy).toBe('provisional');
    expect(aggregateSignals([provisional], { acceptProvisional: true }).decisions[0]!.accepted).toBe(true);
  });
});

describe('minimum confidence', () => {
  test('drops entries below the minimum and says by how much', () => {
    const weak = signal('a', 'long', 0.45);
    const strong = signal('b', 'short', 0.55, 'ADA/BTC');
    const result = aggregateSignals([weak, strong], { minConfidence: 0.5 });
    const dropped = decisionOf(result, weak.id);
    expect(dropped.droppedBy).toBe('min-confidence');
    expect(dropped.reasons).toEqual(['min-confidence: adjusted confidence 0.45 (raw 0.45) is below the minimum 0.50']);
    expect(decisionOf(result, strong.id).accepted).toBe(true);
    expect(decisionOf(result, strong.id).reasons[0]).toBe('min-confidence: adjusted confidence 0.55 ≥ minimum 0.50');
  });

  test('exits pass without confidence filters unless exits: filter', () => {
    const exit = signal('a', 'flat', 0.1);
    expect(aggregateSignals([exit], { minConfidence: 0.5 }).accepted.map((d) => d.signal.id)).toEqual([exit.id]);
    const filtered = aggregateSignals([exit], { minConfidence: 0.5, exits: 'filter' });
    expect(filtered.decisions[0]!.droppedBy).toBe('min-confidence');
  });
});

describe('second chance', () => {
  test('rescues a near-threshold signal when enough strategies agree', () => {
    const a = signal('a', 'long', 0.46);
    const b = signal('b', 'long', 0.44);
    const result = aggregateSignals([a, b], { minConfidence: 0.5, secondChance: { enabled: true, margin: 0.1, minStrategies: 2 } });
    const kept = decisionOf(result, a.id);
    expect(kept.accepted).toBe(true);
    expect(kept.notes.find((n) => n.rule === 'second-chance')).toMatchObject({ effect: 'rescued' });
    expect(kept.reasons.join('\n')).toContain('2 strategies agree on long ETH/BTC (a, b)');
    // The agreeing one was rescued too, then merged into the stronger signal.
    expect(decisionOf(result, b.id)).toMatchObject({ accepted: false, droppedBy: 'dedupe', mergedInto: a.id });
    expect(kept.supporters).toEqual([b.id]);
  });

  test('stays quiet alone, beyond the margin, or when switched off', () => {
    const alone = aggregateSignals([signal('a', 'long', 0.46)], { secondChance: { enabled: true } });
    expect(alone.decisions[0]!.droppedBy).toBe('min-confidence');
    expect(alone.decisions[0]!.reasons[0]).toContain('second chance needs 2 strategies agreeing on long ETH/BTC, found 1');

    const far = aggregateSignals([signal('a', 'long', 0.35), signal('b', 'long', 0.35)], { secondChance: { enabled: true, margin: 0.1 } });
    expect(far.accepted).toEqual([]);
    expect(far.decisions[0]!.reasons[0]).toContain('further than the second-chance margin');

    const off = aggregateSignals([signal('a', 'long', 0.46), signal('b', 'long', 0.46)]);
    expect(off.accepted).toEqual([]);
    // Opposite sides do not agree with each other.
    const opposed = aggregateSignals([signal('a', 'long', 0.46), signal('b', 'short', 0.46)], { secondChance: { enabled: true } });
    expect(opposed.accepted).toEqual([]);
  });
});

describe('de-duplication', () => {
  test('keeps the best-ranked of several same-symbol same-side signals', () => {
    const a = signal('a', 'long', 0.6);
    const b = signal('b', 'long', 0.9);
    const c = signal('c', 'long', 0.7);
    const result = aggregateSignals([a, b, c]);
    expect(acceptedIds(result)).toEqual([b.id]);
    expect(decisionOf(result, b.id).supporters.sort()).toEqual([a.id, c.id].sort());
    for (const id of [a.id, c.id]) {
      expect(decisionOf(result, id)).toMatchObject({ droppedBy: 'dedupe', mergedInto: b.id });
      expect(decisionOf(result, id).reasons.at(-1)).toContain(`as ${b.id} from b, which ranks higher`);
    }
  });

  test('leaves different symbols alone', () => {
    const result = aggregateSignals([signal('a', 'long', 0.6), signal('b', 'long', 0.9, 'ADA/BTC')]);
    expect(result.accepted).toHaveLength(2);
    expect(result.decisions.every((d) => d.notes.every((n) => n.rule !== 'dedupe'))).toBe(true);
  });
});

describe('opposing signals', () => {
  const long = signal('a', 'long', 0.8);
  const short = signal('b', 'short', 0.6);

  test('strongest: the higher score wins', () => {
    const result = aggregateSignals([long, short], { conflict: 'strongest' });
    expect(acceptedIds(result)).toEqual([long.id]);
    expect(decisionOf(result, short.id).droppedBy).toBe('conflict');
    expect(decisionOf(result, short.id).reasons.at(-1)).toContain('opposed by a stronger long from a');
  });

  test('strongest: a tie drops both rather than guess', () => {
    const result = aggregateSignals([signal('a', 'long', 0.7), signal('b', 'short', 0.7)]);
    expect(result.accepted).toEqual([]);
    expect(result.decisions.every((d) => d.droppedBy === 'conflict')).toBe(true);
  });

  test('cancel: both sides are dropped', () => {
    const result = aggregateSignals([long, short], { conflict: 'cancel' });
    expect(result.accepted).toEqual([]);
    expect(decisionOf(result, long.id).reasons.at(-1)).toContain('cancelled: b signals short on ETH/BTC');
  });

  test('net: the majority side survives with its confidence scaled by the margin', () => {
    const strong = signal('a', 'long', 0.9);
    const second = signal('c', 'long', 0.8);
    const weak = signal('b', 'short', 0.5);
    const result = aggregateSignals([strong, second, weak], { conflict: 'net' });
    const net = (1.7 - 0.5) / 1.7;
    const kept = decisionOf(result, strong.id);
    expect(acceptedIds(result)).toEqual([strong.id]);
    expect(kept.adjustedConfidence).toBeCloseTo(0.9 * net, 12);
    expect(decisionOf(result, second.id).droppedBy).toBe('dedupe');
    expect(decisionOf(result, weak.id).reasons.at(-1)).toContain('netted out');
    // With the same numbers, strongest would keep the long at full confidence.
    expect(decisionOf(aggregateSignals([strong, second, weak]), strong.id).adjustedConfidence).toBe(0.9);
    // A narrow margin nets the winner below the minimum.
    const close = aggregateSignals([long, short], { conflict: 'net' });
    expect(close.accepted).toEqual([]);
    expect(close.decisions[0]!.reasons.at(-1)).toContain('after netting');
  });

  test('no opposing signal: no conflict rule applies', () => {
    for (const conflict of ['strongest', 'cancel', 'net'] as const) {
      const result = aggregateSignals([long, signal('b', 'short', 0.6, 'ADA/BTC')], { conflict });
      expect(result.accepted).toHaveLength(2);
      expect(result.decisions.every((d) => d.notes.every((n) => n.rule !== 'conflict'))).toBe(true);
      expect(decisionOf(result, long.id).adjustedConfidence).toBe(0.8);
    }
  });
});

describe('track record and ranking', () => {
  function recordOf(strategyId: string, pnls: number[]): TrackRecord {
    const record = new TrackRecord();
    pnls.forEach((pnl, i) =>
      record.record({ tradeId: `${strategyId}-${i}`, strategyId, symbol: 'ETH/BTC', side: 'long', pnl, pnlPct: pnl, closedAt: T + i }),
    );
    return record;
  }

  test('ranks by raw confidence × track record', () => {
    const record = recordOf('winner', [2, 3, -1, 2, 4, 1, 2, -1, 3, 2, 2, 1, 3, 2, -1, 2, 3, 2, 1, 2]);
    recordOf('loser', [-2, -1, 1, -3, -2, -1, -2, 1, -2, -1, -1, -2, -3, 1, -2, -1, -2, -1, -1, -2]).toJSON().strategies.loser!.forEach((t) =>
      record.record({ ...t, strategyId: 'loser' }),
    );
    const fromWinner = signal('winner', 'long', 0.6, 'ETH/BTC');
    const fromLoser = signal('loser', 'long', 0.7, 'ADA/BTC');
    const result = aggregateSignals([fromLoser, fromWinner], {}, { trackRecord: record });
    expect(acceptedIds(result)).toEqual([fromWinner.id]);
    const winner = decisionOf(result, fromWinner.id);
    expect(winner.factors.trackRecord).toBe(record.factor('winner'));
    expect(winner.factors.trackRecord).toBeGreaterThan(1);
    expect(winner.rank).toBe(1);
    expect(winner.reasons.some((r) => r.startsWith('track-record: winner track record ×') && r.includes('20 trades'))).toBe(true);
    const loser = decisionOf(result, fromLoser.id);
    expect(loser.adjustedConfidence).toBeCloseTo(0.7 * record.factor('loser'), 12);
    expect(loser.droppedBy).toBe('min-confidence');
  });

  test('without a track record (or with useTrackRecord off) raw confidence ranks', () => {
    const record = recordOf('winner', [2, 3, 2, 4, 1, 2, 3, 2, 2, 1, 3, 2, 2, 3, 2, 1, 2, 3, 2, 2]);
    const fromWinner = signal('winner', 'long', 0.6, 'ETH/BTC');
    const other = signal('other', 'long', 0.7, 'ADA/BTC');
    for (const result of [aggregateSignals([fromWinner, other]), aggregateSignals([fromWinner, other], { useTrackRecord: false }, { trackRecord: record })]) {
      expect(acceptedIds(result)).toEqual([other.id, fromWinner.id]);
      expect(result.decisions.every((d) => d.factors.trackRecord === 1)).toBe(true);
      expect(result.decisions.every((d) => d.notes.every((n) => n.rule !== 'track-record'))).toBe(true);
    }
  });

  test('maxAccepted keeps the best ranked; exits are never cut', () => {
    const signals = [signal('a', 'long', 0.6, 'A/BTC'), signal('b', 'long', 0.9, 'B/BTC'), signal('c', 'short', 0.7, 'C/BTC'), signal('d', 'flat', 0.2, 'D/BTC')];
    const result = aggregateSignals(signals, { maxAccepted: 2 });
    expect(acceptedIds(result)).toEqual([signals[3]!.id, signals[1]!.id, signals[2]!.id]);
    expect(decisionOf(result, signals[0]!.id)).toMatchObject({ droppedBy: 'rank', rank: undefined });
    expect(decisionOf(result, signals[2]!.id).rank).toBe(2);
    const all = aggregateSignals(signals);
    expect(all.accepted).toHaveLength(4);
  });
});

describe('regime filter', () => {
  const candles = loadCandles('binance-ETH-BTC-5m');
  const detector = new RegimeDetector();
  const regimeAt: string[] = candles.map((c) => detector.update(c) ?? 'unknown');
  const bearIndex = regimeAt.indexOf('bear');
  const bullIndex = regimeAt.indexOf('bull');

  function detectorAt(index: number): RegimeDetector {
    const d = new RegimeDetector();
    for (const candle of candles.slice(0, index + 1)) d.update(candle);
    return d;
  }

  test('scales confidence by the regime of the symbol', () => {
    expect(bearIndex).toBeGreaterThan(0);
    expect(bullIndex).toBeGreaterThan(0);
    const config = { minConfidence: 0.5, regime: { enabled: true } };
    const long = signal('a', 'long', 0.7);
    const short = signal('b', 'short', 0.7, 'ETH/BTC', { id: 'b-short' });

    const inBear = aggregateSignals([long], config, { regime: detectorAt(bearIndex) });
    expect(inBear.decisions[0]).toMatchObject({ regime: 'bear', droppedBy: 'min-confidence' });
    expect(inBear.decisions[0]!.adjustedConfidence).toBeCloseTo(0.42, 12);
    expect(inBear.decisions[0]!.reasons[0]).toBe('regime: ETH/BTC is bear: long confidence ×0.60');

    const shortInBear = aggregateSignals([short], config, { regime: detectorAt(bearIndex) });
    expect(shortInBear.decisions[0]).toMatchObject({ accepted: true, adjustedConfidence: 0.7 });

    const inBull = aggregateSignals([long], config, { regime: detectorAt(bullIndex) });
    expect(inBull.decisions[0]).toMatchObject({ regime: 'bull', accepted: true, adjustedConfidence: 0.7 });

    const custom = aggregateSignals([long], { regime: { enabled: true, bear: { long: 0 } } }, { regime: detectorAt(bearIndex) });
    expect(custom.decisions[0]!.adjustedConfidence).toBe(0);
  });

  test('stays quiet when disabled, and uses the unknown factor before warm-up', () => {
    const long = signal('a', 'long', 0.7);
    const off = aggregateSignals([long], {}, { regime: detectorAt(bearIndex) });
    expect(off.decisions[0]).toMatchObject({ accepted: true, adjustedConfidence: 0.7, regime: undefined });
    expect(off.decisions[0]!.notes.some((n) => n.rule === 'regime')).toBe(false);
    const early = aggregateSignals([long], { regime: { enabled: true, unknown: 0.5 } }, { regime: detectorAt(10) });
    expect(early.decisions[0]!.adjustedConfidence).toBeCloseTo(0.35, 12);
    expect(early.decisions[0]!.reasons[0]).toContain('not known yet');
  });
});

describe('ensemble vote', () => {
  const weights = { a: 2, b: 1, c: 1 };

  test('the weighted majority wins with the vote margin as its confidence', () => {
    const a = signal('a', 'long', 0.9);
    const b = signal('b', 'short', 0.3);
    const c = signal('c', 'long', 0.7);
    const result = aggregateSignals([a, b, c], { ensemble: { enabled: true, weights } });
    const expected = (2 * 0.9 + 0.7 - 0.3) / 4;
    expect(acceptedIds(result)).toEqual([a.id]);
    expect(decisionOf(result, a.id).adjustedConfidence).toBeCloseTo(expected, 12);
    expect(decisionOf(result, c.id)).toMatchObject({ droppedBy: 'ensemble', mergedInto: a.id });
    expect(decisionOf(result, b.id).reasons.at(-1)).toContain('outvoted on ETH/BTC');
  });

  test('a split vote stays below the minimum and nothing is accepted', () => {
    const result = aggregateSignals([signal('a', 'long', 0.8), signal('b', 'short', 0.6), signal('c', 'long', 0.4)], {
      ensemble: { enabled: true, weights },
    });
    expect(result.accepted).toEqual([]);
    expect(result.decisions[0]!.reasons.at(-1)).toContain('below the minimum');
  });

  test('abstentions can count, weight 0 silences, minStrategies is a quorum', () => {
    const votes = [signal('a', 'long', 0.9), signal('c', 'long', 0.7)];
    expect(aggregateSignals(votes, { ensemble: { enabled: true, weights } }).accepted).toHaveLength(1);
    const counted = aggregateSignals(votes, { ensemble: { enabled: true, weights: { ...weights, d: 4 }, abstentions: 'count' } });
    expect(counted.accepted).toEqual([]);
    const silenced = aggregateSignals([signal('a', 'long', 0.9), signal('b', 'short', 0.9)], { ensemble: { enabled: true, weights: { a: 0 } } });
    expect(silenced.decisions[0]!.reasons.at(-1)).toContain('weight 0');
    expect(acceptedIds(silenced)).toEqual([silenced.decisions[1]!.signal.id]);
    const quorum = aggregateSignals([signal('a', 'long', 0.9)], { ensemble: { enabled: true, minStrategies: 2 } });
    expect(quorum.decisions[0]!.reasons.at(-1)).toContain('needs 2');
  });

  test('disabled: the same batch is decided signal by signal', () => {
    const result = aggregateSignals([signal('a', 'long', 0.8), signal('b', 'short', 0.6), signal('c', 'long', 0.4)]);
    expect(acceptedIds(result)).toEqual([signal('a', 'long', 0.8).id]);
    expect(result.decisions.every((d) => d.notes.every((n) => n.rule !== 'ensemble'))).toBe(true);
  });
});

test('config errors name the field', () => {
  const error = (() => {
    try {
      new SignalAggregator({ minConfidence: 2, conflict: 'vote' as 'net' }, { path: 'agents[3].config.aggregation' });
    } catch (err) {
      return err as StrategyConfigError;
    }
  })();
  expect(error).toBeInstanceOf(StrategyConfigError);
  expect(error!.field).toBe('agents[3].config.aggregation.minConfidence');
  expect(error!.message).toContain('agents[3].config.aggregation.conflict');
  expect(() => new SignalAggregator({ secondChance: { minStrategies: 1 } })).toThrow(/secondChance\.minStrategies: must be at least 2/);
});

test('on real signals: every input gets a decision, at most one entry per symbol, inputs untouched', () => {
  const strategies = builtinStrategies.map((d) => createStrategy({ type: d.type }));
  const candles = [...loadCandles('binance-ETH-BTC-5m'), ...loadCandles('binance-ADA-BTC-5m')].sort((a, b) => a.timestamp - b.timestamp);
  const detector = new RegimeDetector();
  const aggregator = new SignalAggregator({ minConfidence: 0.55, regime: { enabled: true }, secondChance: { enabled: true }, conflict: 'net' });
  let batches = 0;
  let accepted = 0;
  let rescued = 0;
  let conflicts = 0;
  let index = 0;
  while (index < candles.length) {
    const time = candles[index]!.timestamp;
    const batch: Signal[] = [];
    for (; index < candles.length && candles[index]!.timestamp === time; index++) {
      detector.update(candles[index]!);
      for (const strategy of strategies) batch.push(...strategy.onCandle(candles[index]!));
    }
    if (batch.length === 0) continue;
    batches++;
    const frozen = JSON.stringify(batch);
    const result = aggregator.aggregate(batch, { regime: detector });
    expect(JSON.stringify(batch)).toBe(frozen);
    expect(result.decisions.map((d) => d.signal)).toEqual(batch);
    expect(result.accepted.length + result.rejected.length).toBe(batch.length);
    const entries = result.accepted.filter((d) => d.signal.side !== 'flat');
    expect(new Set(entries.map((d) => d.signal.symbol)).size).toBe(entries.length);
    for (const d of result.decisions) {
      expect(d.reasons.length).toBeGreaterThan(0);
      expect(d.accepted).toBe(d.droppedBy === undefined);
      if (!d.accepted) expect(builtinEvents['signal.decided'].safeParse({ signalId: d.signal.id, strategyId: d.signal.strategyId, symbol: d.signal.symbol, side: d.signal.side, decision: d.decision, reasons: d.reasons, timestamp: T }).success).toBe(true);
      if (d.notes.some((n) => n.effect === 'rescued')) rescued++;
      if (d.droppedBy === 'conflict') conflicts++;
    }
    for (const d of entries) expect(d.adjustedConfidence).toBeGreaterThanOrEqual(d.notes.some((n) => n.effect === 'rescued') ? 0.45 : 0.55);
    accepted += result.accepted.length;
  }
  expect(batches).toBeGreaterThan(1000);
  expect(accepted).toBeGreaterThan(100);
  expect(rescued).toBeGreaterThan(0);
  expect(conflicts).toBeGreaterThan(0);
});
