import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NatsServer, freePort } from '@tradebus/core/testing';
import { until } from './support.js';

// examples/multi-process as its README runs it: the built start script, which starts the main
// process and three `tradebus agent` processes (and a nats-server when none is given).
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'examples', 'multi-process', 'dist', 'start.js');
/** Close of the last warm-up bar: the prices process plays from here on (prices.yaml `startAt`). */
const REPLAY_START = Date.parse('2018-01-10T21:35:00Z');
const FIVE_MINUTES = 300_000;

interface AgentRow {
  agentId: string;
  status: string;
  pid: number;
  transport: string;
  local: boolean;
}
interface Envelope<P> {
  id: string;
  type: string;
  source: string;
  payload: P;
}

const started: ChildProcess[] = [];
let nats: NatsServer | undefined;

afterEach(() => {
  // A failed test must not leave the example's processes behind (they run in their own process groups).
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
});

afterAll(async () => {
  await nats?.dispose();
});

function startExample(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const base = { ...process.env };
  delete base.NATS_URL;
  const child = spawn(process.execPath, [script], {
    env: { ...base, TRADEBUS_API_PORT: '0', TRADEBUS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tradebus-example-mp-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/** The summary the script prints once every process is up: the API address and each process's pid. */
async function summaryOf(example: ReturnType<typeof startExample>): Promise<{ api: string; pids: Record<string, number> }> {
  const text = await until(
    'the start script to report every process up',
    async () => {
      if (example.child.exitCode !== null) throw new Error(`the start script exited early:\n${example.output()}`);
      return /Multi-process example running[\s\S]*Stop with Ctrl-C\./.exec(example.output())?.[0];
    },
    60_000,
  );
  const pids: Record<string, number> = {};
  for (const [, name, pid] of text.matchAll(/^ {2}(\w+)\s+pid (\d+)/gm)) pids[name!] = Number(pid);
  return { api: /REST API (http:\/\/\S+)/.exec(text)![1]!, pids };
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('examples/multi-process', () => {
  it('runs prices, strategies and the signal logger in their own processes; the main process sees them and their signals', { timeout: 120_000 }, async () => {
    nats = await NatsServer.start();
    const example = startExample({ NATS_URL: nats.url, TRADEBUS_PREFIX: 'example.multi', REPLAY_SPEED: '6000' });
    const { api, pids } = await summaryOf(example);
    expect(Object.keys(pids).sort()).toEqual(['main', 'prices', 'signals', 'strategies']);

    // Health from heartbeats over NATS: each agent in its own process, none in the main one.
    const status = await getJson<{ agents: AgentRow[] }>(`${api}/agents/status`);
    for (const id of ['prices', 'strategies', 'signals']) {
      const row = status.agents.find((a) => a.agentId === id);
      expect(row, id).toMatchObject({ status: 'ok', pid: pids[id], transport: 'nats', local: false });
    }
    expect(new Set(Object.values(pids)).size).toBe(4);

    // The main process journals what the others publish: bars from the prices process...
    const candles = await until('candles in the main process journal', async () => {
      const body = await getJson<{ events: Array<Envelope<{ symbol: string; timestamp: number }>> }>(`${api}/events/history?type=candle.closed&order=asc&limit=30`);
      return body.events.length >= 30 ? body.events : undefined;
    });
    expect(new Set(candles.map((e) => e.source))).toEqual(new Set(['prices']));
    // ...starting with the first bar after the warm-up history, which the strategies read from their own history replay.
    expect(candles[0]!.payload.timestamp).toBe(REPLAY_START);
    expect(new Set(candles.map((c) => c.payload.symbol))).toEqual(new Set(['ETH/BTC', 'LTC/BTC', 'XLM/BTC']));

    // ...and signals from the strategies process, none of them from the warm-up bars.
    const signals = await until('signals in the main process journal', async () => {
      const body = await getJson<{ events: Array<Envelope<{ id: string; timestamp: number; strategyId: string }>> }>(`${api}/events/history?type=signal.generated&order=asc&limit=100`);
      return body.events.length >= 3 ? body.events : undefined;
    });
    expect(new Set(signals.map((e) => e.source))).toEqual(new Set(['strategies']));
    for (const s of signals) expect(s.payload.timestamp).toBeGreaterThan(REPLAY_START + FIVE_MINUTES - 1);
    expect(signals.some((s) => ['ema-cross', 'rsi-reversion'].includes(s.payload.strategyId))).toBe(true);

    // The custom agent in the third process printed the same signals, numbered in arrival order.
    const first = signals[0]!.payload.id;
    const printed = await until('the signal logger to print the first signal', async () => {
      const lines = example.output().split('\n').filter((l) => l.startsWith('[signals] signal #'));
      return lines.some((l) => l.endsWith(`id=${first}`)) ? lines : undefined;
    });
    expect(printed[0]).toMatch(/^\[signals\] signal #1 2018-01-\d\dT[\d:.]+Z (ETH|LTC|XLM)\/BTC (long|short|flat) by [\w-]+ at [\d.e-]+ \(confidence [\d.]+, from agent 'strategies'\) id=\S+$/);
    expect(printed[0]).toContain(`id=${first}`);

    // Ctrl-C: every process stops cleanly.
    example.child.kill('SIGINT');
    expect(await example.exited).toBe(0);
    for (const pid of Object.values(pids)) expect(isRunning(pid), `pid ${pid}`).toBe(false);
  });

  it('starts a nats-server of its own when NATS_URL is not set; a killed agent process shows as down while the others go on', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const example = startExample({ NATS_PORT: String(port), TRADEBUS_PREFIX: 'example.own' });
    const { api, pids } = await summaryOf(example);
    expect(example.output()).toContain(`over NATS at nats://127.0.0.1:${port}`);
    const status = await getJson<{ agents: AgentRow[] }>(`${api}/agents/status`);
    expect(status.agents.filter((a) => a.status === 'ok').map((a) => a.agentId).sort()).toEqual(['prices', 'signals', 'strategies']);

    process.kill(pids.signals!, 'SIGKILL');
    const after = await until('the killed signal logger to show as down', async () => {
      const body = await getJson<{ agents: AgentRow[] }>(`${api}/agents/status`);
      return body.agents.find((a) => a.agentId === 'signals')?.status === 'down' ? body.agents : undefined;
    });
    expect(after.filter((a) => a.status === 'ok').map((a) => a.agentId).sort()).toEqual(['prices', 'strategies']);
    expect(example.output()).toContain("The other processes keep running; /agents/status shows 'signals' down");

    // The rest stop cleanly; the exit code says a process was lost on the way.
    example.child.kill('SIGTERM');
    expect(await example.exited).toBe(1);
    expect(example.output()).toContain('exited on their own while running: signals');
    for (const pid of Object.values(pids)) expect(isRunning(pid), `pid ${pid}`).toBe(false);
    const accepting = await new Promise<boolean>((r) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), r(true)));
      socket.once('error', () => r(false));
    });
    expect(accepting).toBe(false);
  });
});
