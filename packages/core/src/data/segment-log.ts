import { open, readdir, stat, unlink, readFile, copyFile, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';
import { crc32 } from './crc32.js';
import { DataArgumentError, DataClosedError, DataCorruptedError, DataWriteError } from './errors.js';
import { atomicWriteFile, ensureDir, fsyncDir, isNotFound, removeStaleTempFiles, writeFully, type FsyncPolicy } from './fs-utils.js';

/**
 * An append-only log of JSON Lines records split into segment files.
 *
 * Each line is one JSON object `{"seq":…,"ts":…,"tag":…,"data":…,"crc":"…"}`: the CRC-32 covers
 * the bytes before `,"crc"`, so a torn or damaged line is detected, while the files stay plain
 * JSON Lines that `jq` or any JSON reader can read. `seq` increases by one per record across
 * the whole log; `tag` is what the log is indexed by (the event type in the journal, the symbol
 * in trade and order history).
 *
 * Appends are serialised into a single writer: lines queued while a write is in flight go out
 * together in the next write (group commit). An append's promise resolves once the record is
 * durable under the fsync policy: `always` after an fdatasync of the write that carried it,
 * `batch` after the next periodic fdatasync (every `fsyncIntervalMs`), `never` once the
 * operating system has the bytes (survives a process crash, not a power loss).
 *
 * A segment is sealed when the next line would make it larger than `maxSegmentBytes`; a sealed
 * segment never changes again (until retention deletes it) and gets a small index file beside it.
 * The index records, per block of ~`blockBytes`, the byte range, sequence range, time range and
 * tags, so queries by tag, time or sequence read only the blocks that can match. The active
 * segment's index lives in memory and is rebuilt from the file on open, which is also where a
 * torn tail left by a crash is found and quarantined.
 *
 * Damage costs only the damaged lines: a reader that meets a line failing its checksum skips to
 * the next line that passes (looking inside the bad line too, for a record whose newline the
 * damage destroyed). A damaged stretch found on open is copied to a quarantine file and left out
 * of the index, so reads step over it; only a damaged tail of the active segment, which is what
 * a crash mid-write leaves, is cut off the file.
 */

export interface SegmentLogOptions {
  dir: string;
  /** Used in messages and logs, e.g. 'journal'. */
  label?: string;
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  maxSegmentBytes?: number;
  /** Granularity of the index: a block is cut after this many bytes. */
  blockBytes?: number;
  /**
   * `tail` (default) checks every line of the active segment on open (where a crash can leave a
   * torn write) and of sealed segments whose index is missing or stale; `all` checks every
   * sealed segment too. Lines of sealed segments are checked again whenever they are read.
   */
  verifyOnOpen?: 'all' | 'tail';
  logger?: Logger;
  /** Called once when the log stops accepting writes after an I/O failure. */
  onFailure?: (err: DataWriteError) => void;
  /** Called after a segment is sealed (retention hooks in here). */
  onSeal?: () => void;
}

export interface LogRecord<T = unknown> {
  seq: number;
  ts: number;
  tag: string;
  data: T;
}

/** What the index knows about a block; `skipBlock` gets it to prune a scan. */
export interface BlockInfo {
  firstSeq: number;
  lastSeq: number;
  minTs: number;
  maxTs: number;
}

export interface LogScanOptions {
  /** Only records whose tag passes. Blocks that hold no such tag are not read. */
  tag?: (tag: string) => boolean;
  /** Inclusive lower bound on `ts`. */
  since?: number;
  /** Inclusive upper bound on `ts`. */
  until?: number;
  /** Only records with a larger seq. */
  afterSeq?: number;
  /** Only records with a smaller seq. */
  beforeSeq?: number;
  order?: 'asc' | 'desc';
  /**
   * Only records whose line contains this exact text, e.g. `"clientOrderId":"abc"` (lines are
   * compact JSON). Checked on the raw bytes before parsing, so lookups by a field stay cheap.
   */
  contains?: string;
  /**
   * Consulted before each block (and segment) is read, after the records of the previous one
   * were consumed: return true to skip it. Lets a caller stop early once it has enough.
   */
  skipBlock?: (block: BlockInfo) => boolean;
}

export interface LogStats {
  segments: number;
  bytes: number;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** Newest record timestamp in the log; -Infinity when it is empty. */
  newestTs: number;
  /** Bytes accepted but not yet handed to the operating system. */
  queuedBytes: number;
  /** Records written but not yet acknowledged (waiting for the next fsync). */
  unsynced: number;
  /** Lines that failed their checksum when read (logged with file and offset). */
  corruptReads: number;
  /**
   * Damaged stretches of segment files that reads step over: found on open (or by `verify` with
   * `repair`), each logged with file and offset and copied to a quarantine file.
   */
  damagedRegions: number;
  /** Torn or damaged tails cut off the active segment when the log was opened (each logged and moved to a quarantine file). */
  quarantinedTails: number;
  state: LogState;
}

export interface VerifyProblem {
  file: string;
  offset: number;
  reason: string;
}

export interface BackupFile {
  /** Path relative to the backup root. */
  path: string;
  bytes: number;
}

type LogState = 'open' | 'closing' | 'closed' | 'failed';

interface Block extends BlockInfo {
  offset: number;
  bytes: number;
  count: number;
  tags: Set<string>;
}

/** A stretch of a segment file that holds no valid record (damaged, or out of sequence). */
interface Damage {
  offset: number;
  bytes: number;
  reason: string;
  /** Seq of the last good record before it (in this log), and of the first after it, if any. */
  afterSeq?: number;
  beforeSeq?: number;
}

interface Segment {
  name: string;
  path: string;
  startSeq: number;
  /** Bytes accounted, including lines still queued. */
  size: number;
  /** Bytes handed to the operating system. */
  written: number;
  blocks: Block[];
  count: number;
  firstSeq: number;
  lastSeq: number;
  minTs: number;
  maxTs: number;
  /** Closed, synced and indexed: the file will not change again. */
  sealed: boolean;
  /** Stretches no block covers, in file order; `size` counts their bytes. */
  damaged: Damage[];
}

interface Queued {
  text: string;
  bytes: number;
  seq: number;
  seg: Segment;
  resolve: (seq: number) => void;
  reject: (err: unknown) => void;
}

const SEGMENT_FILE = /^(\d{20})\.jsonl$/;
/** Version 2 adds the damaged stretches; an index without any is still written as version 1. */
const INDEX_VERSION = 1;
const INDEX_VERSION_DAMAGED = 2;
const CRC_MARK = ',"crc":"';
/** `,"crc":"` + 8 hex digits + `"}` */
const SUFFIX_BYTES = 18;
const MAX_WRITE_BYTES = 8 * 1024 * 1024;
const SCAN_CHUNK_BYTES = 1024 * 1024;
/** How every line starts: where a reader looks for the next record after damage. */
const RECORD_START = Buffer.from('{"seq":', 'latin1');
const HEADER = /^\{"seq":(\d+),"ts":(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?),"tag":("(?:[^"\\]|\\.)*")/;

export function segmentName(startSeq: number): string {
  return `${String(startSeq).padStart(20, '0')}.jsonl`;
}

function indexName(segment: string): string {
  return segment.replace(/\.jsonl$/, '.idx.json');
}

/** One line of a log, newline included. */
export function encodeLine(seq: number, ts: number, tag: string, data: unknown): string {
  const json = JSON.stringify({ seq, ts, tag, data });
  const head = json.slice(0, -1);
  return `${head}${CRC_MARK}${(crc32(head) >>> 0).toString(16).padStart(8, '0')}"}\n`;
}

interface Header {
  seq: number;
  ts: number;
  tag: string;
}

/** Checks a line's checksum (line without its newline) and reads seq, ts and tag; a string is the reason it is bad. */
export function decodeHeader(line: Buffer): Header | string {
  const len = line.length;
  if (len < SUFFIX_BYTES + 2) return 'line too short';
  if (line.toString('latin1', len - SUFFIX_BYTES, len - 10) !== CRC_MARK || line[len - 2] !== 0x22 || line[len - 1] !== 0x7d) {
    return 'no checksum at the end of the line';
  }
  const hex = line.toString('latin1', len - 10, len - 2);
  if (!/^[0-9a-f]{8}$/.test(hex)) return 'checksum is not hexadecimal';
  if (crc32(line.subarray(0, len - SUFFIX_BYTES)) >>> 0 !== parseInt(hex, 16)) return 'checksum mismatch';
  const start = line.toString('utf8', 0, Math.min(len, 512));
  const m = HEADER.exec(start);
  if (m !== null) {
    try {
      return { seq: Number(m[1]), ts: Number(m[2]), tag: JSON.parse(m[3]!) as string };
    } catch {
      // fall through to the full parse
    }
  }
  try {
    const rec = JSON.parse(line.toString('utf8')) as { seq?: unknown; ts?: unknown; tag?: unknown };
    if (typeof rec.seq === 'number' && typeof rec.ts === 'number' && typeof rec.tag === 'string') return { seq: rec.seq, ts: rec.ts, tag: rec.tag };
  } catch {
    return 'not valid JSON';
  }
  return 'missing seq, ts or tag';
}

/**
 * Walks the lines of `buf`: `onRecord(start, newline, header)` for each line whose checksum holds,
 * `onDamage(start, end, reason)` for the bytes between them. A line that fails is searched for a
 * later record start whose checksum holds up to that line's end: damage that destroys a newline
 * joins a good record to the damaged line before it, and must not cost the good one. A last
 * piece without a newline is left unread (the bytes consumed are returned) unless `final`, when
 * it is damage: a record is only whole with its newline.
 */
function walkLines(
  buf: Buffer,
  final: boolean,
  onRecord: (start: number, newline: number, h: Header) => void,
  onDamage: (start: number, end: number, reason: string) => void,
): number {
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl === -1) {
      if (!final) return pos;
      onDamage(pos, buf.length, 'last line has no newline');
      return buf.length;
    }
    const h = decodeHeader(buf.subarray(pos, nl));
    if (typeof h !== 'string') {
      onRecord(pos, nl, h);
      pos = nl + 1;
      continue;
    }
    let resync = -1;
    let resyncHeader: Header | undefined;
    for (let from = pos + 1; ; ) {
      const q = buf.indexOf(RECORD_START, from);
      if (q === -1 || q >= nl) break;
      const inner = decodeHeader(buf.subarray(q, nl));
      if (typeof inner !== 'string') {
        resync = q;
        resyncHeader = inner;
        break;
      }
      from = q + 1;
    }
    if (resyncHeader === undefined) {
      onDamage(pos, nl + 1, h);
    } else {
      onDamage(pos, resync, h);
      onRecord(resync, nl, resyncHeader);
    }
    pos = nl + 1;
  }
  return pos;
}

function emptySegment(dir: string, startSeq: number, name = segmentName(startSeq)): Segment {
  return {
    name,
    path: join(dir, name),
    startSeq,
    size: 0,
    written: 0,
    blocks: [],
    count: 0,
    firstSeq: 0,
    lastSeq: 0,
    minTs: Infinity,
    maxTs: -Infinity,
    sealed: false,
    damaged: [],
  };
}

class BlockBuilder {
  readonly blocks: Block[] = [];
  /** Set after damage: a block's bytes must be one run of good records. */
  private cutNext = false;
  constructor(private readonly blockBytes: number) {}

  add(seg: Segment, offset: number, bytes: number, h: Header): void {
    let block = this.blocks[this.blocks.length - 1];
    if (block === undefined || block.bytes >= this.blockBytes || this.cutNext) {
      block = { offset, bytes: 0, firstSeq: h.seq, lastSeq: h.seq, count: 0, minTs: h.ts, maxTs: h.ts, tags: new Set() };
      this.blocks.push(block);
      this.cutNext = false;
    }
    accountInto(seg, block, bytes, h.seq, h.ts, h.tag);
  }

  cut(): void {
    this.cutNext = true;
  }
}

function accountInto(seg: Segment, block: Block, bytes: number, seq: number, ts: number, tag: string): void {
  block.bytes += bytes;
  block.lastSeq = seq;
  block.count++;
  if (ts < block.minTs) block.minTs = ts;
  if (ts > block.maxTs) block.maxTs = ts;
  block.tags.add(tag);
  seg.size += bytes;
  seg.count++;
  if (seg.firstSeq === 0) seg.firstSeq = seq;
  seg.lastSeq = seq;
  if (ts < seg.minTs) seg.minTs = ts;
  if (ts > seg.maxTs) seg.maxTs = ts;
}

/**
 * Reads a segment line by line, checking checksums and seq order, and fills `seg`: its blocks of
 * good records and its damaged stretches (adjacent bad lines merged into one). `seg.size` ends at
 * the bytes read.
 */
async function scanSegment(seg: Segment, size: number, blockBytes: number, afterSeq: number): Promise<void> {
  const builder = new BlockBuilder(blockBytes);
  let prevSeq = afterSeq;
  let current: Damage | undefined;
  const damage = (offset: number, bytes: number, reason: string): void => {
    seg.size += bytes;
    if (current !== undefined && current.offset + current.bytes === offset) {
      current.bytes += bytes;
      return;
    }
    current = { offset, bytes, reason, afterSeq: prevSeq };
    seg.damaged.push(current);
    builder.cut();
  };
  const fh = await open(seg.path, 'r');
  try {
    let carry = Buffer.alloc(0);
    let carryOffset = 0;
    let pos = 0;
    while (pos < size) {
      const want = Math.min(SCAN_CHUNK_BYTES, size - pos);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(chunk, 0, want, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const buf = carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const base = carryOffset;
      const consumed = walkLines(
        buf,
        false,
        (start, nl, h) => {
          const offset = base + start;
          const bytes = nl + 1 - start;
          // A record that does not follow its predecessor is as untrustworthy as a damaged one.
          if (h.seq <= prevSeq) return damage(offset, bytes, `sequence ${h.seq} does not follow ${prevSeq}`);
          if (current !== undefined) current.beforeSeq = h.seq;
          current = undefined;
          prevSeq = h.seq;
          builder.add(seg, offset, bytes, h);
        },
        (start, stop, reason) => damage(base + start, stop - start, reason),
      );
      carry = Buffer.from(buf.subarray(consumed));
      carryOffset += consumed;
    }
    if (carry.length > 0) damage(carryOffset, carry.length, 'last line has no newline (torn write)');
    seg.blocks = builder.blocks;
  } finally {
    await fh.close();
  }
}

const indexFileSchema = z.object({
  version: z.union([z.literal(INDEX_VERSION), z.literal(INDEX_VERSION_DAMAGED)]),
  segment: z.string(),
  size: z.number().int().nonnegative(),
  sealed: z.boolean(),
  blocks: z.array(
    z.object({
      o: z.number().int().nonnegative(),
      b: z.number().int().positive(),
      s0: z.number().int().positive(),
      s1: z.number().int().positive(),
      n: z.number().int().positive(),
      t0: z.number(),
      t1: z.number(),
      tags: z.array(z.string()),
    }),
  ),
  damaged: z.array(z.object({ o: z.number().int().nonnegative(), b: z.number().int().positive(), r: z.string() })).optional(),
});

export class SegmentLog {
  readonly dir: string;
  readonly label: string;
  private readonly policy: FsyncPolicy;
  private readonly intervalMs: number;
  private readonly maxSegmentBytes: number;
  private readonly blockBytes: number;
  private readonly verifyOnOpen: 'all' | 'tail';
  private readonly logger: Logger;
  private readonly onFailure: ((err: DataWriteError) => void) | undefined;
  private readonly onSeal: (() => void) | undefined;

  private segments: Segment[] = [];
  private active!: Segment;
  private writeSeg!: Segment;
  private fh: FileHandle | undefined;
  private nextSeq = 1;
  /** Highest seq whose bytes the operating system has. */
  private writtenSeq = 0;
  private state: LogState = 'open';
  private failure: DataWriteError | undefined;

  private queue: Queued[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private pumping = false;
  private pumpScheduled = false;
  private drainWaiters: Array<() => void> = [];
  private writtenWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private unsynced: Queued[] = [];
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  /** Set while a rotation runs; resolves when it is done. */
  private rotation: Promise<void> | undefined;
  private retentionHolds = 0;
  private corruptReads = 0;
  private quarantinedTails = 0;
  private readonly reportedCorruption = new Set<string>();
  /** The active segment, once damage was found in it after open: its next open must check it. */
  private damagedActive: Segment | undefined;

  private constructor(options: SegmentLogOptions) {
    this.dir = options.dir;
    this.label = options.label ?? options.dir;
    this.policy = options.fsync ?? 'batch';
    this.intervalMs = options.fsyncIntervalMs ?? 50;
    this.maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.blockBytes = options.blockBytes ?? 64 * 1024;
    this.verifyOnOpen = options.verifyOnOpen ?? 'tail';
    this.logger = options.logger ?? silentLogger();
    this.onFailure = options.onFailure;
    this.onSeal = options.onSeal;
    if (!(this.maxSegmentBytes > 0) || !(this.blockBytes > 0) || !(this.intervalMs > 0)) {
      throw new DataArgumentError(`Log '${this.label}': maxSegmentBytes, blockBytes and fsyncIntervalMs must be positive.`);
    }
  }

  /** Opens (or creates) the log in `dir`, recovering from a crash: torn tails are quarantined. */
  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const log = new SegmentLog(options);
    await log.load();
    return log;
  }

  // ---------------------------------------------------------------- open and recovery

  private async load(): Promise<void> {
    await ensureDir(this.dir);
    await removeStaleTempFiles(this.dir);
    const names = (await readdir(this.dir)).filter((n) => SEGMENT_FILE.test(n)).sort();
    let prevLastSeq = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const isLast = i === names.length - 1;
      const seg = await this.loadSegment(name, isLast, prevLastSeq);
      if (seg.size === 0 && !isLast) {
        // An empty sealed segment holds nothing; a crash between creating and filling it leaves one.
        // (One that holds only damage stays, for inspection.)
        await unlink(seg.path).catch(() => undefined);
        await unlink(join(this.dir, indexName(name))).catch(() => undefined);
        continue;
      }
      if (seg.count > 0) prevLastSeq = seg.lastSeq;
      this.segments.push(seg);
    }
    const last = this.segments[this.segments.length - 1];
    if (last === undefined) {
      this.active = emptySegment(this.dir, 1);
      this.segments.push(this.active);
    } else {
      this.active = last;
    }
    this.active.sealed = false;
    this.nextSeq = Math.max(prevLastSeq + 1, this.active.startSeq);
    // Everything on disk is written. The active segment may start past the last record (a crash
    // or a backup between creating a segment and filling the previous one): there is a gap in
    // the sequence numbers, never a record missing from it.
    this.writtenSeq = this.nextSeq - 1;
    this.active.written = this.active.size;
    this.fh = await open(this.active.path, 'a');
    this.writeSeg = this.active;
    if (this.policy !== 'never') await fsyncDir(this.dir);
  }

  private async loadSegment(name: string, isLast: boolean, prevLastSeq: number): Promise<Segment> {
    const startSeq = Number(SEGMENT_FILE.exec(name)![1]);
    const seg = emptySegment(this.dir, startSeq, name);
    const size = (await stat(seg.path)).size;
    const index = await this.readIndex(name);
    // The active segment's index is only trusted after a clean close; it is removed right away
    // so that a later crash cannot leave an index that looks current but is not.
    if (isLast && index !== undefined) await unlink(join(this.dir, indexName(name))).catch(() => undefined);
    const indexUsable = index !== undefined && index.size === size && (index.sealed || isLast);
    if (indexUsable && this.verifyOnOpen === 'tail') {
      this.applyIndex(seg, index);
      if (seg.firstSeq > 0 && seg.firstSeq <= prevLastSeq) {
        throw new DataCorruptedError(seg.path, `its records start at sequence ${seg.firstSeq}, not after ${prevLastSeq}`);
      }
      seg.sealed = !isLast;
      seg.written = seg.size;
      return seg;
    }
    await scanSegment(seg, size, this.blockBytes, prevLastSeq);
    const tail = seg.damaged[seg.damaged.length - 1];
    if (isLast && tail !== undefined && tail.offset + tail.bytes === seg.size) {
      // Damage with no good record after it, in the segment being written, is what a crash in the
      // middle of a write leaves: cut it off so that appends continue from the last good record.
      seg.damaged.pop();
      seg.size = tail.offset;
      await this.quarantine(seg.path, tail.offset, size, tail.reason);
      this.quarantinedTails++;
    }
    for (const d of seg.damaged) await this.keepDamaged(seg.path, d);
    seg.written = seg.size;
    if (!isLast) {
      seg.sealed = true;
      await this.writeIndex(seg, true);
    }
    return seg;
  }

  private applyIndex(seg: Segment, index: z.output<typeof indexFileSchema>): void {
    // Blocks and damaged stretches together cover the file.
    seg.size = index.size;
    seg.damaged = (index.damaged ?? []).map((d) => ({ offset: d.o, bytes: d.b, reason: d.r }));
    for (const b of index.blocks) {
      const block: Block = { offset: b.o, bytes: b.b, firstSeq: b.s0, lastSeq: b.s1, count: b.n, minTs: b.t0, maxTs: b.t1, tags: new Set(b.tags) };
      seg.blocks.push(block);
      seg.count += block.count;
      if (seg.firstSeq === 0) seg.firstSeq = block.firstSeq;
      seg.lastSeq = block.lastSeq;
      seg.minTs = Math.min(seg.minTs, block.minTs);
      seg.maxTs = Math.max(seg.maxTs, block.maxTs);
    }
  }

  private async readIndex(segment: string): Promise<z.output<typeof indexFileSchema> | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, indexName(segment)), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const parsed = indexFileSchema.safeParse(JSON.parse(text));
      if (parsed.success && parsed.data.segment === segment) return parsed.data;
    } catch {
      // An unreadable index is rebuilt from the segment.
    }
    this.logger.warn({ log: this.label, segment }, 'segment index unreadable, rebuilding it from the segment');
    return undefined;
  }

  private async writeIndex(seg: Segment, sealed: boolean): Promise<void> {
    const index: z.input<typeof indexFileSchema> = {
      // Older readers refuse version 2 and rescan the segment rather than misread its size.
      version: seg.damaged.length > 0 ? INDEX_VERSION_DAMAGED : INDEX_VERSION,
      segment: seg.name,
      size: seg.size,
      sealed,
      blocks: seg.blocks.map((b) => ({ o: b.offset, b: b.bytes, s0: b.firstSeq, s1: b.lastSeq, n: b.count, t0: b.minTs, t1: b.maxTs, tags: [...b.tags] })),
      ...(seg.damaged.length > 0 ? { damaged: seg.damaged.map((d) => ({ o: d.offset, b: d.bytes, r: d.reason })) } : {}),
    };
    await atomicWriteFile(join(this.dir, indexName(seg.name)), JSON.stringify(index), this.policy !== 'never');
  }

  /**
   * Moves bytes [offset, size) of `file` into `<file>.<offset>.quarantine` and truncates the file
   * to `offset`, so everything before the damage stays readable and appends continue cleanly.
   */
  private async quarantine(file: string, offset: number, size: number, reason: string): Promise<void> {
    let target = `${file}.${offset}.quarantine`;
    try {
      await stat(target);
      target = `${file}.${offset}.${Date.now()}.quarantine`;
    } catch {
      // the plain name is free
    }
    const fh = await open(file, 'r+');
    try {
      const length = size - offset;
      const tail = Buffer.alloc(length);
      if (length > 0) await fh.read(tail, 0, length, offset);
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
    this.logger.error(
      { log: this.label, file, offset, bytes: size - offset, quarantine: target, reason },
      `quarantined torn or corrupt data in ${file} at byte offset ${offset} (${reason}): ${size - offset} bytes moved to ${target}`,
    );
  }

  /** Copies a damaged stretch that reads step over to a quarantine file (once) and logs it. */
  private async keepDamaged(file: string, d: Damage): Promise<void> {
    const bytes = Buffer.alloc(d.bytes);
    const fh = await open(file, 'r');
    try {
      await fh.read(bytes, 0, d.bytes, d.offset);
    } finally {
      await fh.close();
    }
    await this.reportDamage(file, d, bytes);
  }

  private async reportDamage(file: string, d: Damage, bytes: Buffer): Promise<void> {
    const missing = d.afterSeq !== undefined && d.beforeSeq !== undefined && d.beforeSeq - d.afterSeq > 1 ? `; records ${d.afterSeq + 1}..${d.beforeSeq - 1} are lost` : '';
    let kept: { target: string; fresh: boolean } | undefined;
    try {
      kept = await this.quarantineCopy(file, d.offset, bytes);
    } catch (err) {
      this.logger.error({ log: this.label, file, offset: d.offset, err: errorMessage(err) }, `could not copy damaged data of ${file} at byte offset ${d.offset} to a quarantine file`);
    }
    const fields = { log: this.label, file, offset: d.offset, bytes: d.bytes, reason: d.reason, quarantine: kept?.target, afterSeq: d.afterSeq, beforeSeq: d.beforeSeq };
    if (kept?.fresh === false) {
      // Found again (the active segment is rescanned after every crash): the copy is already there.
      this.logger.warn(fields, `skipping damaged data in ${file} at byte offset ${d.offset} (${d.reason}): ${d.bytes} bytes${missing}; a copy is in ${kept.target}`);
      return;
    }
    this.logger.error(
      fields,
      `skipping damaged data in ${file} at byte offset ${d.offset} (${d.reason}): ${d.bytes} bytes${missing}${kept === undefined ? '' : `; quarantined a copy to ${kept.target}`}`,
    );
  }

  /**
   * Writes `bytes` to `<file>.<offset>.quarantine` (or, when that name holds other bytes, a name
   * with a time in it), unless a quarantine file of that offset already holds exactly them.
   */
  private async quarantineCopy(file: string, offset: number, bytes: Buffer): Promise<{ target: string; fresh: boolean }> {
    const prefix = `${basename(file)}.${offset}.`;
    const existing = (await readdir(this.dir)).filter((n) => n.startsWith(prefix) && /^(\d+\.)?quarantine$/.test(n.slice(prefix.length)));
    for (const name of existing) {
      const path = join(this.dir, name);
      const info = await stat(path);
      if (info.size === bytes.length && (await readFile(path)).equals(bytes)) return { target: path, fresh: false };
    }
    const plain = `${file}.${offset}.quarantine`;
    const target = existing.includes(basename(plain)) ? `${file}.${offset}.${Date.now()}.quarantine` : plain;
    const q = await open(target, 'w');
    try {
      await writeFully(q, bytes);
      await q.sync();
    } finally {
      await q.close();
    }
    await fsyncDir(this.dir);
    return { target, fresh: true };
  }

  // ---------------------------------------------------------------- writing

  /**
   * Appends a record. Resolves with its sequence number once it is durable under the fsync
   * policy; rejects if it could not be written (the log then refuses further writes).
   */
  append(tag: string, ts: number, data: unknown): Promise<number> {
    if (this.state !== 'open') return Promise.reject(this.closedError());
    if (typeof tag !== 'string' || !Number.isFinite(ts) || data === undefined) {
      return Promise.reject(new DataArgumentError(`Log '${this.label}': append needs a string tag, a finite ts and defined data.`, { tag, ts }));
    }
    const seq = this.nextSeq;
    let text: string;
    try {
      text = encodeLine(seq, ts, tag, data);
    } catch (err) {
      return Promise.reject(new DataArgumentError(`Log '${this.label}': the record cannot be stored as JSON (${errorMessage(err)}).`, { tag }));
    }
    this.nextSeq++;
    const bytes = Buffer.byteLength(text);
    let seg = this.active;
    if (seg.size > 0 && seg.size + bytes > this.maxSegmentBytes) {
      seg = emptySegment(this.dir, seq);
      this.segments.push(seg);
      this.active = seg;
    }
    let block = seg.blocks[seg.blocks.length - 1];
    // A block ends where damage begins: never extend one across it.
    if (block === undefined || block.bytes >= this.blockBytes || block.offset + block.bytes !== seg.size) {
      block = { offset: seg.size, bytes: 0, firstSeq: seq, lastSeq: seq, count: 0, minTs: ts, maxTs: ts, tags: new Set() };
      seg.blocks.push(block);
    }
    accountInto(seg, block, bytes, seq, ts, tag);
    this.queuedBytes += bytes;
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ text, bytes, seq, seg, resolve, reject });
      if (!this.pumpScheduled && !this.pumping) {
        this.pumpScheduled = true;
        // Deferred so that every append of the current tick goes out in one write.
        queueMicrotask(() => {
          this.pumpScheduled = false;
          void this.pump();
        });
      }
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queueHead < this.queue.length && this.state !== 'failed') {
        const first = this.queue[this.queueHead]!;
        if (first.seg !== this.writeSeg) {
          await this.rotateTo(first.seg);
          continue;
        }
        const seg = first.seg;
        let end = this.queueHead;
        let bytes = 0;
        let text = '';
        while (end < this.queue.length && bytes < MAX_WRITE_BYTES) {
          const item = this.queue[end]!;
          if (item.seg !== seg) break;
          bytes += item.bytes;
          text += item.text;
          end++;
        }
        const batch = this.queue.slice(this.queueHead, end);
        this.queueHead = end;
        if (this.queueHead === this.queue.length) {
          this.queue = [];
          this.queueHead = 0;
        } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead);
          this.queueHead = 0;
        }
        const buf = Buffer.from(text, 'utf8');
        try {
          await writeFully(this.fh!, buf);
        } catch (err) {
          this.fail(err, batch);
          return;
        }
        seg.written += buf.length;
        this.queuedBytes -= bytes;
        this.writtenSeq = batch[batch.length - 1]!.seq;
        this.releaseWrittenWaiters();
        if (this.policy === 'never') {
          for (const item of batch) item.resolve(item.seq);
        } else if (this.policy === 'always') {
          try {
            await this.fh!.datasync();
          } catch (err) {
            this.fail(err, batch);
            return;
          }
          for (const item of batch) item.resolve(item.seq);
        } else {
          for (const item of batch) this.unsynced.push(item);
          this.scheduleSync();
        }
      }
    } finally {
      this.pumping = false;
      if (this.queueHead >= this.queue.length || this.state === 'failed') {
        const waiters = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Seals the segment being written and starts writing `next`. */
  private rotateTo(next: Segment): Promise<void> {
    this.rotation = this.rotate(next).finally(() => (this.rotation = undefined));
    return this.rotation;
  }

  private async rotate(next: Segment): Promise<void> {
    const old = this.writeSeg;
    // While rotating, the batch sync stays out of the way: the rotation syncs and acknowledges
    // the old segment itself, and a timer firing meanwhile must not touch the closing file.
    if (this.syncTimer !== undefined) {
      clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
    }
    try {
      if (this.syncing !== undefined) await this.syncing;
      if (this.state === 'failed') return;
      const oldFh = this.fh!;
      await oldFh.datasync();
      const acked = this.unsynced;
      this.unsynced = [];
      for (const item of acked) item.resolve(item.seq);
      this.fh = undefined;
      await oldFh.close();
      await this.writeIndex(old, true);
      old.sealed = true;
      this.fh = await open(next.path, 'a');
      this.writeSeg = next;
      if (this.policy !== 'never') await fsyncDir(this.dir);
    } catch (err) {
      this.fail(err, []);
      return;
    }
    try {
      this.onSeal?.();
    } catch (err) {
      this.logger.error({ log: this.label, err }, 'seal hook failed');
    }
  }

  private scheduleSync(): void {
    if (this.syncTimer !== undefined || this.syncing !== undefined || this.rotation !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      void this.syncNow();
    }, this.intervalMs);
  }

  /** fdatasyncs the active file and acknowledges everything written before the sync started. */
  private syncNow(): Promise<void> {
    if (this.syncing !== undefined) return this.syncing;
    // A rotation syncs and acknowledges everything written to the segment it seals.
    if (this.rotation !== undefined) return this.rotation;
    if (this.state === 'failed' || this.fh === undefined) return Promise.resolve();
    const fh = this.fh;
    const waiters = this.unsynced;
    this.unsynced = [];
    this.syncing = (async () => {
      try {
        await fh.datasync();
      } catch (err) {
        this.fail(err, waiters);
        return;
      }
      for (const item of waiters) item.resolve(item.seq);
    })().finally(() => {
      this.syncing = undefined;
      if (this.unsynced.length > 0 && this.state !== 'failed') this.scheduleSync();
    });
    return this.syncing;
  }

  private fail(err: unknown, inFlight: Queued[]): void {
    if (this.state === 'failed') {
      for (const item of inFlight) item.reject(this.failure);
      return;
    }
    const failure = new DataWriteError(this.writeSeg?.path ?? this.dir, err);
    this.failure = failure;
    this.state = 'failed';
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    const rejected = [...inFlight, ...this.unsynced, ...this.queue.slice(this.queueHead)];
    this.unsynced = [];
    this.queue = [];
    this.queueHead = 0;
    for (const item of rejected) item.reject(failure);
    this.releaseWrittenWaiters();
    this.logger.error({ log: this.label, err }, `log '${this.label}' stopped accepting writes: ${errorMessage(err)}`);
    const fh = this.fh;
    this.fh = undefined;
    void fh?.close().catch(() => undefined);
    try {
      this.onFailure?.(failure);
    } catch {
      // a failing observer must not hide the original failure
    }
  }

  private closedError(): Error {
    return this.state === 'failed' && this.failure !== undefined ? this.failure : new DataClosedError(`Log '${this.label}'`, this.state === 'failed' ? 'failed' : 'closed');
  }

  /**
   * Resolves once every record appended before this call has been handed to the operating system
   * (or the log failed). Unlike `drained`, appends made meanwhile do not delay it.
   */
  written(): Promise<void> {
    const seq = this.nextSeq - 1;
    if (this.writtenSeq >= seq || this.state === 'failed') return Promise.resolve();
    return new Promise((resolve) => this.writtenWaiters.push({ seq, resolve }));
  }

  private releaseWrittenWaiters(): void {
    if (this.writtenWaiters.length === 0) return;
    const failed = this.state === 'failed';
    const waiting: Array<{ seq: number; resolve: () => void }> = [];
    for (const w of this.writtenWaiters) {
      if (failed || w.seq <= this.writtenSeq) w.resolve();
      else waiting.push(w);
    }
    this.writtenWaiters = waiting;
  }

  /** Resolves once the write queue is empty: a producer that outruns the disk waits on it. */
  drained(): Promise<void> {
    if (!this.pumping && !this.pumpScheduled && this.queueHead >= this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Makes everything appended so far durable now, whatever the policy; rejects if the log failed. */
  async flush(): Promise<void> {
    await this.written();
    if (this.syncTimer !== undefined) {
      clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
    }
    if (this.syncing !== undefined) await this.syncing;
    if (this.state === 'failed') throw this.failure;
    if (this.fh !== undefined) await this.syncNow();
    // syncNow may have failed the log meanwhile.
    if ((this.state as LogState) === 'failed') throw this.failure;
  }

  /** Flushes, indexes the active segment (so the next open need not scan it) and closes the file. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.state = 'closing';
    try {
      if (this.state === 'closing') {
        await this.flush();
        // No appends are accepted any more, so the writer goes idle: let it finish its loop.
        await this.drained();
        // Without an index the next open checks the segment and records its damage.
        if (this.damagedActive !== this.active) await this.writeIndex(this.active, false);
      }
    } finally {
      if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
      const fh = this.fh;
      this.fh = undefined;
      await fh?.close().catch(() => undefined);
      if (this.state !== 'failed') this.state = 'closed';
    }
  }

  // ---------------------------------------------------------------- reading

  /**
   * Records in seq order (or reverse), filtered by tag, time and seq. Sees everything appended
   * before the call (written, not necessarily synced yet) and nothing appended after it.
   */
  async *scan<T = unknown>(options: LogScanOptions = {}): AsyncGenerator<LogRecord<T>> {
    const endSeq = this.nextSeq - 1;
    await this.written();
    const desc = options.order === 'desc';
    const afterSeq = options.afterSeq ?? 0;
    const beforeSeq = Math.min(options.beforeSeq ?? Infinity, endSeq + 1);
    const since = options.since ?? -Infinity;
    const until = options.until ?? Infinity;
    const tagOk = options.tag;
    const needle = options.contains === undefined ? undefined : Buffer.from(options.contains, 'utf8');
    const views = this.segments.map((seg) => ({
      seg,
      limit: seg.written,
      // The active segment's last block still grows: copy the block list (not the blocks, whose
      // extra records fall outside [afterSeq, endSeq] anyway).
      blocks: seg.sealed ? seg.blocks : seg.blocks.slice(),
    }));
    if (desc) views.reverse();
    for (const view of views) {
      const seg = view.seg;
      if (seg.count === 0 || seg.lastSeq <= afterSeq || seg.firstSeq >= beforeSeq || seg.maxTs < since || seg.minTs > until) continue;
      if (options.skipBlock?.(seg)) continue;
      let fh: FileHandle;
      try {
        fh = await open(seg.path, 'r');
      } catch (err) {
        if (isNotFound(err)) continue; // removed by retention meanwhile
        throw err;
      }
      try {
        const count = view.blocks.length;
        for (let k = 0; k < count; k++) {
          const block = view.blocks[desc ? count - 1 - k : k]!;
          if (block.lastSeq <= afterSeq || block.firstSeq >= beforeSeq || block.maxTs < since || block.minTs > until) continue;
          if (tagOk !== undefined && !anyTag(block.tags, tagOk)) continue;
          if (options.skipBlock?.(block)) continue;
          const end = Math.min(block.offset + block.bytes, view.limit);
          if (end <= block.offset) continue;
          const buf = Buffer.allocUnsafe(end - block.offset);
          let got = 0;
          while (got < buf.length) {
            const { bytesRead } = await fh.read(buf, got, buf.length - got, block.offset + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
          const damaged: Damage[] = [];
          const data = buf.subarray(0, got);
          const records = this.decodeBlock<T>(data, afterSeq, beforeSeq, since, until, tagOk, needle, damaged);
          for (const d of damaged) await this.reportCorruptRead(seg.path, block.offset, d, data);
          if (damaged.length > 0 && !seg.sealed) this.damagedActive = seg;
          if (desc) records.reverse();
          for (const r of records) yield r;
        }
      } finally {
        await fh.close();
      }
    }
  }

  /** Records of one block that pass the filters; damaged stretches (offsets in `buf`) go to `damaged`. */
  private decodeBlock<T>(
    buf: Buffer,
    afterSeq: number,
    beforeSeq: number,
    since: number,
    until: number,
    tagOk: ((tag: string) => boolean) | undefined,
    needle: Buffer | undefined,
    damaged: Damage[],
  ): LogRecord<T>[] {
    const out: LogRecord<T>[] = [];
    walkLines(
      buf,
      true,
      (start, nl, h) => {
        if (h.seq <= afterSeq || h.seq >= beforeSeq || h.ts < since || h.ts > until || (tagOk !== undefined && !tagOk(h.tag))) return;
        const line = buf.subarray(start, nl);
        if (needle !== undefined && line.indexOf(needle) === -1) return;
        const rec = JSON.parse(line.toString('utf8')) as { data: T };
        out.push({ seq: h.seq, ts: h.ts, tag: h.tag, data: rec.data });
      },
      (start, end, reason) => {
        const last = damaged[damaged.length - 1];
        if (last !== undefined && last.offset + last.bytes === start) last.bytes += end - start;
        else damaged.push({ offset: start, bytes: end - start, reason });
      },
    );
    return out;
  }

  /**
   * Damage a read met (the segment changed on disk after it was indexed): counted on every read,
   * logged and copied to a quarantine file the first time.
   */
  private async reportCorruptRead(file: string, base: number, d: Damage, buf: Buffer): Promise<void> {
    this.corruptReads++;
    const offset = base + d.offset;
    const key = `${file}:${offset}`;
    if (this.reportedCorruption.has(key)) return;
    this.reportedCorruption.add(key);
    await this.reportDamage(file, { offset, bytes: d.bytes, reason: d.reason }, buf.subarray(d.offset, d.offset + d.bytes));
  }

  /** The newest record matching the filters, if any. */
  async last<T = unknown>(options: Omit<LogScanOptions, 'order'> = {}): Promise<LogRecord<T> | undefined> {
    for await (const r of this.scan<T>({ ...options, order: 'desc' })) return r;
    return undefined;
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Checks every line of every segment and reports damage the log does not know of yet (known
   * damaged stretches are already skipped by reads). With `repair`, new damage in a sealed segment
   * is copied to a quarantine file and recorded in the segment's index, so reads step over it
   * from then on; the active segment is checked, and repaired on the next open (it is then left
   * without an index on close, so that the open checks it).
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyProblem[]> {
    await this.written();
    const problems: VerifyProblem[] = [];
    let prevLastSeq = 0;
    for (const seg of [...this.segments]) {
      const probe = emptySegment(this.dir, seg.startSeq, seg.name);
      try {
        await scanSegment(probe, seg.written, this.blockBytes, prevLastSeq);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      const known = new Set(seg.damaged.map((d) => `${d.offset}+${d.bytes}`));
      const found = probe.damaged.filter((d) => !known.has(`${d.offset}+${d.bytes}`));
      for (const d of found) problems.push({ file: seg.path, offset: d.offset, reason: d.reason });
      if (found.length > 0 && !seg.sealed) this.damagedActive = seg;
      if (found.length > 0 && options.repair && seg.sealed) {
        for (const d of found) await this.keepDamaged(seg.path, d);
        Object.assign(seg, { ...probe, sealed: true, written: probe.size });
        await this.writeIndex(seg, true);
      }
      if (seg.count > 0) prevLastSeq = seg.lastSeq;
    }
    return problems;
  }

  /**
   * Deletes sealed segments whose newest record is older than `now - maxAgeMs`, then the oldest
   * sealed segments while the log is larger than `maxTotalBytes`. The active segment is never
   * deleted. Returns the deleted files.
   */
  async applyRetention(options: { maxAgeMs?: number | undefined; maxTotalBytes?: number | undefined; now: number }): Promise<string[]> {
    if (this.retentionHolds > 0) return [];
    const deleted: string[] = [];
    let total = this.segments.reduce((sum, s) => sum + s.size, 0);
    for (const seg of [...this.segments]) {
      if (!seg.sealed || seg === this.active || seg === this.writeSeg) break;
      const tooOld = options.maxAgeMs !== undefined && seg.maxTs < options.now - options.maxAgeMs;
      const tooBig = options.maxTotalBytes !== undefined && total > options.maxTotalBytes;
      if (!tooOld && !tooBig) break;
      await unlink(seg.path).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      await unlink(join(this.dir, indexName(seg.name))).catch(() => undefined);
      this.segments.splice(this.segments.indexOf(seg), 1);
      total -= seg.size;
      deleted.push(seg.path);
    }
    if (deleted.length > 0) {
      if (this.policy !== 'never') await fsyncDir(this.dir);
      this.logger.info({ log: this.label, deleted }, `retention removed ${deleted.length} segment(s)`);
    }
    return deleted;
  }

  /**
   * Copies a consistent image of the log into `targetDir`: sealed segments whole, the active one
   * up to what was written when the copy started. Writers keep going meanwhile; retention waits.
   */
  async backupTo(targetDir: string, relativeTo: string): Promise<BackupFile[]> {
    this.retentionHolds++;
    try {
      await this.flush();
      // A segment that a rotation has planned but not created yet holds nothing to copy.
      const images = this.segments.filter((seg) => seg.sealed || seg.written > 0 || seg === this.writeSeg).map((seg) => ({ seg, bytes: seg.written, sealed: seg.sealed }));
      await ensureDir(targetDir);
      const files: BackupFile[] = [];
      for (const { seg, bytes, sealed } of images) {
        const target = join(targetDir, seg.name);
        if (sealed) {
          await copyFile(seg.path, target);
          await copyFile(join(this.dir, indexName(seg.name)), join(targetDir, indexName(seg.name))).catch(() => undefined);
        } else {
          await copyPrefix(seg.path, target, bytes);
        }
        await syncFile(target);
        files.push({ path: relativePath(relativeTo, target), bytes });
      }
      await fsyncDir(targetDir);
      return files;
    } finally {
      this.retentionHolds--;
    }
  }

  stats(): LogStats {
    let bytes = 0;
    let records = 0;
    let damagedRegions = 0;
    let newestTs = Number.NEGATIVE_INFINITY;
    for (const s of this.segments) {
      bytes += s.size;
      records += s.count;
      damagedRegions += s.damaged.length;
      if (s.count > 0 && s.maxTs > newestTs) newestTs = s.maxTs;
    }
    const first = this.segments.find((s) => s.count > 0);
    return {
      segments: this.segments.length,
      bytes,
      records,
      firstSeq: first?.firstSeq ?? 0,
      lastSeq: this.nextSeq - 1,
      newestTs,
      queuedBytes: this.queuedBytes,
      unsynced: this.unsynced.length,
      corruptReads: this.corruptReads,
      damagedRegions,
      quarantinedTails: this.quarantinedTails,
      state: this.state,
    };
  }

  /** Paths of the segment files, oldest first. */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.path);
  }
}

function anyTag(tags: Set<string>, ok: (tag: string) => boolean): boolean {
  for (const t of tags) if (ok(t)) return true;
  return false;
}

export async function copyPrefix(source: string, target: string, bytes: number): Promise<void> {
  const src = await open(source, 'r');
  const dst = await open(target, 'w');
  try {
    const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(bytes, 1)));
    let pos = 0;
    while (pos < bytes) {
      const { bytesRead } = await src.read(chunk, 0, Math.min(chunk.length, bytes - pos), pos);
      if (bytesRead === 0) throw new Error(`${source} is shorter than the ${bytes} bytes to copy`);
      await writeFully(dst, chunk.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function relativePath(root: string, path: string): string {
  return path.startsWith(root) ? path.slice(root.length).replace(/^[/\\]+/, '').split('\\').join('/') : path;
}
