import { builtinEvents } from '../events/builtin.js';
import { DEFAULT_QUERY_LIMIT, type AccountQuery, type AccountRepository, type AccountSnapshot } from './repositories.js';
import type { SegmentLog } from './segment-log.js';
import { checkLimit, validateRecord } from './validate.js';

/** Account snapshots (equity, balances) on the segmented log, tagged by venue: the equity curve. */
export class LogAccountRepository implements AccountRepository {
  private readonly latestByVenue = new Map<string, AccountSnapshot>();
  private latestAny: AccountSnapshot | undefined;

  constructor(private readonly log: SegmentLog) {}

  async append(snapshot: AccountSnapshot): Promise<void> {
    const valid = validateRecord(builtinEvents['account.updated'], snapshot, `account snapshot of '${snapshot?.venue ?? '?'}'`);
    const pending = this.log.append(valid.venue, valid.timestamp, valid);
    this.latestByVenue.set(valid.venue, valid);
    this.latestAny = valid;
    await pending;
  }

  async latest(venue?: string): Promise<AccountSnapshot | undefined> {
    const cached = venue === undefined ? this.latestAny : this.latestByVenue.get(venue);
    if (cached !== undefined) return structuredClone(cached);
    const found = await this.log.last<AccountSnapshot>({ tag: venue === undefined ? undefined : (t) => t === venue });
    if (found === undefined) return undefined;
    if (venue === undefined) this.latestAny ??= found.data;
    else if (!this.latestByVenue.has(venue)) this.latestByVenue.set(venue, found.data);
    return structuredClone(found.data);
  }

  async query(query: AccountQuery = {}): Promise<AccountSnapshot[]> {
    const limit = checkLimit(query.limit, DEFAULT_QUERY_LIMIT);
    const venue = query.venue;
    const out: AccountSnapshot[] = [];
    for await (const r of this.log.scan<AccountSnapshot>({
      tag: venue === undefined ? undefined : (t) => t === venue,
      since: query.since,
      until: query.until,
      order: query.order ?? 'desc',
    })) {
      out.push(r.data);
      if (out.length >= limit) break;
    }
    return out;
  }
}
