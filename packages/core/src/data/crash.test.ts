import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { openDataStore } from './data-store.js';
import type { FsyncPolicy } from './fs-utils.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'crash-writer.fixture.mjs');
const built = join(here, '..', '..', 'dist', 'data', 'index.js');
const ROUNDS = 20;

interface Acks {
  opened: Set<string>;
  filled: Set<string>;
  trades: Set<string>;
  events: Set<string>;
  maxState: number;
}

/** Runs the writer until SIGKILL after `killAfterMs` (counted from its first line); collects complete ack lines. */
function runWriter(dir: string, fsync: FsyncPolicy, round: number, killAfterMs: number, acks: Acks): Promise<{ signal: NodeJS.Signals | null; lines: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, dir, fsync, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let lines = 0;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      // The last part has no newline yet: not a complete acknowledgement.
      buffered = parts.pop()!;
      for (const line of parts) {
        lines++;
        if (line === 'ready') {
          timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
          continue;
        }
        const [kind, id] = line.split(' ') as [string, string];
        if (kind === 'O') acks.opened.add(id);
        else if (kind === 'F') acks.filled.add(id);
        else if (kind === 'T') acks.trades.add(id);
        else if (kind === 'E') acks.events.add(id);
        else if (kind === 'S') acks.maxState = Math.max(acks.maxState, Number(id));
      }
    });
    child.on('error', reject);
    // 'close' fires after the pipes are drained: every line the child wrote has been read.
    child.on('close', (_code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ signal, lines, stderr });
    });
  });
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('crash safety with a real process killed by SIGKILL', () => {
  it(`keeps every acknowledged write and no corrupt file over ${ROUNDS} kills`, { timeout: 90_000 }, async () => {
    expect(existsSync(built), `${built} is missing: build first (npx tsc -b)`).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'tradebus-crash-'));
    dirs.push(dir);
    const acks: Acks = { opened: new Set(), filled: new Set(), trades: new Set(), events: new Set(), maxState: 0 };
    const policies: FsyncPolicy[] = ['batch', 'always', 'never'];
    const logLines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (s: string) => void logLines.push(s) } });
    let quarantined = 0;
    let generations = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const fsync = policies[round % policies.length]!;
      // Spread the kill moments over the writer's run: early (first writes), mid-burst, later.
      const killAfterMs = 5 + Math.floor(Math.random() * 200);
      const run = await runWriter(dir, fsync, round, killAfterMs, acks);
      expect(run.signal, `round ${round}: the writer exited on its own: ${run.stderr}`).toBe('SIGKILL');

      // Restart on the same directory (the killed writer's lock is stale) and check everything.
      const before = logLines.length;
      const store = await openDataStore({ dir, logger });
      try {
        quarantined += logLines.slice(before).filter((l) => l.includes('quarantined')).length;
        const report = await store.verify();
        expect(report, `round ${round} (${fsync}, killed after ${killAfterMs} ms)`).toEqual({ ok: true, problems: [] });

        const orders = new Map((await store.orders.query({ limit: Infinity })).map((o) => [o.clientOrderId, o]));
        for (const id of acks.opened) expect(orders.has(id), `order ${id} acknowledged but missing`).toBe(true);
        for (const id of acks.filled) expect(orders.get(id)?.status, `fill of ${id} acknowledged but missing`).toBe('filled');
        const open = new Set((await store.orders.listOpen()).map((o) => o.clientOrderId));
        for (const [id, o] of orders) expect(open.has(id), `open-order set disagrees on ${id}`).toBe(o.status === 'accepted');

        const trades = new Set((await store.trades.query({ limit: Infinity })).map((t) => t.tradeId));
        for (const id of acks.trades) expect(trades.has(id), `trade ${id} acknowledged but missing`).toBe(true);

        const events = await store.journal.query({ limit: Infinity });
        const eventIds = new Set(events.map((e) => e.envelope.id));
        for (const id of acks.events) expect(eventIds.has(id), `event ${id} acknowledged but missing`).toBe(true);
        expect(events.every((e) => (e.envelope.payload as { apiKey?: string }).apiKey === '[REDACTED]')).toBe(true);

        const risk = await store.stateStore('crash-writer').get<{ peakEquity: number }>('risk');
        const mirror = await store.stateStore('crash-writer').get<{ peakEquity: number }>('mirror');
        if (acks.maxState > 0) expect(risk?.peakEquity ?? 0).toBeGreaterThanOrEqual(acks.maxState);
        expect(mirror?.peakEquity, `round ${round}: keys written in one change disagree after the crash`).toBe(risk?.peakEquity);
        generations = Math.max(generations, store.stats().state.generation);
      } finally {
        await store.close();
      }
    }

    expect(acks.events.size + acks.trades.size + acks.opened.size).toBeGreaterThan(ROUNDS * 10);
    // The kills landed across new generations of the state log, not only in plain appends.
    expect(generations).toBeGreaterThan(2);
    // Quarantine files hold only torn, never acknowledged, tails; they stay for inspection.
    const quarantineFiles = ['journal', 'orders', 'trades'].flatMap((d) => readdirSync(join(dir, d)).filter((n) => n.endsWith('.quarantine')));
    expect(quarantineFiles.length).toBe(quarantined);
  });
});
