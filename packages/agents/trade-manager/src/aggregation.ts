import type { BuiltinEvents } from '@tradebus/core';

type Signal = BuiltinEvents['signal.generated'];

/** One decision to act on a symbol, made from one or more signals. */
export interface SignalDecision {
  symbol: string;
  side: 'long' | 'short' | 'flat';
  confidence: number;
  price: number;
  stopLoss?: number | undefined;
  takeProfit?: number | undefined;
  /** The strategy the trade is booked to (its track record drives Kelly sizing). */
  strategyId: string;
  /** Every signal behind the decision; each gets its own signal.decided. */
  signals: Signal[];
  reason: string;
}

export interface AggregationResult {
  decisions: SignalDecision[];
  /** Signals that lost in aggregation (outvoted, below the threshold, expired), with why. */
  rejected: Array<{ signal: Signal; reasons: string[] }>;
}

/** How the manager combines signals; the default comes from @tradebus/strategies. */
export interface SignalAggregator {
  add(signal: Signal, now: number): AggregationResult;
  /** Decisions that become due with time alone (a window closing). */
  flush(now: number): AggregationResult;
  /** When `flush` next has something to do, if ever. */
  nextDeadline(): number | undefined;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** Every signal is its own decision. */
export function passthroughAggregator(): SignalAggregator {
  return {
    add: (signal) => ({ decisions: [decisionOf(signal)], rejected: [] }),
    flush: () => ({ decisions: [], rejected: [] }),
    nextDeadline: () => undefined,
    snapshot: () => null,
    restore: () => undefined,
  };
}

export function decisionOf(signal: Signal): SignalDecision {
  return {
    symbol: signal.symbol,
    side: signal.side,
    confidence: signal.confidence,
    price: signal.price,
    stopLoss: signal.stopLoss,
    takeProfit: signal.takeProfit,
    strategyId: signal.strategyId,
    signals: [signal],
    reason: signal.reason,
  };
}
