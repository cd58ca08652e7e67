import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoryRun } from './memory-child.js';
import type { BenchModule, BenchResult } from './types.js';

/** A paper system run for a million bus events: what it holds must not grow with what it has done. */

const here = dirname(fileURLToPath(import.meta.url));
const EVENTS = Number(process.env.MEMORY_EVENTS ?? 1_000_000);

function runChild(): Promise<MemoryRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, 'memory-child.js'), String(EVENTS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory run exited with ${code}`));
      try {
        resolvePromise(JSON.parse(out.trim().split('\n').at(-1)!) as MemoryRun);
      } catch (err) {
        reject(new Error(`memory run printed no result: ${out.slice(-500)}`, { cause: err }));
      }
    });
  });
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

const bench: BenchModule = {
  title: 'Memory of a running paper system',
  description:
    'A paper system on a synthetic market (8 symbols, 1-minute bars at full speed: price watchdog, strategy runner with an EMA 5/13 cross, trade manager, trade executor, account sync, paper venue, state and history on disk with the default policy) runs until its bus has carried 1,000,000 events. ' +
    'The history kept for idempotency and lookups (the executor’s finished orders, the paper venue’s finished orders and executions) is set to 2,000 each, so that the warm-up passes it. ' +
    'Resident memory and the live heap (after a full collection) are taken after a warm-up of 30 % of the events, when every cache and history window is at its working size, and at the end. The peer is the same process after the warm-up: the ratio is warm ÷ end, so 1 means flat.',
  target: 'RSS growth < 10 % after warm-up over 1M events; the executor’s and the manager’s durable state do not grow with history',
  async run(): Promise<BenchResult[]> {
    const r = await runChild();
    const state = (s: Record<string, number>): string => Object.entries(s).map(([ns, b]) => `${ns} ${kib(b)}`).join(', ');
    const notes = `${r.events.toLocaleString('en')} events, ${r.candles.toLocaleString('en')} candles, ${r.trades} trades in ${(r.wallMs / 1000).toFixed(0)} s; durable state after the warm-up: ${state(r.stateWarmBytes)}; at the end: ${state(r.stateEndBytes)}`;
    return [
      { name: 'resident memory (RSS) at the end', ours: r.rssEndMiB, peer: r.rssWarmMiB, peerName: 'RSS after the warm-up', unit: 'MiB', ratio: r.rssWarmMiB / r.rssEndMiB, notes },
      { name: 'live heap at the end', ours: r.heapEndMiB, peer: r.heapWarmMiB, peerName: 'live heap after the warm-up', unit: 'MiB', ratio: r.heapWarmMiB / r.heapEndMiB },
    ];
  },
};

export default bench;
