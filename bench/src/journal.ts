import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { openDataStore, type BuiltinEvents, type Envelope } from '@tradebus/core';
import { percentile, type BenchModule, type BenchResult } from './types.js';

/**
 * Journal append throughput and latency at 10k, 100k and 1M events with the default batched
 * fsync (50 ms), against a plain lowdb collection (push + write) measured in the same run.
 *
 * - throughput: events appended per second, counted until the last one is acknowledged (synced);
 * - call p99: how long `append()` blocks the caller (the event loop) — what a publisher feels;
 * - ack p99: from `append()` to its promise resolving (the event is durable), at a steady rate
 *   the disk keeps up with; under a flood it is queueing time and is only given in the notes.
 *
 * lowdb rewrites its whole file on every write, so each append costs in proportion to the
 * collection: it is measured on a collection pre-filled to 10k records (100 appends) and to 100k
 * records (10 appends), and its 100k figures stand in for 1M, where a single lowdb append would
 * take over a second.
 */

const SIZES = [10_000, 100_000, 1_000_000];
const YIELD_EVERY = 1000;
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

function orderEnvelope(i: number): Envelope<'order.updated', BuiltinEvents['order.updated']> {
  const ts = 1_700_000_000_000 + i;
  return {
    id: `0${ts.toString(32)}${i.toString(32).padStart(7, '0')}bench0`,
    type: 'order.updated',
    source: 'trade-executor',
    ts,
    seq: i + 1,
    correlationId: `sig-${i >> 3}`,
    causationId: `req-${i}`,
    payload: {
      clientOrderId: `tb-${i.toString(36)}-entry`,
      venueOrderId: String(8_000_000_000 + i),
      symbol: i % 3 === 0 ? 'BTC/USDT' : i % 3 === 1 ? 'ETH/USDT' : 'SOL/USDT',
      side: i % 2 === 0 ? 'buy' : 'sell',
      type: 'limit',
      status: 'partially_filled',
      quantity: 0.5,
      filledQuantity: 0.25,
      averagePrice: 42_000.5,
      price: 42_000.5,
      purpose: 'entry',
      fills: [{ tradeId: `t${i}`, price: 42_000.5, quantity: 0.25, fee: 0.0105, feeCurrency: 'USDT', liquidity: 'maker', timestamp: ts }],
      fee: 0.0105,
      timestamp: ts,
    },
  };
}

interface Measured {
  rate: number;
  callP99Us: number;
  ackP99Us: number;
  /** call p99 over the first and the last tenth of the run: flat means the journal size does not matter. */
  callP99FirstTenthUs: number;
  callP99LastTenthUs: number;
  bytesPerEvent: number;
}

async function measureJournal(events: number): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-bench-journal-'));
  try {
    const store = await openDataStore({ dir, fsync: 'batch', fsyncIntervalMs: 50 });
    const calls = new Float64Array(events);
    const ackSamples: number[] = [];
    let last: Promise<number> | undefined;
    const start = process.hrtime.bigint();
    for (let i = 0; i < events; i++) {
      const envelope = orderEnvelope(i);
      const t0 = process.hrtime.bigint();
      const pending = store.journal.append(envelope);
      const t1 = process.hrtime.bigint();
      calls[i] = Number(t1 - t0) / 1000;
      if (i % 100 === 0) void pending.then(() => ackSamples.push(Number(process.hrtime.bigint() - t0) / 1000));
      last = pending;
      if (i % YIELD_EVERY === YIELD_EVERY - 1) {
        // A producer hands control back to the event loop (as the bus does between network
        // reads), and waits when the disk cannot keep up rather than queueing without bound.
        await new Promise((r) => setImmediate(r));
        if (store.journal.stats().queuedBytes > MAX_QUEUED_BYTES) await store.journal.segmentLog.drained();
      }
    }
    await last;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const stats = store.journal.stats();
    await store.close();
    if (stats.records !== events) throw new Error(`journal holds ${stats.records} records, expected ${events}`);
    const tenth = Math.floor(events / 10);
    const p99 = (a: Float64Array): number => percentile(Float64Array.from(a).sort(), 99);
    return {
      rate: events / seconds,
      callP99Us: p99(calls),
      ackP99Us: percentile(ackSamples.sort((a, b) => a - b), 99),
      callP99FirstTenthUs: p99(calls.subarray(0, tenth)),
      callP99LastTenthUs: p99(calls.subarray(events - tenth)),
      bytesPerEvent: stats.bytes / events,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Acknowledgement latency at a steady rate the disk keeps up with (a busy bot, not a flood):
 * `rate` events per second in 10 ms ticks, for `seconds`.
 */
async function measureSteadyAck(fsync: 'batch' | 'always', rate: number, seconds: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-bench-ack-'));
  try {
    const store = await openDataStore({ dir, fsync, fsyncIntervalMs: 50 });
    const acks: number[] = [];
    const pending: Promise<unknown>[] = [];
    const perTick = Math.max(1, Math.round(rate / 100));
    let i = 0;
    for (let tick = 0; tick < seconds * 100; tick++) {
      for (let k = 0; k < perTick; k++) {
        const t0 = process.hrtime.bigint();
        pending.push(store.journal.append(orderEnvelope(i++)).then(() => acks.push(Number(process.hrtime.bigint() - t0) / 1000)));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(pending);
    await store.close();
    return percentile(acks.sort((a, b) => a - b), 99);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface LowdbMeasured {
  rate: number;
  callP99Us: number;
  ackP99Us: number;
  fileBytes: number;
}

/** lowdb's documented way to append: push into `db.data` and `await db.write()`. */
async function measureLowdb(prefill: number, appends: number): Promise<LowdbMeasured> {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-bench-lowdb-'));
  try {
    const file = join(dir, 'events.json');
    const db = new Low<{ events: Envelope[] }>(new JSONFile(file), { events: [] });
    for (let i = 0; i < prefill; i++) db.data.events.push(orderEnvelope(i));
    await db.write();
    const calls: number[] = [];
    const acks: number[] = [];
    const start = process.hrtime.bigint();
    for (let i = prefill; i < prefill + appends; i++) {
      const t0 = process.hrtime.bigint();
      db.data.events.push(orderEnvelope(i));
      const written = db.write(); // serialises the whole collection before returning
      calls.push(Number(process.hrtime.bigint() - t0) / 1000);
      await written;
      acks.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const fileBytes = (await stat(file)).size;
    return {
      rate: appends / seconds,
      callP99Us: percentile(calls.sort((a, b) => a - b), 99),
      ackP99Us: percentile(acks.sort((a, b) => a - b), 99),
      fileBytes,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const STEADY_RATE = 2000;

export async function run(): Promise<BenchResult[]> {
  const lowdb10k = await measureLowdb(10_000, 100);
  const lowdb100k = await measureLowdb(100_000, 10);
  const results: BenchResult[] = [];
  for (const events of SIZES) {
    const ours = await measureJournal(events);
    const peer = events <= 10_000 ? lowdb10k : lowdb100k;
    const peerName = events <= 10_000 ? 'lowdb 7 push + write, 10k records' : 'lowdb 7 push + write, 100k records';
    const label = events >= 1e6 ? `${events / 1e6}M` : `${events / 1e3}k`;
    const stand = events > 100_000 ? '; lowdb measured at 100k records (at 1M each of its appends rewrites 10× more)' : '';
    results.push(
      {
        name: `append throughput, ${label} events, batch fsync`,
        ours: ours.rate,
        peer: peer.rate,
        peerName,
        unit: 'events/s',
        ratio: ours.rate / peer.rate,
        notes:
          `counted until the last event is synced; ${ours.bytesPerEvent.toFixed(0)} bytes per event on disk; ` +
          `ack p99 while flooding ${(ours.ackP99Us / 1000).toFixed(0)} ms (queueing behind the disk), lowdb ${(peer.ackP99Us / 1000).toFixed(0)} ms${stand}`,
      },
      {
        name: `append call p99, ${label} events`,
        ours: ours.callP99Us,
        peer: peer.callP99Us,
        peerName,
        unit: 'µs',
        ratio: peer.callP99Us / ours.callP99Us,
        notes: `time append() blocks the caller; p99 over the first tenth of the run ${ours.callP99FirstTenthUs.toFixed(1)} µs, over the last tenth ${ours.callP99LastTenthUs.toFixed(1)} µs${stand}`,
      },
    );
  }
  for (const fsync of ['batch', 'always'] as const) {
    const ack = await measureSteadyAck(fsync, STEADY_RATE, 2);
    results.push({
      name: `ack p99 at a steady ${STEADY_RATE.toLocaleString('en')} events/s, fsync ${fsync}`,
      ours: ack / 1000,
      peer: lowdb10k.ackP99Us / 1000,
      peerName: 'lowdb 7 push + write, 10k records',
      unit: 'ms',
      ratio: lowdb10k.ackP99Us / ack,
      notes:
        (fsync === 'batch' ? 'durable after the next 50 ms batched fdatasync' : 'durable after the fdatasync of its group of writes') +
        `; lowdb's ack is its rename, without fsync, and it sustains only ${lowdb10k.rate.toFixed(0)} appends/s at 10k records`,
    });
  }
  return results;
}

const bench: BenchModule = {
  title: 'Data layer / journal',
  target: 'append call p99 < 1 ms at 1M events with batched fsync, flat as the journal grows',
  description:
    'Appends of `order.updated` envelopes (about 670 bytes each as stored) to the event journal with the default batched fsync (every 50 ms), ' +
    'at 10k, 100k and 1M events, against lowdb 7 appending the same envelopes to a JSON collection (`db.data.events.push(e); await db.write()`). ' +
    'The producer yields to the event loop every 1,000 appends. Throughput counts until the last event is durable. ' +
    '"Call" is the time `append()` blocks the caller; "ack" is the time until its promise resolves (the event is synced), measured at a steady 2,000 events/s. ' +
    'lowdb rewrites its whole file on each append, so it is measured only at 10k and 100k records; its 100k numbers stand in for 1M (where they would be worse). ' +
    'lowdb does not fsync at all, so its ack is not durable against a power loss while the journal\'s is.',
  run,
};

export default bench;
