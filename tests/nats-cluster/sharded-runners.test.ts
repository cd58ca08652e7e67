import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, createSystem, newId, type BuiltinEvents, type Envelope } from '@tradebus/core';
import { NatsCluster } from '@tradebus/core/testing';
import strategyRunner from '@tradebus/agent-strategy-runner';

// A sharded strategy runner over a real 3-node NATS cluster: the test publishes real candles as
// the price feed, runner instances in their own processes share the four symbols, and on the way
// a third runner joins, one NATS node is killed (and later restarted) and one runner is killed. What the runners produce is
// compared with one runner in one process on the same bars.
const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'sharded-runner.mjs');
const catalogue = new EventCatalogue(builtinEvents);
const prefix = `shard${process.pid}`;
const durable = ['order.*', 'trade.*', 'position.*', 'account.*', 'candle.closed', 'signal.generated', 'indicator.updated'];

type Candle = BuiltinEvents['candle.closed'];
const candles: Candle[] = readFileSync(join(here, 'fixtures', 'candles-5m.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => {
    const [symbol, timestamp, open, high, low, close, volume] = line.split(',');
    return { symbol: symbol!, timeframe: '5m', timestamp: Number(timestamp), open: Number(open), high: Number(high), low: Number(low), close: Number(close), volume: Number(volume) };
  })
  // The feed publishes bar by bar across symbols, as a live price watchdog would.
  .sort((a, b) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol));
const symbols = [...new Set(candles.map((c) => c.symbol))];

const runnerConfig = {
  provider: 'none',
  symbols,
  timeframes: ['5m'],
  strategies: [
    { id: 'ema', type: 'ema-cross', params: { fast: 5, slow: 13 } },
    { id: 'rsi', type: 'rsi-reversion' },
  ],
  indicators: { ema10: { type: 'ema', period: 10 } },
  indicatorUpdates: { mode: 'every-bar' },
};

const noHistory = { id: 'none', loadMarkets: async () => [], fetchOHLCV: async () => [], watchCandles: () => () => undefined, watchTicker: () => () => undefined };

let cluster: NatsCluster;
const children: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await NatsCluster.start();
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await cluster?.dispose();
});

function startRunner(instance: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [fixture, instance], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NATS_URLS: cluster.urls.join(','), TRADEBUS_PREFIX: prefix, RUNNER_CONFIG: JSON.stringify({ ...runnerConfig, sharding: { leaseTtlMs: 3_000, renewIntervalMs: 500 } }) },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000, context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The signals one runner in one process produces on the same bars: the reference. */
async function singleProcessSignals(): Promise<Map<string, BuiltinEvents['signal.generated']>> {
  const system = createSystem({ clock: new WallClock(), services: { 'provider:none': noHistory }, agents: [{ id: 'strategy', definition: strategyRunner, config: runnerConfig }], heartbeatIntervalMs: 60_000 });
  const signals = new Map<string, BuiltinEvents['signal.generated']>();
  system.bus.subscribe('signal.generated', (e) => void signals.set(e.payload.id, e.payload));
  await system.start();
  for (const c of candles) system.bus.publish('candle.closed', c);
  await new Promise((r) => setTimeout(r, 200));
  await system.stop();
  return signals;
}

describe('sharded strategy runners on a 3-node NATS cluster', () => {
  it('process every candle, survive a node and a runner being killed, and signal as one runner in one process', async () => {
    const reference = await singleProcessSignals();
    expect(reference.size).toBeGreaterThan(10);

    const transport = new NatsTransport({ servers: cluster.urls, catalogue, prefix, name: 'feed', replicas: 3, durable, reconnectWaitMs: 50, reconnectMaxWaitMs: 300, pingIntervalMs: 500, durablePublishTimeoutMs: 5_000 });
    await transport.connect();
    const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock: new WallClock(), source: 'feed' });
    // What the runners publish, read back durably (a node loss must not hide anything from the check).
    const signals: Array<BuiltinEvents['signal.generated']> = [];
    const bars = new Map<string, number>();
    bus.subscribe('signal.generated', (e) => void signals.push(e.payload), { durable: 'check-signals' });
    bus.subscribe('indicator.updated', (e) => void bars.set(`${e.payload.symbol}|${e.payload.timestamp}`, (bars.get(`${e.payload.symbol}|${e.payload.timestamp}`) ?? 0) + 1), { durable: 'check-bars' });
    const owned = new Map<string, string[]>();
    bus.subscribe('agent.heartbeat', (e: Envelope<'agent.heartbeat', BuiltinEvents['agent.heartbeat']>) => {
      if (e.payload.instance !== undefined && e.payload.status === 'running') owned.set(e.payload.instance, e.payload.shard?.owned ?? []);
    });
    await transport.flush();

    const r1 = startRunner('r1');
    const r2 = startRunner('r2');
    let r3: ReturnType<typeof startRunner> | undefined;
    const logs = (): string => [r1, r2, r3].map((r, i) => `r${i + 1}:\n${r?.output().slice(-3000) ?? ''}`).join('\n');
    const ownedBy = (...instances: string[]): string[] => instances.flatMap((i) => owned.get(i) ?? []).sort();
    await until('r1 and r2 to share the symbols', () => JSON.stringify(ownedBy('r1', 'r2')) === JSON.stringify([...symbols].sort()) && (owned.get('r1')?.length ?? 0) > 0 && (owned.get('r2')?.length ?? 0) > 0, 30_000, logs);

    let ownedByR2AtDeath: string[] = [];
    let unconfirmed = 0;
    const join = Math.floor(candles.length * 0.15);
    let r3OwnedBeforeNodeKill: string[] = [];
    const nodeKill = Math.floor(candles.length * 0.35);
    const runnerKill = Math.floor(candles.length * 0.55);
    const nodeBack = Math.floor(candles.length * 0.7);
    let nodeKilledAt = 0;
    let firstAckAfterNodeKill = 0;
    for (let i = 0; i < candles.length; i++) {
      if (i === join) {
        // A third runner joins: the symbols it should own move to it, each from its checkpoint.
        r3 = startRunner('r3');
        await until('r3 to take its symbols', () => (owned.get('r3')?.length ?? 0) > 0 && JSON.stringify(ownedBy('r1', 'r2', 'r3')) === JSON.stringify([...symbols].sort()), 20_000, logs);
        r3OwnedBeforeNodeKill = [...owned.get('r3')!];
      }
      if (i === nodeKill) {
        nodeKilledAt = Date.now();
        await cluster.nodes[1]!.stop('SIGKILL');
      }
      if (i === runnerKill) {
        ownedByR2AtDeath = [...(owned.get('r2') ?? [])];
        r2.child.kill('SIGKILL');
      }
      if (i === nodeBack) {
        // The operator brings the node back.
        await cluster.nodes[1]!.restart();
      }
      // An unconfirmed publish is repeated with the same envelope: the stream keeps one copy.
      const envelope: Envelope = { id: newId(), type: 'candle.closed', source: 'feed', ts: Date.now(), seq: i + 1, payload: candles[i]! };
      for (;;) {
        try {
          await transport.publish(envelope);
          break;
        } catch {
          unconfirmed++;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (nodeKilledAt > 0 && firstAckAfterNodeKill === 0) firstAckAfterNodeKill = Date.now();
      if (i % 8 === 0) await new Promise((r) => setTimeout(r, 4));
    }

    const allBars = candles.map((c) => `${c.symbol}|${c.timestamp}`);
    let diag = '';
    const diagnose = async (): Promise<void> => {
      const m = await jetstreamManager(transport.connection!);
      const st = await m.streams.info(transport.options.streamName, { subjects_filter: '>' });
      const ci = await m.consumers.info(transport.options.streamName, 'check-bars');
      diag = `stream subjects ${JSON.stringify(st.state.subjects)}; check-bars pending ${ci.num_pending} ackPending ${ci.num_ack_pending} delivered ${ci.delivered.stream_seq}; recorded ${bars.size}; transport ${transport.status} ${JSON.stringify(transport.stats)}`;
    };
    const diagTimer = setInterval(() => void diagnose().catch((e: unknown) => (diag = String(e))), 5_000);
    await until('every bar processed', () => allBars.every((b) => bars.has(b)), 40_000, () => `${logs()}\nmissing: ${allBars.filter((b) => !bars.has(b)).slice(0, 10).join(' ')}\n${diag}`);
    clearInterval(diagTimer);
    await until('r1 and r3 to share every symbol', () => JSON.stringify(ownedBy('r1', 'r3')) === JSON.stringify([...symbols].sort()), 20_000, () => `${logs()}\nowned: ${JSON.stringify([...owned])}`);
    expect(r3OwnedBeforeNodeKill.length).toBeGreaterThan(0);
    // Signals are read back through their own durable consumer, which may still be catching up.
    const signalIds = (): number => new Set(signals.map((x) => x.id)).size;
    await until('the signals stored to be read back', () => signalIds() >= reference.size, 30_000, () => `${signalIds()} of ${reference.size}`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));

    // Acknowledged candles: every one stored exactly once.
    const jsm = await jetstreamManager(transport.connection!);
    const info = await jsm.streams.info(transport.options.streamName, { subjects_filter: `${prefix}.candle.closed` });
    expect(info.state.subjects?.[`${prefix}.candle.closed`]).toBe(candles.length);

    // Every bar went through the strategies once, in order, per symbol: no gaps. Repeats only
    // where a runner was killed between processing a bar and saving its checkpoint: then the new
    // owner processes that bar again, on a symbol the killed runner owned.
    expect(ownedByR2AtDeath.length).toBeGreaterThan(0);
    const repeated = [...bars.entries()].filter(([, n]) => n > 1).map(([k]) => k);
    expect(repeated.filter((k) => !ownedByR2AtDeath.includes(k.split('|')[0]!))).toEqual([]);
    expect(bars.size).toBe(allBars.length);

    // The signals equal the single-process run's: same ids, sides and prices; a repeat carries the
    // same signal id (the trade manager decides each id once).
    const byId = new Map<string, BuiltinEvents['signal.generated']>();
    for (const s of signals) byId.set(s.id, s);
    expect([...byId.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [id, s] of byId) expect({ side: s.side, price: s.price, strategyId: s.strategyId, symbol: s.symbol }).toEqual({ side: reference.get(id)!.side, price: reference.get(id)!.price, strategyId: reference.get(id)!.strategyId, symbol: reference.get(id)!.symbol });

    console.log(
      `sharded runners: ${candles.length} candles, ${reference.size} signals; node failover ${firstAckAfterNodeKill - nodeKilledAt} ms (${unconfirmed} unconfirmed publishes retried); ` +
        `${repeated.length} bar(s) processed again after the runner kill (r2 owned ${ownedByR2AtDeath.join(', ')}), ${signals.length - byId.size} repeated signal(s); r3 joined and took ${r3OwnedBeforeNodeKill.join(', ')}; final owners r1=${owned.get('r1')?.join(',')} r3=${owned.get('r3')?.join(',')}`,
    );
    r1.child.kill('SIGTERM');
    r3?.child.kill('SIGTERM');
    await transport.close();
  }, 120_000);
});
