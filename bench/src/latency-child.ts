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

async function measure(fsync: string): Promise<LatencyRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tradebus-latency-'));
  const env = { ...process.env, TRADEBUS_DATA_DIR: dataDir, REPLAY_SPEED: 'max', TRADEBUS_API_PORT: '0', TRADEBUS_MONITOR_PORT: '0', TRADEBUS__DATA__FSYNC: fsync };
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
  const rssStart = process.memoryUsage().rss;
  const started = performance.now();
  running.startMarkets();
  await replay.done;
  const wallMs = performance.now() - started;
  const data = running.system.services.get<{ stats(): { state: { syncs: number; appends: number } } }>('data');
  const state = data.stats().state;
  const rssEnd = process.memoryUsage().rss;
  await running.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    fsync,
    candleToSignal: percentiles(toSignal),
    candleToRequest: percentiles(toRequest),
    candleToVenue: percentiles(toVenue),
    candleToUpdate: percentiles(toUpdate),
    candles,
    candlesPerSecond: (candles / wallMs) * 1_000,
    stateSyncs: state.syncs,
    stateAppends: state.appends,
    rssStartMiB: rssStart / 2 ** 20,
    rssEndMiB: rssEnd / 2 ** 20,
  };
}

const [policy] = process.argv.slice(2);
if (policy !== undefined) {
  const run = await measure(policy);
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}
