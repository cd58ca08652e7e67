import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, openDataStore, type BuiltinEvents } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';

// `tradebus agent` for three agents, each its own process, and `tradebus run` with only the REST
// API and health monitor, all meeting over a real nats-server.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const pulse = join(root, 'packages', 'agents', 'main', 'test-fixtures', 'pulse-agent.mjs');
const children: ChildProcess[] = [];
let nats: NatsServer;

beforeAll(async () => {
  nats = await NatsServer.start();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await nats?.dispose();
});

function start(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn().catch((err: Error) => {
      if (err.message.includes('Tradebus')) throw err;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('one agent per process over NATS', () => {
  it('main process lists the three agents of the other processes with their pids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-multi-'));
    const common = `
system: { name: multi, env: test, heartbeatIntervalMs: 300 }
log: { level: warn }
transport: { kind: nats, servers: "${nats.url}", prefix: tradebus.multi }
data: { dir: ./data }
api: { port: 0 }
`;
    const agentsFile = join(dir, 'agents.yaml');
    writeFileSync(
      agentsFile,
      `${common}
agents:
  - { id: pulse-a, use: ${pulse}, config: { everyMs: 100 } }
  - { id: pulse-b, use: ${pulse}, config: { everyMs: 100 } }
  - { id: pulse-c, use: ${pulse}, config: { everyMs: 100 } }
`,
    );
    const mainFile = join(dir, 'main.yaml');
    writeFileSync(mainFile, `${common}\ndata: { dir: ./main-data }\n`.replace(/data: \{ dir: \.\/data \}\n/, ''));

    const main = start(['run', '--config', mainFile]);
    const api = await until('the API address', async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(main.output())?.[1]);
    const workers = ['pulse-a', 'pulse-b', 'pulse-c'].map((id) => ({ id, ...start(['agent', id, '--config', agentsFile]) }));

    const agents = await until('three agents ok', async () => {
      if (workers.some((w) => w.child.exitCode !== null)) throw new Error(workers.map((w) => w.output()).join('\n'));
      const body = (await (await fetch(`${api}/agents/status`)).json()) as { agents: Array<{ agentId: string; status: string; pid: number; transport: string; local: boolean }> };
      const ok = body.agents.filter((a) => a.status === 'ok');
      return ok.length === 3 ? body.agents : undefined;
    });
    for (const w of workers) {
      const seen = agents.find((a) => a.agentId === w.id)!;
      expect(seen.pid).toBe(w.child.pid);
      expect(seen.transport).toBe('nats');
      expect(seen.local).toBe(false);
    }
    expect(new Set(agents.map((a) => a.pid)).size).toBe(3);
    expect(agents.some((a) => a.pid === main.child.pid)).toBe(false);

    const exits = workers.map((w) => new Promise<number | null>((r) => w.child.once('exit', (code) => r(code))));
    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0, 0]);
    const mainExit = new Promise<number | null>((r) => main.child.once('exit', (code) => r(code)));
    main.child.kill('SIGTERM');
    expect(await mainExit).toBe(0);
  });
});

describe('the executor in its own process, with the recording process beside it', () => {
  const PREFIX = 'tradebus.durable';
  const STREAM = 'TRADEBUS_DURABLE';
  let observer: NatsTransport | undefined;

  afterAll(async () => {
    await observer?.close();
  });

  const request = (n: number): BuiltinEvents['order.requested'] => ({
    clientOrderId: `mp-${n}`,
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'market',
    quantity: 0.01,
    reduceOnly: false,
    purpose: 'entry',
    timestamp: Date.now(),
  });

  /** A JetStream API call by a raw client: the server's view of a durable consumer. */
  async function consumerInfo(name: string): Promise<{ num_pending: number; num_ack_pending: number; num_redelivered: number } | undefined> {
    const nc = await nats.connect();
    try {
      const reply = (await nc.request(`$JS.API.CONSUMER.INFO.${STREAM}.${name}`, '', { timeout: 3_000 })).json<{ error?: unknown; num_pending: number; num_ack_pending: number; num_redelivered: number }>();
      return reply.error === undefined ? reply : undefined;
    } finally {
      await nc.close();
    }
  }

  it('order requests published while the executor is down are executed once each, in order, when it returns; only the API process records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-durable-'));
    const common = `
system: { name: durable, env: test, heartbeatIntervalMs: 300 }
log: { level: warn }
transport: { kind: nats, servers: "${nats.url}", prefix: ${PREFIX}, ackWaitMs: 2000 }
api: { port: 0 }
`;
    const agentsFile = join(dir, 'agents.yaml');
    writeFileSync(
      agentsFile,
      `${common}
data: { dir: ./data }
providers:
  paper: { kind: paper, venue: paper, quoteCurrency: USDT, balances: { USDT: 10000 }, symbols: [BTC/USDT] }
agents:
  - { id: executor, use: trade-executor, config: { provider: paper, mode: paper } }
  - { id: pulse-a, use: ${pulse}, config: { everyMs: 100 } }
`,
    );
    const mainFile = join(dir, 'main.yaml');
    writeFileSync(mainFile, `${common}\ndata: { dir: ./main-data }\n`);

    // What the executor publishes, seen by a plain subscriber in this process.
    const catalogue = new EventCatalogue(builtinEvents);
    observer = new NatsTransport({ servers: nats.url, prefix: PREFIX, catalogue, name: 'observer' });
    await observer.connect();
    const bus = new EventBus<BuiltinEvents>({ transport: observer, catalogue, clock: new WallClock(), source: 'manager' });
    const updates: Array<{ id: string; status: string }> = [];
    // A restarted executor tells the states it had announced again (restated): those are not new handlings.
    bus.subscribe('order.updated', (e) => {
      if (e.payload.restated !== true) updates.push({ id: e.payload.clientOrderId, status: e.payload.status });
    });
    await observer.flush();
    const statusesOf = (id: string): string[] => updates.filter((u) => u.id === id).map((u) => u.status);

    const main = start(['run', '--config', mainFile]);
    const api = await until('the API address', async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(main.output())?.[1]);
    const startExecutor = () => start(['agent', 'executor', '--config', agentsFile]);
    let executor = startExecutor();
    const pulseProcess = start(['agent', 'pulse-a', '--config', agentsFile]);
    // The executor's subscription is durable under a name derived from its id and the event type.
    await until('the executor consumer', async () => {
      if (executor.child.exitCode !== null) throw new Error(`Tradebus executor exited:\n${executor.output()}`);
      return consumerInfo('executor-order_requested');
    });

    await bus.publishConfirmed('order.requested', request(1));
    await until('the first order handled', async () => (statusesOf('mp-1').length >= 2 ? true : undefined));
    const lifecycle = statusesOf('mp-1');
    expect(lifecycle[0]).toBe('submitted');

    const exited = new Promise<number | null>((r) => executor.child.once('exit', (code) => r(code)));
    executor.child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // The executor process is down: its requests wait in JetStream.
    for (let n = 2; n <= 5; n++) await bus.publishConfirmed('order.requested', request(n));
    expect((await consumerInfo('executor-order_requested'))?.num_pending).toBe(4);
    executor = startExecutor();
    await until('the missed orders handled', async () => ([2, 3, 4, 5].every((n) => statusesOf(`mp-${n}`).length >= lifecycle.length) ? true : undefined));
    // One more after them: once it is handled, everything before it has been (the executor takes one at a time).
    await bus.publishConfirmed('order.requested', request(6));
    await until('the last order handled', async () => (statusesOf('mp-6').length >= lifecycle.length ? true : undefined));
    const info = await consumerInfo('executor-order_requested');
    expect(info).toMatchObject({ num_pending: 0, num_ack_pending: 0, num_redelivered: 0 });

    const ids = [1, 2, 3, 4, 5, 6].map((n) => `mp-${n}`);
    expect([...new Set(updates.map((u) => u.id))]).toEqual(ids);
    for (const id of ids) expect(statusesOf(id), id).toEqual(lifecycle);

    // The API process recorded the history of orders it never handled itself.
    const recorded = await until('the orders recorded by the API process', async () => {
      const { orders } = (await (await fetch(`${api}/orders?limit=100`)).json()) as { orders: Array<{ clientOrderId: string; status: string }> };
      return orders.length === ids.length && orders.every((o) => o.status === lifecycle.at(-1)) ? orders : undefined;
    });
    expect(recorded.map((o) => o.clientOrderId).sort()).toEqual(ids);

    for (const p of [executor, pulseProcess, main]) {
      const done = new Promise<number | null>((r) => p.child.once('exit', (code) => r(code)));
      p.child.kill('SIGTERM');
      expect(await done).toBe(0);
    }
    // Exactly one process journalled and recorded: the API process. The agent processes kept their own state only.
    const mainStore = await openDataStore({ dir: join(dir, 'main-data') });
    try {
      const journalled = await mainStore.journal.query({ types: ['order.requested'], limit: 100 });
      expect(journalled.map((e) => (e.envelope.payload as { clientOrderId: string }).clientOrderId).sort()).toEqual(ids);
      expect((await mainStore.journal.query({ types: ['system.alert'], limit: 5 })).length).toBeGreaterThan(0);
    } finally {
      await mainStore.close();
    }
    for (const agentDir of ['executor', 'pulse-a']) {
      const store = await openDataStore({ dir: join(dir, 'data', 'agents', agentDir) });
      try {
        expect(await store.journal.query({ limit: 10 }), agentDir).toEqual([]);
        expect(await store.orders.query({ limit: 10 }), agentDir).toEqual([]);
      } finally {
        await store.close();
      }
    }
  });
});
