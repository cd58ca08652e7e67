import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, type BuiltinEvents } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';

// A system whose nats-server requires credentials, with the users and permissions that
// `tradebus nats-config` generates from its config files: each process runs with its own
// credentials and may publish and subscribe to its own subjects only.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const declared = join(root, 'tests', 'nats', 'fixtures', 'declared-agent.mjs');
const PREFIX = 'tradebus.secure';
const STREAM = 'TRADEBUS_SECURE';

const children: ChildProcess[] = [];
let server: NatsServer | undefined;
const closers: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const close of closers) await close().catch(() => undefined);
  await server?.dispose();
});

function start(args: string[], env: Record<string, string>, cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(p: { child: ChildProcess }): Promise<number | null> {
  if (p.child.exitCode !== null) return p.child.exitCode;
  const exited = new Promise<number | null>((r) => p.child.once('exit', (code) => r(code)));
  p.child.kill('SIGTERM');
  return exited;
}

const request = (id: string): BuiltinEvents['order.requested'] => ({
  clientOrderId: id,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'market',
  quantity: 0.01,
  reduceOnly: false,
  purpose: 'entry',
  timestamp: Date.now(),
});

describe('NATS with credentials and per-process permissions', () => {
  it('runs the system with the generated users, and refuses a raw client that injects order.requested', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-secure-'));
    const common = `
system: { name: secure, env: test, heartbeatIntervalMs: 300 }
log: { level: warn }
transport: { kind: nats, servers: "nats://127.0.0.1:1", prefix: ${PREFIX} }
api: { port: 0 }
`;
    writeFileSync(join(dir, 'main.yaml'), `${common}data: { dir: ./main-data }\n`);
    writeFileSync(
      join(dir, 'agents.yaml'),
      `${common}data: { dir: ./data }
providers:
  paper: { kind: paper, venue: paper, quoteCurrency: USDT, balances: { USDT: 10000 }, symbols: [BTC/USDT] }
agents:
  - { id: manager, use: trade-manager, config: { equity: { initial: 1 } } }
  - { id: executor, use: trade-executor, config: { provider: paper, mode: paper } }
  - { id: pulse, use: ${declared}, config: { everyMs: 100 } }
`,
    );

    // The server's users come from the config files, their passwords from the server's environment.
    const generated = spawnSync(process.execPath, [cli, 'nats-config', '--main', 'main.yaml', '--config', 'agents.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(generated.status, generated.stderr).toBe(0);
    const authorization = generated.stdout;
    // nats-server parses a variable's value as config: a password starting with a letter stays a string.
    const passwords = Object.fromEntries(['main', 'manager', 'executor', 'pulse'].map((u) => [u, `p${randomBytes(18).toString('hex')}`]));
    for (const password of Object.values(passwords)) expect(authorization).not.toContain(password);
    expect(authorization).toContain('password: $TRADEBUS_NATS_PASS_EXECUTOR');
    server = await NatsServer.start({
      config: authorization,
      env: Object.fromEntries(Object.entries(passwords).map(([u, p]) => [`TRADEBUS_NATS_PASS_${u.toUpperCase()}`, p])),
    });
    const url = server.url;
    // Each process gets its server address and credentials from the environment, none from the files.
    const credentials = (user: string): Record<string, string> => ({
      TRADEBUS__TRANSPORT__SERVERS: url,
      TRADEBUS__TRANSPORT__USER: user,
      TRADEBUS__TRANSPORT__PASS: passwords[user]!,
      TRADEBUS__TRANSPORT__INBOX_PREFIX: `_INBOX_${user}`,
    });

    // The recording process first: it creates the streams the others may only read.
    const main = start(['run', '--config', 'main.yaml'], credentials('main'), dir);
    const api = await until('the API address', async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(main.output())?.[1]);
    const executor = start(['agent', 'executor', '--config', 'agents.yaml'], credentials('executor'), dir);
    const pulse = start(['agent', 'pulse', '--config', 'agents.yaml'], credentials('pulse'), dir);
    await until('both agent processes ok', async () => {
      for (const p of [main, executor, pulse]) if (p.child.exitCode !== null) throw new Error(p.output());
      const body = (await (await fetch(`${api}/agents/status`)).json()) as { agents: Array<{ agentId: string; status: string }> };
      return ['executor', 'pulse'].every((id) => body.agents.some((a) => a.agentId === id && a.status === 'ok')) ? true : undefined;
    });
    // The executor's durable consumer exists (the main user may look at any consumer of the stream).
    const admin = await server.connect({ user: 'main', pass: passwords.main, inboxPrefix: '_INBOX_main' });
    closers.push(() => admin.close());
    await until('the executor consumer', async () => {
      const info = (await admin.request(`$JS.API.CONSUMER.INFO.${STREAM}.executor-order_requested`, '', { timeout: 2_000 })).json<{ error?: unknown }>();
      return info.error === undefined ? true : undefined;
    });

    // This test process plays the trade manager, with the manager's credentials: allowed to request orders.
    const catalogue = new EventCatalogue(builtinEvents);
    const manager = new NatsTransport({ servers: url, prefix: PREFIX, catalogue, user: 'manager', pass: passwords.manager, inboxPrefix: '_INBOX_manager' });
    closers.push(() => manager.close());
    await manager.connect();
    const bus = new EventBus<BuiltinEvents>({ transport: manager, catalogue, clock: new WallClock(), source: 'manager' });
    const updates: string[] = [];
    bus.subscribe('order.updated', (e) => void updates.push(e.payload.clientOrderId));
    await manager.flush();
    await bus.publishConfirmed('order.requested', request('legit-1'));
    await until('the executor handling legit-1', async () => (updates.includes('legit-1') ? true : undefined));

    // Nobody gets in without credentials.
    await expect(server.connect({ maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/);

    // The executor's own credentials do not allow requesting an order: the server refuses the publish.
    const intruder = await server.connect({ user: 'executor', pass: passwords.executor, inboxPrefix: '_INBOX_executor' });
    closers.push(() => intruder.close());
    const refused: string[] = [];
    void (async () => {
      for await (const s of intruder.status()) if (s.type === 'error') refused.push(String(s.error?.message));
    })();
    const forged = JSON.stringify({ id: 'forged-1', type: 'order.requested', source: 'manager', ts: Date.now(), seq: 1, payload: request('injected') });
    intruder.publish(`${PREFIX}.order.requested`, forged);
    await intruder.flush();
    await until('the refusal', async () => (refused.some((m) => m.includes(`Permissions Violation for Publish to "${PREFIX}.order.requested"`)) ? true : undefined));
    // Nor as a JetStream publish, which would be acknowledged if it were stored.
    await expect(intruder.request(`${PREFIX}.order.requested`, forged, { timeout: 2_000 })).rejects.toThrow(/Permissions Violation for Publish/);
    // A process may read only what its agents subscribe to: the declared agent subscribes to nothing.
    const snoop = await server.connect({ user: 'pulse', pass: passwords.pulse, inboxPrefix: '_INBOX_pulse' });
    closers.push(() => snoop.close());
    const snoopErrors: string[] = [];
    void (async () => {
      for await (const s of snoop.status()) if (s.type === 'error') snoopErrors.push(String(s.error?.message));
    })();
    snoop.subscribe(`${PREFIX}.order.>`);
    snoop.subscribe('_INBOX_manager.>');
    await snoop.flush();
    await until('the refused subscriptions', async () => (snoopErrors.length >= 2 ? true : undefined));
    expect(snoopErrors.join('\n')).toMatch(/Permissions Violation for Subscription to "tradebus\.secure\.order\.>"/);
    expect(snoopErrors.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX_manager\.>"/);

    // The next real order goes through; the forged one never reached the executor or the history.
    await bus.publishConfirmed('order.requested', request('legit-2'));
    await until('the executor handling legit-2', async () => (updates.includes('legit-2') ? true : undefined));
    expect(updates).not.toContain('injected');
    const recorded = await until('the recorded orders', async () => {
      const { orders } = (await (await fetch(`${api}/orders?limit=100`)).json()) as { orders: Array<{ clientOrderId: string }> };
      return orders.length >= 2 ? orders.map((o) => o.clientOrderId).sort() : undefined;
    });
    expect(recorded).toEqual(['legit-1', 'legit-2']);

    expect(await stop(executor)).toBe(0);
    expect(await stop(pulse)).toBe(0);
    expect(await stop(main)).toBe(0);
    // No process tripped over a permission it needed: the server logged violations for the raw clients only.
    expect(server.logs).not.toMatch(/Violation - User "(main|executor|pulse)", Subject "(?!tradebus\.secure\.order\.requested|tradebus\.secure\.order\.>|_INBOX_manager\.>)/);
  }, 60_000);
});
