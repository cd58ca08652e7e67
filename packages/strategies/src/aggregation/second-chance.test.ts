import { describe, expect, test } from 'vitest';
import type { Signal, SignalSide } from '../types.js';
import { SignalAggregator, aggregateSignals, type AggregationContext, type AggregationResult, type AggregatorConfigInput, type SignalDecision } from './aggregator.js';
import { RegimeDetector } from './regime.js';

const T = 1_700_000_000_000;

function signal(strategyId: string, side: SignalSide, confidence: number, extra: Partial<Signal> = {}): Signal {
  return {
    id: `${strategyId}:ETH/BTC:5m:${T}:${side}`,
    strategyId,
    symbol: 'ETH/BTC',
    timeframe: '5m',
    side,
    confidence,
    price: 0.05,
    reason: `${strategyId} says ${side}`,
    timestamp: T,
    ...extra,
  };
}

const decisionOf = (result: AggregationResult, id: string): SignalDecision => result.decisions.find((d) => d.signal.id === id)!;

/** A detector that has seen closes rise (bull) or fall (bear) for ETH/BTC, SMA 2/3 with no band. */
function detector(trend: 'up' | 'down'): RegimeDetector {
  const regime = new RegimeDetector({ fastPeriod: 2, slowPeriod: 3, band: 0 });
  [1, 2, 3, 4].forEach((step, i) => regime.update({ symbol: 'ETH/BTC', timestamp: T + i, close: trend === 'up' ? 10 + step : 10 - step }));
  return regime;
}

/** Only the factor under test: agreement (on by default) switched off. */
const only = (factors: Record<string, unknown>): AggregatorConfigInput => ({
  minConfidence: 0.5,
  secondChance: { enabled: true, margin: 0.1, agreement: { enabled: false }, ...factors },
});

/** The rescue rule as documented: adjusted confidence + boosts − penalties reaches the minimum. */
const rescuedByHand = (confidence: number, amounts: number[], minimum = 0.5) => confidence + amounts.reduce((a, b) => a + b, 0) >= minimum - 1e-9;

describe('second chance factors', () => {
  test('trend: a long in a bull market gets the boost, in a bear market it does not', () => {
    expect(detector('up').regime('ETH/BTC')).toBe('bull');
    expect(detector('down').regime('ETH/BTC')).toBe('bear');
    const config = only({ trend: { enabled: true, boost: 0.05 } });
    for (const [confidence, trend] of [[0.46, 'up'], [0.46, 'down'], [0.44, 'up']] as const) {
      const s = signal('a', 'long', confidence);
      const d = decisionOf(aggregateSignals([s], config, { regime: detector(trend) }), s.id);
      const withTrend = trend === 'up';
      expect(d.accepted).toBe(rescuedByHand(confidence, withTrend ? [0.05] : []));
      expect(d.adjustments).toEqual(withTrend ? [{ rule: 'trend', amount: 0.05, detail: 'long goes with the bull regime of ETH/BTC' }] : []);
    }
    // A short goes with a bear market.
    const short = signal('a', 'short', 0.46);
    expect(decisionOf(aggregateSignals([short], config, { regime: detector('down') }), short.id).accepted).toBe(true);
    // The regime factor need not be on for the trend boost; unknown regime gives none.
    const unknown = decisionOf(aggregateSignals([short], config, {}), short.id);
    expect(unknown.accepted).toBe(false);
    expect(unknown.reasons.join(' ')).toContain('trend: regime of ETH/BTC not known yet');
  });

  test('adx: the signal’s own ADX, else the caller’s, at or above the level boosts', () => {
    const config = only({ adx: { enabled: true, min: 25, boost: 0.05 } });
    const strong = signal('a', 'long', 0.46, { metadata: { adx: 31 } });
    const weak = signal('a', 'long', 0.46, { metadata: { adx: 24.9 } });
    expect(decisionOf(aggregateSignals([strong], config), strong.id).accepted).toBe(rescuedByHand(0.46, [0.05]));
    expect(decisionOf(aggregateSignals([strong], config), strong.id).reasons.join(' ')).toContain('adx +0.05 (ADX 31 ≥ 25 on ETH/BTC)');
    expect(decisionOf(aggregateSignals([weak], config), weak.id).accepted).toBe(false);
    const bare = signal('a', 'long', 0.46);
    const context: AggregationContext = { adx: { adx: (symbol) => (symbol === 'ETH/BTC' ? 25 : undefined) } };
    expect(decisionOf(aggregateSignals([bare], config, context), bare.id).accepted).toBe(true);
    expect(decisionOf(aggregateSignals([bare], config), bare.id).accepted).toBe(false);
    // A bigger boost is needed further from the minimum: 0.42 + 0.05 falls short, 0.42 + 0.08 makes it.
    const far = signal('a', 'long', 0.42, { metadata: { adx: 40 } });
    expect(decisionOf(aggregateSignals([far], config), far.id).accepted).toBe(rescuedByHand(0.42, [0.05]));
    expect(decisionOf(aggregateSignals([far], only({ adx: { enabled: true, boost: 0.08 } })), far.id).accepted).toBe(rescuedByHand(0.42, [0.08]));
    expect(rescuedByHand(0.42, [0.05])).toBe(false);
  });

  test('agreement: its boost is the whole margin unless sized, and boosts add up', () => {
    const a = signal('a', 'long', 0.46);
    const b = signal('b', 'long', 0.46, { id: 'b-long' });
    const sized = { minConfidence: 0.5, secondChance: { enabled: true, agreement: { boost: 0.02 } } };
    expect(decisionOf(aggregateSignals([a, b], sized), a.id).accepted).toBe(rescuedByHand(0.46, [0.02]));
    const withTrend = { minConfidence: 0.5, secondChance: { enabled: true, agreement: { boost: 0.02 }, trend: { enabled: true, boost: 0.03 } } };
    const d = decisionOf(aggregateSignals([a, b], withTrend, { regime: detector('up') }), a.id);
    expect(d.accepted).toBe(rescuedByHand(0.46, [0.02, 0.03]));
    expect(d.adjustments.map((x) => [x.rule, x.amount])).toEqual([
      ['agreement', 0.02],
      ['trend', 0.03],
    ]);
    expect(d.notes.find((n) => n.rule === 'second-chance')!.message).toContain('0.46 + 0.05 = 0.51 ≥ 0.50');
  });

  test('disagreement: a share of opposing strategies above maxShare costs the penalty', () => {
    const a = signal('a', 'long', 0.46);
    const b = signal('b', 'long', 0.46);
    const c = signal('c', 'short', 0.3);
    // Share opposing a: 1 of 3 strategies on the symbol.
    const share = 1 / 3;
    for (const penalty of [0.05, 0.1]) {
      const config = { minConfidence: 0.5, secondChance: { enabled: true, margin: 0.1, disagreement: { enabled: true, maxShare: 0.3, penalty } } };
      const d = decisionOf(aggregateSignals([a, b, c], config), a.id);
      expect(share).toBeGreaterThan(0.3);
      expect(d.accepted).toBe(rescuedByHand(0.46, [0.1, -penalty]));
      expect(d.adjustments.find((x) => x.rule === 'disagreement')).toMatchObject({ amount: -penalty });
    }
    // At or below the share nothing is taken off.
    const lenient = { minConfidence: 0.5, secondChance: { enabled: true, disagreement: { enabled: true, maxShare: 0.34, penalty: 0.1 } } };
    expect(decisionOf(aggregateSignals([a, b, c], lenient), a.id).adjustments.map((x) => x.rule)).toEqual(['agreement']);
  });

  test('weak signal types: listed strategy ids or metadata.type cost the penalty', () => {
    const a = signal('a', 'long', 0.46);
    const b = signal('b', 'long', 0.46);
    const config = { minConfidence: 0.5, secondChance: { enabled: true, margin: 0.1, weak: { types: ['b', 'breakout'], penalty: 0.1 } } };
    const result = aggregateSignals([a, b], config);
    expect(decisionOf(result, a.id).accepted).toBe(rescuedByHand(0.46, [0.1]));
    expect(decisionOf(result, b.id).accepted).toBe(rescuedByHand(0.46, [0.1, -0.1]));
    expect(decisionOf(result, b.id).droppedBy).toBe('min-confidence');
    expect(decisionOf(result, b.id).reasons.join(' ')).toContain('weak −0.10 (b is listed as a weak signal type) gives 0.46, below 0.50');
    const typed = signal('a', 'long', 0.46, { metadata: { type: 'breakout' } });
    expect(decisionOf(aggregateSignals([typed, b], { ...config, secondChance: { ...config.secondChance, weak: { types: ['breakout'], penalty: 0.1 } } }), typed.id).accepted).toBe(false);
  });

  test('pattern: asks for outcomes known at the decision time and boosts above the win rate', () => {
    const asked: Array<[string, string, string | undefined, number, number]> = [];
    const context = (wins: number, samples: number): AggregationContext => ({
      now: T,
      regime: detector('up'),
      rejectionPatterns: {
        outcomes: (strategyId, symbol, regime, asOf, window) => {
          asked.push([strategyId, symbol, regime, asOf, window]);
          return { wins, samples };
        },
      },
    });
    const config = only({ pattern: { enabled: true, minSamples: 10, minWinRate: 0.6, boost: 0.05, window: 50 } });
    const s = signal('a', 'long', 0.46);
    expect(decisionOf(aggregateSignals([s], config, context(6, 10)), s.id).accepted).toBe(true);
    expect(decisionOf(aggregateSignals([s], config, context(5, 10)), s.id).accepted).toBe(false);
    // Too few outcomes: no boost however good they were.
    expect(decisionOf(aggregateSignals([s], config, context(9, 9)), s.id).accepted).toBe(false);
    expect(asked[0]).toEqual(['a', 'ETH/BTC', undefined, T, 50]);
    const byRegime = only({ pattern: { enabled: true, byRegime: true } });
    aggregateSignals([s], byRegime, context(10, 10));
    expect(asked.at(-1)!.slice(0, 3)).toEqual(['a', 'ETH/BTC', 'bull']);
    expect(() => new SignalAggregator(config).aggregate([s], {})).toThrow(/secondChance\.pattern.*context\.now/);
  });

  test('factors apply only near the minimum: above it nothing changes, beyond the margin nothing rescues', () => {
    const config = only({ trend: { enabled: true, boost: 0.5 } });
    const above = signal('a', 'long', 0.6);
    const d = decisionOf(aggregateSignals([above], config, { regime: detector('up') }), above.id);
    expect(d.accepted).toBe(true);
    expect(d.adjustments).toEqual([]);
    const beyond = signal('a', 'long', 0.39);
    expect(decisionOf(aggregateSignals([beyond], config, { regime: detector('up') }), beyond.id).accepted).toBe(false);
  });
});
