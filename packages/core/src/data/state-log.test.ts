import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DataCorruptedError, DataWriteError } from './errors.js';
import { DataFormatError, StateLog, STATE_FORMAT } from './state-log.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-state-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('StateLog', () => {
  it('keeps what was set, deleted and set together across a reopen', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    const a = log.namespace('manager');
    const b = log.namespace('venue:paper');
    await a.set('risk', { peak: 10, breakers: ['none'] });
    await a.set('gone', 1);
    await a.delete('gone');
    await b.setMany([
      ['order:1', { status: 'filled', fills: [{ price: 1.5 }] }],
      ['balance:USDT', { total: 990 }],
    ]);
    await b.setMany([['order:1', undefined]]);
    expect(await a.get('gone')).toBeUndefined();
    await log.close();

    const again = await StateLog.open({ dir, fsync: 'always' });
    expect(again.namespaces()).toEqual(['manager', 'venue:paper']);
    expect(await again.namespace('manager').get('risk')).toEqual({ peak: 10, breakers: ['none'] });
    expect(await again.namespace('manager').keys()).toEqual(['risk']);
    expect(await again.namespace('venue:paper').keys()).toEqual(['balance:USDT']);
    expect(await again.namespace('venue:paper').get('balance:USDT')).toEqual({ total: 990 });
    await again.close();
  });

  it('hands out copies: changing what get returned or what was set changes nothing stored', async () => {
    const log = await StateLog.open({ dir: await tempDir(), fsync: 'never' });
    const store = log.namespace('a');
    const value = { list: [1, 2] };
    await store.set('x', value);
    value.list.push(3);
    const read = await store.get<{ list: number[] }>('x');
    read!.list.push(4);
    expect(await store.get('x')).toEqual({ list: [1, 2] });
    await expect(store.set('f', () => 1)).rejects.toThrow("State 'f' of 'a' cannot be stored as JSON: it is a function; store plain data.");
    await log.close();
  });

  it('writes every append of one turn with one sync, and appends made during a sync share the next one', async () => {
    const log = await StateLog.open({ dir: await tempDir(), fsync: 'always' });
    const store = log.namespace('a');
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.set(`k${i}`, i)));
    expect(log.stats().syncs).toBe(1);
    expect(log.stats().appends).toBe(50);

    const first = store.set('first', 1);
    // The group is written and its sync handed to the thread pool within these turns.
    await Promise.resolve();
    await Promise.resolve();
    const during = [store.set('second', 2), store.set('third', 3), store.set('fourth', 4)];
    await Promise.all([first, ...during]);
    expect(log.stats().syncs).toBe(3);
    await log.close();
  });

  it('writes a background change with the next change that syncs, in order, or on its own a little later', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    const store = log.namespace('replay');
    const mark = store.set('position', 1, { background: true });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(log.stats().syncs).toBe(0);
    await log.namespace('manager').set('books', 'decided on moment 1');
    await mark;
    // One sync carried both, the background mark first.
    expect(log.stats().syncs).toBe(1);
    const lines = readFileSync(join(dir, 'log-0.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { tag: string }).tag)).toEqual(['replay', 'manager']);
    // Alone, it still reaches the disk.
    await store.set('position', 2, { background: true });
    expect(log.stats().syncs).toBe(2);
    await log.close();
  });

  it('does not sync background changes that arrive while a sync runs on their own', async () => {
    const log = await StateLog.open({ dir: await tempDir(), fsync: 'always' });
    const decision = log.namespace('manager').set('books', 1);
    await Promise.resolve();
    await Promise.resolve();
    // The decision's sync is in flight: a progress mark arrives behind it.
    const mark = log.namespace('replay').set('position', 1, { background: true });
    let markDone = false;
    void mark.then(() => (markDone = true));
    await decision;
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(log.stats().syncs).toBe(1);
    expect(markDone).toBe(false);
    await log.namespace('manager').set('books', 2);
    await mark;
    expect(log.stats().syncs).toBe(2);
    await log.close();
  });

  it('makes a change durable without waiting on any timer', async () => {
    const log = await StateLog.open({ dir: await tempDir(), fsync: 'always' });
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] });
    try {
      // With timers frozen, a write that waited for a batch window would never resolve.
      await log.namespace('a').set('decision', { at: 1 });
      expect(log.stats().syncs).toBe(1);
    } finally {
      vi.useRealTimers();
    }
    await log.close();
  });

  it('starts new generations as the log grows: the files stay small and a reopen sees the latest values', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always', compactAfterBytes: 4096 });
    const store = log.namespace('executor');
    for (let i = 0; i < 400; i++) {
      await store.setMany([
        ['book', { version: i, filler: 'y'.repeat(100) }],
        [`order:${i % 10}`, { i }],
      ]);
    }
    await log.flush();
    const stats = log.stats();
    expect(stats.generation).toBeGreaterThan(3);
    await log.close();
    const files = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
    expect(files.length).toBeLessThanOrEqual(2);
    const bytes = files.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
    // 400 changes of ~150 bytes were written; only the last generation's remain.
    expect(bytes).toBeLessThan(3 * 4096);

    const again = await StateLog.open({ dir, fsync: 'always', compactAfterBytes: 4096 });
    expect(await again.namespace('executor').get('book')).toEqual({ version: 399, filler: 'y'.repeat(100) });
    expect((await again.namespace('executor').keys()).length).toBe(11);
    await again.close();
  });

  it('recovers from a crash between starting a generation and writing its snapshot', async () => {
    const dir = await tempDir();
    const first = await StateLog.open({ dir, fsync: 'always' });
    await first.namespace('a').set('x', 1);
    await first.namespace('a').set('y', 1);
    await first.close();
    const generation0 = readFileSync(join(dir, 'log-0.jsonl'));
    const log = await StateLog.open({ dir, fsync: 'always' });
    await log.compact();
    await log.namespace('a').set('x', 2);
    await log.close();
    expect(existsSync(join(dir, 'log-0.jsonl'))).toBe(false);
    // As if the process had died before the snapshot of generation 1 was renamed into place, so
    // generation 0 was never deleted: its log holds x=1, y=1 and log-1 holds x=2.
    rmSync(join(dir, 'snapshot-1.jsonl'));
    writeFileSync(join(dir, 'log-0.jsonl'), generation0);
    const again = await StateLog.open({ dir, fsync: 'always' });
    expect(await again.namespace('a').get('x')).toBe(2);
    expect(await again.namespace('a').get('y')).toBe(1);
    await again.close();
  });

  it('cuts off a torn last write and keeps everything before it', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    await log.namespace('a').set('x', 1);
    await log.namespace('a').set('x', 2);
    await log.close();
    appendFileSync(join(dir, 'log-0.jsonl'), '{"seq":3,"ts":1,"tag":"a","data":[{"k":"x","v":3');
    const again = await StateLog.open({ dir, fsync: 'always' });
    expect(await again.namespace('a').get('x')).toBe(2);
    expect(readdirSync(dir).some((n) => n.endsWith('.quarantine'))).toBe(true);
    // Appends go on after the cut.
    await again.namespace('a').set('x', 4);
    await again.close();
    const third = await StateLog.open({ dir, fsync: 'always' });
    expect(await third.namespace('a').get('x')).toBe(4);
    await third.close();
  });

  it('refuses to start from a log damaged before its end, naming the file and offset', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    await log.namespace('a').set('x', 1);
    await log.namespace('a').set('x', 2);
    await log.close();
    const path = join(dir, 'log-0.jsonl');
    const bytes = readFileSync(path);
    bytes[20] = bytes[20] === 0x31 ? 0x32 : 0x31;
    writeFileSync(path, bytes);
    const opening = StateLog.open({ dir, fsync: 'always' });
    await expect(opening).rejects.toBeInstanceOf(DataCorruptedError);
    await expect(StateLog.open({ dir, fsync: 'always' })).rejects.toThrow(/log-0\.jsonl is corrupted \(checksum mismatch at byte offset 0\)/);
  });

  it('refuses state written by a newer format with a clear error', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'never' });
    await log.namespace('a').set('x', 1);
    await log.close();
    expect(JSON.parse(readFileSync(join(dir, 'format.json'), 'utf8'))).toEqual({ format: STATE_FORMAT });
    writeFileSync(join(dir, 'format.json'), JSON.stringify({ format: STATE_FORMAT + 1 }));
    const err = await StateLog.open({ dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as DataFormatError).code).toBe('DATA_FORMAT_UNSUPPORTED');
    expect((err as Error).message).toContain(`has format ${STATE_FORMAT + 1}, written by a newer version of Tradebus; this version reads format ${STATE_FORMAT}`);
  });

  it('migrates format-1 documents (one lowdb file per agent) into the log and leaves guards an older version refuses', async () => {
    const dir = await tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'trade-manager.json'), JSON.stringify({ version: 1, agent: 'trade-manager', values: { state: { version: 2, book: { trades: {} } }, markets: { 'BTC/USDT': { bars: [] } } } }, null, 2));
    // An agent id that is not a plain file name is encoded (see encodeFileKey).
    writeFileSync(join(dir, 'agent~2fb.json'), JSON.stringify({ version: 1, agent: 'agent/b', values: { n: 1 } }));
    const log = await StateLog.open({ dir, fsync: 'always' });
    expect(log.namespaces()).toEqual(['agent/b', 'trade-manager']);
    expect(await log.namespace('trade-manager').get('markets')).toEqual({ 'BTC/USDT': { bars: [] } });
    expect(await log.namespace('agent/b').get('n')).toBe(1);
    await log.close();
    // What an older version reads there now is not a version-1 document: it refuses to start.
    const guard = JSON.parse(readFileSync(join(dir, 'trade-manager.json'), 'utf8')) as { version: unknown; note: string };
    expect(guard.version).not.toBe(1);
    expect(guard.note).toContain('format-1/trade-manager.json');
    expect(JSON.parse(readFileSync(join(dir, 'format-1', 'trade-manager.json'), 'utf8')).values.state).toEqual({ version: 2, book: { trades: {} } });
    // Opening again neither migrates twice nor loses anything.
    const again = await StateLog.open({ dir, fsync: 'always' });
    expect(await again.namespace('agent/b').get('n')).toBe(1);
    expect(again.stats().appends).toBe(0);
    await again.close();
  });

  it('refuses a damaged format-1 document instead of starting that agent empty', async () => {
    const dir = await tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'executor.json'), '{"version":1,"agent":"executor","values":{"order:1":{');
    await expect(StateLog.open({ dir })).rejects.toThrow(/executor\.json is corrupted \(not valid JSON/);
    expect(existsSync(join(dir, 'format.json'))).toBe(false);
  });

  it('stops taking changes after a failed write, rejects every waiting one and says so once', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    await log.namespace('a').set('x', 1);
    await log.close();
    const failures: DataWriteError[] = [];
    const broken = await StateLog.open({ dir, fsync: 'always', onFailure: (e) => failures.push(e) });
    // The log's file becomes a device that is always full: the next write fails with ENOSPC.
    const internals = broken as unknown as { fd: number };
    closeSync(internals.fd);
    internals.fd = openSync('/dev/full', 'a');
    const writes = [broken.namespace('a').set('x', 2), broken.namespace('b').set('y', 1)];
    const results = await Promise.allSettled(writes);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DataWriteError);
    await expect(broken.namespace('a').set('x', 3)).rejects.toBeInstanceOf(DataWriteError);
    expect(failures).toHaveLength(1);
    expect(broken.stats().state).toBe('failed');
    await broken.close();
  });

  it('holds appends beyond its bound until the disk has taken the earlier ones, in order', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always', maxQueuedBytes: 2048 });
    const store = log.namespace('a');
    const done: number[] = [];
    let maxQueued = 0;
    const writes = Array.from({ length: 200 }, (_, i) => {
      const p = store.set(`k${i % 20}`, { i, pad: 'z'.repeat(100) }).then(() => done.push(i));
      maxQueued = Math.max(maxQueued, log.stats().queuedBytes);
      return p;
    });
    await Promise.all(writes);
    expect(maxQueued).toBeLessThan(2048 + 200);
    expect(done).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await log.close();
    const again = await StateLog.open({ dir });
    expect(await again.namespace('a').get('k19')).toEqual({ i: 199, pad: 'z'.repeat(100) });
    await again.close();
  });

  it('a truncated snapshot refuses the open instead of loading half the state', async () => {
    const dir = await tempDir();
    const log = await StateLog.open({ dir, fsync: 'always' });
    for (let i = 0; i < 20; i++) await log.namespace('a').set(`k${i}`, i);
    await log.compact();
    await log.close();
    const path = join(dir, 'snapshot-1.jsonl');
    truncateSync(path, statSync(path).size - 30);
    await expect(StateLog.open({ dir })).rejects.toBeInstanceOf(DataCorruptedError);
  });
});
