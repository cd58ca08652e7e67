import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, silentLogger, type BuiltinEvents } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';
import { percentiles, type Percentiles } from './latency-child.js';
import type { BenchModule, BenchResult } from './types.js';

/**
 * The decision path across processes: the price watchdog, the strategy runner, the trade manager
 * and the trade executor (with a paper venue) each run as `tradebus agent <id>` in a process of
 * their own, on a loopback nats-server. An observer process-local to the benchmark subscribes to
 * the same subjects and takes the time each event reaches it: candle→order.requested is the
 * difference of two arrivals, each one hop from its publisher, so the observer's own hop cancels.
 */

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const CLI = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const DATA = join(root, 'examples', 'data');
const SPEED = Number(process.env.NATS_LATENCY_SPEED ?? 3_000);
const RUN_MS = Number(process.env.NATS_LATENCY_RUN_MS ?? 90_000);
const SYMBOLS = ['ETH/BTC', 'LTC/BTC', 'XLM/BTC'];
const PREFIX = 'tradebus.latency';

function config(dataDir: string): string {
  const sources = SYMBOLS.map((s) => `      - { type: candles, file: ${join(DATA, `binance-${s.replace('/', '-')}-5m.csv`)}, symbol: ${s}, timeframe: 5m }`).join('\n');
  return `
system: { name: nats-latency, clock: wall, heartbeatIntervalMs: 1000 }
log: { level: error }
transport:
  kind: nats
  servers: \${NATS_URL}
  prefix: ${PREFIX}
data: { dir: ${dataDir} }
api: { enabled: false }
providers:
  replay:
    kind: replay
    speed: ${SPEED}
    warmupBars: 200
    sources:
${sources}
  history:
    kind: replay
    # The warm-up bars only (up to where the prices process's replay starts): nothing to play.
    startAt: 2018-01-10T21:35:00Z
    endAt: 2018-01-10T21:35:00Z
    sources:
${sources}
  paper: { kind: paper, quoteCurrency: BTC, balances: { BTC: 1 }, fees: { maker: 0.001, taker: 0.001 }, symbols: [${SYMBOLS.join(', ')}] }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: replay, symbols: [${SYMBOLS.join(', ')}], timeframes: [5m], ticks: false }
  - id: strategies
    use: strategy-runner
    config:
      provider: history
      symbols: [${SYMBOLS.join(', ')}]
      timeframes: [5m]
      strategies:
        - { type: ema-cross, id: ema-cross, params: { fast: 5, slow: 13 } }
        - { type: rsi-reversion, id: rsi-reversion }
  - id: manager
    use: trade-manager
    config: { equity: { initial: 1 }, aggregation: { minConfidence: 0, useTrackRecord: false }, sizing: { kelly: { enabled: false } } }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper, feedMarketData: true }
`;
}

/** One hop of the raw client between two connections: the least a hop between processes costs here. */
async function rawHop(url: string): Promise<Percentiles> {
  const a = await connect({ servers: url });
  const b = await connect({ servers: url });
  const times: number[] = [];
  let sentAt = 0;
  let got!: () => void;
  b.subscribe('latency.hop', {
    callback: () => {
      times.push(performance.now() - sentAt);
      got();
    },
  });
  await b.flush();
  for (let i = 0; i < 2_000; i++) {
    const arrived = new Promise<void>((r) => (got = r));
    sentAt = performance.now();
    a.publish('latency.hop', JSON.stringify({ i, payload: 'x'.repeat(400) }));
    await arrived;
  }
  await a.close();
  await b.close();
  return percentiles(times.slice(200));
}

function startAgent(id: string, file: string, env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, 'agent', id, '--config', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('is running')) {
        child.stdout!.off('data', onData);
        resolvePromise(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`agent ${id} exited with ${code}: ${out.slice(-1_000)}`)));
  });
}

interface NatsLatencyRun {
  candleToSignal: Percentiles;
  candleToRequest: Percentiles;
  candleToUpdate: Percentiles;
  hop: Percentiles;
}

async function measure(): Promise<NatsLatencyRun> {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-nats-latency-'));
  const file = join(dir, 'system.yaml');
  writeFileSync(file, config(join(dir, 'data')));
  const env = { NATS_URL: server.url, TRADEBUS_LOG_LEVEL: 'error' };
  const children: ChildProcess[] = [];
  const catalogue = new EventCatalogue(builtinEvents);
  const transport = new NatsTransport({ servers: server.url, prefix: PREFIX, catalogue, logger: silentLogger() });
  try {
    const hop = await rawHop(server.url);
    await transport.connect();
    const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock: new WallClock(), source: 'latency-observer' });
    const candleAt = new Map<string, number>();
    const signalCandle = new Map<string, number>();
    const orderCandle = new Map<string, number>();
    const toSignal: number[] = [];
    const toRequest: number[] = [];
    const toUpdate: number[] = [];
    bus.subscribe('candle.closed', (e) => void candleAt.set(e.id, performance.now()));
    bus.subscribe('signal.generated', (e) => {
      const t0 = e.causationId === undefined ? undefined : candleAt.get(e.causationId);
      if (t0 === undefined) return;
      signalCandle.set(e.payload.id, t0);
      toSignal.push(performance.now() - t0);
    });
    bus.subscribe('order.requested', (e) => {
      const t0 = e.payload.signalId === undefined ? undefined : signalCandle.get(e.payload.signalId);
      if (t0 === undefined || orderCandle.has(e.payload.clientOrderId)) return;
      orderCandle.set(e.payload.clientOrderId, t0);
      toRequest.push(performance.now() - t0);
    });
    const answered = new Set<string>();
    bus.subscribe('order.updated', (e) => {
      const t0 = orderCandle.get(e.payload.clientOrderId);
      if (t0 === undefined || answered.has(e.payload.clientOrderId)) return;
      answered.add(e.payload.clientOrderId);
      toUpdate.push(performance.now() - t0);
    });
    // Consumers first, the market last.
    for (const id of ['executor', 'manager', 'strategies', 'prices']) children.push(await startAgent(id, file, env));
    await new Promise((r) => setTimeout(r, RUN_MS));
    return { candleToSignal: percentiles(toSignal), candleToRequest: percentiles(toRequest), candleToUpdate: percentiles(toUpdate), hop };
  } finally {
    for (const child of children.reverse()) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(undefined) : c.once('exit', r)))));
    await transport.close().catch(() => undefined);
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (x: number): string => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
let table = '';

const bench: BenchModule = {
  title: 'Decision latency across processes (NATS)',
  description:
    `The paper main job's decision path with each agent in a process of its own (\`tradebus agent prices|strategies|manager|executor\`, a paper venue in the executor's process, state durable with the default policy), on a loopback nats-server, the replay of the same real candles paced at ${SPEED.toLocaleString('en')}× real time for ${RUN_MS / 1000} s. ` +
    'An observer in the benchmark process takes the time each event reaches it; the difference between two arrivals cancels its own hop. ' +
    'The peer is the raw NATS client: one hop between two connections, with a payload of the same size, measured in the same run; candle→order.requested crosses two hops (prices → strategies → manager).',
  target: 'candle→order.requested p99 ≤ 3 ms over NATS',
  async run(): Promise<BenchResult[]> {
    const r = await measure();
    const twoHops = { p50: 2 * r.hop.p50, p99: 2 * r.hop.p99 };
    table = [
      '| path | p50 | p99 | count |',
      '|---|---:|---:|---:|',
      `| candle→signal (one hop) | ${ms(r.candleToSignal.p50)} ms | ${ms(r.candleToSignal.p99)} ms | ${r.candleToSignal.count} |`,
      `| candle→\`order.requested\` (two hops, the manager's books durable) | ${ms(r.candleToRequest.p50)} ms | ${ms(r.candleToRequest.p99)} ms | ${r.candleToRequest.count} |`,
      `| candle→first \`order.updated\` (three hops, the executor's intent durable) | ${ms(r.candleToUpdate.p50)} ms | ${ms(r.candleToUpdate.p99)} ms | ${r.candleToUpdate.count} |`,
      `| raw NATS, one hop | ${ms(r.hop.p50)} ms | ${ms(r.hop.p99)} ms | 1,800 |`,
    ].join('\n');
    process.stdout.write(`${table}\n`);
    return [
      { name: 'candle→order.requested over NATS, p50', ours: r.candleToRequest.p50 * 1_000, peer: twoHops.p50 * 1_000, peerName: 'raw NATS, two hops, p50', unit: 'µs', ratio: twoHops.p50 / r.candleToRequest.p50, notes: `${r.candleToRequest.count} orders` },
      { name: 'candle→order.requested over NATS, p99', ours: r.candleToRequest.p99 * 1_000, peer: twoHops.p99 * 1_000, peerName: 'raw NATS, two hops, p99', unit: 'µs', ratio: twoHops.p99 / r.candleToRequest.p99 },
    ];
  },
  markdown: () => table,
};

export default bench;
