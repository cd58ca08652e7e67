import type { Logger } from 'pino';
import { z } from 'zod';
import type { Envelope } from '../bus/envelope.js';
import type { EventBus, Subscription } from '../bus/event-bus.js';
import { compilePattern, isPattern } from '../bus/subjects.js';
import { errorMessage } from '../errors.js';
import { redactSecrets, silentLogger } from '../logger.js';
import { formatZodIssues } from '../validation.js';
import { DataArgumentError } from './errors.js';
import {
  DEFAULT_QUERY_LIMIT,
  type EventJournalReader,
  type JournalEntry,
  type JournalQuery,
  type ReplayOptions,
} from './repositories.js';
import type { LogStats, SegmentLog } from './segment-log.js';

const pattern = z
  .string()
  .min(1)
  .refine((p) => {
    try {
      compilePattern(p);
      return true;
    } catch {
      return false;
    }
  }, "use an event type or a pattern of '.'-separated tokens, '*' for one token, '>' as the last token");

/** The journal query as the REST API and other callers may send it (numbers already numbers). */
export const journalQuerySchema = z
  .object({
    type: pattern.optional(),
    types: z.array(pattern).optional(),
    since: z.number().finite().optional(),
    until: z.number().finite().optional(),
    afterSeq: z.number().int().nonnegative().optional(),
    beforeSeq: z.number().int().positive().optional(),
    limit: z.union([z.number().int().positive(), z.literal(Infinity)]).optional(),
    order: z.enum(['asc', 'desc']).optional(),
  })
  .strict();

export interface JournalFilter {
  /** Event types or patterns to record. Default: everything (`>`). */
  types?: string[] | undefined;
  /** Event types or patterns never recorded, even when `types` selects them. */
  exclude?: string[] | undefined;
}

export interface JournalStats extends LogStats {
  /** Events recorded through `attach` (accepted for writing). */
  recorded: number;
  /** Events that could not be recorded (the log failed); each is logged. */
  failed: number;
}

function matcherOf(patterns: string[]): (type: string) => boolean {
  const exact = new Set(patterns.filter((p) => !isPattern(p)));
  const wild = patterns.filter((p) => isPattern(p)).map((p) => compilePattern(p));
  if (wild.length === 0) return (type) => exact.has(type);
  return (type) => exact.has(type) || wild.some((m) => m(type));
}

/** A plain copy of an envelope with its payload's secrets redacted, ready to store. */
function storable(envelope: Envelope): Envelope {
  const out: { -readonly [K in keyof Envelope]: Envelope[K] } = {
    id: envelope.id,
    type: envelope.type,
    source: envelope.source,
    ts: envelope.ts,
    seq: envelope.seq,
    payload: redactSecrets(envelope.payload),
  };
  if (envelope.correlationId !== undefined) out.correlationId = envelope.correlationId;
  if (envelope.causationId !== undefined) out.causationId = envelope.causationId;
  if (envelope.replyTo !== undefined) out.replyTo = envelope.replyTo;
  return out;
}

/**
 * The event journal: every selected event on the bus, whole envelope, in arrival order, on an
 * append-only segmented log indexed by event type and time. Payload fields named like secrets
 * (apiKey, token, password...) are replaced by `[REDACTED]` before they reach the disk.
 */
export class EventJournal implements EventJournalReader {
  private readonly log: SegmentLog;
  private readonly logger: Logger;
  private readonly defaults: JournalFilter;
  private recorded = 0;
  private failed = 0;
  private lastFailureLog = 0;

  constructor(log: SegmentLog, options: { logger?: Logger; defaults?: JournalFilter } = {}) {
    this.log = log;
    this.logger = options.logger ?? silentLogger();
    this.defaults = options.defaults ?? {};
  }

  /** Records one envelope; resolves with its journal sequence number once durable. */
  append(envelope: Envelope): Promise<number> {
    return this.log.append(envelope.type, envelope.ts, storable(envelope));
  }

  /**
   * Records the bus's events from now on: those matching `types` (default: the store's
   * configuration, `>` when unset) minus `exclude`. Returns the subscription; unsubscribe to stop.
   */
  attach(bus: EventBus<any>, filter: JournalFilter = {}): Subscription {
    const types = filter.types ?? this.defaults.types ?? ['>'];
    const excluded = matcherOf(filter.exclude ?? this.defaults.exclude ?? []);
    const matchers = types.map((t) => matcherOf([t]));
    const subs: Subscription[] = types.map((type, i) =>
      bus.subscribe(type as never, (envelope: Envelope) => {
        // An event matching several patterns arrives once per pattern: record it on the first.
        for (let j = 0; j < i; j++) if (matchers[j]!(envelope.type)) return;
        if (excluded(envelope.type)) return;
        this.record(envelope);
      }),
    );
    return { unsubscribe: () => subs.forEach((s) => s.unsubscribe()) };
  }

  private record(envelope: Envelope): void {
    let pending: Promise<number>;
    try {
      pending = this.append(envelope);
    } catch (err) {
      this.onRecordFailure(envelope, err);
      return;
    }
    this.recorded++;
    pending.catch((err: unknown) => this.onRecordFailure(envelope, err));
  }

  private onRecordFailure(envelope: Envelope, err: unknown): void {
    this.failed++;
    const now = Date.now();
    // One line per second at most: a failed disk would otherwise log every event.
    if (now - this.lastFailureLog < 1000) return;
    this.lastFailureLog = now;
    this.logger.error({ type: envelope.type, id: envelope.id, failed: this.failed, err: errorMessage(err) }, 'event not recorded in the journal');
  }

  /**
   * Journal entries matching the query: by type or pattern, time range and sequence range, newest
   * first unless `order: 'asc'`, at most `limit` (default 1000).
   */
  async query(query: JournalQuery = {}): Promise<JournalEntry[]> {
    const q = parseQuery(query);
    const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
    const out: JournalEntry[] = [];
    for await (const r of this.log.scan<Envelope>({
      tag: typeFilter(q.type, q.types),
      since: q.since,
      until: q.until,
      afterSeq: q.afterSeq,
      beforeSeq: q.beforeSeq,
      order: q.order ?? 'desc',
    })) {
      out.push({ seq: r.seq, envelope: r.data });
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Every matching event in journal order from a point in time (or after a sequence number), up
   * to the moment of the call. For recovery: rebuild state from the events since a checkpoint.
   */
  async *replay(options: ReplayOptions = {}): AsyncGenerator<JournalEntry> {
    const q = parseQuery({ type: options.type, types: options.types, since: options.from, afterSeq: options.afterSeq });
    for await (const r of this.log.scan<Envelope>({ tag: typeFilter(q.type, q.types), since: q.since, afterSeq: q.afterSeq, order: 'asc' })) {
      yield { seq: r.seq, envelope: r.data };
    }
  }

  stats(): JournalStats {
    return { ...this.log.stats(), recorded: this.recorded, failed: this.failed };
  }

  /** The underlying log (flush, verify, retention, backup). */
  get segmentLog(): SegmentLog {
    return this.log;
  }
}

function parseQuery(query: JournalQuery): z.output<typeof journalQuerySchema> {
  const clean = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
  const parsed = journalQuerySchema.safeParse(clean);
  if (!parsed.success) {
    const issues = formatZodIssues(parsed.error.issues);
    throw new DataArgumentError(`Invalid journal query: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, { issues });
  }
  return parsed.data;
}

function typeFilter(type: string | undefined, types: string[] | undefined): ((tag: string) => boolean) | undefined {
  const all = [...(type === undefined ? [] : [type]), ...(types ?? [])];
  return all.length === 0 ? undefined : matcherOf(all);
}
