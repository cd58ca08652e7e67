import { existsSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../bus/envelope.js';
import type { BuiltinEvents } from '../events/builtin.js';
import { createLogger } from '../logger.js';
import { seededRandom } from '../testing/random.js';
import { openDataStore } from './data-store.js';
import { SegmentLog, type LogRecord } from './segment-log.js';

/**
 * Bytes flipped at random offsets of a log's segments: every record whose line was not touched
 * must still be read (by scans in both orders, after a restart, and after further appends), and
 * every touched one that is not read must be reported with its file and offset.
 */

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-damage-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

type Logged = Record<string, unknown>;
function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Logged[] } {
  const out: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void out.push(s) } });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Logged) };
}

async function collect<T>(it: AsyncIterable<LogRecord<T>>): Promise<LogRecord<T>[]> {
  const out: LogRecord<T>[] = [];
  for await (const r of it) out.push(r);
  return out;
}

interface Line {
  file: string;
  start: number;
  /** Just past the newline. */
  end: number;
  seq: number;
}

/** Where each record sits, read from the intact files with nothing but a JSON parser. */
function lineMap(dir: string): { segments: string[]; lines: Line[] } {
  const segments = readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .map((n) => join(dir, n));
  const lines: Line[] = [];
  for (const file of segments) {
    const bytes = readFileSync(file);
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(0x0a, start);
      const { seq } = JSON.parse(bytes.subarray(start, nl).toString('utf8')) as { seq: number };
      lines.push({ file, start, end: nl + 1, seq });
      start = nl + 1;
    }
  }
  return { segments, lines };
}

type Where = 'sealed' | 'active';
// DAMAGE_SEEDS=400 tries more seeds; DAMAGE_SEED=<n> replays one.
const SEEDS = Number(process.env.DAMAGE_SEEDS ?? 40);
const ONLY_SEED = process.env.DAMAGE_SEED === undefined ? undefined : Number(process.env.DAMAGE_SEED);

async function damageRound(seed: number, where: Where, withIndex: boolean): Promise<void> {
  const random = seededRandom(seed * 7919 + (where === 'sealed' ? 1 : 2) * 31 + (withIndex ? 1 : 0));
  const dir = await tempDir();
  const options = { dir, fsync: 'never' as const, maxSegmentBytes: 2500, blockBytes: 400 };
  const log = await SegmentLog.open(options);
  const written = new Map<number, unknown>();
  for (let i = 0; i < 90; i++) {
    // Some records carry an object starting with "seq" inside, which looks like a record start.
    const data = { i, pad: 'p'.repeat(Math.floor(random() * 60)), ...(i % 5 === 0 ? { inner: { seq: i, tag: 'x' } } : {}) };
    const seq = await log.append(['a', 'b', 'c'][i % 3]!, 1_000 + i, data);
    written.set(seq, JSON.parse(JSON.stringify(data)));
  }
  await log.close();

  const { segments, lines } = lineMap(dir);
  expect(segments.length).toBeGreaterThan(2);
  if (!withIndex) for (const n of readdirSync(dir).filter((f) => f.endsWith('.idx.json'))) unlinkSync(join(dir, n));
  const target = where === 'active' ? segments[segments.length - 1]! : segments[Math.floor(random() * (segments.length - 1))]!;
  const bytes = readFileSync(target);
  const flips = new Set<number>();
  const howMany = 1 + Math.floor(random() * 3);
  while (flips.size < howMany) flips.add(Math.floor(random() * bytes.length));
  for (const at of flips) bytes[at] = bytes[at]! ^ (1 + Math.floor(random() * 255));
  writeFileSync(target, bytes);
  const damaged = new Set(lines.filter((l) => l.file === target && [...flips].some((at) => at >= l.start && at < l.end)).map((l) => l.seq));
  const intact = [...written.keys()].filter((seq) => !damaged.has(seq));
  const context = `seed ${seed}, ${where} segment ${target.slice(dir.length + 1)}, ${withIndex ? 'with' : 'without'} index, flips at ${[...flips].join(', ')}`;

  const { logger, lines: logged } = captureLogger();
  const again = await SegmentLog.open({ ...options, logger });
  const read = await collect(again.scan());
  // A damaged line can only be read if the flips left it intact, which a CRC-32 rules out.
  expect(read.map((r) => r.seq), context).toEqual(intact);
  for (const r of read) expect(r.data, context).toEqual(written.get(r.seq));
  expect((await collect(again.scan({ order: 'desc' }))).map((r) => r.seq), context).toEqual([...intact].reverse());

  // Every damaged record is reported: a log line naming the file and a byte range holding its start.
  const reports = logged().filter((l) => l.file === target && typeof l.offset === 'number' && typeof l.bytes === 'number');
  for (const seq of damaged) {
    const line = lines.find((l) => l.seq === seq)!;
    const report = reports.find((l) => (l.offset as number) <= line.start && line.start < (l.offset as number) + (l.bytes as number));
    expect(report, `${context}: record ${seq} at ${line.start} not reported`).toBeDefined();
    expect(report!.level, context).toBeGreaterThanOrEqual(40);
    // Its bytes are kept for inspection.
    const kept = readFileSync(report!.quarantine as string);
    expect(kept, context).toEqual(bytes.subarray(report!.offset as number, (report!.offset as number) + (report!.bytes as number)));
  }
  const stats = again.stats();
  if (damaged.size > 0) expect(stats.damagedRegions + stats.corruptReads + stats.quarantinedTails, context).toBeGreaterThan(0);

  // Appends go on after the damage, with a sequence number above every record kept.
  const next = await again.append('a', 5_000, { i: 'after' });
  expect(next, context).toBeGreaterThan(Math.max(...intact));
  await again.close();

  // And everything holds after a restart, which reads the indexes written on close.
  const restarted = await SegmentLog.open(options);
  const afterRestart = await collect(restarted.scan());
  expect(afterRestart.map((r) => r.seq), context).toEqual([...intact, next]);
  expect(afterRestart.at(-1)?.data, context).toEqual({ i: 'after' });
  // Damage that reads met inside indexed blocks (not found by a check on open) is what a repair
  // records; after it, nothing is left to report.
  const problems = await restarted.verify({ repair: true });
  expect(problems.length, context).toBeLessThanOrEqual(withIndex ? flips.size : 0);
  for (const p of problems) expect(p.file, context).toBe(target);
  expect(await restarted.verify(), context).toEqual([]);
  expect((await collect(restarted.scan())).map((r) => r.seq), context).toEqual([...intact, next]);
  await restarted.close();
}

describe('damage inside a segment costs only the damaged records', () => {
  for (const where of ['sealed', 'active'] as const) {
    for (const withIndex of [false, true]) {
      it(`bytes flipped in the ${where} segment, ${withIndex ? 'with' : 'without'} index files (${SEEDS} seeds)`, { timeout: 60_000 }, async () => {
        for (let seed = ONLY_SEED ?? 1; seed <= (ONLY_SEED ?? SEEDS); seed++) await damageRound(seed, where, withIndex);
      });
    }
  }

  it('resynchronises on the next record when damage destroys the newline between two records', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never' });
    for (let i = 0; i < 10; i++) await log.append('t', i, { i });
    await log.close();
    const { segments, lines } = lineMap(dir);
    unlinkSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.idx.json'))!));
    const bytes = readFileSync(segments[0]!);
    const fourth = lines[3]!;
    bytes[fourth.end - 1] = 0x20; // the 4th record's newline: it now runs into the 5th
    writeFileSync(segments[0]!, bytes);

    const { logger, lines: logged } = captureLogger();
    const again = await SegmentLog.open({ dir, logger });
    expect((await collect(again.scan())).map((r) => r.seq)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
    const report = logged().find((l) => l.offset === fourth.start);
    expect(report).toMatchObject({ file: segments[0], bytes: fourth.end - fourth.start, afterSeq: 3, beforeSeq: 5, level: 50 });
    expect(String(report?.msg)).toContain(`at byte offset ${fourth.start}`);
    expect(String(report?.msg)).toContain('records 4..4 are lost');
    expect(existsSync(`${segments[0]}.${fourth.start}.quarantine`)).toBe(true);
    await again.close();
  });

  it('skips a record out of sequence without losing the ones after it', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never' });
    for (let i = 0; i < 6; i++) await log.append('t', i, { i });
    await log.close();
    const { segments, lines } = lineMap(dir);
    unlinkSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.idx.json'))!));
    const bytes = readFileSync(segments[0]!);
    // A valid, checksummed copy of record 2 where record 4 was: the checksum holds, the order does not.
    const copy = bytes.subarray(lines[1]!.start, lines[1]!.end);
    const patched = Buffer.concat([bytes.subarray(0, lines[3]!.start), copy, bytes.subarray(lines[3]!.end)]);
    writeFileSync(segments[0]!, patched);

    const { logger, lines: logged } = captureLogger();
    const again = await SegmentLog.open({ dir, logger });
    expect((await collect(again.scan())).map((r) => r.seq)).toEqual([1, 2, 3, 5, 6]);
    expect(logged().some((l) => l.offset === lines[3]!.start && l.reason === 'sequence 2 does not follow 3')).toBe(true);
    expect(await again.append('t', 9, { i: 9 })).toBe(7);
    await again.close();
  });

  it('reports a stretch found again after a crash once as new, then as already kept', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never' });
    for (let i = 0; i < 8; i++) await log.append('t', i, { i });
    await log.close();
    const { segments, lines } = lineMap(dir);
    const file = segments[0]!;
    const bytes = readFileSync(file);
    const at = lines[2]!.start + 3;
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(file, bytes);
    // As after a crash: the active segment has no index, so every open checks it.
    const removeIndex = (): void => unlinkSync(join(dir, readdirSync(dir).find((n) => n.endsWith('.idx.json'))!));
    removeIndex();
    const first = captureLogger();
    const a = await SegmentLog.open({ dir, logger: first.logger });
    await a.close();
    removeIndex();
    const second = captureLogger();
    const b = await SegmentLog.open({ dir, logger: second.logger });
    expect((await collect(b.scan())).map((r) => r.seq)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    await b.close();
    expect(first.lines().filter((l) => String(l.msg).includes('quarantined'))).toHaveLength(1);
    expect(second.lines().filter((l) => String(l.msg).includes('quarantined'))).toHaveLength(0);
    expect(second.lines().some((l) => l.offset === lines[2]!.start && l.level === 40)).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.quarantine'))).toEqual([`${segments[0]!.slice(dir.length + 1)}.${lines[2]!.start}.quarantine`]);
  });
});

describe('a damaged order log', () => {
  const request = (n: number): BuiltinEvents['order.requested'] => ({
    clientOrderId: `order-${String(n).padStart(2, '0')}`,
    symbol: n % 2 === 0 ? 'ETH/BTC' : 'LTC/BTC',
    side: 'buy',
    type: 'limit',
    quantity: 1 + n,
    price: 0.05,
    reduceOnly: false,
    purpose: 'entry',
    strategyId: 'ema-cross',
    signalId: `sig-${n}`,
    timeInForce: 'GTC',
    timestamp: 1_700_000_000_000 + n * 1000,
  });
  const envelope = (n: number): Envelope => ({
    id: `e${n}`,
    type: 'order.requested',
    source: 'manager',
    ts: 1_700_000_000_000 + n * 1000,
    seq: n,
    payload: request(n),
  });

  it('loses one order, not the rest, to a flipped byte in a segment without index or checkpoint', async () => {
    const dir = await tempDir();
    const store = await openDataStore({ dir, fsync: 'never' });
    for (let n = 0; n < 33; n++) {
      await store.orders.recordRequested(request(n));
      await store.journal.append(envelope(n));
    }
    await store.close();
    // As after a crash: no checkpoint and no index, so recovery reads the whole order log.
    unlinkSync(join(dir, 'orders', 'checkpoint.json'));
    for (const sub of ['orders', 'journal']) {
      for (const n of readdirSync(join(dir, sub)).filter((f) => f.endsWith('.idx.json'))) unlinkSync(join(dir, sub, n));
    }
    for (const sub of ['orders', 'journal']) {
      const file = join(dir, sub, readdirSync(join(dir, sub)).find((n) => n.endsWith('.jsonl'))!);
      const bytes = readFileSync(file);
      const at = bytes.indexOf('"clientOrderId":"order-12"') + 20;
      bytes[at] = bytes[at]! ^ 0x04;
      writeFileSync(file, bytes);
    }
    const expected = Array.from({ length: 33 }, (_, n) => request(n).clientOrderId).filter((id) => id !== 'order-12');

    const { logger, lines } = captureLogger();
    const damaged = await openDataStore({ dir, fsync: 'never', logger });
    expect((await damaged.orders.listOpen()).map((o) => o.clientOrderId)).toEqual(expected);
    expect((await damaged.orders.query({ limit: Infinity, order: 'asc' })).map((o) => o.clientOrderId)).toEqual(expected);
    expect(await damaged.orders.get('order-20')).toMatchObject({ status: 'requested', quantity: 21, signalId: 'sig-20' });
    expect((await damaged.journal.query({ limit: Infinity, order: 'asc' })).map((e) => e.envelope.id)).toEqual(
      Array.from({ length: 33 }, (_, n) => `e${n}`).filter((id) => id !== 'e12'),
    );
    expect(lines().filter((l) => typeof l.quarantine === 'string' && l.level === 50)).toHaveLength(2);
    // A new order after the damage is stored and found after a restart.
    await damaged.orders.recordRequested(request(40));
    await damaged.close();

    const restarted = await openDataStore({ dir, fsync: 'never' });
    expect((await restarted.orders.listOpen()).map((o) => o.clientOrderId)).toEqual([...expected, 'order-40']);
    expect(await restarted.verify()).toEqual({ ok: true, problems: [] });
    await restarted.close();
  });
});
