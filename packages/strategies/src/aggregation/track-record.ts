import { fastSafeParse } from '@tradebus/core';
import { z } from 'zod';
import { StrategyConfigError, TrackRecordFormatError } from '../errors.js';

export const trackRecordConfigSchema = z
  .strictObject({
    /** Statistics cover the most recent this-many trades of each strategy. */
    window: z.number({ error: 'must be a number of trades' }).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1 trade' }).max(100_000, { error: 'must be at most 100000' }).default(200),
    /**
     * Weight, in trades, of the neutral prior (factor 1) that a strategy's record is blended with:
     * with the default 20, a strategy needs about 20 trades before its record counts as much as the prior.
     */
    priorTrades: z.number({ error: 'must be a number of trades' }).min(0, { error: 'must be 0 or more' }).default(20),
    minFactor: z.number({ error: 'must be a number' }).positive({ error: 'must be greater than 0' }).max(1, { error: 'must be at most 1' }).default(0.5),
    maxFactor: z.number({ error: 'must be a number' }).min(1, { error: 'must be at least 1' }).max(10, { error: 'must be at most 10' }).default(1.5),
  })
  .refine((c) => c.minFactor <= c.maxFactor, { path: ['minFactor'], error: 'must not exceed maxFactor' });

export type TrackRecordConfig = z.output<typeof trackRecordConfigSchema>;
export type TrackRecordConfigInput = z.input<typeof trackRecordConfigSchema>;

/**
 * The part of a `trade.closed` payload a track record needs; pass the whole payload. Trades with
 * no `strategyId` (manual or adopted positions) are not attributed to any strategy.
 */
export const closedTradeSchema = z.object({
  tradeId: z.string().min(1),
  strategyId: z.string().min(1).optional(),
  symbol: z.string().min(1),
  side: z.enum(['long', 'short']),
  pnl: z.number().finite(),
  pnlPct: z.number().finite(),
  closedAt: z.number().int().nonnegative(),
});

export type ClosedTrade = z.input<typeof closedTradeSchema>;

const parseClosedTrade = fastSafeParse(closedTradeSchema, { ignoreExtraKeys: true });

interface RecordedTrade {
  tradeId: string;
  symbol: string;
  side: 'long' | 'short';
  pnl: number;
  pnlPct: number;
  closedAt: number;
}

export interface StrategyStats {
  strategyId: string;
  /** Trades in the window. */
  count: number;
  wins: number;
  losses: number;
  /** wins / count (0 with no trades). A trade is a win when its `pnl` (after fees) is above 0, a loss below. */
  winRate: number;
  /**
   * Sum of winning returns over the sum of losing returns, both as |`pnlPct`| so trades in different
   * quote currencies compare. Infinity with wins and no losses; null with no wins and no losses.
   */
  profitFactor: number | null;
  /** Mean return per trade in percent. */
  expectancyPct: number;
  /** Mean realised pnl per trade in quote currency (only meaningful with one quote currency). */
  expectancy: number;
  totalPnl: number;
  averageWinPct: number;
  averageLossPct: number;
  lastClosedAt: number | undefined;
  /** The multiplier the aggregator applies to this strategy's confidence. */
  factor: number;
}

const snapshotSchema = z.strictObject({
  version: z.literal(1),
  config: z.unknown(),
  strategies: z.record(
    z.string().min(1),
    z.array(
      z.strictObject({
        tradeId: z.string().min(1),
        symbol: z.string().min(1),
        side: z.enum(['long', 'short']),
        pnl: z.number().finite(),
        pnlPct: z.number().finite(),
        closedAt: z.number().int().nonnegative(),
      }),
    ),
  ),
});

export type TrackRecordSnapshot = z.output<typeof snapshotSchema>;

/**
 * Per-strategy statistics from closed trades, and the confidence multiplier derived from them.
 * Feed it every `trade.closed`; a redelivered trade (same `tradeId`) is counted once. Persist it
 * with `toJSON()` and restore with `TrackRecord.fromJSON()`.
 *
 * The multiplier blends the strategy's profit factor with a neutral prior of `priorTrades` trades:
 * `clamp((n × min(PF, maxFactor) + priorTrades × 1) / (n + priorTrades), minFactor, maxFactor)`.
 * A new strategy starts at 1, a consistently losing one sinks towards `minFactor`, a winning one
 * rises towards `maxFactor`, and a handful of lucky trades moves it only a little.
 */
export class TrackRecord {
  readonly config: TrackRecordConfig;
  private readonly trades = new Map<string, RecordedTrade[]>();
  private readonly cache = new Map<string, StrategyStats>();

  constructor(config: TrackRecordConfigInput = {}, options: { path?: string } = {}) {
    const parsed = trackRecordConfigSchema.safeParse(config);
    if (!parsed.success) throw StrategyConfigError.fromZod('track record config', options.path ?? '', parsed.error);
    this.config = parsed.data;
  }

  /**
   * Adds a closed trade. Returns false (and changes nothing) when it has no strategy, was already
   * recorded, or is older than every trade in a full window. Throws TrackRecordFormatError on a
   * malformed trade.
   */
  record(trade: ClosedTrade): boolean {
    const parsed = parseClosedTrade(trade);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TrackRecordFormatError(
        `Cannot record trade ${JSON.stringify((trade as { tradeId?: unknown }).tradeId)}: ${issue.path.join('.') || 'trade'} ${issue.message}. Pass a trade.closed payload.`,
        { cause: parsed.error },
      );
    }
    // Only the fields a record keeps: callers pass the whole trade.closed payload.
    const { strategyId, tradeId, symbol, side, pnl, pnlPct, closedAt } = parsed.data;
    if (strategyId === undefined) return false;
    return this.insert(strategyId, { tradeId, symbol, side, pnl, pnlPct, closedAt });
  }

  stats(strategyId: string): StrategyStats {
    const cached = this.cache.get(strategyId);
    if (cached !== undefined) return cached;
    const stats = this.compute(strategyId, this.trades.get(strategyId) ?? []);
    this.cache.set(strategyId, stats);
    return stats;
  }

  /** The confidence multiplier for `strategyId` (1 for a strategy with no trades). */
  factor(strategyId: string): number {
    return this.stats(strategyId).factor;
  }

  strategies(): string[] {
    return [...this.trades.keys()].sort();
  }

  allStats(): StrategyStats[] {
    return this.strategies().map((id) => this.stats(id));
  }

  toJSON(): TrackRecordSnapshot {
    const strategies: TrackRecordSnapshot['strategies'] = {};
    for (const id of this.strategies()) strategies[id] = this.trades.get(id)!.map((trade) => ({ ...trade }));
    return { version: 1, config: { ...this.config }, strategies };
  }

  /**
   * Restores a record saved with `toJSON()` (an object, or its JSON text). The saved config is used
   * unless `config` is given (so a changed window applies on restart).
   */
  static fromJSON(snapshot: unknown, config?: TrackRecordConfigInput): TrackRecord {
    let input = snapshot;
    if (typeof snapshot === 'string') {
      try {
        input = JSON.parse(snapshot);
      } catch (err) {
        throw new TrackRecordFormatError('The saved track record is not valid JSON. Restore it from a backup or delete it to start afresh.', { cause: err });
      }
    }
    const parsed = snapshotSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TrackRecordFormatError(
        `The saved track record is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}. Restore it from a backup or delete it to start afresh.`,
        { cause: parsed.error },
      );
    }
    let record: TrackRecord;
    try {
      record = new TrackRecord(config ?? (parsed.data.config as TrackRecordConfigInput));
    } catch (err) {
      throw new TrackRecordFormatError(
        `The saved track record holds an invalid config (${(err as Error).message}). Pass a config to fromJSON() to override it.`,
        { cause: err },
      );
    }
    for (const [strategyId, trades] of Object.entries(parsed.data.strategies)) {
      for (const trade of trades) record.insert(strategyId, trade);
    }
    return record;
  }

  private insert(strategyId: string, trade: RecordedTrade): boolean {
    let list = this.trades.get(strategyId);
    if (list === undefined) {
      list = [];
      this.trades.set(strategyId, list);
    }
    if (list.some((t) => t.tradeId === trade.tradeId)) return false;
    const { window } = this.config;
    const later = (a: RecordedTrade, b: RecordedTrade) => a.closedAt > b.closedAt || (a.closedAt === b.closedAt && a.tradeId > b.tradeId);
    if (list.length >= window && !later(trade, list[0]!)) return false;
    // Kept in close order so the window drops the oldest trade, whatever order trades arrive in.
    let index = list.length;
    while (index > 0 && later(list[index - 1]!, trade)) index--;
    list.splice(index, 0, { ...trade });
    if (list.length > window) list.splice(0, list.length - window);
    this.cache.delete(strategyId);
    return true;
  }

  private compute(strategyId: string, trades: readonly RecordedTrade[]): StrategyStats {
    let wins = 0;
    let losses = 0;
    let grossWinPct = 0;
    let grossLossPct = 0;
    let totalPct = 0;
    let totalPnl = 0;
    for (const trade of trades) {
      totalPct += trade.pnlPct;
      totalPnl += trade.pnl;
      if (trade.pnl > 0) {
        wins++;
        grossWinPct += Math.abs(trade.pnlPct);
      } else if (trade.pnl < 0) {
        losses++;
        grossLossPct += Math.abs(trade.pnlPct);
      }
    }
    const count = trades.length;
    const profitFactor = grossLossPct > 0 ? grossWinPct / grossLossPct : grossWinPct > 0 ? Infinity : null;
    const { priorTrades, minFactor, maxFactor } = this.config;
    let factor = 1;
    if (profitFactor !== null && count + priorTrades > 0) {
      const blended = (count * Math.min(profitFactor, maxFactor) + priorTrades) / (count + priorTrades);
      factor = Math.min(maxFactor, Math.max(minFactor, blended));
    }
    return {
      strategyId,
      count,
      wins,
      losses,
      winRate: count > 0 ? wins / count : 0,
      profitFactor,
      expectancyPct: count > 0 ? totalPct / count : 0,
      expectancy: count > 0 ? totalPnl / count : 0,
      totalPnl,
      averageWinPct: wins > 0 ? grossWinPct / wins : 0,
      averageLossPct: losses > 0 ? -grossLossPct / losses : 0,
      lastClosedAt: trades[trades.length - 1]?.closedAt,
      factor,
    };
  }
}
