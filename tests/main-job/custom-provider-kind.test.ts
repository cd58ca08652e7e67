import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStartError, ConfigError } from '@tradebus/core';
import { launchSystem, prepareSystem } from '@tradebus/agent-main';

// A provider package of a kind of its own, installed next to a config file that names it by
// package name (`providers.quotes.kind: '@acme/tradebus-provider-fixed'`), run as `tradebus run`
// runs a config: validated with the rest of the file, built by the launcher, used by the
// built-in price watchdog.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = join(root, 'packages', 'providers', 'test-fixtures', 'tradebus-provider-fixed');
let dir: string;

const config = (provider: string, price: number): string => `
system: { name: custom-kind, heartbeatIntervalMs: 60000 }
log: { level: silent }
data: { dir: ./data, fsync: never }
api: { enabled: false }
providers:
  quotes:
    kind: '@acme/tradebus-provider-fixed'
    timeframe: 1s
    symbols: [{ symbol: BTC/USDT, price: ${price} }]
agents:
  - id: prices
    use: price-watchdog
    config: { provider: ${provider}, symbols: [BTC/USDT], timeframes: [1s], ticks: false, publishForming: false }
`;

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tradebus-custom-kind-'));
  mkdirSync(join(dir, 'node_modules', '@acme'), { recursive: true });
  symlinkSync(fixture, join(dir, 'node_modules', '@acme', 'tradebus-provider-fixed'), 'dir');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a provider kind of your own in a config file', () => {
  it('is loaded by package name, validated with the config, and feeds the built-in agents', async () => {
    const running = await launchSystem(await prepareSystem(write('ok.yaml', config('quotes', 50_000)), { env: {} }), { env: {} });
    try {
      const bars = await running.system.bus.waitFor('candle.closed', { timeoutMs: 10_000 });
      expect(bars.payload).toMatchObject({ symbol: 'BTC/USDT', timeframe: '1s', close: 50_000 });
      expect(running.system.agent('prices').state).toBe('running');
    } finally {
      await running.stop();
    }
  });

  it('has its settings checked by its own schema before anything starts, named by key', async () => {
    const err = (await prepareSystem(write('bad.yaml', config('quotes', -1)), { env: {} }).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues.map((i) => i.path)).toEqual(['providers.quotes.symbols[0].price']);
  });

  it('an agent naming a provider that is not there is reported with the near match before anything starts', async () => {
    const err = (await prepareSystem(write('typo.yaml', config('qoutes', 50_000)), { env: {} }).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues).toEqual([{ path: 'agents[0].config.provider', message: "no provider named 'qoutes' in providers. Did you mean 'quotes'? Configured: quotes." }]);
  });

  it('an agent naming a provider nothing registers stops the start, naming the agent and the key', async () => {
    // Far from every configured name: it could have been a provider registered in code.
    const prepared = await prepareSystem(write('missing.yaml', config('elsewhere', 50_000)), { env: {} });
    const err = (await launchSystem(prepared, { env: {} }).catch((e: unknown) => e)) as AgentStartError;
    expect(err).toBeInstanceOf(AgentStartError);
    expect(err.message).toBe(
      "Agent 'prices' cannot start: agents[0].config.provider: no provider named 'elsewhere' is registered. Registered: none. Name one of them, or register the provider (services: { 'provider:elsewhere': provider }).",
    );
  });
});
