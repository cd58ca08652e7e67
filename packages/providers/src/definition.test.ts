import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, createSystem, defineAgent, BaseAgent, redactConfig, silentLogger, VirtualClock, type AgentContext } from '@tradebus/core';
import { defineProvider, providerConfigSchemaFor } from './definition.js';
import { buildProviders, createProvider, parseProviderConfig, registerProviders } from './factory.js';
import { resolveMarketData } from './services.js';
import type { Candle, MarketDataProvider } from './types.js';

// A provider package of its own kind, as a third party would publish it, installed next to a
// config file: the config names it by package name, as agents are named by `use:`.
const fixture = fileURLToPath(new URL('../test-fixtures/tradebus-provider-fixed/', import.meta.url));
const KIND = '@acme/tradebus-provider-fixed';
let project: string;
let configFile: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'tradebus-custom-provider-'));
  mkdirSync(join(project, 'node_modules', '@acme'), { recursive: true });
  symlinkSync(fixture, join(project, 'node_modules', '@acme', 'tradebus-provider-fixed'), 'dir');
  configFile = join(project, 'tradebus.yaml');
  writeFileSync(configFile, '# the providers section is passed to buildProviders in these tests\n');
});

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('custom provider kinds', () => {
  it('builds a provider from a package named as its kind, with settings validated by its schema', async () => {
    const clock = new VirtualClock(Date.UTC(2024, 0, 1));
    const providers = await buildProviders(
      { quotes: { kind: KIND, symbols: [{ symbol: 'BTC/USDT', price: 50_000 }], credentials: { token: 'tok-1234567890' } } },
      { clock, configFile, env: {} },
    );
    const quotes = providers.get('quotes')!;
    expect(quotes).toMatchObject({ id: 'quotes', kind: 'fixed-price', venue: 'fixed' });
    expect(await quotes.marketData!.fetchTicker('BTC/USDT')).toMatchObject({ last: 50_000 });
    // The definition's secret marks hide the token wherever the config is shown.
    const schema = providerConfigSchemaFor(KIND)!;
    expect(redactConfig(schema, { kind: KIND, symbols: [], credentials: { token: 'tok-1234567890' } })).toMatchObject({ kind: KIND, credentials: '[REDACTED]' });
  });

  it('loads a kind given as a path relative to the config file', async () => {
    writeFileSync(join(project, 'local-provider.mjs'), `export { provider } from '${join(fixture, 'index.js')}';\n`);
    const providers = await buildProviders({ local: { kind: './local-provider.mjs', symbols: [{ symbol: 'ETH/USDT', price: 3_000 }] } }, { clock: new VirtualClock(0), configFile });
    expect(providers.get('local')).toMatchObject({ id: 'local', kind: 'fixed-price' });
  });

  it('names a bad setting of a custom kind by its key', async () => {
    const attempt = buildProviders({ quotes: { kind: KIND, symbols: [{ symbol: 'BTC/USDT', price: -1 }], colour: 'red' } }, { clock: new VirtualClock(0), configFile });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    const err = (await attempt.catch((e: unknown) => e)) as ConfigError;
    expect(err.issues.map((i) => i.path).sort()).toEqual(['providers.quotes.colour', 'providers.quotes.symbols[0].price']);
  });

  it('names a kind that is neither built in nor installed, with the near built-in kind', async () => {
    const err = (await buildProviders(
      { a: { kind: 'cxxt', exchange: 'binance' }, b: { kind: '@acme/tradebus-provider-nope' } },
      { clock: new VirtualClock(0), configFile },
    ).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues.map((i) => i.path)).toEqual(['providers.a.kind', 'providers.b.kind']);
    expect(err.issues[0]!.message).toContain("Did you mean 'ccxt'?");
    expect(err.issues[1]!.message).toContain("unknown provider kind '@acme/tradebus-provider-nope'");
  });

  it('refuses a module that exports no provider definition', async () => {
    writeFileSync(join(project, 'not-a-provider.mjs'), 'export const something = 1;\n');
    const err = (await buildProviders({ x: { kind: './not-a-provider.mjs' } }, { clock: new VirtualClock(0), configFile }).catch((e: unknown) => e)) as ConfigError;
    expect(err.issues).toEqual([{ path: 'providers.x.kind', message: expect.stringContaining('does not export a provider definition') as unknown as string }]);
  });

  it('takes definitions given in code, and keeps credentials out of plain settings as for built-in kinds', () => {
    const made: string[] = [];
    const constant = defineProvider({
      kind: 'constant',
      configSchema: z.object({ price: z.number() }).strict(),
      create: ({ name, config }) => {
        made.push(`${name}:${config.price}`);
        return { id: name, kind: 'constant', venue: name, close: async () => undefined };
      },
    });
    const built = createProvider('flat', { kind: 'constant', price: 7 }, { clock: new VirtualClock(0), kinds: { constant } });
    expect(built).toMatchObject({ id: 'flat', kind: 'constant' });
    expect(made).toEqual(['flat:7']);
    const leaked = configError(() => parseProviderConfig('flat', { kind: 'constant', price: 7, apiKey: 'k' }, { kinds: { constant } }));
    expect(leaked.issues[0]!.path).toBe('providers.flat.apiKey');
  });

  it('serves agents through the service registry like any provider', async () => {
    const clock = new VirtualClock(Date.UTC(2024, 0, 1));
    const providers = await buildProviders({ quotes: { kind: KIND, symbols: [{ symbol: 'BTC/USDT', price: 50_000 }] } }, { clock, configFile });
    const closes: number[] = [];
    class Reader extends BaseAgent<{ provider: string }> {
      protected override async initialize(): Promise<void> {
        const market: MarketDataProvider = resolveMarketData(this.services, this.config.provider);
        this.background('bars', async (signal) => {
          for await (const bar of market.watchCandles('BTC/USDT', '1m', signal)) closes.push((bar as Candle).close);
        });
      }
      protected run(): void {}
    }
    const reader = defineAgent({ kind: 'reader', configSchema: z.object({ provider: z.string() }), create: (ctx: AgentContext<{ provider: string }>) => new Reader(ctx) });
    const system = createSystem({ clock, logger: silentLogger(), agents: [{ id: 'reader', definition: reader, config: { provider: 'quotes' } }] });
    registerProviders(system.services, providers);
    await system.start();
    for (let i = 0; i < 3; i++) {
      clock.advanceBy(60_000);
      await new Promise((r) => setImmediate(r));
    }
    expect(closes).toEqual([50_000, 50_000, 50_000]);
    await system.stop();
  });
});
