import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { candleSchema } from '../events/builtin.js';
import { DataClosedError } from './errors.js';
import { decodeFileKey, encodeFileKey, isNotFound } from './fs-utils.js';
import type { CandleQuery, CandleRecord, CandleRepository } from './repositories.js';
import { SegmentLog, type SegmentLogOptions } from './segment-log.js';
import { checkLimit, validateRecord } from './validate.js';

const SEPARATOR = '@';

/**
 * Candles on one segmented log per symbol and timeframe (`candles/<symbol>@<timeframe>/`),
 * stamped with the bar's open time, opened on first use. A bar stored twice (a backfill after a
 * restart, a corrected bar) is returned once: the one stored last.
 */
export class LogCandleRepository implements CandleRepository {
  private readonly logs = new Map<string, Promise<SegmentLog>>();
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly logOptions: Omit<SegmentLogOptions, 'dir' | 'label'>,
  ) {}

  private seriesLog(symbol: string, timeframe: string): Promise<SegmentLog> {
    if (this.closed) return Promise.reject(new DataClosedError('The candle store', 'closed'));
    const key = `${encodeFileKey(symbol)}${SEPARATOR}${encodeFileKey(timeframe)}`;
    let log = this.logs.get(key);
    if (log === undefined) {
      log = SegmentLog.open({ ...this.logOptions, dir: join(this.dir, key), label: `candles ${symbol} ${timeframe}` });
      this.logs.set(key, log);
      log.catch(() => this.logs.delete(key));
    }
    return log;
  }

  async append(candle: CandleRecord): Promise<void> {
    const valid = validateRecord(candleSchema, candle, `candle ${candle?.symbol ?? '?'} ${candle?.timeframe ?? '?'}`);
    const log = await this.seriesLog(valid.symbol, valid.timeframe);
    await log.append(valid.timeframe, valid.timestamp, valid);
  }

  async appendMany(candles: CandleRecord[]): Promise<void> {
    const pending: Promise<unknown>[] = [];
    for (const c of candles) {
      const valid = validateRecord(candleSchema, c, `candle ${c?.symbol ?? '?'} ${c?.timeframe ?? '?'}`);
      const log = await this.seriesLog(valid.symbol, valid.timeframe);
      pending.push(log.append(valid.timeframe, valid.timestamp, valid));
    }
    await Promise.all(pending);
  }

  async query(symbol: string, timeframe: string, query: CandleQuery = {}): Promise<CandleRecord[]> {
    const limit = checkLimit(query.limit, Infinity);
    const desc = query.order === 'desc';
    const log = await this.seriesLog(symbol, timeframe);
    const bars = new Map<number, CandleRecord>();
    // Past `limit` bars, a block that cannot hold a bar nearer the wanted end than the bars
    // already found is skipped: a "last 200 bars" query reads only the last blocks.
    let bound: number | undefined;
    const refreshBound = (): void => {
      if (bars.size < limit) return;
      const ts = [...bars.keys()].sort((a, b) => (desc ? b - a : a - b));
      bound = ts[limit - 1];
    };
    for await (const r of log.scan<CandleRecord>({
      since: query.since,
      until: query.until,
      order: desc ? 'desc' : 'asc',
      skipBlock: (b) => {
        refreshBound();
        return bound !== undefined && (desc ? b.maxTs < bound : b.minTs > bound);
      },
    })) {
      // The last stored version of a bar wins: in a desc scan that is the first one seen.
      if (desc && bars.has(r.ts)) continue;
      bars.set(r.ts, r.data);
    }
    const out = [...bars.values()].sort((a, b) => (desc ? b.timestamp - a.timestamp : a.timestamp - b.timestamp));
    return limit === Infinity ? out : out.slice(0, limit);
  }

  async latest(symbol: string, timeframe: string): Promise<CandleRecord | undefined> {
    return (await this.query(symbol, timeframe, { order: 'desc', limit: 1 }))[0];
  }

  async series(): Promise<Array<{ symbol: string; timeframe: string }>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    return names
      .filter((n) => n.includes(SEPARATOR))
      .map((n) => {
        const [s, tf] = n.split(SEPARATOR) as [string, string];
        return { symbol: decodeFileKey(s), timeframe: decodeFileKey(tf) };
      })
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.timeframe.localeCompare(b.timeframe));
  }

  /** The open series logs (for flush, verify, backup). */
  async openLogs(): Promise<SegmentLog[]> {
    const settled = await Promise.allSettled([...this.logs.values()]);
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /** Opens every stored series (backup and verify need all of them, not only those used so far). */
  async openAll(): Promise<SegmentLog[]> {
    for (const { symbol, timeframe } of await this.series()) await this.seriesLog(symbol, timeframe);
    return this.openLogs();
  }

  async close(): Promise<void> {
    const logs = await this.openLogs();
    this.closed = true;
    await Promise.all(logs.map((l) => l.close()));
  }
}
