import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The paper main job killed with SIGKILL as an operator's machine would die: at random moments
// and at the instructions around an order's trip to the venue, then started again on the same
// data directory. After every restart the books must agree and nothing may be placed twice.
const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'crash-run.mjs');
const built = resolve(here, '..', '..', 'packages', 'agents', 'main', 'dist', 'index.js');
const RANDOM_KILLS = 20;
/** Kills right after an order is requested, and on both sides of the venue call. */
const ORDER_KILLS = ['requested', 'before-venue', 'after-venue'] as const;
const PER_ORDER_KIND = 7;

interface Check {
  label: 'restart' | 'end';
  venueFills: number;
  logFills: number;
  missingInLog: string[];
  notAtVenue: string[];
  overfilled: string[];
  venuePositions: Record<string, number>;
  managerPositions: Record<string, number>;
  positionMismatch: string[];
  trades: number;
  closedBeforeOpened: string[];
  orders: number;
  open: number;
  unaccounted: unknown[];
  stillRequested: string[];
  resumedAt: number | null;
}

interface Run {
  mode: string;
  killed: boolean;
  finished: boolean;
  checks: Check[];
  venueCalls: number;
  duplicates: string[];
  stderr: string;
}

function run(dir: string, mode: string, killAfterMs?: number): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [fixture, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result: Run = { mode, killed: false, finished: false, checks: [], venueCalls: 0, duplicates: [], stderr: '' };
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (result.stderr += s));
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('check ')) result.checks.push(JSON.parse(line.slice(6)) as Check);
        else if (line.startsWith('venue-call ')) result.venueCalls++;
        else if (line.startsWith('duplicate ')) result.duplicates.push(line.slice(10));
        else if (line === 'done') result.finished = true;
        else if (line === 'playing' && killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      result.killed = signal === 'SIGKILL';
      resolvePromise(result);
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function expectConsistent(check: Check, where: string): void {
  expect(check.missingInLog, `${where}: venue fills missing from the order history`).toEqual([]);
  expect(check.notAtVenue, `${where}: fills in the order history the venue never made`).toEqual([]);
  expect(check.venueFills, where).toBe(check.logFills);
  expect(check.overfilled, `${where}: orders filled beyond their quantity`).toEqual([]);
  expect(check.positionMismatch, `${where}: venue ${JSON.stringify(check.venuePositions)} vs manager ${JSON.stringify(check.managerPositions)}`).toEqual([]);
  expect(check.closedBeforeOpened, `${where}: trades closed before they opened`).toEqual([]);
  expect(check.unaccounted, `${where}: unfinished orders nobody moves on`).toEqual([]);
}

describe('the paper main job killed with SIGKILL and started again', () => {
  it(
    `loses no order and places none twice over ${RANDOM_KILLS} random kills and ${ORDER_KILLS.length * PER_ORDER_KIND} kills at an order's venue call`,
    { timeout: 600_000 },
    async () => {
      expect(existsSync(built), `${built} is missing: build first (npx tsc -b)`).toBe(true);
      const plan: Array<{ mode: string; killAfterMs?: number }> = [];
      for (let i = 0; i < RANDOM_KILLS; i++) plan.push({ mode: 'random', killAfterMs: 20 + Math.floor(Math.random() * 400) });
      for (let i = 0; i < PER_ORDER_KIND; i++) for (const kind of ORDER_KILLS) plan.push({ mode: `${kind}:${1 + Math.floor(Math.random() * 3)}` });
      // Kinds interleaved, so every kind of kill meets every kind of state a previous kill left.
      plan.sort(() => Math.random() - 0.5);

      const newEpoch = (): string => {
        const dir = mkdtempSync(join(tmpdir(), 'tradebus-crash-job-'));
        dirs.push(dir);
        return dir;
      };
      let dir = newEpoch();
      const tally = { randomKills: 0, orderKills: 0, restarts: 0, epochs: 1, venueCalls: 0, duplicates: 0, orders: 0, fills: 0, trades: 0 };
      const finishEpoch = (end: Check): void => {
        tally.orders += end.orders;
        tally.fills += end.venueFills;
        tally.trades += end.trades;
      };
      const MAX_RETRIES = 10;
      let retries = 0;
      for (let i = 0; i < plan.length; i++) {
        const step = plan[i]!;
        const r = await run(dir, step.mode, step.killAfterMs);
        const where = `run ${i} (${step.mode}${step.killAfterMs === undefined ? '' : ` after ${step.killAfterMs} ms`})`;
        expect(r.checks.length, `${where} printed no check: ${r.stderr.slice(-2_000)}`).toBeGreaterThan(0);
        for (const check of r.checks) expectConsistent(check, `${where}, ${check.label}`);
        expect(r.duplicates, `${where}: client order ids sent to the venue again`).toEqual([]);
        tally.venueCalls += r.venueCalls;
        tally.duplicates += r.duplicates.length;
        if (i > 0) tally.restarts++;
        if (r.killed) {
          if (step.mode === 'random') tally.randomKills++;
          else tally.orderKills++;
        } else if (step.mode !== 'random' && r.finished && retries < MAX_RETRIES) {
          // The data ended before the order the kill waited for: that kill is tried again on the
          // fresh epoch below, so every planned kill at a venue call happens.
          plan.push(step);
          retries++;
        }
        if (r.finished) {
          // The replay played to the end of its data before the kill came: every order settled.
          const end = r.checks.find((c) => c.label === 'end')!;
          expect(end.stillRequested, `${where}: orders still waiting for the venue at the end`).toEqual([]);
          finishEpoch(end);
          dir = newEpoch();
          tally.epochs++;
        }
      }
      // The last epoch plays to its end without a kill, and its books are checked once more.
      const last = await run(dir, 'end');
      expect(last.finished, last.stderr.slice(-2_000)).toBe(true);
      for (const check of last.checks) expectConsistent(check, `final run, ${check.label}`);
      const end = last.checks.find((c) => c.label === 'end')!;
      expect(end.stillRequested).toEqual([]);
      expect(end.open).toBe(0);
      finishEpoch(end);
      tally.venueCalls += last.venueCalls;

      process.stdout.write(`crash scenario: ${JSON.stringify(tally)}\n`);
      expect(tally.randomKills).toBeGreaterThanOrEqual(RANDOM_KILLS - 2);
      expect(tally.orderKills).toBe(ORDER_KILLS.length * PER_ORDER_KIND);
      expect(tally.duplicates).toBe(0);
      expect(tally.trades).toBeGreaterThan(0);
    },
  );
});
