import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, renameSync, rmSync, writeSync, fsyncSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BurstRun } from './burst-child.js';
import type { LatencyRun, Percentiles } from './latency-child.js';
import { percentiles } from './latency-child.js';
import type { BenchModule, BenchResult } from './types.js';

/**
 * How long a decision takes, from the candle that causes it to the order at the venue, in the
 * paper main job with its state durable, next to the disk's own floor measured in the same run.
 */

const here = dirname(fileURLToPath(import.meta.url));
const POLICIES = ['batch', 'always', 'never'] as const;
const FLOOR_ROUNDS = 2_000;
const BURST_SYMBOLS = 500;
/** Replays of the main job's data per policy, after one that warms the JIT up. */
const REPLAYS = 3;

function runChild<T>(script: string, ...args: string[]): Promise<T> {
  const arg = args.join(' ');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${script} ${arg} exited with ${code}`));
      try {
        resolvePromise(JSON.parse(out.trim().split('\n').at(-1)!) as T);
      } catch (err) {
        reject(new Error(`${script} ${arg} printed no result: ${out.slice(-500)}`, { cause: err }));
      }
    });
  });
}

/**
 * The disk's floor, where the data directory lives: a 700-byte append followed by fdatasync (what
 * one group commit of the state log costs at least), and an atomic replace of a small file (temp
 * file + fdatasync + rename + directory fsync, what a whole-document write costs).
 */
function diskFloor(): { append: Percentiles; replace: Percentiles; burstMs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-floor-'));
  try {
    const line = Buffer.alloc(700, 0x61);
    const fd = openSync(join(dir, 'log'), 'a');
    const append: number[] = [];
    for (let i = 0; i < FLOOR_ROUNDS; i++) {
      const t0 = performance.now();
      writeSync(fd, line);
      fdatasyncSync(fd);
      append.push(performance.now() - t0);
    }
    // What a burst costs with one durable write per decision, back to back.
    const burstStart = performance.now();
    for (let i = 0; i < BURST_SYMBOLS; i++) {
      writeSync(fd, line);
      fdatasyncSync(fd);
    }
    const burstMs = performance.now() - burstStart;
    closeSync(fd);
    const replace: number[] = [];
    for (let i = 0; i < FLOOR_ROUNDS / 4; i++) {
      const t0 = performance.now();
      const temp = join(dir, '.doc.tmp');
      const tf = openSync(temp, 'w');
      writeSync(tf, line);
      fdatasyncSync(tf);
      closeSync(tf);
      renameSync(temp, join(dir, 'doc.json'));
      const d = openSync(dir, 'r');
      fsyncSync(d);
      closeSync(d);
      replace.push(performance.now() - t0);
    }
    return { append: percentiles(append), replace: percentiles(replace), burstMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (x: number): string => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
let table = '';

const bench: BenchModule = {
  title: 'Decision latency (paper main job, one process)',
  description:
    'The paper main job (`examples/paper-replay`: replay → price watchdog → strategy runner → trade manager → trade executor → paper venue, one process, in-process bus, data on disk) plays its 16,680 real candles at full speed, ' +
    `${REPLAYS} times per \`data.fsync\` policy on a fresh data directory each (after one replay that warms the JIT up), each policy in a process of its own. ` +
    'Times are taken with hrtime as each envelope enters the transport’s publish (before any subscriber runs) and as the venue is called, and matched candle → signal (its cause) → order.requested (its signal) → venue call and first order.updated (its client order id). ' +
    'On the way to the venue three things are made durable, each with one group-committed append to the state log: the manager’s books, the executor’s intent, the paper venue’s books. ' +
    'The peer is the disk itself, measured in the same run where the data lives: one 700-byte append + fdatasync (the least one durable step costs). Ratios are floor ÷ ours. ' +
    'The burst publishes 500 symbols’ signals in one turn (the bars of 500 symbols closing in the same second) to a trade manager, a trade executor and a paper venue with durable state.',
  target:
    'candle→order.requested p99 ≤ 1 ms with durable state (default policy), ≤ 200 µs with fsync off; candle→venue call p99 ≤ 1.5 ms; a burst of 500 symbols’ signals decided within 100 ms',
  async run(): Promise<BenchResult[]> {
    const floor = diskFloor();
    const runs: LatencyRun[] = [];
    for (const policy of POLICIES) runs.push(await runChild<LatencyRun>('latency-child.js', policy, String(REPLAYS)));
    const burst = await runChild<BurstRun>('burst-child.js', String(BURST_SYMBOLS));
    const floorName = 'disk: 700 B append + fdatasync';
    const results: BenchResult[] = [];
    for (const r of runs) {
      const label = r.fsync === 'batch' ? 'fsync batch (default)' : `fsync ${r.fsync}`;
      const rows: Array<[string, Percentiles]> = [
        ['candle→order.requested', r.candleToRequest],
        ['candle→venue call', r.candleToVenue],
      ];
      for (const [path, p] of rows) {
        results.push({
          name: `${path} p99, ${label}`,
          ours: p.p99 * 1_000,
          peer: floor.append.p99 * 1_000,
          peerName: `${floorName}, p99`,
          unit: 'µs',
          ratio: floor.append.p99 / p.p99,
          notes: `p50 ${ms(p.p50)} ms over ${p.count} orders; the replay played ${Math.round(r.candlesPerSecond)} candles/s; ${r.stateAppends} state appends in ${r.stateSyncs} syncs`,
        });
      }
    }
    results.push({
      name: `${BURST_SYMBOLS} symbols' signals at once: last decision`,
      ours: burst.lastDecisionMs,
      peer: floor.burstMs,
      peerName: `${BURST_SYMBOLS} × (700 B append + fdatasync), back to back`,
      unit: 'ms',
      ratio: floor.burstMs / burst.lastDecisionMs,
      notes:
        `trade manager → executor → paper venue, state durable (default policy): last order.requested ${ms(burst.lastRequestMs)} ms, last venue call ${ms(burst.lastVenueCallMs)} ms; ` +
        `${burst.decisions} decisions, ${burst.venueCalls} venue calls, ${burst.stateAppends} state appends in ${burst.stateSyncs} syncs`,
    });
    const lines = [
      '| `data.fsync` | candle→signal p50 / p99 | candle→`order.requested` p50 / p99 | candle→venue call p50 / p99 | candle→first `order.updated` p50 / p99 | replay | state appends / syncs |',
      '|---|---|---|---|---|---:|---:|',
    ];
    for (const r of runs) {
      const pp = (p: Percentiles): string => `${ms(p.p50)} ms / ${ms(p.p99)} ms`;
      lines.push(
        `| ${r.fsync}${r.fsync === 'batch' ? ' (default)' : ''} | ${pp(r.candleToSignal)} | ${pp(r.candleToRequest)} | ${pp(r.candleToVenue)} | ${pp(r.candleToUpdate)} | ${Math.round(r.candlesPerSecond).toLocaleString('en')} candles/s | ${r.stateAppends.toLocaleString('en')} / ${r.stateSyncs.toLocaleString('en')} |`,
      );
    }
    lines.push(
      '',
      `The disk in the same run: 700 B append + fdatasync p50 ${ms(floor.append.p50)} ms, p99 ${ms(floor.append.p99)} ms; atomic replace of a small file (temp + fdatasync + rename + directory fsync) p50 ${ms(floor.replace.p50)} ms, p99 ${ms(floor.replace.p99)} ms. ` +
        `Orders counted: ${runs[0]!.candleToRequest.count} per run (those a signal caused; stop and target exits are left out).`,
    );
    table = lines.join('\n');
    process.stdout.write(`${table}\n`);
    return results;
  },
  markdown: () => table,
};

export default bench;
