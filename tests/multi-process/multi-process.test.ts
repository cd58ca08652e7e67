import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
