import type { BuiltinEvents } from '@tradebus/core';
import type { AggregationContext, SignalAggregator, SignalDecision } from '@tradebus/strategies';

type Signal = BuiltinEvents['signal.generated'];

/** One decision to act on a symbol, made from one or more signals. */
export interface TradeDecision {
  symbol: string;
  side: 'long' | 'short' | 'flat';
  /** Confidence after aggregation (regime, track record, vote). */
  confidence: number;
  price: number;
  stopLoss?: number | undefined;
  takeProfit?: number | undefined;
  /** The strategy the trade is booked to (its track record drives Kelly sizing). */
  strategyId: string;
  /** The signal that stands for the decision first, then those merged into it; each gets its own signal.decided. */
  signals: Signal[];
  /** Why aggregation kept it, per rule. */
  reasons: string[];
  /** Second-chance boosts and penalties of the signal that stands for the decision. */
  adjustments?: SignalDecision['adjustments'] | undefined;
}

export interface BatchOutcome {
  decisions: TradeDecision[];
  /** Signals aggregation dropped, with its reasons. */
  rejected: Array<{ signal: Signal; reasons: string[]; adjustments?: SignalDecision['adjustments'] | undefined }>;
}

/**
 * Runs one batch of signals through the strategies package's aggregator and groups the result into
 * decisions: an accepted signal together with the signals merged into it (same side on the same
 * symbol, or the majority of an ensemble vote), and the signals dropped, with why.
 */
export function decideBatch(aggregator: SignalAggregator, signals: readonly Signal[], context: AggregationContext): BatchOutcome {
  const result = aggregator.aggregate(signals, context);
  const byId = new Map(result.decisions.map((d) => [d.signal.id, d]));
  const decisions: TradeDecision[] = [];
  for (const d of result.accepted) {
    const merged = d.supporters.map((id) => byId.get(id)?.signal).filter((s): s is Signal => s !== undefined);
    decisions.push({
      symbol: d.signal.symbol,
      side: d.signal.side,
      confidence: d.adjustedConfidence,
      price: d.signal.price,
      stopLoss: d.signal.stopLoss,
      takeProfit: d.signal.takeProfit,
      strategyId: d.signal.strategyId,
      signals: [d.signal, ...merged],
      reasons: d.reasons,
      adjustments: d.adjustments,
    });
  }
  const rejected: BatchOutcome['rejected'] = [];
  for (const d of result.rejected) {
    // A merged signal shares the fate of the one that stands for it.
    if (d.mergedInto !== undefined && byId.get(d.mergedInto)?.accepted === true) continue;
    rejected.push({ signal: d.signal, reasons: d.reasons, adjustments: d.adjustments });
  }
  return { decisions, rejected };
}

/** A signal that closes a position, decided on its own: exits do not go through aggregation. */
export function exitDecision(signal: Signal): TradeDecision {
  return {
    symbol: signal.symbol,
    side: signal.side,
    confidence: signal.confidence,
    price: signal.price,
    strategyId: signal.strategyId,
    signals: [signal],
    reasons: [],
  };
}
