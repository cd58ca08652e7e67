import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VenueServer } from './support/venue-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixture = join(here, 'fixtures', 'trading-system.mjs');
const FIRST_BAR = 1515560100000;
const BAR = 300_000;
const WARMUP = 300;
const LAST_BAR = FIRST_BAR + (WARMUP + 600) * BAR;

interface Restored {
  positions: Array<{ symbol: string; quantity: number; status: string }>;
  orders: Array<{ clientOrderId: string; status: string }>;
  playedUntil: number;
}

interface RunResult {
  signal: NodeJS.Signals | null;
  code: number | null;
  bars: number;
  done: boolean;
  stderr: string;
}

/**
 * Runs the trading system in a child process. `onBar` may return 'kill' to SIGKILL it right away;
 * `onRestored` sees the books after a restart while the child waits, before it goes on.
 */
function runSystem(
  dir: string,
  url: string,
  hooks: { onStart?: (kill: () => void) => void; onBar?: (bars: number) => Promise<'kill' | undefined>; onRestored?: (r: Restored) => Promise<void> },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, dir, url, String(FIRST_BAR), String(WARMUP), String(LAST_BAR)], { stdio: ['pipe', 'pipe', 'pipe'] });
    hooks.onStart?.(() => child.kill('SIGKILL'));
    let buffered = '';
    let stderr = '';
    let bars = 0;
    let done = false;
    let chain = Promise.resolve();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        chain = chain.then(async () => {
          if (line.startsWith('bar ')) {
            bars++;
            if ((await hooks.onBar?.(bars)) === 'kill') child.kill('SIGKILL');
          } else if (line.startsWith('restored ')) {
            await hooks.onRestored?.(JSON.parse(line.slice('restored '.length)) as Restored);
            child.stdin.write('go\n');
          } else if (line === 'done') {
            done = true;
          }
        });
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => void chain.then(() => resolve({ signal, code, bars, done, stderr })));
  });
}

const PACKAGES = ['trade-manager', 'trade-executor', 'account-sync', 'price-watchdog', 'strategy-runner'].map((p) => `packages/agents/${p}`);

describe('trading system killed mid-replay and started again', () => {
  let venue: VenueServer;
  let dir: string;

  beforeAll(async () => {
    // The child runs the built packages, as a deployment would: build what is out of date.
    const build = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...PACKAGES], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}\n${build.stderr}`);
    venue = new VenueServer({ balances: { BTC: 1 }, quoteCurrency: 'BTC' });
    await venue.start();
    dir = await mkdtemp(join(tmpdir(), 'tradebus-restart-'));
  }, 120_000);

  afterAll(async () => {
    await venue?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('restores open positions and orders, places nothing twice, and goes on trading', async () => {
    const p = venue.paper;
    // First run: once 100 bars are through and the venue holds a position with its protective
    // orders, the system is killed the moment it sends the next entry order, before the venue
    // answers: the venue takes the order, the system never hears of it. (An exit could close the
    // only position, leaving nothing for the restart to restore.)
    let armed = false;
    let killedOn: { clientOrderId: string; symbol: string } | undefined;
    const first = await runSystem(dir, venue.url, {
      onStart: (kill) => {
        venue.beforeCreate = (request) => {
          if (!armed || killedOn !== undefined || !request.clientOrderId.endsWith('-e0')) return;
          killedOn = request;
          kill();
        };
      },
      onBar: async (bars) => {
        if (bars >= 100 && !armed) {
          const [positions, open] = await Promise.all([p.fetchPositions(), p.fetchOpenOrders()]);
          armed = positions.length > 0 && open.length > 0;
        }
        return undefined;
      },
    });
    venue.beforeCreate = undefined;
    expect(first.signal, first.stderr).toBe('SIGKILL');
    expect(killedOn).toBeDefined();
    expect(first.done).toBe(false);
    const placedBefore = new Set(venue.createCalls.keys());
    expect(placedBefore.size).toBeGreaterThan(0);

    let restored: Restored | undefined;
    let venueAtRestore: { positions: Awaited<ReturnType<typeof p.fetchPositions>>; open: Awaited<ReturnType<typeof p.fetchOpenOrders>> } | undefined;
    const second = await runSystem(dir, venue.url, {
      onRestored: async (r) => {
        restored = r;
        venueAtRestore = { positions: await p.fetchPositions(), open: await p.fetchOpenOrders() };
      },
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.done).toBe(true);

    // The books after the restart are the venue's: the same positions, the same working orders.
    expect(restored).toBeDefined();
    expect(venueAtRestore!.positions.length).toBeGreaterThan(0);
    for (const position of venueAtRestore!.positions) {
      const held = restored!.positions.filter((t) => t.symbol === position.symbol).reduce((s, t) => s + t.quantity, 0);
      expect(held).toBeCloseTo(position.quantity, 12);
    }
    expect(restored!.positions.every((t) => venueAtRestore!.positions.some((v) => v.symbol === t.symbol))).toBe(true);
    expect(restored!.orders.map((o) => o.clientOrderId).sort()).toEqual(venueAtRestore!.open.map((o) => o.clientOrderId).sort());

    // Nothing was placed twice, across the kill and within each run: the order whose answer was
    // lost was found at the venue, not sent again.
    expect([...venue.createCalls.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(await p.fetchOrder(killedOn!.clientOrderId, killedOn!.symbol)).toBeDefined();
    expect(venue.createCalls.get(killedOn!.clientOrderId)).toBe(1);
    const trades = (await Promise.all(['ETH/BTC', 'LTC/BTC'].map((s) => p.fetchMyTrades(s)))).flat();
    const entries = new Set(trades.map((t) => t.clientOrderId!).filter((id) => id.endsWith('-e0')));
    const tradeIds = [...entries].map((id) => id.slice(0, -3));
    expect(new Set(tradeIds).size).toBe(tradeIds.length);

    // And it went on trading after the restart.
    const placedAfter = [...venue.createCalls.keys()].filter((id) => !placedBefore.has(id));
    expect(placedAfter.length).toBeGreaterThan(0);
    expect(trades.some((t) => t.timestamp > restored!.playedUntil)).toBe(true);
    expect(second.bars).toBeGreaterThan(100);
  }, 240_000);
});
