import { builtinEvents, fastSafeParse, formatZodIssues } from '@tradebus/core';
import { z } from 'zod';
import { StrategyConfigError } from '../errors.js';
import type { Signal, SignalSide } from '../types.js';
import type { Regime, RegimeSource } from './regime.js';

const factor = (fallback: number) =>
  z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(10, { error: 'must be at most 10' }).default(fallback);

const sideFactors = (long: number, short: number) => z.strictObject({ long: factor(long), short: factor(short) }).prefault({});

const unit = (fallback: number) =>
  z.number({ error: 'must be a number between 0 and 1' }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).default(fallback);

export const aggregatorConfigSchema = z.strictObject({
  /** Entry signals whose adjusted confidence is below this are dropped. */
  minConfidence: unit(0.5),
  /** Signals older than this (by their timestamp, against `context.now`) are dropped. */
  maxAgeMs: z.number({ error: 'must be a number of milliseconds' }).int({ error: 'must be a whole number' }).positive({ error: 'must be greater than 0' }).optional(),
  /** Accept provisional signals from forming bars (`metadata.forming`). Off: only closed bars count. */
  acceptProvisional: z.boolean({ error: 'must be true or false' }).default(false),
  /**
   * `pass`: flat (exit) signals skip the confidence rules, so a weak exit is never what keeps a
   * position open. `filter`: they face minConfidence like entries.
   */
  exits: z.enum(['pass', 'filter'], { error: "must be 'pass' or 'filter'" }).default('pass'),
  /** Scale confidence by the strategy's track record (when the context provides one). */
  useTrackRecord: z.boolean({ error: 'must be true or false' }).default(true),
  regime: z
    .strictObject({
      enabled: z.boolean({ error: 'must be true or false' }).default(false),
      /** Confidence multiplier per regime and side. */
      bull: sideFactors(1, 0.6),
      bear: sideFactors(0.6, 1),
      sideways: sideFactors(0.8, 0.8),
      /** Multiplier while a symbol's regime is not known yet. */
      unknown: factor(1),
    })
    .prefault({}),
  secondChance: z
    .strictObject({
      enabled: z.boolean({ error: 'must be true or false' }).default(false),
      /** How far below minConfidence a signal may be and still be rescued. */
      margin: unit(0.1),
      /** Distinct strategies (the signal's own included) that must signal the same symbol and side. */
      minStrategies: z.number({ error: 'must be a number of strategies' }).int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2' }).default(2),
      /**
       * A signal near the minimum is rescued when its adjusted confidence plus the boosts below,
       * minus the penalties, reaches minConfidence. Agreement alone (the default) rescues anything
       * within `margin`; the other factors are off until switched on.
       */
      agreement: z
        .strictObject({
          enabled: z.boolean({ error: 'must be true or false' }).default(true),
          /** Confidence added when `minStrategies` agree; absent: the whole margin (agreement alone rescues). */
          boost: z.number({ error: 'must be a number between 0 and 1' }).min(0, { error: 'must be at least 0' }).max(1, { error: 'must be at most 1' }).optional(),
        })
        .prefault({}),
      /** Boost a signal that goes with its symbol's regime: long in a bull market, short in a bear one. */
      trend: z
        .strictObject({ enabled: z.boolean({ error: 'must be true or false' }).default(false), boost: unit(0.05) })
        .prefault({}),
      /** Boost a signal on a trending market: ADX (the signal's `metadata.adx`, else the caller's) at or above `min`. */
      adx: z
        .strictObject({
          enabled: z.boolean({ error: 'must be true or false' }).default(false),
          min: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(100, { error: 'must be at most 100' }).default(25),
          /** Bars of the ADX the trade manager keeps per symbol. */
          period: z.number({ error: 'must be a number of bars' }).int({ error: 'must be a whole number' }).min(2, { error: 'must be at least 2' }).default(14),
          boost: unit(0.05),
        })
        .prefault({}),
      /**
       * Boost a strategy whose rejected signals on the symbol would have won often: of the
       * rejections followed to an outcome known by the decision time, at least `minSamples`, and a
       * share of at least `minWinRate` that would have made money.
       */
      pattern: z
        .strictObject({
          enabled: z.boolean({ error: 'must be true or false' }).default(false),
          minSamples: z.number({ error: 'must be a number of outcomes' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).default(10),
          minWinRate: unit(0.6),
          /** Count outcomes per regime too (the regime when the signal was rejected). */
          byRegime: z.boolean({ error: 'must be true or false' }).default(false),
          /** The most recent this-many outcomes per strategy and symbol (and regime) count. */
          window: z.number({ error: 'must be a number of outcomes' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(10_000, { error: 'must be at most 10000' }).default(100),
          boost: unit(0.05),
        })
        .prefault({}),
      /** Penalise a signal that many strategies on its symbol oppose: opposing strategies / all strategies on it above `maxShare`. */
      disagreement: z
        .strictObject({ enabled: z.boolean({ error: 'must be true or false' }).default(false), maxShare: unit(0.3), penalty: unit(0.05) })
        .prefault({}),
      /** Penalise signals of these strategy ids or types (`metadata.type`), e.g. kinds that rarely hold up near the minimum. */
      weak: z
        .strictObject({ types: z.array(z.string().min(1, { error: 'must not be empty' })).default([]), penalty: unit(0.05) })
        .prefault({}),
    })
    .prefault({}),
  /** What happens when long and short signals meet on one symbol (ignored in ensemble mode). */
  conflict: z.enum(['strongest', 'cancel', 'net'], { error: "must be 'strongest', 'cancel' or 'net'" }).default('strongest'),
  ensemble: z
    .strictObject({
      enabled: z.boolean({ error: 'must be true or false' }).default(false),
      /** Vote weight per strategy id; 0 silences a strategy. */
      weights: z.record(z.string(), z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' })).default({}),
      defaultWeight: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).default(1),
      /** Fewest strategies that must vote on a symbol for a decision. */
      minStrategies: z.number({ error: 'must be a number of strategies' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).default(1),
      /** `count`: strategies listed in `weights` that did not vote dilute the result. */
      abstentions: z.enum(['ignore', 'count'], { error: "must be 'ignore' or 'count'" }).default('ignore'),
    })
    .prefault({}),
  /** Accept at most this many entry signals per batch, best ranked first. */
  maxAccepted: z.number({ error: 'must be a number of signals' }).int({ error: 'must be a whole number' }).positive({ error: 'must be at least 1' }).optional(),
});

export type AggregatorConfig = z.output<typeof aggregatorConfigSchema>;
export type AggregatorConfigInput = z.input<typeof aggregatorConfigSchema>;

export type AggregationRule =
  | 'validation'
  | 'duplicate-id'
  | 'stale'
  | 'provisional'
  | 'exit'
  | 'regime'
  | 'track-record'
  | 'min-confidence'
  | 'second-chance'
  | 'conflict'
  | 'dedupe'
  | 'ensemble'
  | 'rank';

/** A second-chance factor that applied to a signal near the minimum. */
export interface ConfidenceAdjustment {
  rule: 'agreement' | 'trend' | 'adx' | 'pattern' | 'disagreement' | 'weak';
  /** Confidence added to the signal's adjusted confidence for the rescue (a penalty is negative). */
  amount: number;
  detail: string;
}

export interface RuleNote {
  rule: AggregationRule;
  effect: 'kept' | 'dropped' | 'adjusted' | 'rescued' | 'merged';
  message: string;
}

/** What the aggregator decided about one input signal, and why. */
export interface SignalDecision {
  signal: Signal;
  accepted: boolean;
  /** For `signal.decided`. */
  decision: 'accepted' | 'rejected';
  /** The rule that dropped it, when rejected. */
  droppedBy: AggregationRule | undefined;
  rawConfidence: number;
  /** Raw confidence × regime × track record (× netting or the ensemble vote), at most 1. */
  adjustedConfidence: number;
  /** The uncapped product used for ranking. */
  score: number;
  factors: { regime: number; trackRecord: number };
  regime: Regime | undefined;
  /** 1-based rank among accepted entry signals. */
  rank: number | undefined;
  /** Id of the accepted signal that stands for this one (dedupe, ensemble). */
  mergedInto: string | undefined;
  /** Ids of the signals merged into this one. */
  supporters: string[];
  notes: RuleNote[];
  /** The second-chance boosts and penalties that applied (empty unless a rescue was tried). */
  adjustments: ConfidenceAdjustment[];
  /** `rule: message` lines, ready for `signal.decided.reasons`. */
  reasons: string[];
}

export interface AggregationResult {
  /** One decision per input signal, in input order. */
  decisions: SignalDecision[];
  /** Accepted exits first, then accepted entries best first. */
  accepted: SignalDecision[];
  rejected: SignalDecision[];
}

export interface TrackRecordSource {
  factor(strategyId: string): number;
  stats?(strategyId: string): { count: number; winRate: number; profitFactor: number | null };
}

/** What rejected signals would have earned, as the caller followed them (for `secondChance.pattern`). */
export interface RejectionPatternSource {
  /**
   * Of the latest `window` outcomes of `strategyId`'s rejected signals on `symbol` (rejected in
   * `regime`, when given), those closed at or before `asOf`, and how many of them would have won.
   */
  outcomes(strategyId: string, symbol: string, regime: Regime | 'unknown' | undefined, asOf: number, window: number): { samples: number; wins: number };
}

export interface AggregationContext {
  /** The caller's clock; required when `maxAgeMs` is set or `secondChance.pattern` is enabled. */
  now?: number;
  trackRecord?: TrackRecordSource;
  /** Regime per symbol: the regime factor (`regime.enabled`) and the second-chance trend boost read it. */
  regime?: RegimeSource;
  /** ADX per symbol, for the second-chance ADX boost when a signal carries none in `metadata.adx`. */
  adx?: { adx(symbol: string): number | undefined };
  rejectionPatterns?: RejectionPatternSource;
}

// Every signal is screened: a well-formed one without zod (which still explains every refusal).
const parseSignal = fastSafeParse(builtinEvents['signal.generated']);

/**
 * Turns one batch of signals (for example everything published for one bar close) into decisions.
 * Pure: no bus, no clock of its own, no state between batches; the same batch and context always
 * give the same decisions. Rules run in this order:
 *
 * 1. validation, duplicate ids, staleness, provisional (forming-bar) signals;
 * 2. scoring: raw confidence × regime factor × track-record factor;
 * 3. exits (flat) are accepted as they are (unless `exits: 'filter'`);
 * 4. ensemble mode: one weighted vote per symbol; otherwise minimum confidence (with the
 *    second-chance rescue), opposing signals per `conflict`, then de-duplication per symbol+side;
 * 5. ranking by score, and `maxAccepted`.
 */
export class SignalAggregator {
  readonly config: AggregatorConfig;
  /** Decisions rescued by the second-chance rule (they keep the lower bar when netted). */
  private readonly rescued = new WeakSet<SignalDecision>();

  constructor(config: AggregatorConfigInput = {}, options: { path?: string } = {}) {
    const parsed = aggregatorConfigSchema.safeParse(config);
    if (!parsed.success) throw StrategyConfigError.fromZod('signal aggregation config', options.path ?? '', parsed.error);
    this.config = parsed.data;
  }

  aggregate(signals: readonly Signal[], context: AggregationContext = {}): AggregationResult {
    const config = this.config;
    if (config.maxAgeMs !== undefined && context.now === undefined) {
      throw new StrategyConfigError(
        'maxAgeMs',
        'Signal aggregation has maxAgeMs set but no context.now: pass the current time from your clock, or remove maxAgeMs.',
      );
    }
    if (config.secondChance.enabled && config.secondChance.pattern.enabled && context.now === undefined) {
      throw new StrategyConfigError(
        'secondChance.pattern',
        'Signal aggregation has secondChance.pattern enabled but no context.now: pass the current time from your clock (only outcomes known by then count), or disable the pattern boost.',
      );
    }
    const all = signals.map(initial);
    let live = all.filter((d) => this.screen(d, context));
    const seenIds = new Set<string>();
    live = live.filter((d) => {
      if (seenIds.has(d.signal.id)) return drop(d, 'duplicate-id', `signal id ${d.signal.id} already appeared in this batch`);
      seenIds.add(d.signal.id);
      return true;
    });
    for (const d of live) this.score(d, context);

    const exits = live.filter((d) => d.signal.side === 'flat');
    const entries = live.filter((d) => d.signal.side !== 'flat');
    let keptExits: SignalDecision[];
    if (config.exits === 'pass') {
      for (const d of exits) note(d, 'exit', 'kept', 'exit signals are accepted without confidence filters');
      keptExits = exits;
    } else {
      keptExits = this.dedupe(exits.filter((d) => this.meetsMinimum(d, [], context)));
    }

    const keptEntries = config.ensemble.enabled ? this.vote(entries) : this.independent(entries, context);

    keptEntries.sort(byScore);
    keptEntries.forEach((d, index) => {
      if (config.maxAccepted !== undefined && index >= config.maxAccepted) {
        drop(d, 'rank', `ranked ${index + 1} of ${keptEntries.length}; only the best ${config.maxAccepted} are accepted per batch`);
        return;
      }
      d.rank = index + 1;
      note(d, 'rank', 'kept', `rank ${index + 1} of ${keptEntries.length} with score ${fmt(d.score)}`);
    });
    const accepted = [...keptExits, ...keptEntries.filter((d) => d.rank !== undefined)];
    for (const d of accepted) {
      d.accepted = true;
      d.decision = 'accepted';
    }
    return { decisions: all, accepted, rejected: all.filter((d) => !d.accepted) };
  }

  /** Structural checks that do not depend on other signals. */
  private screen(d: SignalDecision, context: AggregationContext): boolean {
    const parsed = parseSignal(d.signal);
    if (!parsed.success) {
      const issues = formatZodIssues(parsed.error.issues).map((i) => `${i.path || '(root)'} ${i.message}`);
      return drop(d, 'validation', `not a valid signal.generated payload: ${issues.join('; ')}`);
    }
    const { maxAgeMs } = this.config;
    if (maxAgeMs !== undefined && context.now !== undefined) {
      const age = context.now - d.signal.timestamp;
      if (age > maxAgeMs) return drop(d, 'stale', `signal is ${age} ms old, older than maxAgeMs ${maxAgeMs}`);
    }
    if (!this.config.acceptProvisional && d.signal.metadata?.forming === true) {
      return drop(d, 'provisional', 'provisional signal from a bar still forming; only closed bars are acted on (acceptProvisional: false)');
    }
    return true;
  }

  private score(d: SignalDecision, context: AggregationContext): void {
    const { signal } = d;
    if (signal.side === 'flat' && this.config.exits === 'pass') return;
    const regime = this.config.regime;
    if (regime.enabled) {
      const current = context.regime?.regime(signal.symbol);
      d.regime = current;
      const side = signal.side as Exclude<SignalSide, 'flat'>;
      d.factors.regime = signal.side === 'flat' ? 1 : current === undefined ? regime.unknown : regime[current][side];
      note(
        d,
        'regime',
        'adjusted',
        current === undefined
          ? `regime of ${signal.symbol} not known yet: ×${fmt(d.factors.regime)}`
          : `${signal.symbol} is ${current}: ${signal.side} confidence ×${fmt(d.factors.regime)}`,
      );
    }
    if (this.config.useTrackRecord && context.trackRecord !== undefined) {
      const f = context.trackRecord.factor(signal.strategyId);
      d.factors.trackRecord = Number.isFinite(f) && f >= 0 ? f : 1;
      const stats = context.trackRecord.stats?.(signal.strategyId);
      const detail =
        stats === undefined
          ? ''
          : stats.count === 0
            ? ' (no closed trades yet)'
            : ` (${stats.count} trades, win rate ${(stats.winRate * 100).toFixed(0)} %, profit factor ${stats.profitFactor === null ? 'n/a' : fmt(stats.profitFactor)})`;
      note(d, 'track-record', 'adjusted', `${signal.strategyId} track record ×${fmt(d.factors.trackRecord)}${detail}`);
    }
    d.score = d.rawConfidence * d.factors.regime * d.factors.trackRecord;
    d.adjustedConfidence = Math.min(1, d.score);
  }

  private meetsMinimum(d: SignalDecision, batch: readonly SignalDecision[], context: AggregationContext): boolean {
    const { minConfidence, secondChance } = this.config;
    const adjusted = d.adjustedConfidence;
    if (adjusted >= minConfidence) {
      note(d, 'min-confidence', 'kept', `adjusted confidence ${fmt(adjusted)} ≥ minimum ${fmt(minConfidence)}`);
      return true;
    }
    const below = `adjusted confidence ${fmt(adjusted)} (raw ${fmt(d.rawConfidence)}) is below the minimum ${fmt(minConfidence)}`;
    if (!secondChance.enabled || d.signal.side === 'flat') return drop(d, 'min-confidence', below);
    if (adjusted < minConfidence - secondChance.margin) {
      return drop(d, 'min-confidence', `${below}, further than the second-chance margin ${fmt(secondChance.margin)}`);
    }
    const { applied, missed } = this.secondChanceFactors(d, batch, context);
    d.adjustments = applied;
    let total = 0;
    for (const a of applied) total += a.amount;
    const boosted = adjusted + total;
    const list = applied.map((a) => `${a.rule} ${a.amount >= 0 ? '+' : '−'}${fmt(Math.abs(a.amount))} (${a.detail})`).join(', ');
    // Hand-set boosts (0.45 + 0.05) must reach 0.5 despite binary fractions.
    if (total > 0 && boosted >= minConfidence - 1e-9) {
      this.rescued.add(d);
      note(d, 'second-chance', 'rescued', `${below}, but within ${fmt(secondChance.margin)} of it and ${list}: ${fmt(adjusted)} + ${fmt(total)} = ${fmt(boosted)} ≥ ${fmt(minConfidence)}`);
      return true;
    }
    const tried = applied.length > 0 ? `; second chance: ${list} gives ${fmt(boosted)}, below ${fmt(minConfidence)}` : '';
    return drop(d, 'min-confidence', `${below}${missed.length > 0 ? `; ${missed.join('; ')}` : ''}${tried}`);
  }

  /** The boosts and penalties of the second-chance rule for one signal near the minimum, and the boosts it missed. */
  private secondChanceFactors(d: SignalDecision, batch: readonly SignalDecision[], context: AggregationContext): { applied: ConfidenceAdjustment[]; missed: string[] } {
    const sc = this.config.secondChance;
    const { symbol, side, strategyId } = d.signal;
    const applied: ConfidenceAdjustment[] = [];
    const missed: string[] = [];
    const agreeing = new Set<string>();
    const onSymbol = new Set<string>();
    const opposing = new Set<string>();
    for (const other of batch) {
      if (other.signal.symbol !== symbol) continue;
      onSymbol.add(other.signal.strategyId);
      if (other.signal.side === side) agreeing.add(other.signal.strategyId);
      else if (other.signal.side !== 'flat') opposing.add(other.signal.strategyId);
    }
    if (sc.agreement.enabled) {
      if (agreeing.size >= sc.minStrategies) {
        applied.push({ rule: 'agreement', amount: sc.agreement.boost ?? sc.margin, detail: `${agreeing.size} strategies agree on ${side} ${symbol} (${[...agreeing].sort().join(', ')})` });
      } else {
        missed.push(`second chance needs ${sc.minStrategies} strategies agreeing on ${side} ${symbol}, found ${agreeing.size}`);
      }
    }
    const regime = context.regime?.regime(symbol);
    if (sc.trend.enabled) {
      if ((regime === 'bull' && side === 'long') || (regime === 'bear' && side === 'short')) {
        applied.push({ rule: 'trend', amount: sc.trend.boost, detail: `${side} goes with the ${regime} regime of ${symbol}` });
      } else {
        missed.push(regime === undefined ? `trend: regime of ${symbol} not known yet` : `trend: ${side} does not go with the ${regime} regime of ${symbol}`);
      }
    }
    if (sc.adx.enabled) {
      const own = d.signal.metadata?.adx;
      const adx = typeof own === 'number' && Number.isFinite(own) ? own : context.adx?.adx(symbol);
      if (adx !== undefined && adx >= sc.adx.min) applied.push({ rule: 'adx', amount: sc.adx.boost, detail: `ADX ${fmt(adx)} ≥ ${fmt(sc.adx.min)} on ${symbol}` });
      else missed.push(adx === undefined ? `adx: ADX of ${symbol} not known yet` : `adx: ADX ${fmt(adx)} < ${fmt(sc.adx.min)} on ${symbol}`);
    }
    if (sc.pattern.enabled) {
      const p = sc.pattern;
      const bucket = p.byRegime ? (regime ?? 'unknown') : undefined;
      const seen = context.rejectionPatterns?.outcomes(strategyId, symbol, bucket, context.now!, p.window) ?? { samples: 0, wins: 0 };
      const where = `${strategyId} on ${symbol}${bucket === undefined ? '' : ` (${bucket})`}`;
      const rate = seen.samples > 0 ? seen.wins / seen.samples : 0;
      if (seen.samples >= p.minSamples && rate >= p.minWinRate) {
        applied.push({ rule: 'pattern', amount: p.boost, detail: `rejected signals of ${where} would have won ${seen.wins} of ${seen.samples} (${pctText(rate)} ≥ ${pctText(p.minWinRate)})` });
      } else {
        missed.push(
          seen.samples < p.minSamples
            ? `pattern: ${seen.samples} known outcomes of rejected signals of ${where}, fewer than ${p.minSamples}`
            : `pattern: rejected signals of ${where} would have won ${seen.wins} of ${seen.samples} (${pctText(rate)} < ${pctText(p.minWinRate)})`,
        );
      }
    }
    if (sc.disagreement.enabled && onSymbol.size > 0) {
      const share = opposing.size / onSymbol.size;
      if (share > sc.disagreement.maxShare) {
        applied.push({
          rule: 'disagreement',
          amount: -sc.disagreement.penalty,
          detail: `${opposing.size} of ${onSymbol.size} strategies on ${symbol} signal the other side (${pctText(share)} > ${pctText(sc.disagreement.maxShare)})`,
        });
      }
    }
    if (sc.weak.types.length > 0) {
      const type = d.signal.metadata?.type;
      const listed = sc.weak.types.includes(strategyId) ? strategyId : typeof type === 'string' && sc.weak.types.includes(type) ? type : undefined;
      if (listed !== undefined) applied.push({ rule: 'weak', amount: -sc.weak.penalty, detail: `${listed} is listed as a weak signal type` });
    }
    return { applied, missed };
  }

  private independent(entries: SignalDecision[], context: AggregationContext): SignalDecision[] {
    const passing = entries.filter((d) => this.meetsMinimum(d, entries, context));
    const survivors: SignalDecision[] = [];
    for (const group of groupBy(passing, (d) => d.signal.symbol).values()) survivors.push(...this.resolveConflict(group));
    return this.dedupe(survivors);
  }

  private resolveConflict(group: SignalDecision[]): SignalDecision[] {
    const longs = group.filter((d) => d.signal.side === 'long').sort(byScore);
    const shorts = group.filter((d) => d.signal.side === 'short').sort(byScore);
    if (longs.length === 0 || shorts.length === 0) return group;
    const symbol = group[0]!.signal.symbol;
    const rule = this.config.conflict;
    if (rule === 'cancel') {
      for (const d of group) {
        const other = (d.signal.side === 'long' ? shorts : longs)[0]!;
        drop(d, 'conflict', `cancelled: ${other.signal.strategyId} signals ${other.signal.side} on ${symbol} in the same batch (conflict: cancel)`);
      }
      return [];
    }
    if (rule === 'strongest') {
      const bestLong = longs[0]!;
      const bestShort = shorts[0]!;
      if (bestLong.score === bestShort.score) {
        for (const d of group) drop(d, 'conflict', `long and short on ${symbol} are equally strong (score ${fmt(bestLong.score)}): both dropped`);
        return [];
      }
      const [winners, losers, best] = bestLong.score > bestShort.score ? [longs, shorts, bestLong] : [shorts, longs, bestShort];
      for (const d of losers) {
        drop(d, 'conflict', `opposed by a stronger ${best.signal.side} from ${best.signal.strategyId} (score ${fmt(best.score)} > ${fmt(losers[0]!.score)}; conflict: strongest)`);
      }
      for (const d of winners) note(d, 'conflict', 'kept', `stronger than the opposing ${losers[0]!.signal.side} on ${symbol} (conflict: strongest)`);
      return winners;
    }
    const longSum = sum(longs);
    const shortSum = sum(shorts);
    if (longSum === shortSum) {
      for (const d of group) drop(d, 'conflict', `long and short on ${symbol} net to zero (${fmt(longSum)} each; conflict: net)`);
      return [];
    }
    const [winners, losers, winSum, loseSum] = longSum > shortSum ? [longs, shorts, longSum, shortSum] : [shorts, longs, shortSum, longSum];
    const net = (winSum - loseSum) / winSum;
    const side = winners[0]!.signal.side;
    for (const d of losers) drop(d, 'conflict', `netted out: ${side} scores ${fmt(winSum)} against ${fmt(loseSum)} on ${symbol} (conflict: net)`);
    const kept: SignalDecision[] = [];
    for (const d of winners) {
      d.score *= net;
      d.adjustedConfidence = Math.min(1, d.score);
      const minimum = this.config.minConfidence - (this.rescued.has(d) ? this.config.secondChance.margin : 0);
      if (d.adjustedConfidence < minimum) {
        drop(d, 'conflict', `after netting against the opposing ${losers[0]!.signal.side} (×${fmt(net)}), confidence ${fmt(d.adjustedConfidence)} is below ${fmt(minimum)}`);
      } else {
        note(d, 'conflict', 'adjusted', `netted against the opposing ${losers[0]!.signal.side} on ${symbol}: ×${fmt(net)} (${fmt(winSum)} vs ${fmt(loseSum)})`);
        kept.push(d);
      }
    }
    return kept;
  }

  /** One signal per symbol and side: the best-ranked one, carrying the others as supporters. */
  private dedupe(decisions: SignalDecision[]): SignalDecision[] {
    const kept: SignalDecision[] = [];
    for (const group of groupBy(decisions, (d) => `${d.signal.symbol}\u0000${d.signal.side}`).values()) {
      group.sort(byScore);
      const best = group[0]!;
      for (const d of group.slice(1)) {
        d.mergedInto = best.signal.id;
        best.supporters.push(d.signal.id);
        drop(d, 'dedupe', `same ${d.signal.side} on ${d.signal.symbol} as ${best.signal.id} from ${best.signal.strategyId}, which ranks higher`, 'merged');
      }
      if (group.length > 1) {
        note(best, 'dedupe', 'kept', `also signalled by ${group.slice(1).map((d) => d.signal.strategyId).join(', ')}`);
      }
      kept.push(best);
    }
    return kept;
  }

  /** Ensemble mode: one weighted vote per symbol. */
  private vote(entries: SignalDecision[]): SignalDecision[] {
    const { ensemble, minConfidence } = this.config;
    const kept: SignalDecision[] = [];
    const weightOf = (strategyId: string) => ensemble.weights[strategyId] ?? ensemble.defaultWeight;
    for (const [symbol, group] of groupBy(entries, (d) => d.signal.symbol)) {
      // One vote per strategy: its strongest signal on the symbol.
      const votes: SignalDecision[] = [];
      for (const own of groupBy(group, (d) => d.signal.strategyId).values()) {
        own.sort(byScore);
        for (const d of own.slice(1)) drop(d, 'ensemble', `${d.signal.strategyId} already votes with its stronger signal ${own[0]!.signal.id}`);
        const voter = own[0]!;
        if (weightOf(voter.signal.strategyId) === 0) drop(voter, 'ensemble', `${voter.signal.strategyId} has weight 0 and does not vote`);
        else votes.push(voter);
      }
      if (votes.length === 0) continue;
      if (votes.length < ensemble.minStrategies) {
        for (const d of votes) drop(d, 'ensemble', `only ${votes.length} strategies voted on ${symbol}; the ensemble needs ${ensemble.minStrategies}`);
        continue;
      }
      let longVote = 0;
      let shortVote = 0;
      let weight = 0;
      for (const d of votes) {
        const w = weightOf(d.signal.strategyId);
        weight += w;
        if (d.signal.side === 'long') longVote += w * d.adjustedConfidence;
        else shortVote += w * d.adjustedConfidence;
      }
      if (ensemble.abstentions === 'count') {
        const voters = new Set(votes.map((d) => d.signal.strategyId));
        for (const [id, w] of Object.entries(ensemble.weights)) if (!voters.has(id)) weight += w;
      }
      const tally = `long ${fmt(longVote)} vs short ${fmt(shortVote)} of total weight ${fmt(weight)}`;
      if (longVote === shortVote) {
        for (const d of votes) drop(d, 'ensemble', `vote on ${symbol} is tied (${tally})`);
        continue;
      }
      const side: SignalSide = longVote > shortVote ? 'long' : 'short';
      const confidence = Math.abs(longVote - shortVote) / weight;
      const winners = votes.filter((d) => d.signal.side === side).sort(byScore);
      const losers = votes.filter((d) => d.signal.side !== side);
      if (confidence < minConfidence) {
        for (const d of votes) drop(d, 'ensemble', `vote on ${symbol} gives ${side} confidence ${fmt(confidence)}, below the minimum ${fmt(minConfidence)} (${tally})`);
        continue;
      }
      const best = winners[0]!;
      best.adjustedConfidence = Math.min(1, confidence);
      best.score = confidence;
      note(best, 'ensemble', 'adjusted', `weighted vote on ${symbol}: ${side} with confidence ${fmt(confidence)} (${tally})`);
      for (const d of winners.slice(1)) {
        d.mergedInto = best.signal.id;
        best.supporters.push(d.signal.id);
        drop(d, 'ensemble', `voted ${side} on ${symbol} with the majority; represented by ${best.signal.id}`, 'merged');
      }
      for (const d of losers) drop(d, 'ensemble', `outvoted on ${symbol}: ${side} won (${tally})`);
      kept.push(best);
    }
    return kept;
  }
}

/** One-shot form of {@link SignalAggregator}. */
export function aggregateSignals(signals: readonly Signal[], config: AggregatorConfigInput = {}, context: AggregationContext = {}): AggregationResult {
  return new SignalAggregator(config).aggregate(signals, context);
}

function initial(signal: Signal): SignalDecision {
  const raw = typeof signal?.confidence === 'number' ? signal.confidence : 0;
  return {
    signal,
    accepted: false,
    decision: 'rejected',
    droppedBy: undefined,
    rawConfidence: raw,
    adjustedConfidence: raw,
    score: raw,
    factors: { regime: 1, trackRecord: 1 },
    regime: undefined,
    rank: undefined,
    mergedInto: undefined,
    supporters: [],
    notes: [],
    adjustments: [],
    reasons: [],
  };
}

function note(d: SignalDecision, rule: AggregationRule, effect: RuleNote['effect'], message: string): void {
  d.notes.push({ rule, effect, message });
  d.reasons.push(`${rule}: ${message}`);
}

function drop(d: SignalDecision, rule: AggregationRule, message: string, effect: RuleNote['effect'] = 'dropped'): false {
  d.droppedBy = rule;
  note(d, rule, effect, message);
  return false;
}

/** Best first; ties go to the strategy id, then the signal id, so the order never depends on arrival. */
function byScore(a: SignalDecision, b: SignalDecision): number {
  if (b.score !== a.score) return b.score - a.score;
  if (a.signal.strategyId !== b.signal.strategyId) return a.signal.strategyId < b.signal.strategyId ? -1 : 1;
  return a.signal.id < b.signal.id ? -1 : a.signal.id > b.signal.id ? 1 : 0;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}

function sum(decisions: readonly SignalDecision[]): number {
  let total = 0;
  for (const d of decisions) total += d.score;
  return total;
}

function pctText(share: number): string {
  return `${(share * 100).toFixed(0)} %`;
}

function fmt(x: number): string {
  if (x === Infinity) return '∞';
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}
