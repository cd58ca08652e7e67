import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, createSystem, newId, type BuiltinEvents, type Envelope } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';
import strategyRunner from '@tradebus/agent-strategy-runner';
import { fmt, type BenchModule, type BenchResult } from './types.js';

// The market-data path over NATS: closed candles into sharded strategy-runner processes (1, 2, 4)
// against the same runner in one process. The bench process publishes the candles durably, as the
// price watchdog does with candle.closed in transport.durable; each runner publishes
// indicator.updated per bar, which the bench counts to know every bar went through.
const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, '..', '..', 'examples', 'data');
const BARS = 2_000;
const PROCESSES = [1, 2, 4];
const WINDOW = 500;

type Candle = BuiltinEvents['candle.closed'];

/** Real Binance 5m bars of three pairs, each also under two more names: nine symbols to share. */
function loadCandles(): { candles: Candle[]; symbols: string[] } {
  const out: Candle[] = [];
  const symbols: string[] = [];
  for (const base of ['ETH', 'LTC', 'XLM']) {
    const rows = readFileSync(join(dataDir, `binance-${base}-BTC-5m.csv`), 'utf8').trim().split('\n').slice(1, BARS + 1);
    for (const copy of ['', '2', '3']) {
      const symbol = `${base}${copy}/BTC`;
      symbols.push(symbol);
      for (const row of rows) {
        const [t, o, h, l, c, v] = row.split(',').map(Number) as [number, number, number, number, number, number];
        out.push({ symbol, timeframe: '5m', timestamp: t, open: o, high: h, low: l, close: c, volume: v });
      }
    }
  }
  out.sort((a, b) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol));
  return { candles: out, symbols };
}

function runnerConfig(symbols: string[]): Record<string, unknown> {
  return {
    provider: 'none',
    symbols,
    timeframes: ['5m'],
    strategies: [
      { id: 'ema', type: 'ema-cross' },
      { id: 'rsi', type: 'rsi-reversion' },
    ],
    indicators: { ema20: { type: 'ema', period: 20 }, rsi: { type: 'rsi', period: 14 } },
    indicatorUpdates: { mode: 'every-bar' },
  };
}

interface Run {
  rate: number;
  cpuUsPerCandle: number;
}

async function inProcess(candles: Candle[], symbols: string[]): Promise<Run> {
  const noHistory = { id: 'none', loadMarkets: async () => [], fetchOHLCV: async () => [], watchCandles: () => () => undefined, watchTicker: () => () => undefined };
  const system = createSystem({ clock: new WallClock(), services: { 'provider:none': noHistory }, agents: [{ id: 'strategy', definition: strategyRunner, config: runnerConfig(symbols) }], heartbeatIntervalMs: 60_000 });
  let seen = 0;
  system.bus.subscribe('indicator.updated', () => void seen++);
  await system.start();
  await new Promise((r) => setTimeout(r, 100));
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (const c of candles) system.bus.publish('candle.closed', c);
  while (seen < candles.length) await new Promise((r) => setImmediate(r));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await system.stop();
  return { rate: candles.length / seconds, cpuUsPerCandle: (used.user + used.system) / candles.length };
}

class Child {
  private buffer = '';
  private readonly lines: string[] = [];
  private constructor(readonly process: ChildProcess) {
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
      }
    });
  }
  static start(url: string, prefix: string, instance: string, config: Record<string, unknown>): Child {
    return new Child(spawn(process.execPath, [join(here, 'nats-scale-child.js'), url, prefix, instance, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }
  async next(prefix: string): Promise<string> {
    for (;;) {
      const i = this.lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.lines.splice(i, 1)[0]!;
      if (this.process.exitCode !== null) throw new Error(`runner process exited (${this.process.exitCode})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async cpu(): Promise<number> {
    this.process.stdin!.write('cpu\n');
    return Number((await this.next('cpu ')).slice(4));
  }
}

/** user+system CPU of a process from /proc, in µs (Linux); 0 elsewhere. */
function procCpuUs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

async function overNats(processes: number, candles: Candle[], symbols: string[]): Promise<Run & { owned: number[] }> {
  const server = await NatsServer.start();
  const prefix = `scale${processes}`;
  const catalogue = new EventCatalogue(builtinEvents);
  const transport = new NatsTransport({ servers: server.url, catalogue, prefix, name: 'bench-feed', durable: ['candle.closed'] });
  const children: Child[] = [];
  try {
    await transport.connect();
    const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock: new WallClock(), source: 'prices' });
    let seen = 0;
    bus.subscribe('indicator.updated', () => void seen++);
    const owned = new Map<string, number>();
    bus.subscribe('agent.heartbeat', (e) => {
      if (e.payload.instance !== undefined) owned.set(e.payload.instance, e.payload.shard?.owned.length ?? 0);
    });
    await transport.flush();
    for (let i = 0; i < processes; i++) children.push(Child.start(server.url, prefix, `r${i + 1}`, runnerConfig(symbols)));
    for (const c of children) await c.next('ready');
    const deadline = Date.now() + 30_000;
    while ([...owned.values()].reduce((a, b) => a + b, 0) !== symbols.length || owned.size !== processes) {
      if (Date.now() > deadline) throw new Error(`runners did not share the symbols: ${JSON.stringify([...owned])}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    const cpuBefore = (await Promise.all(children.map((c) => c.cpu()))).reduce((a, b) => a + b, 0) + procCpuUs(server.pid);
    const ownBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    // Published in windows, each event its own durable publish (as the price watchdog sends them).
    let seq = 0;
    for (let i = 0; i < candles.length; i += WINDOW) {
      await Promise.all(
        candles.slice(i, i + WINDOW).map((c) => {
          const envelope: Envelope = { id: newId(), type: 'candle.closed', source: 'prices', ts: Date.now(), seq: ++seq, payload: c };
          return transport.publish(envelope);
        }),
      );
    }
    while (seen < candles.length) await new Promise((r) => setTimeout(r, 5));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const own = process.cpuUsage(ownBefore);
    const cpuAfter = (await Promise.all(children.map((c) => c.cpu()))).reduce((a, b) => a + b, 0) + procCpuUs(server.pid);
    return { rate: candles.length / seconds, cpuUsPerCandle: (cpuAfter - cpuBefore + own.user + own.system) / candles.length, owned: [...owned.values()] };
  } finally {
    for (const c of children) c.process.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    await transport.close();
    await server.dispose();
  }
}

const rows: string[] = [];

const bench: BenchModule = {
  title: 'Market data across processes: sharded strategy runners over NATS',
  description:
    'Closed 5-minute candles (real Binance ETH/BTC, LTC/BTC, XLM/BTC, each under three names: nine symbols × 2,000 bars) published durably (JetStream) into 1, 2 and 4 strategy-runner processes sharing the symbols (leases in JetStream KV), against the same runner in one process. Each runner runs EMA cross and RSI reversion and publishes indicator.updated per bar; a run ends when every bar has been seen. CPU per candle: user+system of every process (bench publisher, runners, nats-server) over the candles.',
  async run(): Promise<BenchResult[]> {
    const { candles, symbols } = loadCandles();
    const local = await inProcess(candles, symbols);
    const results: BenchResult[] = [];
    let single = 0;
    rows.length = 0;
    rows.push('| runner processes | candles/s | vs in-process | scaling efficiency | CPU µs/candle (all processes) | symbols per process |', '|---|---|---|---|---|---|');
    rows.push(`| in-process (1) | ${fmt(local.rate)} | 1.00× | | ${local.cpuUsPerCandle.toFixed(1)} | ${symbols.length} |`);
    for (const n of PROCESSES) {
      const run = await overNats(n, candles, symbols);
      if (n === 1) single = run.rate;
      const efficiency = run.rate / (n * single);
      rows.push(`| ${n} over NATS | ${fmt(run.rate)} | ${(run.rate / local.rate).toFixed(2)}× | ${(efficiency * 100).toFixed(0)} % | ${run.cpuUsPerCandle.toFixed(1)} | ${run.owned.join(', ')} |`);
      results.push({ name: `candles/s, ${n} runner process(es) over NATS`, ours: run.rate, peer: local.rate, peerName: 'in-process', unit: 'candles/s', ratio: run.rate / local.rate });
      results.push({ name: `CPU µs per candle, ${n} runner process(es)`, ours: run.cpuUsPerCandle, peer: local.cpuUsPerCandle, peerName: 'in-process', unit: 'µs', ratio: local.cpuUsPerCandle / run.cpuUsPerCandle });
    }
    process.stdout.write(`${rows.join('\n')}\n`);
    return results;
  },
  markdown: () => `${rows.join('\n')}\n\nScaling efficiency: rate with n processes ÷ (n × rate with one). On a 2-core machine the bench publisher, nats-server and the runners share two cores, so more runner processes cannot add throughput there; the rows show the cross-process cost per candle.`,
};

export default bench;
