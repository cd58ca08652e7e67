import { builtinEvents } from '../events/builtin.js';
import { DEFAULT_QUERY_LIMIT, type TradeQuery, type TradeRecord, type TradeRepository } from './repositories.js';
import type { SegmentLog } from './segment-log.js';
import { checkLimit, validateRecord } from './validate.js';

/** Closed trades on the segmented log, tagged by symbol and stamped with `closedAt`. */
export class LogTradeRepository implements TradeRepository {
  constructor(private readonly log: SegmentLog) {}

  async append(trade: TradeRecord): Promise<void> {
    const valid = validateRecord(builtinEvents['trade.closed'], trade, `trade '${trade?.tradeId ?? '?'}'`);
    await this.log.append(valid.symbol, valid.closedAt, valid);
  }

  async query(query: TradeQuery = {}): Promise<TradeRecord[]> {
    const limit = checkLimit(query.limit, DEFAULT_QUERY_LIMIT);
    const { symbol, strategyId } = query;
    const seen = new Set<string>();
    const out: TradeRecord[] = [];
    for await (const r of this.log.scan<TradeRecord>({
      tag: symbol === undefined ? undefined : (t) => t === symbol,
      since: query.since,
      until: query.until,
      order: query.order ?? 'desc',
    })) {
      // A trade stored twice (a retry after a crash) counts once.
      if (seen.has(r.data.tradeId)) continue;
      seen.add(r.data.tradeId);
      if (strategyId !== undefined && r.data.strategyId !== strategyId) continue;
      out.push(r.data);
      if (out.length >= limit) break;
    }
    return out;
  }

  async get(tradeId: string): Promise<TradeRecord | undefined> {
    const contains = `"tradeId":${JSON.stringify(tradeId)}`;
    for await (const r of this.log.scan<TradeRecord>({ order: 'desc', contains })) if (r.data.tradeId === tradeId) return r.data;
    return undefined;
  }
}
