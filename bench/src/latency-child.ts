import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalTransport, silentLogger, type Envelope } from '@tradebus/core';
import { launchSystem, prepareSystem } from '@tradebus/agent-main';
import type { OrderRequest, PaperExchange } from '@tradebus/providers';

/**
 * One run of the decision latency benchmark, in a process of its own:
 * `node latency-child.js <fsync policy>` plays the paper main job (examples/paper-replay: replay →
 * price watchdog → strategy runner → trade manager → trade executor → paper venue, in one process
 * on the in-process bus, data on disk) at full speed and prints a LatencyRun as JSON. Every time is
 * taken with hrtime as an envelope enters the transport's publish, or as the venue is called.
 */

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LatencyRun {
  fsync: string;
  /** Replays measured (after one that only warms the JIT up), each on a fresh data directory. */
  runs: number;
  candleToSignal: Percentiles;
  candleToRequest: Percentiles;
  candleToVenue: Percentiles;
  candleToUpdate: Percentiles;
  candles: number;
  candlesPerSecond: number;
  stateSyncs: number;
  stateAppends: number;
  rssStartMiB: number;
  rssEndMiB: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const CONFIG = resolve(here, '..', '..', 'examples', 'paper-replay', 'tradebus.yaml');

/** Records when each envelope of interest enters publish, before any subscriber runs. */
class TimedTransport extends LocalTransport {
  constructor(private readonly onPublish: (envelope: Envelope, at: number) => void) {
    super();
  }

  override publish(envelope: Envelope): void | Promise<void> {
    this.onPublish(envelope, performance.now());
    return super.publish(envelope);
  }
}

export function percentiles(values: number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);
  return { count: sorted.length, p50: at(50), p99: at(99), max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! };
}

interface Samples {
  toSignal: number[];
  toRequest: number[];
  toVenue: number[];
  toUpdate: number[];
  candles: number;
  wallMs: number;
  syncs: number;
  appends: number;
}

async function measure(fsync: string, runs: number): Promise<LatencyRun> {
  const rssStart = process.memoryUsage().rss;
  // The first replay warms the JIT up; its numbers are left out.
  await measureOnce(fsync);
  const all: Samples = { toSignal: [], toRequest: [], toVenue: [], toUpdate: [], candles: 0, wallMs: 0, syncs: 0, appends: 0 };
  for (let i = 0; i < runs; i++) {
    const s = await measureOnce(fsync);
    all.toSignal.push(...s.toSignal);
    all.toRequest.push(...s.toRequest);
    all.toVenue.push(...s.toVenue);
    all.toUpdate.push(...s.toUpdate);
    all.candles += s.candles;
    all.wallMs += s.wallMs;
    all.syncs += s.syncs;
    all.appends += s.appends;
  }
  return {
    fsync,
    runs,
    candleToSignal: percentiles(all.toSignal),
    candleToRequest: percentiles(all.toRequest),
    candleToVenue: percentiles(all.toVenue),
    candleToUpdate: percentiles(all.toUpdate),
    candles: all.candles,
    candlesPerSecond: (all.candles / all.wallMs) * 1_000,
    stateSyncs: all.syncs,
    stateAppends: all.appends,
    rssStartMiB: rssStart / 2 ** 20,
    rssEndMiB: process.memoryUsage().rss / 2 ** 20,
  };
}

async function measureOnce(fsync: string): Promise<Samples> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tradebus-latency-'));
  const env = { ...process.env, TRADEBUS_DATA_DIR: dataDir, REPLAY_SPEED: process.env.LATENCY_REPLAY_SPEED ?? 'max', TRADEBUS_API_PORT: '0', TRADEBUS_MONITOR_PORT: '0', TRADEBUS__DATA__FSYNC: fsync };
  const prepared = await prepareSystem(CONFIG, { env });
  // The dashboard reads the REST API, which this run does not serve.
  const system = { ...prepared, agents: prepared.agents.filter((a) => a.definition.kind !== 'trade-monitor') };

  const candleAt = new Map<string, number>();
  const signalCandle = new Map<string, number>();
  const orderCandle = new Map<string, number>();
  const answered = new Set<string>();
  const toSignal: number[] = [];
  const toRequest: number[] = [];
  const toVenue: number[] = [];
  const toUpdate: number[] = [];
  let candles = 0;
  const transport = new TimedTransport((e, at) => {
    switch (e.type) {
      case 'candle.closed': {
        candles++;
        candleAt.set(e.id, at);
        break;
      }
      case 'signal.generated': {
        // The strategy runner publishes a signal with the candle that caused it.
        const t0 = e.causationId === undefined ? undefined : candleAt.get(e.causationId);
        if (t0 === undefined) break;
        signalCandle.set((e.payload as { id: string }).id, t0);
        toSignal.push(at - t0);
        break;
      }
      case 'order.requested': {
        const p = e.payload as { clientOrderId: string; signalId?: string };
        const t0 = p.signalId === undefined ? undefined : signalCandle.get(p.signalId);
        if (t0 === undefined) break;
        orderCandle.set(p.clientOrderId, t0);
        toRequest.push(at - t0);
        break;
      }
      case 'order.updated': {
        const cid = (e.payload as { clientOrderId: string }).clientOrderId;
        const t0 = orderCandle.get(cid);
        // The first update only: later ones are fills and states of an order already answered.
        if (t0 === undefined || answered.has(cid)) break;
        answered.add(cid);
        toUpdate.push(at - t0);
        break;
      }
    }
  });
  const running = await launchSystem(system, { api: false, env, transport, logger: silentLogger(), startMarkets: false });
  const paper = running.system.services.get<PaperExchange>('provider:paper');
  const createOrder = paper.createOrder.bind(paper);
  paper.createOrder = (request: OrderRequest) => {
    const t0 = orderCandle.get(request.clientOrderId);
    if (t0 !== undefined) toVenue.push(performance.now() - t0);
    return createOrder(request);
  };
  const replay = running.system.services.get<{ done: Promise<unknown> | undefined }>('provider:replay');
  const started = performance.now();
  running.startMarkets();
  await replay.done;
  const wallMs = performance.now() - started;
  const data = running.system.services.get<{ stats(): { state: { syncs: number; appends: number } } }>('data');
  const state = data.stats().state;
  await running.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return { toSignal, toRequest, toVenue, toUpdate, candles, wallMs, syncs: state.syncs, appends: state.appends };
}

// Other benchmarks import percentiles() from here: only a run of this file as a program measures.
const [policy, runs] = process.argv.slice(2);
if (policy !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await measure(policy, Number(runs ?? 3));
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}
