import { appendFileSync, existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { crc32, crc32Fallback } from './crc32.js';
import { DataClosedError, DataWriteError } from './errors.js';
import { SegmentLog, decodeHeader, encodeLine, type LogRecord } from './segment-log.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-log-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void out.push(s) } });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function collect<T>(it: AsyncIterable<LogRecord<T>>): Promise<LogRecord<T>[]> {
  const out: LogRecord<T>[] = [];
  for await (const r of it) out.push(r);
  return out;
}

function segmentsOf(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort();
}

describe('line format', () => {
  it('is one JSON object per line whose checksum covers everything before it', () => {
    const line = encodeLine(7, 1_700_000_000_000, 'order.updated', { a: 'é', n: [1, 2] });
    expect(line.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed).toMatchObject({ seq: 7, ts: 1_700_000_000_000, tag: 'order.updated', data: { a: 'é', n: [1, 2] } });
    expect(parsed.crc).toMatch(/^[0-9a-f]{8}$/);
    expect(decodeHeader(Buffer.from(line.slice(0, -1)))).toEqual({ seq: 7, ts: 1_700_000_000_000, tag: 'order.updated' });
    const damaged = Buffer.from(line.slice(0, -1));
    damaged[damaged.indexOf('é') - 1] = 'x'.charCodeAt(0);
    expect(decodeHeader(damaged)).toBe('checksum mismatch');
    expect(decodeHeader(Buffer.from(line.slice(0, 20)))).toBe('no checksum at the end of the line');
  });

  it('computes the same CRC-32 with the native and the fallback implementation', () => {
    for (const s of ['', 'a', '123456789', '{"seq":1,"ts":2,"tag":"é€𝄞"}', 'x'.repeat(10_000)]) {
      expect(crc32Fallback(s)).toBe(crc32(s) >>> 0);
    }
    expect(crc32('123456789') >>> 0).toBe(0xcbf43926);
  });
});

describe('SegmentLog', () => {
  it('appends, acknowledges with seq numbers and reads back in both orders with filters', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'always' });
    const seqs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => log.append(i % 2 === 0 ? 'even' : 'odd', 1000 + i, { i })),
    );
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    const all = await collect(log.scan<{ i: number }>());
    expect(all.map((r) => r.data.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const desc = await collect(log.scan({ order: 'desc' }));
    expect(desc.map((r) => r.seq)).toEqual([...seqs].reverse());
    const odd = await collect(log.scan<{ i: number }>({ tag: (t) => t === 'odd', since: 1010, until: 1020 }));
    expect(odd.map((r) => r.data.i)).toEqual([11, 13, 15, 17, 19]);
    const page = await collect(log.scan({ afterSeq: 40, beforeSeq: 44 }));
    expect(page.map((r) => r.seq)).toEqual([41, 42, 43]);
    expect((await log.last({ tag: (t) => t === 'even' }))?.seq).toBe(49);
    await log.close();
  });

  it('seals segments at the size limit, indexes them, and keeps everything and the seq across a reopen', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'batch', fsyncIntervalMs: 5, maxSegmentBytes: 2048, blockBytes: 256 });
    const tags = ['a', 'b', 'c', 'rare'];
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(i % 50 === 0 ? 'rare' : tags[i % 3]!, i, { i, pad: 'x'.repeat(20) })));
    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThan(5);
    // Every sealed segment has an index; the active one does not until a clean close.
    for (const s of segments.slice(0, -1)) expect(existsSync(join(dir, s.replace('.jsonl', '.idx.json')))).toBe(true);
    for (const s of segments) expect(readFileSync(join(dir, s)).length).toBeLessThanOrEqual(2048);
    await log.close();

    const again = await SegmentLog.open({ dir, maxSegmentBytes: 2048, blockBytes: 256 });
    const rare = await collect(again.scan<{ i: number }>({ tag: (t) => t === 'rare' }));
    expect(rare.map((r) => r.data.i)).toEqual([0, 50, 100, 150, 200, 250]);
    expect(await again.append('a', 300, { i: 300 })).toBe(301);
    const tail = await collect(again.scan<{ i: number }>({ order: 'desc', since: 295 }));
    expect(tail.map((r) => r.data.i)).toEqual([300, 299, 298, 297, 296, 295]);
    expect(await again.verify()).toEqual([]);
    expect(again.stats()).toMatchObject({ records: 301, lastSeq: 301, state: 'open' });
    await again.close();
  });

  it('acknowledges under every fsync policy only once the record is in the file', async () => {
    for (const fsync of ['always', 'batch', 'never'] as const) {
      const dir = await tempDir();
      const log = await SegmentLog.open({ dir, fsync, fsyncIntervalMs: 5 });
      const seq = await log.append('t', 1, { policy: fsync });
      const file = readFileSync(join(dir, segmentsOf(dir)[0]!), 'utf8');
      expect(file).toContain(`"policy":"${fsync}"`);
      expect(seq).toBe(1);
      await log.close();
    }
  });

  it('with batch fsync holds acknowledgements until the sync, and flush() syncs at once', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'batch', fsyncIntervalMs: 600_000 });
    let acked = false;
    const pending = log.append('t', 1, { x: 1 }).then(() => (acked = true));
    await log.drained();
    // Written to the OS, not yet synced: not acknowledged.
    expect(readFileSync(join(dir, segmentsOf(dir)[0]!), 'utf8')).toContain('"x":1');
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false);
    expect(log.stats().unsynced).toBe(1);
    await log.flush();
    await pending;
    expect(acked).toBe(true);
    await log.close();
  });

  it('keeps batch syncs and segment rotations apart under a steady stream of appends', async () => {
    const dir = await tempDir();
    // A 1 ms sync interval and 2 KiB segments make the sync timer fire during rotations.
    const log = await SegmentLog.open({ dir, fsync: 'batch', fsyncIntervalMs: 1, maxSegmentBytes: 2048, blockBytes: 512 });
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 3000; i++) {
      pending.push(log.append('t', i, { i, pad: 'p'.repeat(40) }));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 0));
    }
    const seqs = await Promise.all(pending);
    expect(seqs.at(-1)).toBe(3000);
    expect(log.stats().state).toBe('open');
    expect(segmentsOf(dir).length).toBeGreaterThan(50);
    expect(await log.verify()).toEqual([]);
    await log.close();
  });

  it('answers reads and flushes while a producer keeps appending', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'batch', fsyncIntervalMs: 5, maxSegmentBytes: 64 * 1024 });
    let stop = false;
    let appended = 0;
    const producer = (async () => {
      while (!stop) {
        for (let i = 0; i < 200; i++) void log.append('t', appended, { i: appended++ });
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    const before = appended;
    const seen = await collect(log.scan({ order: 'desc' }));
    // Everything appended before the read is in it, in order.
    expect(seen.length).toBeGreaterThanOrEqual(before);
    expect(seen.at(-1)?.seq).toBe(1);
    const beforeFlush = appended;
    await log.flush();
    expect(log.stats().lastSeq).toBeGreaterThanOrEqual(beforeFlush);
    stop = true;
    await producer;
    await log.close();
    const reopened = await SegmentLog.open({ dir });
    expect(reopened.stats().records).toBe(appended);
    await reopened.close();
  });

  it('opens a log whose newest segment starts past a gap in the sequence (crash or backup mid-rotation)', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never' });
    for (let i = 0; i < 10; i++) await log.append('t', i, { i });
    await log.close();
    // The segment a rotation created for seq 20 while seqs 11..19 never reached the disk.
    writeFileSync(join(dir, '00000000000000000020.jsonl'), '');
    const again = await SegmentLog.open({ dir });
    await again.flush();
    expect((await collect(again.scan())).length).toBe(10);
    expect(await again.append('t', 20, { i: 20 })).toBe(20);
    expect((await collect(again.scan({ order: 'desc' })))[0]?.seq).toBe(20);
    await again.close();
  });

  it('quarantines a torn last line, logs file and offset, and reads everything before it', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never' });
    for (let i = 0; i < 20; i++) await log.append('t', i, { i });
    await log.close();
    const file = join(dir, segmentsOf(dir)[0]!);
    const goodSize = readFileSync(file).length;
    const torn = encodeLine(21, 21, 't', { i: 20 }).slice(0, 25);
    appendFileSync(file, torn);

    const { logger, lines } = captureLogger();
    const again = await SegmentLog.open({ dir, logger });
    const records = await collect(again.scan<{ i: number }>());
    expect(records.map((r) => r.data.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const quarantine = `${file}.${goodSize}.quarantine`;
    expect(readFileSync(quarantine, 'utf8')).toBe(torn);
    expect(readFileSync(file).length).toBe(goodSize);
    const entry = lines().find((l) => l.quarantine === quarantine);
    expect(entry).toMatchObject({ file, offset: goodSize, level: 50 });
    expect(String(entry?.msg)).toContain(`${file} at byte offset ${goodSize}`);

    // Appends continue cleanly after the cut.
    expect(await again.append('t', 99, { i: 99 })).toBe(21);
    expect(await again.verify()).toEqual([]);
    await again.close();
    const reopened = await SegmentLog.open({ dir });
    expect((await collect(reopened.scan())).length).toBe(21);
    await reopened.close();
  });

  it('detects a corrupted sealed segment on open: skips and quarantines the bad line only, keeps the rest', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never', maxSegmentBytes: 1500 });
    for (let i = 0; i < 60; i++) await log.append('t', i, { i, note: 'abcdefgh' });
    await log.close();
    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThan(2);
    const victim = join(dir, segments[1]!);
    const bytes = readFileSync(victim);
    const lineStarts = [0, ...[...bytes.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)].slice(0, -1);
    const badLine = lineStarts[3]!;
    const badLength = lineStarts[4]! - badLine;
    const firstInVictim = (JSON.parse(bytes.subarray(0, bytes.indexOf(0x0a)).toString()) as { data: { i: number } }).data.i;
    const flip = bytes.indexOf('abcdefgh', badLine);
    bytes[flip] = 'z'.charCodeAt(0); // still valid JSON: only the checksum can tell
    writeFileSync(victim, bytes);

    const { logger, lines } = captureLogger();
    const again = await SegmentLog.open({ dir, logger, verifyOnOpen: 'all', maxSegmentBytes: 1500 });
    const got = (await collect(again.scan<{ i: number }>())).map((r) => r.data.i);
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i).filter((i) => i !== firstInVictim + 3));
    // The segment is unchanged; the bad line is copied out for inspection.
    expect(readFileSync(victim)).toEqual(bytes);
    expect(readFileSync(`${victim}.${badLine}.quarantine`)).toEqual(bytes.subarray(badLine, badLine + badLength));
    const seq = firstInVictim + 4;
    expect(lines().some((l) => l.file === victim && l.offset === badLine && l.reason === 'checksum mismatch' && l.afterSeq === seq - 1 && l.beforeSeq === seq + 1)).toBe(true);
    expect(again.stats()).toMatchObject({ damagedRegions: 1, corruptReads: 0, records: 59 });
    expect(await again.verify()).toEqual([]);
    await again.close();
  });

  it('by default skips (and reports) a corrupt line of a sealed segment on read; verify repairs it', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never', maxSegmentBytes: 1000 });
    for (let i = 0; i < 30; i++) await log.append('t', i, { i, note: 'abcdefgh' });
    await log.close();
    const victim = join(dir, segmentsOf(dir)[0]!);
    const bytes = readFileSync(victim);
    const second = bytes.indexOf(0x0a) + 1;
    bytes[bytes.indexOf('abcdefgh', second)] = 'z'.charCodeAt(0);
    writeFileSync(victim, bytes);

    const { logger, lines } = captureLogger();
    const again = await SegmentLog.open({ dir, logger, maxSegmentBytes: 1000 });
    const got = (await collect(again.scan<{ i: number }>())).map((r) => r.data.i);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 1));
    expect(again.stats().corruptReads).toBe(1);
    expect(lines().some((l) => l.file === victim && l.offset === second)).toBe(true);

    const problems = await again.verify({ repair: true });
    expect(problems).toEqual([{ file: victim, offset: second, reason: 'checksum mismatch' }]);
    expect(existsSync(`${victim}.${second}.quarantine`)).toBe(true);
    expect(await again.verify()).toEqual([]);
    expect((await collect(again.scan<{ i: number }>()))[0]?.data.i).toBe(0);
    await again.close();
  });

  it('retention deletes old and excess sealed segments, never the active one', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir, fsync: 'never', maxSegmentBytes: 600 });
    for (let i = 0; i < 40; i++) await log.append('t', i * 1000, { i });
    const before = segmentsOf(dir);
    expect(before.length).toBeGreaterThan(4);

    const byAge = await log.applyRetention({ maxAgeMs: 20_000, now: 40_000 });
    expect(byAge.length).toBeGreaterThan(0);
    const oldestLeft = (await collect(log.scan<{ i: number }>()))[0]!;
    // Only segments whose newest record is older than the cut-off went away.
    expect(oldestLeft.ts).toBeLessThanOrEqual(20_000);
    expect(oldestLeft.ts).toBeGreaterThan(20_000 - 10_000);

    await log.applyRetention({ maxTotalBytes: 1, now: 40_000 });
    const left = segmentsOf(dir);
    expect(left).toEqual([before[before.length - 1]]);
    expect((await collect(log.scan())).at(-1)?.seq).toBe(40);
    expect(await log.append('t', 41_000, { i: 40 })).toBe(41);
    await log.close();
  });

  it('stops taking writes after an I/O error and says so (writes to /dev/full fail with ENOSPC)', async () => {
    const dir = await tempDir();
    symlinkSync('/dev/full', join(dir, '00000000000000000001.jsonl'));
    const failures: DataWriteError[] = [];
    const log = await SegmentLog.open({ dir, fsync: 'never', onFailure: (e) => failures.push(e) });
    const first = log.append('t', 1, { x: 1 });
    await expect(first).rejects.toBeInstanceOf(DataWriteError);
    await expect(first).rejects.toMatchObject({ code: 'DATA_WRITE_FAILED' });
    expect(failures).toHaveLength(1);
    await expect(log.append('t', 2, { x: 2 })).rejects.toBeInstanceOf(DataWriteError);
    expect(log.stats().state).toBe('failed');
    await log.close();
  });

  it('rejects appends after close with a clear error', async () => {
    const dir = await tempDir();
    const log = await SegmentLog.open({ dir });
    await log.close();
    await expect(log.append('t', 1, {})).rejects.toBeInstanceOf(DataClosedError);
  });
});
