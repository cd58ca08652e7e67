import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer } from '@tradebus/core/testing';

// One agent per process (`tradebus agent <id>`): a process builds only the providers its agent
// uses. The prices process starts although the executor's venue needs variables it does not have,
// and it never loads ccxt; the executor's process fails, naming the variable.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const children: ChildProcess[] = [];
let nats: NatsServer;
let dir: string;
let config: string;
let noCcxt: string;

beforeAll(async () => {
  nats = await NatsServer.start();
  dir = mkdtempSync(join(tmpdir(), 'tradebus-providers-per-process-'));
  config = join(dir, 'tradebus.yaml');
  writeFileSync(
    config,
    `
system: { name: per-process, heartbeatIntervalMs: 500 }
log: { level: warn }
transport: { kind: nats, servers: ${nats.url}, prefix: per.process }
data: { dir: ./data, fsync: never }
providers:
  market:
    kind: synthetic
    symbols: [{ symbol: BTC/USDT, startPrice: 100 }]
    timeframe: 1s
  kraken:
    kind: ccxt
    exchange: kraken
    credentials: { apiKey: "\${KRAKEN_TEST_KEY}", secret: "\${KRAKEN_TEST_SECRET}" }
  bybit:
    kind: ccxt
    exchange: bybit
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [BTC/USDT], timeframes: [1s], ticks: false }
  - id: executor
    use: trade-executor
    config: { provider: kraken, mode: live }
`,
  );
  // Fails any process that loads ccxt: a process without an exchange provider must not.
  noCcxt = join(dir, 'no-ccxt.mjs');
  const hook = `export async function resolve(specifier, context, next) {
  if (specifier === 'ccxt' || specifier.startsWith('ccxt/')) throw new Error('ccxt loaded in a process that builds no ccxt provider');
  return next(specifier, context);
}`;
  writeFileSync(noCcxt, `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});\n`);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await nats?.dispose();
});

// The variables the executor's venue names are not set; bybit's default ones are half set, which
// would fail any process that read them.
const env = (): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, TRADEBUS_BYBIT_API_KEY: 'half-of-a-bybit-key' };
  delete e.KRAKEN_TEST_KEY;
  delete e.KRAKEN_TEST_SECRET;
  delete e.TRADEBUS_BYBIT_SECRET;
  return e;
};

describe('tradebus agent <id>: each process builds only its own providers', () => {
  it('the hook used below does stop a process that loads ccxt', () => {
    const res = spawnSync(process.execPath, ['--import', noCcxt, '--input-type=module', '-e', "await (await import('@tradebus/providers')).loadCcxt();"], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('ccxt loaded in a process that builds no ccxt provider');
  });

  it('the prices process starts without the venue variables and without loading ccxt', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, ['--import', noCcxt, cli, 'agent', 'prices', '--config', config], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const started = await Promise.race([
      new Promise<boolean>((r) => {
        const check = setInterval(() => {
          if (out.includes("is running 1 agent(s) on the nats bus")) {
            clearInterval(check);
            r(true);
          }
        }, 50);
      }),
      exited.then(() => false),
    ]);
    expect(started, out).toBe(true);
    // Its agent runs: it reports so in its heartbeats on the bus.
    const nc = await nats.connect();
    try {
      let running = false;
      for await (const msg of nc.subscribe('per.process.agent.heartbeat', { timeout: 10_000 })) {
        const text = msg.string();
        if (text.includes('"agentId":"prices"') && text.includes('"status":"running"')) {
          running = true;
          break;
        }
      }
      expect(running).toBe(true);
    } finally {
      await nc.close();
    }
    child.kill('SIGTERM');
    expect(await exited, out).toBe(0);
    expect(out).not.toMatch(/KRAKEN_TEST|bybit|ccxt/i);
  });

  it("the executor's process fails at once, naming the variable its venue needs", () => {
    const res = spawnSync(process.execPath, [cli, 'agent', 'executor', '--config', config], { cwd: dir, env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('providers.kraken.credentials.apiKey: refers to environment variable KRAKEN_TEST_KEY, which is not set');
    expect(res.stderr).toContain('providers.kraken.credentials.secret: refers to environment variable KRAKEN_TEST_SECRET, which is not set');
    // It names only what its own provider needs.
    expect(res.stderr).not.toContain('bybit');
  });
});
