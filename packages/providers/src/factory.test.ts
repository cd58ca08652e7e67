import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ContainerServiceRegistry, createContainer, VirtualClock } from '@tradebus/core';
import type { CcxtProvider } from './ccxt/provider.js';
import { PaperExchange } from './paper/paper-exchange.js';
import { ReplayProvider } from './replay/replay-provider.js';
import { SyntheticProvider } from './synthetic/synthetic-provider.js';
import {
  buildProviders,
  createProvider,
  createProviders,
  loadCcxt,
  providerClosure,
  ProviderCodeNotLoadedError,
  getProvider,
  parseProviderConfig,
  ProviderRoleError,
  registerProviders,
  requireExecution,
  requireMarketData,
} from './factory.js';

const clock = () => new VirtualClock(0);
const testData = fileURLToPath(new URL('../test-data/', import.meta.url));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('provider config', () => {
  // First in this file: nothing has loaded ccxt yet.
  it('a ccxt provider cannot be built before ccxt is loaded, and the error says how', () => {
    expect(() => createProvider('main', { kind: 'ccxt', exchange: 'binance' }, { clock: clock(), env: {} })).toThrow(ProviderCodeNotLoadedError);
    expect(() => createProvider('main', { kind: 'ccxt', exchange: 'binance' }, { clock: clock(), env: {} })).toThrow(/buildProviders/);
    // Other kinds need nothing loaded.
    expect(createProvider('p', { kind: 'paper' }, { clock: clock() })).toBeInstanceOf(PaperExchange);
  });

  it('an unknown kind is named with a near match', () => {
    const err = configError(() => parseProviderConfig('main', { kind: 'ccxtt', exchange: 'binance' }));
    expect(err.issues[0]!.path).toBe('providers.main.kind');
    expect(err.message).toContain("Did you mean 'ccxt'?");
  });

  it('credentials in the config file are refused, pointing at the environment variables', () => {
    const err = configError(() => parseProviderConfig('main', { kind: 'ccxt', exchange: 'binance', apiKey: 'abc', secret: 'def' }));
    expect(err.issues[0]!.path).toBe('providers.main.apiKey');
    expect(err.message).toContain('TRADEBUS_MAIN_API_KEY');
    expect(err.message).toContain('TRADEBUS_BINANCE_API_KEY');
    expect(err.message).not.toContain('abc');
    const nested = configError(() => parseProviderConfig('main', { kind: 'ccxt', exchange: 'binance', options: { secret: 'x' } }));
    expect(nested.issues[0]!.path).toBe('providers.main.options.secret');
  });

  it('errors name the bad key and unknown keys', () => {
    const err = configError(() => parseProviderConfig('sim', { kind: 'paper', fees: { maker: '0.1%', taker: 0.001 }, feez: 1 }));
    const paths = err.issues.map((i) => i.path);
    expect(paths).toContain('providers.sim.fees.maker');
    expect(paths).toContain('providers.sim.feez');
    const dates = configError(() => parseProviderConfig('r', { kind: 'replay', sources: [{ type: 'candles', file: 'a.csv', symbol: 'A/B', timeframe: '5m' }], startAt: 'yesterday' }));
    expect(dates.issues[0]!.path).toBe('providers.r.startAt');
    const tf = configError(() => parseProviderConfig('r', { kind: 'replay', sources: [{ type: 'candles', file: 'a.csv', symbol: 'A/B', timeframe: '5 minutes' }] }));
    expect(tf.issues[0]!.path).toBe('providers.r.sources[0].timeframe');
  });

  it('fills in defaults and parses dates', () => {
    const paper = parseProviderConfig('p', { kind: 'paper', slippage: 5 });
    expect(paper).toMatchObject({ kind: 'paper', quoteCurrency: 'USDT', slippage: { model: 'bps', bps: 5 }, fees: { maker: 0.001, taker: 0.001 }, leverage: 1 });
    const replay = parseProviderConfig('r', { kind: 'replay', sources: [{ type: 'trades', file: 't.csv', symbol: 'A/B' }], startAt: '2019-10-11T00:00:00Z' });
    expect(replay).toMatchObject({ speed: 'max', startAt: Date.UTC(2019, 9, 11) });
  });
});

describe('createProvider / createProviders', () => {
  let Ccxt: typeof CcxtProvider;
  beforeAll(async () => {
    Ccxt = (await loadCcxt()).CcxtProvider;
  });

  it('an unknown exchange id lists near matches under the exchange key', () => {
    const err = configError(() => createProvider('main', { kind: 'ccxt', exchange: 'binanse' }, { clock: clock() }));
    expect(err.issues[0]!.path).toBe('providers.main.exchange');
    expect(err.message).toContain("'binance'");
  });

  it('builds each kind', () => {
    const c = clock();
    expect(createProvider('x', { kind: 'ccxt', exchange: 'kraken', websocket: false }, { clock: c, env: {} })).toBeInstanceOf(Ccxt);
    expect(createProvider('p', { kind: 'paper' }, { clock: c })).toBeInstanceOf(PaperExchange);
    expect(createProvider('s', { kind: 'synthetic', symbols: [{ symbol: 'BTC/USDT', startPrice: 100 }] }, { clock: c })).toBeInstanceOf(SyntheticProvider);
    expect(createProvider('r', { kind: 'replay', sources: [{ type: 'trades', file: 't.csv', symbol: 'A/B' }] }, { clock: c })).toBeInstanceOf(ReplayProvider);
  });

  it('a ccxt provider takes its keys from the environment', () => {
    const p = createProvider('main', { kind: 'ccxt', exchange: 'binance' }, { clock: clock(), env: { TRADEBUS_BINANCE_API_KEY: 'key-1', TRADEBUS_BINANCE_SECRET: 'secret-1' } }) as CcxtProvider;
    expect(p.exchange.apiKey).toBe('key-1');
    expect(p.exchange.secret).toBe('secret-1');
    expect(p.exchange.enableRateLimit).toBe(true);
  });

  it("a ccxt provider's credentials section (from ${VAR} references) wins over the default variables", () => {
    const p = createProvider(
      'main',
      { kind: 'ccxt', exchange: 'binance', credentials: { apiKey: 'own-key-1', secret: 'own-secret-1' } },
      { clock: clock(), env: { TRADEBUS_BINANCE_API_KEY: 'key-1', TRADEBUS_BINANCE_SECRET: 'secret-1' } },
    ) as CcxtProvider;
    expect([p.exchange.apiKey, p.exchange.secret]).toEqual(['own-key-1', 'own-secret-1']);
    const half = configError(() => parseProviderConfig('main', { kind: 'ccxt', exchange: 'binance', credentials: { apiKey: 'only-the-key-1' } }));
    expect(half.issues.map((i) => i.path)).toEqual(['providers.main.credentials.secret']);
    expect(half.message).not.toContain('only-the-key-1');
  });

  it('buildProviders builds only what it is given; providerClosure adds what a paper exchange follows', async () => {
    const section = {
      live: { kind: 'ccxt', exchange: 'kraken' },
      history: { kind: 'synthetic', symbols: [{ symbol: 'A/B', startPrice: 1 }] },
      paper: { kind: 'paper', marketData: 'history', quoteCurrency: 'B', balances: { B: 1 } },
      other: { kind: 'paper' },
    };
    expect(providerClosure(section, ['paper'])).toEqual(['history', 'paper']);
    expect(providerClosure(section, ['live', 'ghost'])).toEqual(['live']);
    const built = await buildProviders(Object.fromEntries(providerClosure(section, ['paper']).map((n) => [n, section[n as keyof typeof section]])), { clock: clock() });
    expect([...built.keys()].sort()).toEqual(['history', 'paper']);
  });

  it('a paper exchange follows a replay feed; agents find both through the service registry', async () => {
    const c = clock();
    const providers = createProviders(
      {
        sim: { kind: 'paper', marketData: 'history', quoteCurrency: 'ETH', balances: { ETH: 5 } },
        history: { kind: 'replay', sources: [{ type: 'candles', file: 'ohlcv/binance-XRP-ETH-5m.csv', symbol: 'XRP/ETH', timeframe: '5m' }], warmupBars: 10, endAt: 1570752000000 + 40 * 300_000 },
      },
      { clock: c, configFile: `${testData}tradebus.yaml` },
    );
    const registry = new ContainerServiceRegistry(createContainer());
    registerProviders(registry, providers);
    const sim = getProvider(registry, 'sim');
    const history = getProvider(registry, 'history');
    expect(requireMarketData(sim)).toBe(history);
    expect(() => requireExecution(history)).toThrow(ProviderRoleError);
    expect(() => getProvider(registry, 'nope')).toThrow(/provider:sim/);
    const replay = history as ReplayProvider;
    await replay.load();
    const [last] = await replay.fetchOHLCV('XRP/ETH', '5m', undefined, 1);
    const paper = requireExecution(sim);
    // Warm-up history is not played, so the exchange knows no price before the replay starts.
    expect(last!.closed).toBe(true);
    await expect(paper.createOrder({ clientOrderId: 'a', symbol: 'XRP/ETH', side: 'buy', type: 'market', quantity: 10, reduceOnly: false })).rejects.toThrow(/no market data/);
    const fills: number[] = [];
    sim.events!.subscribe({ order: (u) => u.fills.forEach((f) => fills.push(f.price)) });
    let placed = false;
    replay.addListener({
      candle: () => {
        if (placed) return;
        placed = true;
        void paper.createOrder({ clientOrderId: 'c', symbol: 'XRP/ETH', side: 'buy', type: 'market', quantity: 10, reduceOnly: false });
      },
    });
    const summary = await replay.start();
    expect(summary.candles).toBe(30);
    expect(fills).toHaveLength(1);
    expect((await requireExecution(sim).fetchOrder('c', 'XRP/ETH'))!.status).toBe('filled');
  });

  it('a paper exchange pointing at a missing provider, or at a live one without symbols, is named', () => {
    const misspelt = configError(() => createProviders({ history: { kind: 'synthetic', symbols: [{ symbol: 'A/B', startPrice: 1 }] }, p: { kind: 'paper', marketData: 'histroy' } }, { clock: clock() }));
    expect(misspelt.issues[0]!.path).toBe('providers.p.marketData');
    expect(misspelt.message).toContain("Did you mean 'history'?");
    const live = configError(() => createProviders({ live: { kind: 'ccxt', exchange: 'kraken', websocket: false }, p: { kind: 'paper', marketData: 'live' } }, { clock: clock(), env: {} }));
    expect(live.issues[0]!.path).toBe('providers.p.symbols');
  });
});
