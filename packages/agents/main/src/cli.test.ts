import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '..', 'dist', 'cli.js');
const pulseAgent = resolve(here, '..', 'test-fixtures', 'pulse-agent.mjs');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function configDir(yaml: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-cli-'));
  const file = join(dir, 'tradebus.yaml');
  writeFileSync(file, yaml);
  return { dir, file };
}

function tradebus(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
}

const systemYaml = (extra = '') => `
system:
  name: cli-test
  heartbeatIntervalMs: 200
  shutdownDeadlineMs: 5000
log:
  level: warn
data:
  dir: ./data
api:
  port: 0
agents:
  - id: pulse-a
    use: ${pulseAgent}
    config: { everyMs: 50 }
  - id: pulse-b
    use: ${pulseAgent}
    dependsOn: [pulse-a]
${extra}`;

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('tradebus CLI', () => {
  it('run: serves /agents/status until every agent is ok, then exits 0 on SIGTERM', async () => {
    const { file, dir } = configDir(systemYaml());
    const child = spawn(process.execPath, [cli, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await until(async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]);
    const agents = await until(async () => {
      const body = (await (await fetch(`${url}/agents/status`)).json()) as { agents: Array<{ agentId: string; status: string; pid: number }> };
      return body.agents.length === 2 && body.agents.every((a) => a.status === 'ok') ? body.agents : undefined;
    });
    expect(agents.map((a) => a.agentId)).toEqual(['pulse-a', 'pulse-b']);
    expect(agents.every((a) => a.pid === child.pid)).toBe(true);
    expect(out).toContain(`API token    in ${join(dir, 'data', 'api-token')}`);
    expect(readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim().length).toBeGreaterThanOrEqual(16);

    const status = tradebus(['status', '--url', url]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/^system: ok/);
    expect(status.stdout).toMatch(/pulse-a\s+pulse\s+ok/);

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('SIGTERM: stopping agents');
  });

  it('never shows a planted secret in logs, GET /config or GET /events/history', async () => {
    const holder = resolve(here, '..', 'test-fixtures', 'secret-agent.mjs');
    const { file } = configDir(`
system: { name: secrets, heartbeatIntervalMs: 200 }
log: { level: debug }
data: { dir: ./data, fsync: always }
api: { port: 0 }
agents:
  - id: holder
    use: ${holder}
    config: { apiKey: "\${HOLDER_KEY}" }
`);
    const child = spawn(process.execPath, [cli, 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOLDER_KEY: 'planted-agent-key-4242', TRADEBUS_API_TOKEN: 'planted-api-token-4242-abcdef' },
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await until(async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]);
    const history = await until(async () => {
      const text = await (await fetch(`${url}/events/history?type=system.alert`)).text();
      return text.includes('HOLDER_READY') ? text : undefined;
    });
    expect((await fetch(`${url}/config`)).status).toBe(401);
    const config = await (await fetch(`${url}/config`, { headers: { authorization: 'Bearer planted-api-token-4242-abcdef' } })).text();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('configured');
    expect(history).toContain('[REDACTED]');
    expect(config).toContain('[REDACTED]');
    for (const [where, text] of [['logs', out], ['/config', config], ['/events/history', history]] as const) {
      expect(text, where).not.toContain('planted-agent-key-4242');
      expect(text, where).not.toContain('planted-api-token-4242');
    }
  });

  it('exits 2 naming the bad key when the config is invalid', () => {
    const { file } = configDir(systemYaml().replace('heartbeatIntervalMs: 200', 'heartbeatIntervalMs: soon'));
    const res = tradebus(['run', '--config', file]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('system.heartbeatIntervalMs: expected number, received string "soon"');
  });

  it('exits 2 naming the agent setting an agent rejects, and the unknown agent package', () => {
    const { file } = configDir(
      systemYaml('  - id: ghost\n    use: "@tradebus/agent-price-watchdg"\n').replace('config: { everyMs: 50 }', 'config: { everyMs: -1 }'),
    );
    const res = tradebus(['validate-config', '--config', file]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('agents[0].config.everyMs');
    expect(res.stderr).toMatch(/agents\[2\]\.use: cannot find '@tradebus\/agent-price-watchdg'\. Did you mean '@tradebus\/agent-price-watchdog'/);
  });

  it('names the agent settings an agent rejects also when the file has problems of its own', () => {
    const { file } = configDir(
      systemYaml('  - id: off\n    use: pulse\n    enabled: false\n    config: { everyMs: -5 }\n')
        .replace('heartbeatIntervalMs: 200', 'heartbeatIntervalMs: soon')
        .replace('config: { everyMs: 50 }', 'config: { everyMs: -1 }'),
    );
    const res = tradebus(['validate-config', '--config', file]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('system.heartbeatIntervalMs: expected number, received string "soon"');
    expect(res.stderr).toContain('agents[0].config.everyMs');
    // A disabled agent is not checked, as when the file is otherwise fine.
    expect(res.stderr).not.toContain('agents[2]');
  });

  it('validate-config accepts a good file; usage errors exit 64; --help exits 0', () => {
    const { file } = configDir(systemYaml());
    const ok = tradebus(['validate-config', '--config', file]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('2 agent(s): pulse-a (pulse), pulse-b (pulse)');
    expect(tradebus(['run']).status).toBe(64);
    expect(tradebus(['frobnicate']).status).toBe(64);
    const badPort = tradebus(['run', '--config', file, '--port', 'abc']);
    expect(badPort.status).toBe(64);
    expect(badPort.stderr).toContain("use a whole number from 0 to 65535, got 'abc'");
    const help = tradebus(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('validate-config');
  });

  it('runs as the installed tradebus command, and through a symlinked path with a space in it', () => {
    const installed = resolve(here, '..', '..', '..', '..', 'node_modules', '.bin', 'tradebus');
    const viaBin = spawnSync(installed, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    expect(viaBin.stderr).toBe('');
    expect(viaBin.status).toBe(0);
    expect(viaBin.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const dir = join(mkdtempSync(join(tmpdir(), 'tradebus-cli-')), 'my bots');
    mkdirSync(dir);
    symlinkSync(cli, join(dir, 'cli.js'));
    const viaLink = spawnSync(process.execPath, [join(dir, 'cli.js'), '--version'], { encoding: 'utf8', timeout: 20_000 });
    expect(viaLink.status).toBe(0);
    expect(viaLink.stdout.trim()).toBe(viaBin.stdout.trim());
  });

  it('the command says to build first when the CLI is not built', () => {
    const bin = join(mkdtempSync(join(tmpdir(), 'tradebus-unbuilt-')), 'bin');
    mkdirSync(bin);
    copyFileSync(resolve(here, '..', 'bin', 'tradebus.js'), join(bin, 'tradebus.js'));
    const res = spawnSync(process.execPath, [join(bin, 'tradebus.js'), '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('tradebus is not built yet: run `npm run build`');
  });

  it('agent: refuses to run one agent per process on the in-process bus', () => {
    const { file } = configDir(systemYaml());
    const res = tradebus(['agent', 'pulse-a', '--config', file]);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('transport.kind: nats');
  });

  it('status: says when no system answers', () => {
    const res = tradebus(['status', '--url', 'http://127.0.0.1:9']);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/Cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
