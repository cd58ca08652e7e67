import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.js';
import { validateConfig } from '../config/loader.js';
import { openDocument } from './durable-file.js';
import { DataArgumentError, DataCorruptedError, DataLockedError } from './errors.js';
import { openDataStore, type DataStore } from './data-store.js';
import { restoreBackup } from './backup.js';
import type { Envelope } from '../bus/envelope.js';

const dirs: string[] = [];
const stores: DataStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-store-'));
  dirs.push(dir);
  return dir;
}

async function track(store: Promise<DataStore>): Promise<DataStore> {
  const s = await store;
  stores.push(s);
  return s;
}

const envelope = (n: number, ts = 1_700_000_000_000 + n): Envelope => ({
  id: `e${n}`,
  type: 'system.alert',
  source: 'test',
  ts,
  seq: n,
  payload: { level: 'info', code: `C${n}`, message: 'm'.repeat(40), timestamp: ts },
});

describe('DataStore', () => {
  it('lets one process at a time use a data directory and takes over a lock left by a dead one', async () => {
    const dir = await tempDir();
    const store = await track(openDataStore({ dir }));
    const second = openDataStore({ dir });
    await expect(second).rejects.toBeInstanceOf(DataLockedError);
    await expect(second).rejects.toThrow(String(process.pid));
    await store.close();

    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: dead, host: hostname() }));
    const again = await track(openDataStore({ dir }));
    expect(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    await again.close();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });

  it('opens from the validated data section of a system config', async () => {
    const dir = await tempDir();
    const config = validateConfig({ data: { dir, fsync: 'always', journal: { exclude: ['price.*'] } } }, { env: {} });
    const store = await track(openDataStore(config.data));
    expect(store.dir).toBe(dir);
    expect(store.journalRecordingEnabled).toBe(true);
    await store.journal.append(envelope(1));
    expect((await store.journal.query())[0]?.envelope.id).toBe('e1');
  });

  it('validates its options and names the bad key', async () => {
    const dir = await tempDir();
    await expect(openDataStore({ dir, fsync: 'sometimes' as 'always' })).rejects.toThrow(/data\.fsync/);
    await expect(openDataStore({ dir, fsyncIntervalMs: 0 })).rejects.toBeInstanceOf(DataArgumentError);
  });

  it('refuses to start from a damaged document instead of silently starting empty', async () => {
    const dir = await tempDir();
    const store = await openDataStore({ dir });
    await store.positions.upsert({ symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1, unrealizedPnl: 0, realizedPnl: 0, timestamp: 1 });
    await store.close();
    writeFileSync(join(dir, 'positions.json'), '{"version":1,"positions":{"BTC/USDT":');
    await expect(openDataStore({ dir })).rejects.toBeInstanceOf(DataCorruptedError);
    await expect(openDataStore({ dir })).rejects.toThrow(/positions\.json/);
    // The failed open released the lock and left the file as it was, for a restore.
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(readFileSync(join(dir, 'positions.json'), 'utf8')).toContain('BTC/USDT');
  });

  it('writes documents atomically, coalescing a burst of writes into few, leaving no temp file', async () => {
    const dir = await tempDir();
    const { db, file } = await openDocument<{ n: number }>(join(dir, 'doc.json'), { n: 0 }, { fsync: 'always' });
    const writes: Promise<void>[] = [];
    for (let n = 1; n <= 50; n++) {
      db.data.n = n;
      writes.push(db.write());
    }
    await Promise.all(writes);
    await file.idle();
    expect(JSON.parse(readFileSync(join(dir, 'doc.json'), 'utf8'))).toEqual({ n: 50 });
    expect(readdirSync(dir)).toEqual(['doc.json']);
  });

  it('applies journal retention by total size and by age to sealed segments only', async () => {
    const dir = await tempDir();
    const clock = new VirtualClock(1_700_000_000_000);
    const store = await track(openDataStore({ dir, clock, fsync: 'never', journal: { maxSegmentBytes: 2000, maxTotalBytes: 6000, maxAgeDays: 1 } }));
    for (let n = 1; n <= 200; n++) await store.journal.append(envelope(n));
    await store.applyRetention();
    const files = () => readdirSync(join(dir, 'journal')).filter((n) => n.endsWith('.jsonl'));
    const bytes = files().reduce((sum, n) => sum + statSync(join(dir, 'journal', n)).size, 0);
    expect(bytes).toBeLessThanOrEqual(6000);
    expect(files().length).toBeGreaterThan(1);
    const newest = (await store.journal.query({ limit: 1 }))[0]!;
    expect(newest.envelope.id).toBe('e200');

    clock.advanceBy(2 * 86_400_000);
    await store.applyRetention();
    expect(files()).toHaveLength(1); // only the active segment survives an age cut-off
    expect((await store.journal.query({ limit: 1 }))[0]!.envelope.id).toBe('e200');
  });

  it('backs up while writers keep writing, and restores a store with everything acknowledged before the backup', async () => {
    const dir = await tempDir();
    const target = join(await tempDir(), 'backup');
    const store = await track(openDataStore({ dir, fsync: 'batch', fsyncIntervalMs: 2, maxSegmentBytes: 4096, journal: { maxSegmentBytes: 4096 } }));
    await store.positions.upsert({ symbol: 'ETH/USDT', side: 'short', quantity: 2, entryPrice: 3000, unrealizedPnl: 0, realizedPnl: 0, timestamp: 1 });
    await store.stateStore('trade-manager').set('risk', { peakEquity: 1234 });
    await store.orders.upsert({
      clientOrderId: 'o1',
      symbol: 'ETH/USDT',
      side: 'sell',
      type: 'limit',
      status: 'accepted',
      quantity: 2,
      filledQuantity: 0,
      fills: [],
      fee: 0,
      timestamp: 1,
    });
    await store.candles.append({ symbol: 'ETH/USDT', timeframe: '1m', timestamp: 60_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3 });

    const acked: number[] = [];
    let n = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const batch = Array.from({ length: 20 }, () => ++n);
        await Promise.all(batch.map((k) => store.journal.append(envelope(k)).then(() => acked.push(k))));
      }
    })();
    while (acked.length < 300) await new Promise((r) => setTimeout(r, 1));
    const ackedBeforeBackup = new Set(acked);
    const manifest = await store.backup(target);
    writing = false;
    await writer;
    expect(manifest.files.some((f) => f.path.startsWith('journal/'))).toBe(true);
    expect(existsSync(`${target}.partial`)).toBe(false);

    const restoredDir = join(await tempDir(), 'restored');
    await restoreBackup(target, restoredDir);
    const restored = await track(openDataStore({ dir: restoredDir }));
    expect(await restored.verify()).toEqual({ ok: true, problems: [] });
    const ids = new Set((await restored.journal.query({ limit: Infinity })).map((e) => e.envelope.id));
    for (const k of ackedBeforeBackup) expect(ids.has(`e${k}`)).toBe(true);
    expect((await restored.positions.get('ETH/USDT'))?.quantity).toBe(2);
    expect(await restored.stateStore('trade-manager').get('risk')).toEqual({ peakEquity: 1234 });
    expect((await restored.orders.listOpen()).map((o) => o.clientOrderId)).toEqual(['o1']);
    expect((await restored.candles.latest('ETH/USDT', '1m'))?.close).toBe(1.5);
    await restored.close();

    // Restoring over a directory in use is refused; over an unused one only with overwrite.
    await expect(restoreBackup(target, dir, { overwrite: true })).rejects.toBeInstanceOf(DataLockedError);
    await expect(restoreBackup(target, restoredDir)).rejects.toThrow(/overwrite/);
    await restoreBackup(target, restoredDir, { overwrite: true });
    expect(readdirSync(join(restoredDir, '..')).some((name) => name.startsWith('restored.before-restore-'))).toBe(true);

    // A damaged backup is refused before anything is touched.
    const segment = manifest.files.find((f) => f.path.startsWith('journal/'))!;
    writeFileSync(join(target, segment.path), 'x');
    await expect(restoreBackup(target, join(await tempDir(), 'other'))).rejects.toBeInstanceOf(DataCorruptedError);
    await expect(store.backup(join(dir, 'inside'))).rejects.toBeInstanceOf(DataArgumentError);
  });
});
