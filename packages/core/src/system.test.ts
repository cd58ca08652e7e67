import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, defineAgent, type AgentContext } from './agent/base-agent.js';
import { VirtualClock } from './clock.js';
import { ConfigError, TradebusError } from './errors.js';
import { libraryLogger, logLevelFromEnv, silentLogger } from './logger.js';
import { AgentStartError, createSystem } from './system.js';

// The core package folder: a child process started there resolves '@tradebus/core' to its build.
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('TradebusSystem.pendingHandlers', () => {
  it('counts async handler runs on every bus of the system until they settle', async () => {
    const system = createSystem({ monitorHealth: false, logger: silentLogger() });
    const watcher = system.createBus('watcher');
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    watcher.subscribe('system.alert', async () => {
      await gate;
    });
    system.bus.subscribe('system.alert', () => undefined);
    expect(system.pendingHandlers).toBe(0);
    system.bus.publish('system.alert', { level: 'info', code: 'T', message: 'one', timestamp: 0 });
    system.bus.publish('system.alert', { level: 'info', code: 'T', message: 'two', timestamp: 0 });
    // The synchronous handler is done at once; the two async runs are not.
    expect(system.pendingHandlers).toBe(2);
    finish();
    await gate;
    await new Promise((r) => setImmediate(r));
    expect(system.pendingHandlers).toBe(0);
  });
});

class NeedsProvider extends BaseAgent<{ provider: string; symbols: string[]; failFirst?: number }> {
  static attempts = new Map<string, number>();
  protected override initialize(): void {
    const n = (NeedsProvider.attempts.get(this.id) ?? 0) + 1;
    NeedsProvider.attempts.set(this.id, n);
    // A venue that does not answer yet: worth retrying.
    if (n <= (this.config.failFirst ?? 0)) throw new TradebusError('PROVIDER_NETWORK', 'venue did not answer');
    this.services.get(`provider:${this.config.provider}`);
  }
  protected run(): void {}
}
const needsProvider = defineAgent({
  kind: 'needs-provider',
  configSchema: z.object({ provider: z.string(), symbols: z.array(z.string()), failFirst: z.number().optional() }),
  create: (ctx: AgentContext<{ provider: string; symbols: string[]; failFirst?: number }>) => new NeedsProvider(ctx),
});

describe('TradebusSystem.start', () => {
  it('rejects when an agent cannot start because of its settings, naming the agent, the key and near matches, and leaves nothing running', async () => {
    NeedsProvider.attempts.clear();
    const system = createSystem({
      logger: silentLogger(),
      services: { 'provider:binance': {}, 'provider:paper': {}, 'data-store': {} },
      agents: [
        { id: 'ok', definition: needsProvider, config: { provider: 'paper', symbols: ['BTC/USDT'] } },
        { id: 'prices', definition: needsProvider, config: { provider: 'binanse', symbols: ['BTC/USDT'] }, restart: { initialDelayMs: 1 } },
      ],
    });
    const alerts: string[] = [];
    system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload.code));
    const err = await system.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentStartError);
    expect(err).toBeInstanceOf(ConfigError);
    const failure = err as AgentStartError;
    expect(failure.message).toBe(
      "Agent 'prices' cannot start: agents[prices].config.provider: no provider named 'binanse' is registered. Did you mean 'binance'? Registered: binance, paper. Name one of them, or register the provider (services: { 'provider:binanse': provider }).",
    );
    expect(failure.agents).toEqual(['prices']);
    expect(failure.issues.map((i) => i.path)).toEqual(['agents[prices].config.provider']);
    expect(alerts).toContain('AGENT_CONFIG_INVALID');
    // Stopped, and not restarted in the background.
    expect(system.transport.status).toBe('closed');
    expect(system.agent('ok').state).toBe('stopped');
    await new Promise((r) => setTimeout(r, 30));
    expect(NeedsProvider.attempts.get('prices')).toBe(1);
    expect(system.supervisor.list().find((a) => a.id === 'prices')).toMatchObject({ gaveUp: true, restarts: 0 });
  });

  it('names the key of a bad value deep in the settings, and every agent that cannot start', async () => {
    class Strict extends BaseAgent<{ legs: Array<{ symbol: string }> }> {
      protected override initialize(): void {
        const symbol = this.config.legs[1]!.symbol;
        throw new TradebusError('PROVIDER_BAD_SYMBOL', `venue: unknown symbol '${symbol}'. Did you mean 'XRP/ETH'?`, { details: { symbol } });
      }
      protected run(): void {}
    }
    const strict = defineAgent({ kind: 'strict', configSchema: z.object({ legs: z.array(z.object({ symbol: z.string() })) }), create: (ctx: AgentContext<{ legs: Array<{ symbol: string }> }>) => new Strict(ctx) });
    const system = createSystem({
      logger: silentLogger(),
      agents: [
        { id: 'a', definition: strict, config: { legs: [{ symbol: 'BTC/USDT' }, { symbol: 'XPR/ETH' }] } },
        { id: 'b', definition: needsProvider, config: { provider: 'nowhere', symbols: [] } },
      ],
    });
    const err = (await system.start().catch((e: unknown) => e)) as AgentStartError;
    expect(err.agents).toEqual(['a', 'b']);
    expect(err.issues).toEqual([
      { path: 'agents[a].config.legs[1].symbol', message: "venue: unknown symbol 'XPR/ETH'. Did you mean 'XRP/ETH'?" },
      { path: 'agents[b].config.provider', message: "no provider named 'nowhere' is registered. Registered: none. Name one of them, or register the provider (services: { 'provider:nowhere': provider })." },
    ]);
    expect(err.message).toMatch(/^2 agents cannot start:\n {2}- agents\[a\]\.config\.legs\[1\]\.symbol: .*\n {2}- agents\[b\]\.config\.provider: /);
  });

  it('resolves when a start fails on something that may pass, and restarts the agent with back-off', async () => {
    NeedsProvider.attempts.clear();
    const system = createSystem({
      logger: silentLogger(),
      services: { 'provider:binance': {} },
      agents: [{ id: 'prices', definition: needsProvider, config: { provider: 'binance', symbols: [], failFirst: 1 }, restart: { initialDelayMs: 5 } }],
    });
    await system.start();
    expect(system.agent('prices').state).toBe('failed');
    for (let i = 0; i < 400 && system.agent('prices').state !== 'running'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(system.agent('prices').state).toBe('running');
    expect(NeedsProvider.attempts.get('prices')).toBe(2);
    await system.stop();
  });
});

describe('TradebusSystem.health without a health monitor', () => {
  it("shows this process's own agents instead of an empty, down system", async () => {
    const clock = new VirtualClock(0);
    const system = createSystem({
      logger: silentLogger(),
      clock,
      monitorHealth: false,
      services: { 'provider:binance': {} },
      agents: [{ id: 'prices', definition: needsProvider, config: { provider: 'binance', symbols: [] } }],
    });
    expect(system.health.snapshot()).toMatchObject({ agents: [{ agentId: 'prices', status: 'stopped', state: 'created' }] });
    await system.start();
    clock.advanceBy(2_500);
    const snapshot = system.health.snapshot();
    expect(snapshot).toMatchObject({
      status: 'ok',
      agents: [{ agentId: 'prices', kind: 'needs-provider', status: 'ok', state: 'running', uptimeMs: 2_500, pid: process.pid, transport: system.transport.name }],
    });
    expect(system.health.agent('prices')?.status).toBe('ok');
    expect(system.health.agent('ghost')).toBeUndefined();
    await system.stop();
    expect(system.health.snapshot()).toMatchObject({ agents: [{ agentId: 'prices', status: 'stopped' }] });
  });
});

describe('default logging', () => {
  it('logs at TRADEBUS_LOG_LEVEL, warn when unset, and names a level that is not one', () => {
    expect(libraryLogger({ env: {} }).level).toBe('warn');
    expect(libraryLogger({ env: { TRADEBUS_LOG_LEVEL: 'DEBUG' } }).level).toBe('debug');
    expect(logLevelFromEnv('info', {})).toBe('info');
    expect(() => libraryLogger({ env: { TRADEBUS_LOG_LEVEL: 'verbose' } })).toThrow(
      "TRADEBUS_LOG_LEVEL is 'verbose', which is not a log level: use one of fatal, error, warn, info, debug, trace, silent (or unset it for warn).",
    );
  });

  it('writes what goes wrong in a system built in code to stderr, and nothing to stdout', () => {
    // A child process, so the logger writes to a real stderr: a handler that throws and an agent that cannot start.
    const script = `
      import { BaseAgent, createSystem, defineAgent } from '@tradebus/core';
      import { z } from 'zod';
      class Broken extends BaseAgent { initialize() { this.services.get('provider:binanse'); } run() {} }
      const broken = defineAgent({ kind: 'broken', configSchema: z.object({ provider: z.string() }), create: (ctx) => new Broken(ctx) });
      const system = createSystem({ agents: [{ id: 'prices', definition: broken, config: { provider: 'binanse' } }] });
      system.bus.subscribe('system.alert', () => { throw new Error('handler bug'); });
      await system.start().catch((err) => process.exitCode = err.code === 'CONFIG_INVALID' ? 3 : 4);
    `;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir, env: { ...process.env, ...env }, encoding: 'utf8' });
    const quiet = run({ TRADEBUS_LOG_LEVEL: '' });
    expect(quiet.status).toBe(3);
    expect(quiet.stdout).toBe('');
    const lines = quiet.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string; agent?: string });
    expect(lines.every((l) => l.level >= 40)).toBe(true);
    expect(lines.some((l) => l.agent === 'prices' && l.msg.includes("agents[prices].config.provider: no provider named 'binanse' is registered"))).toBe(true);
    expect(lines.some((l) => l.msg === 'event handler failed')).toBe(true);
    const chatty = run({ TRADEBUS_LOG_LEVEL: 'info' });
    expect(chatty.stderr).toContain('"msg":"agent state changed"');
  });
});
