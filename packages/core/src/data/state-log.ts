import { closeSync, fdatasync, openSync, write, writeSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { StateStore, WriteOptions } from '../agent/store.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';
import { crc32 } from './crc32.js';
import { DataArgumentError, DataClosedError, DataCorruptedError, DataError, DataWriteError } from './errors.js';
import { atomicWriteFile, decodeFileKey, ensureDir, fsyncDir, isNotFound, removeStaleTempFiles, writeFully, type FsyncPolicy } from './fs-utils.js';
import { decodeHeader } from './segment-log.js';
import type { AgentStateRepository } from './repositories.js';

/**
 * The durable state of every agent (and of the paper venue) of a process, in one append-only log.
 *
 * A `set` appends one record holding the new value of the key, never the whole state: its cost
 * does not grow with what the agent keeps. Every append of the process goes through one group
 * commit: an append that finds no sync in flight is written and synced at once (in the same turn
 * of the event loop as the appends issued with it); appends arriving while a sync runs share the
 * next one. No timer stands between a decision and its durability.
 *
 * ```
 * state/format.json              {"format":2}: which layout this directory holds
 * state/snapshot-<gen>.jsonl     every key's value when generation <gen> started
 * state/log-<gen>.jsonl          the changes since that snapshot
 * ```
 *
 * Lines use the segment logs' framing (`{"seq":…,"ts":…,"tag":<namespace>,"data":…,"crc":"…"}`),
 * so a torn or damaged line is recognised. When the log outgrows its snapshot, a new generation
 * starts: appends move to a new log file at once, the snapshot of the state at that point is
 * written beside it, and the previous generation is deleted once the snapshot is durable.
 * Records are whole values, so replaying one the snapshot already holds changes nothing.
 */

/** Layout written by this version. 1 was one lowdb document per agent under `state/<agent>.json`. */
export const STATE_FORMAT = 2;

export interface StateLogOptions {
  /** The `state/` directory of a data store. */
  dir: string;
  /** `never` writes without syncing (survives a process crash, not a power loss); anything else syncs each group of writes. */
  fsync?: FsyncPolicy;
  /** A new generation starts once the log is larger than this and than twice the last snapshot. Default 16 MiB. */
  compactAfterBytes?: number;
  /** Bytes of appends waiting for the disk beyond which `stats().queueFill` exceeds 1 and appends wait for room. Default 32 MiB. */
  maxQueuedBytes?: number;
  logger?: Logger;
  /** Called once when the log stops accepting writes after an I/O failure. */
  onFailure?: (err: DataWriteError) => void;
}

export interface StateLogStats {
  generation: number;
  /** Keys held, over all namespaces. */
  keys: number;
  /** Bytes in the current log file (changes since the last snapshot). */
  logBytes: number;
  snapshotBytes: number;
  /** Appends since the store was opened. */
  appends: number;
  /** Group commits (write + sync) since the store was opened; appends ÷ syncs is the sharing. */
  syncs: number;
  /** Bytes accepted and not yet durable. */
  queuedBytes: number;
  /** queuedBytes ÷ maxQueuedBytes: above 1 the disk is slower than the producers. */
  queueFill: number;
  /** Duration of the last write + sync, in ms. */
  lastSyncMs: number;
  state: 'open' | 'closed' | 'failed';
}

/** The directory holds state written by a newer Tradebus than this one. */
export class DataFormatError extends DataError {
  constructor(dir: string, found: number) {
    super(
      'DATA_FORMAT_UNSUPPORTED',
      `The agent state in ${dir} has format ${found}, written by a newer version of Tradebus; this version reads format ${STATE_FORMAT}. Run the newer version, or restore a backup this version wrote.`,
      { details: { dir, found, supported: STATE_FORMAT } },
    );
  }
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

const LOG_FILE = /^log-(\d+)\.jsonl$/;
const SNAPSHOT_FILE = /^snapshot-(\d+)\.jsonl$/;
const CRC_MARK = ',"crc":"';
/** Up to this size a group is written with one synchronous write: a page-cache copy takes microseconds, a trip through the thread pool longer. */
const SYNC_WRITE_BYTES = 256 * 1024;
const MAX_GROUP_BYTES = 8 * 1024 * 1024;
/** A background write waits at most this long for a write that syncs. */
const BACKGROUND_DELAY_MS = 200;

const formatSchema = z.object({ format: z.number().int().positive() });
const v1DocumentSchema = z.object({ version: z.literal(1), agent: z.string(), values: z.record(z.string(), z.unknown()) });
const snapshotHeaderSchema = z.object({ format: z.literal(STATE_FORMAT), generation: z.number().int().nonnegative(), entries: z.number().int().nonnegative() });
const opSchema = z.union([z.object({ k: z.string(), v: z.unknown() }), z.object({ k: z.string(), d: z.literal(1) })]);

const logName = (gen: number): string => `log-${gen}.jsonl`;
const snapshotName = (gen: number): string => `snapshot-${gen}.jsonl`;

function frame(head: string): string {
  return `${head}${CRC_MARK}${(crc32(head) >>> 0).toString(16).padStart(8, '0')}"}\n`;
}

/** One change of one namespace: the keys' new values as JSON text, undefined for a deletion. */
type Change = Array<[key: string, raw: string | undefined]>;

function encodeChange(seq: number, ts: number, ns: string, change: Change): string {
  let head = `{"seq":${seq},"ts":${ts},"tag":${JSON.stringify(ns)},"data":[`;
  for (let i = 0; i < change.length; i++) {
    const [key, raw] = change[i]!;
    if (i > 0) head += ',';
    head += raw === undefined ? `{"k":${JSON.stringify(key)},"d":1}` : `{"k":${JSON.stringify(key)},"v":${raw}}`;
  }
  return frame(`${head}]`);
}

/** Serialises a value the way JSON would store it; throws naming the key when it cannot be stored. */
function toRaw(ns: string, key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const raw = JSON.stringify(value);
  if (raw === undefined) throw new TypeError(`State '${key}' of '${ns}' cannot be stored as JSON: it is a ${typeof value}; store plain data.`);
  return raw;
}

/** Reads the lines of a file; stops at the first line that fails its checksum. */
async function readLines(path: string): Promise<{ lines: Array<{ offset: number; text: string }>; size: number; bad?: { offset: number; reason: string } }> {
  const buf = await readFile(path);
  const lines: Array<{ offset: number; text: string }> = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    if (nl === -1) return { lines, size: buf.length, bad: { offset: start, reason: 'last line has no newline (torn write)' } };
    const line = buf.subarray(start, nl);
    const header = decodeHeader(line);
    if (typeof header === 'string') return { lines, size: buf.length, bad: { offset: start, reason: header } };
    lines.push({ offset: start, text: line.toString('utf8') });
    start = nl + 1;
  }
  return { lines, size: buf.length };
}

export class StateLog {
  readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly compactAfterBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly logger: Logger;
  private readonly onFailure: ((err: DataWriteError) => void) | undefined;

  private readonly data = new Map<string, Map<string, string>>();
  private readonly stores = new Map<string, LogStateStore>();
  private generation = 0;
  private fd = -1;
  private seq = 0;
  private logBytes = 0;
  private snapshotBytes = 0;
  private state: 'open' | 'closed' | 'failed' = 'open';
  private failure: DataWriteError | undefined;

  private lines: string[] = [];
  private waiters: Waiter[] = [];
  /** Queued lines someone waits for (not background): while there are none, nothing is synced. */
  private urgent: boolean[] = [];
  private urgentQueued = 0;
  /** Set by flush() and the background timer: write everything queued, background or not. */
  private forcing = false;
  private queuedBytes = 0;
  private pumping = false;
  private scheduled = false;
  /** Appends waiting for room in the queue (the disk is slower than the producers). */
  private roomWaiters: Array<{ line: string; waiter: Waiter }> = [];
  private drainWaiters: Array<() => void> = [];
  private snapshotting: Promise<void> | undefined;
  private backgroundTimer: NodeJS.Timeout | undefined;
  private holds = 0;
  private appends = 0;
  private syncs = 0;
  private lastSyncMs = 0;

  private constructor(options: StateLogOptions) {
    this.dir = options.dir;
    this.policy = options.fsync ?? 'batch';
    this.compactAfterBytes = options.compactAfterBytes ?? 16 * 1024 * 1024;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 32 * 1024 * 1024;
    this.logger = options.logger ?? silentLogger();
    this.onFailure = options.onFailure;
    if (!(this.compactAfterBytes > 0) || !(this.maxQueuedBytes > 0)) {
      throw new DataArgumentError('State log: compactAfterBytes and maxQueuedBytes must be positive.');
    }
  }

  /** Opens the state in `dir`, recovering what a crash left and migrating the format-1 layout. */
  static async open(options: StateLogOptions): Promise<StateLog> {
    const log = new StateLog(options);
    await log.load();
    return log;
  }

  // ---------------------------------------------------------------- open and recovery

  private async load(): Promise<void> {
    await ensureDir(this.dir);
    await removeStaleTempFiles(this.dir);
    const format = await this.readFormat();
    if (format !== undefined && format > STATE_FORMAT) throw new DataFormatError(this.dir, format);
    const names = await readdir(this.dir);
    const snapshots = names.map((n) => SNAPSHOT_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => b - a);
    let base = 0;
    for (const gen of snapshots) {
      // The newest snapshot is complete (it is renamed into place once synced); an older one
      // is left only when a crash came between writing the next one and deleting it.
      if (base === 0) {
        await this.loadSnapshot(gen);
        base = gen;
      } else {
        await unlink(join(this.dir, snapshotName(gen))).catch(() => undefined);
      }
    }
    const logs = names.map((n) => LOG_FILE.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
    let last = base;
    for (const gen of logs) {
      if (gen < base) {
        // Fully contained in the snapshot of a later generation.
        await unlink(join(this.dir, logName(gen))).catch(() => undefined);
        continue;
      }
      await this.replayLog(gen, gen === logs[logs.length - 1]);
      last = gen;
    }
    this.generation = last;
    const path = join(this.dir, logName(this.generation));
    this.fd = openSync(path, 'a');
    this.logBytes = (await stat(path)).size;
    if (this.policy !== 'never') await fsyncDir(this.dir);
    if (format === undefined) {
      await this.migrateFormat1();
      await atomicWriteFile(join(this.dir, 'format.json'), `${JSON.stringify({ format: STATE_FORMAT })}\n`, this.policy !== 'never');
    }
  }

  private async readFormat(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'format.json'), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const parsed = formatSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data.format;
    } catch {
      // reported below
    }
    throw new DataCorruptedError(join(this.dir, 'format.json'), 'not a state format marker');
  }

  private async loadSnapshot(gen: number): Promise<void> {
    const path = join(this.dir, snapshotName(gen));
    const { lines, size, bad } = await readLines(path);
    // A snapshot is renamed into place only after it was written and synced whole: any damage came from outside.
    if (bad !== undefined) throw new DataCorruptedError(path, `${bad.reason} at byte offset ${bad.offset}`);
    const header = lines[0] === undefined ? undefined : snapshotHeaderSchema.safeParse((JSON.parse(lines[0].text) as { data: unknown }).data);
    if (header === undefined || !header.success || header.data.generation !== gen) throw new DataCorruptedError(path, 'no valid snapshot header');
    if (lines.length - 1 !== header.data.entries) throw new DataCorruptedError(path, `${lines.length - 1} entries where the header says ${header.data.entries}`);
    for (let i = 1; i < lines.length; i++) {
      const rec = JSON.parse(lines[i]!.text) as { tag: string; data: { k: string; v: unknown } };
      this.space(rec.tag).set(rec.data.k, JSON.stringify(rec.data.v));
    }
    this.snapshotBytes = size;
  }

  private async replayLog(gen: number, isLast: boolean): Promise<void> {
    const path = join(this.dir, logName(gen));
    const { lines, size, bad } = await readLines(path);
    for (const line of lines) {
      const rec = JSON.parse(line.text) as { seq: number; tag: string; data: unknown };
      const ops = z.array(opSchema).safeParse(rec.data);
      if (!ops.success) throw new DataCorruptedError(path, `record at byte offset ${line.offset} is not a state change`);
      const space = this.space(rec.tag);
      for (const op of ops.data) {
        if ('d' in op) space.delete(op.k);
        else space.set(op.k, JSON.stringify(op.v));
      }
      this.seq = Math.max(this.seq, rec.seq);
    }
    if (bad === undefined) return;
    // Appends are sequential, so a crash can tear only the end of the newest log. Anywhere else
    // the disk changed acknowledged state: starting from it could forget an order or a position.
    if (!isLast || !(await this.onlyTail(path, bad.offset, size))) {
      throw new DataCorruptedError(path, `${bad.reason} at byte offset ${bad.offset}`);
    }
    await this.quarantineTail(path, bad.offset, size, bad.reason);
  }

  /** True when nothing after `offset` looks like a complete record: the damage is a torn last write. */
  private async onlyTail(path: string, offset: number, size: number): Promise<boolean> {
    const buf = await readFile(path);
    const nl = buf.indexOf(0x0a, offset);
    if (nl === -1 || nl === size - 1) return true;
    let start = nl + 1;
    while (start < size) {
      const next = buf.indexOf(0x0a, start);
      if (next === -1) return true;
      if (typeof decodeHeader(buf.subarray(start, next)) !== 'string') return false;
      start = next + 1;
    }
    return true;
  }

  private async quarantineTail(path: string, offset: number, size: number, reason: string): Promise<void> {
    const target = `${path}.${offset}.quarantine`;
    const fh = await open(path, 'r+');
    try {
      const tail = Buffer.alloc(size - offset);
      await fh.read(tail, 0, tail.length, offset);
      const q = await open(target, 'w');
      try {
        await writeFully(q, tail);
        await q.sync();
      } finally {
        await q.close();
      }
      await fh.truncate(offset);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(this.dir);
    this.logger.warn({ file: path, offset, bytes: size - offset, quarantine: target, reason }, `state log: a torn last write (${reason}) was cut off at byte offset ${offset}; it was never acknowledged`);
  }

  /** Format 1 kept each agent in `state/<agent>.json`: its values move into the log, the file stays behind as a guard. */
  private async migrateFormat1(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.') && n !== 'format.json');
    if (names.length === 0) return;
    const moved: Array<{ name: string; agent: string; text: string }> = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const text = await readFile(path, 'utf8');
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new DataCorruptedError(path, `not valid JSON: ${errorMessage(err)}`, err);
      }
      if ((doc as { version?: unknown } | null)?.version === 'migrated') continue;
      const parsed = v1DocumentSchema.safeParse(doc);
      if (!parsed.success) throw new DataCorruptedError(path, 'not an agent state document');
      const agent = decodeFileKey(name.slice(0, -'.json'.length));
      const entries = Object.entries(parsed.data.values);
      if (entries.length > 0) await this.append(agent, entries.map(([k, v]) => [k, toRaw(agent, k, v)]));
      moved.push({ name, agent, text });
    }
    await this.flush();
    const keep = join(this.dir, 'format-1');
    await ensureDir(keep);
    for (const { name, agent, text } of moved) {
      await atomicWriteFile(join(keep, name), text, this.policy !== 'never');
      // An older Tradebus reading this refuses to start instead of starting with empty books.
      const guard = { version: 'migrated', agent, values: {}, note: `state moved to the state log (format ${STATE_FORMAT}); the original is in format-1/${name}` };
      await atomicWriteFile(join(this.dir, name), `${JSON.stringify(guard, null, 2)}\n`, this.policy !== 'never');
    }
    this.logger.info({ agents: moved.map((m) => m.agent) }, `agent state migrated from format 1 to format ${STATE_FORMAT}`);
  }

  private space(ns: string): Map<string, string> {
    let space = this.data.get(ns);
    if (space === undefined) this.data.set(ns, (space = new Map()));
    return space;
  }

  // ---------------------------------------------------------------- reading

  /** The store of one namespace (an agent id, `venue:<id>`); the same object for the same name. */
  namespace(ns: string): LogStateStore {
    let store = this.stores.get(ns);
    if (store === undefined) this.stores.set(ns, (store = new LogStateStore(this, ns)));
    return store;
  }

  /** Namespaces that hold at least one key. */
  namespaces(): string[] {
    return [...this.data].filter(([, space]) => space.size > 0).map(([ns]) => ns).sort();
  }

  /** @internal */
  raw(ns: string, key: string): string | undefined {
    return this.data.get(ns)?.get(key);
  }

  /** @internal */
  keysOf(ns: string): string[] {
    const space = this.data.get(ns);
    return space === undefined ? [] : [...space.keys()];
  }

  // ---------------------------------------------------------------- writing

  /**
   * Appends one atomic change of a namespace: after a crash either all of its keys have their new
   * values or none. Readers see the change at once; the promise resolves when it is durable.
   */
  append(ns: string, change: Change, background = false): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.failure ?? new DataClosedError('The state log', 'closed'));
    const space = this.space(ns);
    // Deleting what is not there changes nothing on disk either.
    if (change.every(([key, raw]) => raw === undefined && !space.has(key))) return this.durableNow();
    for (const [key, raw] of change) {
      if (raw === undefined) space.delete(key);
      else space.set(key, raw);
    }
    const line = encodeChange(++this.seq, Date.now(), ns, change);
    this.appends++;
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      // Beyond the bound an append waits for room: its state is visible, its bytes queue later.
      if (this.queuedBytes < this.maxQueuedBytes) this.enqueue(line, waiter, background);
      else this.roomWaiters.push({ line, waiter });
    });
  }

  private enqueue(line: string, waiter: Waiter, background = false): void {
    this.lines.push(line);
    this.urgent.push(!background);
    this.queuedBytes += line.length;
    this.waiters.push(waiter);
    if (!background) {
      this.urgentQueued++;
      this.schedule();
    } else {
      this.armBackgroundTimer();
    }
  }

  /** Background lines go out with the next write that syncs; this timer only bounds the wait when none comes. */
  private armBackgroundTimer(): void {
    if (this.backgroundTimer !== undefined || this.scheduled) return;
    this.backgroundTimer = setTimeout(() => {
      this.backgroundTimer = undefined;
      this.forcing = true;
      this.schedule();
    }, BACKGROUND_DELAY_MS);
    this.backgroundTimer.unref();
  }

  /** What an append that changes nothing resolves to: durable once everything before it is. */
  private durableNow(): Promise<void> {
    if (this.lines.length === 0 && !this.pumping) return Promise.resolve();
    return this.flush();
  }

  private schedule(): void {
    if (this.backgroundTimer !== undefined) {
      clearTimeout(this.backgroundTimer);
      this.backgroundTimer = undefined;
    }
    if (this.pumping || this.scheduled) return;
    this.scheduled = true;
    // A microtask, not a timer: every append of the current turn goes out in the same write.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      // A group is written when someone waits for one of its lines (or a flush asks): lines
      // written in the background alone wait for such a group instead of syncing by themselves.
      while (this.lines.length > 0 && (this.urgentQueued > 0 || this.forcing) && this.state !== 'failed') {
        let lines = this.lines;
        let waiters = this.waiters;
        let urgent = this.urgent;
        if (this.queuedBytes > MAX_GROUP_BYTES) {
          // Keep a group within bounds; the rest goes in the next one.
          let bytes = 0;
          let n = 0;
          while (n < lines.length && bytes < MAX_GROUP_BYTES) bytes += lines[n++]!.length;
          this.lines = lines.slice(n);
          this.waiters = waiters.slice(n);
          this.urgent = urgent.slice(n);
          lines = lines.slice(0, n);
          waiters = waiters.slice(0, n);
          urgent = urgent.slice(0, n);
        } else {
          this.lines = [];
          this.waiters = [];
          this.urgent = [];
        }
        for (const u of urgent) if (u) this.urgentQueued--;
        const buf = Buffer.from(lines.length === 1 ? lines[0]! : lines.join(''), 'utf8');
        const started = performance.now();
        try {
          if (buf.length <= SYNC_WRITE_BYTES) {
            let off = 0;
            while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
          } else {
            await writeAll(this.fd, buf);
          }
          if (this.policy !== 'never') await datasync(this.fd);
        } catch (err) {
          this.fail(err, waiters);
          return;
        }
        this.lastSyncMs = performance.now() - started;
        this.syncs++;
        this.logBytes += buf.length;
        let released = 0;
        for (const l of lines) released += l.length;
        this.queuedBytes -= released;
        for (const w of waiters) w.resolve();
        this.admit();
        if (this.logBytes > this.compactAfterBytes && this.logBytes > 2 * this.snapshotBytes && this.snapshotting === undefined && this.holds === 0) {
          try {
            await this.startGeneration();
          } catch (err) {
            this.fail(err, []);
            return;
          }
        }
      }
    } finally {
      this.pumping = false;
      if (this.lines.length === 0 || this.state === 'failed') {
        this.forcing = false;
        const drained = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of drained) w();
      } else {
        this.armBackgroundTimer();
      }
    }
  }

  /** Lets waiting appends into the queue while there is room. */
  private admit(): void {
    while (this.roomWaiters.length > 0 && this.queuedBytes < this.maxQueuedBytes) {
      const { line, waiter } = this.roomWaiters.shift()!;
      this.enqueue(line, waiter);
    }
  }

  /**
   * Starts generation g+1: appends go to a new log at once; the snapshot of the state as it is now
   * (everything appended so far, whether written yet or not) is written beside it in the
   * background, and generation g is deleted once that snapshot is durable.
   */
  private async startGeneration(): Promise<void> {
    const next = this.generation + 1;
    const snapshot = this.snapshotText(next);
    const fd = openSync(join(this.dir, logName(next)), 'a');
    try {
      // The new file's name must be durable before a record in it is acknowledged.
      if (this.policy !== 'never') await fsyncDir(this.dir);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const previous = this.generation;
    closeSync(this.fd);
    this.fd = fd;
    this.generation = next;
    this.logBytes = 0;
    this.snapshotting = this.writeSnapshot(next, previous, snapshot).finally(() => (this.snapshotting = undefined));
  }

  private snapshotText(gen: number): string {
    const parts: string[] = [];
    let i = 0;
    for (const [ns, space] of this.data) {
      const tag = JSON.stringify(ns);
      for (const [key, raw] of space) parts.push(frame(`{"seq":${++i},"ts":0,"tag":${tag},"data":{"k":${JSON.stringify(key)},"v":${raw}}`));
    }
    return frame(`{"seq":0,"ts":${Date.now()},"tag":"snapshot","data":${JSON.stringify({ format: STATE_FORMAT, generation: gen, entries: i })}`) + parts.join('');
  }

  private async writeSnapshot(gen: number, previous: number, text: string): Promise<void> {
    try {
      await atomicWriteFile(join(this.dir, snapshotName(gen)), text, this.policy !== 'never');
      this.snapshotBytes = Buffer.byteLength(text);
      await unlink(join(this.dir, logName(previous))).catch(() => undefined);
      await unlink(join(this.dir, snapshotName(previous))).catch(() => undefined);
    } catch (err) {
      // The previous generation is still whole: a restart reads it and the new log after it.
      this.logger.error({ err: errorMessage(err), dir: this.dir }, 'state snapshot not written; the log keeps growing until one is');
    }
  }

  private fail(err: unknown, batch: Waiter[]): void {
    if (this.state !== 'failed') {
      this.state = 'failed';
      this.failure = new DataWriteError(join(this.dir, logName(this.generation)), err);
      this.logger.error({ err: errorMessage(err), dir: this.dir }, 'state log write failed: no further state changes are accepted');
      try {
        this.onFailure?.(this.failure);
      } catch {
        // the hook must not hide the failure
      }
    }
    const failure = this.failure!;
    for (const w of [...batch, ...this.waiters, ...this.roomWaiters.map((r) => r.waiter)]) w.reject(failure);
    this.waiters = [];
    this.lines = [];
    this.urgent = [];
    this.urgentQueued = 0;
    this.roomWaiters = [];
    this.queuedBytes = 0;
  }

  /** Resolves once everything appended so far is durable (rejects if the log failed meanwhile). */
  flush(): Promise<void> {
    if (this.state === 'failed') return Promise.reject(this.failure);
    if (this.lines.length === 0 && !this.pumping && !this.scheduled && this.roomWaiters.length === 0) return Promise.resolve();
    if (this.lines.length > 0) {
      this.forcing = true;
      this.schedule();
    }
    return new Promise<void>((resolve, reject) => {
      this.drainWaiters.push(() => (this.state === 'failed' ? reject(this.failure) : resolve()));
    });
  }

  stats(): StateLogStats {
    let keys = 0;
    for (const space of this.data.values()) keys += space.size;
    return {
      generation: this.generation,
      keys,
      logBytes: this.logBytes,
      snapshotBytes: this.snapshotBytes,
      appends: this.appends,
      syncs: this.syncs,
      queuedBytes: this.queuedBytes,
      queueFill: this.queuedBytes / this.maxQueuedBytes,
      lastSyncMs: this.lastSyncMs,
      state: this.state,
    };
  }

  /**
   * Keeps the files as they are (no new generation) until the returned function is called, so a
   * backup can copy them; appends go on meanwhile.
   */
  async hold(): Promise<{ files: Array<{ name: string; bytes: number }>; release: () => void }> {
    this.holds++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.holds--;
    };
    try {
      await this.snapshotting;
      await this.flush();
      const files: Array<{ name: string; bytes: number }> = [{ name: 'format.json', bytes: (await stat(join(this.dir, 'format.json'))).size }];
      for (const name of (await readdir(this.dir)).sort()) {
        if (SNAPSHOT_FILE.test(name) || LOG_FILE.test(name)) files.push({ name, bytes: name === logName(this.generation) ? this.logBytes : (await stat(join(this.dir, name))).size });
      }
      return { files, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Writes a new generation now (compaction), whatever the size of the log. */
  async compact(): Promise<void> {
    if (this.state !== 'open') throw this.failure ?? new DataClosedError('The state log', 'closed');
    await this.flush();
    while (this.snapshotting !== undefined) await this.snapshotting;
    // Between groups: the pump is idle after a flush, so nothing writes to the file being switched.
    await this.startGeneration();
    await this.snapshotting;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.backgroundTimer !== undefined) clearTimeout(this.backgroundTimer);
    this.backgroundTimer = undefined;
    if (this.state === 'open') await this.flush().catch(() => undefined);
    await this.snapshotting;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.state === 'open') this.state = 'closed';
  }
}

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    off += await new Promise<number>((resolve, reject) => write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * One namespace of the state log: an agent's `this.store`. `set` resolves once the value is
 * durable; what `get` returns is a fresh copy the caller may change freely.
 */
export class LogStateStore implements StateStore {
  constructor(
    private readonly log: StateLog,
    readonly namespace: string,
  ) {}

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const raw = this.log.raw(this.namespace, key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  set<T = unknown>(key: string, value: T, options?: WriteOptions): Promise<void> {
    let raw: string | undefined;
    try {
      raw = toRaw(this.namespace, key, value);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.log.append(this.namespace, [[key, raw]], options?.background === true);
  }

  setMany(entries: Iterable<readonly [string, unknown]>, options?: WriteOptions): Promise<void> {
    const change: Change = [];
    try {
      for (const [key, value] of entries) change.push([key, toRaw(this.namespace, key, value)]);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.log.append(this.namespace, change, options?.background === true);
  }

  delete(key: string): Promise<void> {
    return this.log.append(this.namespace, [[key, undefined]]);
  }

  async keys(): Promise<string[]> {
    return this.log.keysOf(this.namespace);
  }
}

/** Agent state of a data store: one namespace of the process's state log per agent. */
export class LogAgentStateRepository implements AgentStateRepository {
  constructor(readonly log: StateLog) {}

  forAgent(agentId: string): LogStateStore {
    return this.log.namespace(agentId);
  }

  async agents(): Promise<string[]> {
    return this.log.namespaces();
  }
}
