import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Low } from 'lowdb';
import type { Logger } from 'pino';
import { z } from 'zod';
import { builtinEvents, type BuiltinEvents } from '../events/builtin.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';
import { DataCorruptedError } from './errors.js';
import { openDocument, type DurableJsonFile, type DurableJsonFileOptions } from './durable-file.js';
import {
  DEFAULT_QUERY_LIMIT,
  isTerminalOrderStatus,
  type OrderQuery,
  type OrderRecord,
  type OrderRepository,
  type OrderStatus,
  type OrderUpdate,
} from './repositories.js';
import type { SegmentLog } from './segment-log.js';
import { checkLimit, validateRecord } from './validate.js';

const orderUpdateSchema = builtinEvents['order.updated'].extend({
  strategyId: z.string().optional(),
  signalId: z.string().optional(),
  timeInForce: builtinEvents['order.requested'].shape.timeInForce,
});
const orderRecordSchema = orderUpdateSchema.extend({ createdAt: z.number() });

const checkpointSchema = z.object({
  version: z.literal(1),
  /** Every order-log record up to this seq is reflected here. */
  seq: z.number().int().nonnegative(),
  open: z.array(orderRecordSchema),
  recent: z.array(orderRecordSchema),
});
type Checkpoint = z.output<typeof checkpointSchema>;

/** Finished orders kept in memory for late updates and fast lookups (more while they are recent). */
const RECENT_LIMIT = 1000;
/** Durable updates between two checkpoints. */
const CHECKPOINT_EVERY = 500;
/**
 * How far before its request time an order's records are looked for when they are no longer in
 * memory. Every record of an order is stamped at or after its request (the margin covers clock
 * skew between processes and venues), so a request delivered again finds them by reading only
 * the log's last minutes, not the whole order history, as every new order would otherwise do.
 */
const LOOKUP_MARGIN_MS = 10 * 60 * 1000;

/** A write applied in memory and handed to the log; `durable` settles once the log has it on disk. */
interface Applied<T> {
  durable: Promise<T>;
}

function requestedRecord(req: BuiltinEvents['order.requested']): OrderRecord {
  const record: OrderRecord = {
    clientOrderId: req.clientOrderId,
    symbol: req.symbol,
    side: req.side,
    type: req.type,
    status: 'requested',
    quantity: req.quantity,
    filledQuantity: 0,
    price: req.price,
    stopPrice: req.stopPrice,
    reduceOnly: req.reduceOnly,
    purpose: req.purpose,
    tradeId: req.tradeId,
    strategyId: req.strategyId,
    signalId: req.signalId,
    timeInForce: req.timeInForce,
    fills: [],
    fee: 0,
    timestamp: req.timestamp,
    createdAt: req.timestamp,
  };
  return withoutUndefined(record) as OrderRecord;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function mergeFills(previous: OrderRecord['fills'], incoming: OrderRecord['fills']): OrderRecord['fills'] {
  if (incoming.length === 0) return previous;
  const seen = new Set(previous.map((f) => f.tradeId));
  const added = incoming.filter((f) => !seen.has(f.tradeId));
  return added.length === 0 ? previous : [...previous, ...added];
}

/**
 * An update that must not overwrite `previous`. Progress wins whatever the timestamps say (clocks
 * of two processes, or of a restart, need not agree): an unfinished order takes its ending, and a
 * more filled state replaces a less filled one; a finished order never reopens. Between states
 * equally far along, the newer one wins.
 */
function isStale(previous: OrderRecord, update: OrderUpdate): boolean {
  const wasFinal = isTerminalOrderStatus(previous.status);
  if (wasFinal !== isTerminalOrderStatus(update.status)) return wasFinal;
  if (update.filledQuantity !== previous.filledQuantity) return update.filledQuantity < previous.filledQuantity;
  return update.timestamp < previous.timestamp;
}

export function mergeOrder(previous: OrderRecord | undefined, update: OrderUpdate): OrderRecord {
  if (previous === undefined) return { ...(withoutUndefined(update) as OrderUpdate), fills: [...update.fills], createdAt: update.timestamp };
  const fills = mergeFills(previous.fills, update.fills);
  if (isStale(previous, update)) return { ...previous, fills };
  return { ...previous, ...(withoutUndefined(update) as OrderUpdate), fills, createdAt: previous.createdAt };
}

/**
 * Orders on the segmented log (every state, tagged by symbol, stamped with the update time) plus
 * in-memory maps of open and recently closed orders. A checkpoint document of those maps,
 * written every few hundred durable updates and on close, bounds the work of a restart to the
 * records after it.
 */
export class LogOrderRepository implements OrderRepository {
  private readonly live = new OrderMaps();
  // What is durable: the checkpoint must never claim a state whose log record could still be lost.
  private readonly durable = new OrderMaps();
  private durableSeq = 0;
  private sinceCheckpoint = 0;
  private checkpointWrite: Promise<void> | undefined;
  /** Settles once the last write that had to wait for a lookup has been applied. */
  private intake: Promise<void> | undefined;

  private constructor(
    private readonly log: SegmentLog,
    private readonly checkpoint: { db: Low<Checkpoint>; file: DurableJsonFile<Checkpoint> },
    private readonly logger: Logger,
  ) {}

  static async open(log: SegmentLog, options: DurableJsonFileOptions & { logger?: Logger } = {}): Promise<LogOrderRepository> {
    const logger = options.logger ?? silentLogger();
    const empty: Checkpoint = { version: 1, seq: 0, open: [], recent: [] };
    const path = join(log.dir, 'checkpoint.json');
    let checkpoint: { db: Low<Checkpoint>; file: DurableJsonFile<Checkpoint> };
    try {
      checkpoint = await openDocument<Checkpoint>(path, empty, options);
    } catch (err) {
      if (!(err instanceof DataCorruptedError)) throw err;
      // The checkpoint only summarises the order log, so a damaged one is set aside and rebuilt.
      const aside = `${path}.${Date.now()}.corrupt`;
      await rename(path, aside);
      logger.warn({ file: path, movedTo: aside, err: errorMessage(err) }, 'order checkpoint unreadable: rebuilding open orders from the order log');
      checkpoint = await openDocument<Checkpoint>(path, empty, options);
    }
    const repo = new LogOrderRepository(log, checkpoint, logger);
    await repo.recover();
    return repo;
  }

  private async recover(): Promise<void> {
    let start = 0;
    const parsed = checkpointSchema.safeParse(this.checkpoint.db.data);
    const lastSeq = this.log.stats().lastSeq;
    if (parsed.success && parsed.data.seq <= lastSeq) {
      for (const r of [...parsed.data.recent, ...parsed.data.open]) this.apply(r, 0);
      start = parsed.data.seq;
    } else if (parsed.success && parsed.data.seq > 0) {
      this.logger.warn({ checkpointSeq: parsed.data.seq, lastSeq }, 'order checkpoint is ahead of the order log (restored from another backup?): rebuilding from the log');
    } else if (!parsed.success) {
      this.logger.warn('order checkpoint has an unexpected shape: rebuilding from the order log');
    }
    let replayed = 0;
    for await (const r of this.log.scan<OrderRecord>({ afterSeq: start, order: 'asc' })) {
      this.apply(r.data, r.seq);
      replayed++;
    }
    // Orders of earlier runs that are not in memory are at most as new as the newest record.
    this.live.droppedUpTo = Math.max(this.live.droppedUpTo, this.log.stats().newestTs);
    this.durableSeq = Math.max(start, lastSeq);
    if (replayed >= CHECKPOINT_EVERY || !parsed.success) await this.writeCheckpoint();
  }

  /** Applies a durable record (recovery) to both the live and the durable maps. */
  private apply(record: OrderRecord, seq: number): void {
    this.live.place(record);
    this.durable.place(record);
    if (seq > this.durableSeq) this.durableSeq = seq;
  }

  upsert(update: OrderUpdate): Promise<OrderRecord> {
    return this.inOrder(() => {
      const valid = validateRecord(orderUpdateSchema, update, `order update '${update?.clientOrderId ?? '?'}'`);
      return { durable: this.store(mergeOrder(this.live.get(valid.clientOrderId), valid)) };
    });
  }

  recordRequested(request: BuiltinEvents['order.requested']): Promise<OrderRecord> {
    return this.inOrder(() => {
      const req = validateRecord(builtinEvents['order.requested'], request, `order request '${request?.clientOrderId ?? '?'}'`);
      const known = this.live.get(req.clientOrderId);
      if (known !== undefined) {
        // An update recorded first (it can overtake the request between processes) lacks what only the request says.
        const completed = withRequestDetails(known, req);
        return { durable: completed === undefined ? Promise.resolve(structuredClone(known)) : this.store(completed) };
      }
      // Its records are stamped no earlier than the request (give or take clock skew): when no
      // order that new has left memory, an order not in memory is new, and the log is not read.
      const since = req.timestamp - LOOKUP_MARGIN_MS;
      if (since > this.live.droppedUpTo) return { durable: this.store(requestedRecord(req)) };
      return this.findInLog(req.clientOrderId, since).then((found) => ({
        durable: found !== undefined ? Promise.resolve(found) : this.store(requestedRecord(req)),
      }));
    });
  }

  /**
   * Applies writes in call order. A write whose lookup reads the log holds back the writes after
   * it until it has been applied; each caller awaits durability on its own, so pipelined writes
   * share the log's syncs.
   */
  private inOrder<T>(apply: () => Applied<T> | Promise<Applied<T>>): Promise<T> {
    const before = this.intake;
    let applied: Applied<T> | Promise<Applied<T>>;
    if (before === undefined) {
      try {
        applied = apply();
      } catch (err) {
        return Promise.reject(err);
      }
      if (!(applied instanceof Promise)) return applied.durable;
    } else {
      applied = before.then(apply);
    }
    const settled = applied.then(
      () => undefined,
      () => undefined,
    );
    this.intake = settled;
    void settled.then(() => {
      if (this.intake === settled) this.intake = undefined;
    });
    return applied.then((a) => a.durable);
  }

  /** The latest record of an order in the log, looking no further back than `since`. */
  private async findInLog(clientOrderId: string, since?: number): Promise<OrderRecord | undefined> {
    for await (const r of this.log.scan<OrderRecord>({ order: 'desc', since, contains: idField(clientOrderId) })) {
      if (r.data.clientOrderId === clientOrderId) return r.data;
    }
    return undefined;
  }

  private async store(record: OrderRecord): Promise<OrderRecord> {
    this.live.place(record);
    const seq = await this.log.append(record.symbol, record.timestamp, record);
    // Acknowledgements arrive in seq order, so the durable maps follow the log exactly.
    this.durable.place(record);
    this.durableSeq = seq;
    if (++this.sinceCheckpoint >= CHECKPOINT_EVERY && this.checkpointWrite === undefined) {
      this.checkpointWrite = this.writeCheckpoint()
        .catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'order checkpoint not written (the order log still has everything)'))
        .finally(() => (this.checkpointWrite = undefined));
    }
    return structuredClone(record);
  }

  private async writeCheckpoint(): Promise<void> {
    this.sinceCheckpoint = 0;
    this.checkpoint.db.data = {
      version: 1,
      seq: this.durableSeq,
      open: [...this.durable.open.values()],
      recent: [...this.durable.recent.values()],
    };
    await this.checkpoint.db.write();
  }

  async get(clientOrderId: string): Promise<OrderRecord | undefined> {
    const known = this.live.get(clientOrderId);
    if (known !== undefined) return structuredClone(known);
    return this.findInLog(clientOrderId);
  }

  async listOpen(filter: { symbol?: string | undefined } = {}): Promise<OrderRecord[]> {
    const out: OrderRecord[] = [];
    for (const o of this.live.open.values()) if (filter.symbol === undefined || o.symbol === filter.symbol) out.push(structuredClone(o));
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async query(query: OrderQuery = {}): Promise<OrderRecord[]> {
    const limit = checkLimit(query.limit, DEFAULT_QUERY_LIMIT);
    const statuses = query.status === undefined ? undefined : new Set<OrderStatus>(Array.isArray(query.status) ? query.status : [query.status]);
    const symbol = query.symbol;
    const scan = this.log.scan<OrderRecord>({
      tag: symbol === undefined ? undefined : (t) => t === symbol,
      since: query.since,
      until: query.until,
      order: 'desc',
    });
    // Newest first: the first record seen of an order is its latest state in the window.
    const seen = new Set<string>();
    const out: OrderRecord[] = [];
    const wantAll = query.order === 'asc';
    for await (const r of scan) {
      if (seen.has(r.data.clientOrderId)) continue;
      seen.add(r.data.clientOrderId);
      if (statuses !== undefined && !statuses.has(r.data.status)) continue;
      out.push(r.data);
      if (!wantAll && out.length >= limit) break;
    }
    return wantAll ? out.reverse().slice(0, limit) : out;
  }

  async history(clientOrderId: string): Promise<OrderRecord[]> {
    const symbol = this.live.get(clientOrderId)?.symbol;
    const out: OrderRecord[] = [];
    for await (const r of this.log.scan<OrderRecord>({ tag: symbol === undefined ? undefined : (t) => t === symbol, order: 'asc', contains: idField(clientOrderId) })) {
      if (r.data.clientOrderId === clientOrderId) out.push(r.data);
    }
    return out;
  }

  /** Writes the checkpoint after everything is durable: a restart then replays nothing. */
  async close(): Promise<void> {
    await this.checkpointWrite;
    await this.log.flush();
    await this.writeCheckpoint();
    await this.checkpoint.file.idle();
  }
}

/** How the id appears in a stored record (compact JSON), for a cheap pre-filter of lines. */
function idField(clientOrderId: string): string {
  return `"clientOrderId":${JSON.stringify(clientOrderId)}`;
}

const REQUEST_DETAILS = ['purpose', 'tradeId', 'strategyId', 'signalId', 'timeInForce'] as const;

/** The record with the request's details it lacks and the request's time as its creation; undefined when nothing is missing. */
function withRequestDetails(record: OrderRecord, req: BuiltinEvents['order.requested']): OrderRecord | undefined {
  let out: OrderRecord | undefined;
  for (const key of REQUEST_DETAILS) {
    if (record[key] !== undefined || req[key] === undefined) continue;
    out ??= { ...record };
    (out as Record<string, unknown>)[key] = req[key];
  }
  if (out !== undefined && req.timestamp < out.createdAt) out.createdAt = req.timestamp;
  return out;
}

/** Open orders and recently finished ones, each by its latest state. */
class OrderMaps {
  readonly open = new Map<string, OrderRecord>();
  /** In order of finishing (re-inserted on each update). */
  readonly recent = new Map<string, OrderRecord>();
  /** Newest timestamp of a finished order that left `recent`: any order not here is no newer. */
  droppedUpTo = Number.NEGATIVE_INFINITY;

  get(clientOrderId: string): OrderRecord | undefined {
    return this.open.get(clientOrderId) ?? this.recent.get(clientOrderId);
  }

  place(record: OrderRecord): void {
    const id = record.clientOrderId;
    if (!isTerminalOrderStatus(record.status)) {
      this.recent.delete(id);
      this.open.set(id, record);
      return;
    }
    this.open.delete(id);
    this.recent.delete(id);
    this.recent.set(id, record);
    // Beyond the limit the oldest leave memory, but none of the last minutes: a request that
    // comes again soon after (a redelivery) then finds its order here without reading the log.
    while (this.recent.size > RECENT_LIMIT) {
      const [oldestId, oldest] = this.recent.entries().next().value!;
      if (oldest.timestamp >= record.timestamp - LOOKUP_MARGIN_MS) break;
      this.recent.delete(oldestId);
      if (oldest.timestamp > this.droppedUpTo) this.droppedUpTo = oldest.timestamp;
    }
  }
}
