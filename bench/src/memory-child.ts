import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport, silentLogger, type Envelope } from '@tradebus/core';
import { launchSystem, prepareSystem } from '@tradebus/agent-main';

/**
 * A paper system on a synthetic market, run until its bus has carried `events` events:
 * `node memory-child.js <events>` prints a MemoryRun as JSON. Resident memory and the size of the
 * executor's and manager's durable state are sampled after a warm-up and at the end.
 */

export interface MemoryRun {
  events: number;
  candles: number;
  trades: number;
  warmupEvents: number;
  rssWarmMiB: number;
  rssEndMiB: number;
  heapWarmMiB: number;
  heapEndMiB: number;
  /** V8 heap reserved, and memory outside it (buffers), at the same two moments. */
  heapTotalWarmMiB: number;
  heapTotalEndMiB: number;
  externalWarmMiB: number;
  externalEndMiB: number;
  /** Bytes of the executor's and the manager's keys in the state log. */
  stateWarmBytes: Record<string, number>;
  stateEndBytes: Record<string, number>;
  wallMs: number;
}

const SYMBOLS = ['AAA/USDT', 'BBB/USDT', 'CCC/USDT', 'DDD/USDT', 'EEE/USDT', 'FFF/USDT', 'GGG/USDT', 'HHH/USDT'];

function config(dataDir: string): string {
  return `
system: { name: memory-bench, clock: market, heartbeatIntervalMs: 60000 }
data: { dir: ${dataDir} }
api: { enabled: false }
providers:
  market:
    kind: synthetic
    seed: 7
    timeframe: 1m
    stepsPerBar: 4
    historyBars: 100
    speed: max
    symbols:
${SYMBOLS.map((s, i) => `      - { symbol: ${s}, startPrice: ${100 + i * 10}, volatility: 0.8 }`).join('\n')}
  paper: { kind: paper, marketData: market, quoteCurrency: USDT, balances: { USDT: 100000 }, history: { orders: 2000, trades: 2000 } }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [${SYMBOLS.join(', ')}], timeframes: [1m], ticks: false }
  - id: strategies
    use: strategy-runner
    config:
      provider: market
      symbols: [${SYMBOLS.join(', ')}]
      timeframes: [1m]
      strategies: [{ type: ema-cross, id: ema, params: { fast: 5, slow: 13 } }]
  - id: manager
    use: trade-manager
    config:
      timeframe: 1m
      equity: { initial: 100000 }
      aggregation: { minConfidence: 0, useTrackRecord: false }
      sizing: { kelly: { enabled: false }, maxPositionPct: 10 }
      limits: { maxOpenPositions: 8, maxTradesPerDay: 100000, maxPortfolioHeatPct: 100 }
      breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper, keepFinishedOrders: 2000 }
  - id: account
    use: account-sync
    config: { provider: paper, quoteCurrency: USDT }
`;
}

function stateBytes(dataStore: { stateLog: { namespace(ns: string): unknown; raw(ns: string, key: string): string | undefined; keysOf(ns: string): string[] } }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ns of ['executor', 'manager', 'venue:paper']) {
    let bytes = 0;
    for (const key of dataStore.stateLog.keysOf(ns)) bytes += key.length + (dataStore.stateLog.raw(ns, key)?.length ?? 0);
    out[ns] = bytes;
  }
  return out;
}

async function measure(target: number): Promise<MemoryRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-memory-'));
  const file = join(dir, 'memory.yaml');
  writeFileSync(file, config(join(dir, 'data')));
  const prepared = await prepareSystem(file);
  // Past the warm-up the market's history window is full and every cache is at its working size.
  const warmupEvents = Math.round(target * 0.3);
  let events = 0;
  let candles = 0;
  let trades = 0;
  let warm: { rss: number; heap: number; heapTotal: number; external: number; state: Record<string, number> } | undefined;
  let reached!: () => void;
  const done = new Promise<void>((r) => (reached = r));
  let sample: (() => void) | undefined;
  class CountingTransport extends LocalTransport {
    override publish(envelope: Envelope): void | Promise<void> {
      events++;
      if (envelope.type === 'candle.closed') candles++;
      else if (envelope.type === 'trade.closed') trades++;
      if (events === warmupEvents) sample?.();
      if (events === target) reached();
      return super.publish(envelope);
    }
  }
  const started = performance.now();
  const running = await launchSystem(prepared, { api: false, transport: new CountingTransport(), logger: silentLogger() });
  const data = running.system.services.get<Parameters<typeof stateBytes>[0]>('data');
  sample = () => {
    // A collection first: what stays is what the system holds, not garbage not yet collected.
    globalThis.gc?.();
    const m = process.memoryUsage();
    warm = { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, state: stateBytes(data) };
  };
  await done;
  const wallMs = performance.now() - started;
  globalThis.gc?.();
  const m = process.memoryUsage();
  const end = { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, state: stateBytes(data) };
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
  const mib = (x: number): number => x / 2 ** 20;
  return {
    events,
    candles,
    trades,
    warmupEvents,
    rssWarmMiB: mib(warm!.rss),
    rssEndMiB: mib(end.rss),
    heapWarmMiB: mib(warm!.heap),
    heapEndMiB: mib(end.heap),
    heapTotalWarmMiB: mib(warm!.heapTotal),
    heapTotalEndMiB: mib(end.heapTotal),
    externalWarmMiB: mib(warm!.external),
    externalEndMiB: mib(end.external),
    stateWarmBytes: warm!.state,
    stateEndBytes: end.state,
    wallMs,
  };
}

const [count] = process.argv.slice(2);
if (count !== undefined) {
  const run = await measure(Number(count));
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}
