import { describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, type StateStore } from '@tradebus/core';
import { NetworkError, PaperExchange, type Candle, type Market, type MarketDataProvider, type OrderBookTop, type Tick, type Ticker } from '@tradebus/providers';
import { agent, marketWatchdogConfigSchema, type MarketSnapshot, type MarketWatchdogAgent, type MarketWatchdogConfigInput } from './index.js';

const market = (symbol: string, overrides: Partial<Market> = {}): Market => {
  const [pair, settle] = symbol.split(':') as [string, string | undefined];
  const [base, quote] = pair.split('/') as [string, string];
  return {
    symbol,
    base,
    quote,
    settle: settle ?? quote,
    type: 'spot',
    contractSize: 1,
    active: true,
    precision: {},
    limits: { amount: {}, price: {}, cost: {} },
    ...overrides,
  };
};

/** A venue whose answers the test sets: markets, tickers and book tops, with failures on demand. */
class VenueDouble implements MarketDataProvider {
  readonly id = 'venue';
  readonly venue = 'testex';
  markets: Market[] = [];
  tickers = new Map<string, Omit<Ticker, 'symbol' | 'timestamp'>>();
  books = new Map<string, { bid?: number; ask?: number }>();
  failingTickers = new Set<string>();
  failMarkets = false;
  requests: string[] = [];

  async loadMarkets(): Promise<Market[]> {
    this.requests.push('loadMarkets');
    if (this.failMarkets) throw new NetworkError('venue', 'connection reset');
    return this.markets.map((m) => ({ ...m }));
  }
  async fetchTicker(symbol: string): Promise<Ticker> {
    this.requests.push(`ticker ${symbol}`);
    if (this.failingTickers.has(symbol)) throw new NetworkError('venue', 'timeout');
    const t = this.tickers.get(symbol);
    if (t === undefined) throw new Error(`no ticker for ${symbol}`);
    return { symbol, timestamp: 1, ...t };
  }
  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    this.requests.push(`book ${symbol}`);
    return { symbol, timestamp: 1, ...this.books.get(symbol) };
  }
  async fetchOHLCV(): Promise<Candle[]> {
    return [];
  }
  watchTicks(): AsyncIterable<Tick> {
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ value: undefined, done: true }) }) };
  }
  watchCandles(): AsyncIterable<Candle> {
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ value: undefined, done: true }) }) };
  }

  /** A liquid market: 5 M quote volume, 2 bps spread around `price`. */
  list(symbol: string, price = 100, overrides: Partial<Market> = {}): void {
    this.markets.push(market(symbol, overrides));
    this.tickers.set(symbol, { last: price, quoteVolume24h: 5_000_000, change24hPct: 1.5, bid: price * 0.9999, ask: price * 1.0001 });
    this.books.set(symbol, { bid: price * 0.9999, ask: price * 1.0001 });
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function setup(venue: VenueDouble, config: Partial<MarketWatchdogConfigInput> = {}, store: StateStore = new MemoryStateStore()) {
  const clock = new VirtualClock(1_700_000_000_000);
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    services: { 'provider:venue': venue },
    agents: [{ id: 'markets', definition: agent, config: { provider: 'venue', intervalMs: 60_000, ...config } }],
  });
  const snapshots: MarketSnapshot[] = [];
  const alerts: string[] = [];
  system.bus.subscribe('market.snapshot', (e) => {
    snapshots.push(e.payload);
  });
  system.bus.subscribe('system.alert', (e) => {
    alerts.push(e.payload.code);
  });
  await system.start();
  await settle();
  const next = async (): Promise<MarketSnapshot> => {
    clock.advanceBy(60_000);
    await settle();
    return snapshots.at(-1)!;
  };
  return { clock, system, snapshots, alerts, next, watchdog: system.agent<MarketWatchdogAgent>('markets') };
}

const info = (s: MarketSnapshot, symbol: string) => s.markets.find((m) => m.symbol === symbol)!;

describe('market-watchdog snapshots', () => {
  it('publishes a snapshot at start and every interval with volume, change, spread and listing status', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT', 50_000);
    venue.list('ETH/USDT', 3_000);
    const t = await setup(venue);
    expect(t.snapshots).toHaveLength(1);
    const s = t.snapshots[0]!;
    expect(s.venue).toBe('testex');
    expect(s.timestamp).toBe(t.clock.now());
    expect(info(s, 'BTC/USDT')).toMatchObject({ base: 'BTC', quote: 'USDT', active: true, last: 50_000, quoteVolume24h: 5_000_000, change24hPct: 1.5, tradable: true, reasons: [] });
    expect(info(s, 'BTC/USDT').spreadBps).toBeCloseTo(2, 6);
    expect(s.universe).toEqual(['BTC/USDT', 'ETH/USDT']);
    expect(s.added).toEqual(['BTC/USDT', 'ETH/USDT']);
    expect(s.removed).toEqual([]);
    const second = await t.next();
    expect(t.snapshots).toHaveLength(2);
    // Quiet: nothing changed, so nothing added or removed.
    expect(second.added).toEqual([]);
    expect(second.removed).toEqual([]);
    expect(second.universe).toEqual(['BTC/USDT', 'ETH/USDT']);
    await t.system.stop();
  });

  it('derives 24h quote volume from base volume when the venue gives only that', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT', 50_000);
    venue.tickers.set('BTC/USDT', { last: 50_000, baseVolume24h: 10, bid: 49_999, ask: 50_001 });
    const t = await setup(venue, { universe: { minQuoteVolume24h: 400_000 } });
    expect(info(t.snapshots[0]!, 'BTC/USDT')).toMatchObject({ quoteVolume24h: 500_000, tradable: true });
    await t.system.stop();
  });
});

describe('market-watchdog universe rules', () => {
  it('minimum quote volume: selects above, rejects below with the reason', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('DOGE/USDT');
    venue.tickers.set('DOGE/USDT', { ...venue.tickers.get('DOGE/USDT')!, quoteVolume24h: 90_000 });
    const t = await setup(venue, { universe: { minQuoteVolume24h: 100_000 } });
    const s = t.snapshots[0]!;
    expect(info(s, 'BTC/USDT').tradable).toBe(true);
    expect(info(s, 'DOGE/USDT')).toMatchObject({ tradable: false, reasons: ['24h quote volume 90000 below 100000'] });
    expect(s.universe).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it('maximum spread: selects a tight book, rejects a wide one and one with an empty side', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT', 100);
    venue.list('WIDE/USDT', 100);
    venue.list('EMPTY/USDT', 100);
    venue.books.set('WIDE/USDT', { bid: 99.5, ask: 100.5 });
    venue.books.set('EMPTY/USDT', { bid: 99.9 });
    const t = await setup(venue, { universe: { maxSpreadBps: 10 } });
    const s = t.snapshots[0]!;
    expect(info(s, 'BTC/USDT').tradable).toBe(true);
    expect(info(s, 'WIDE/USDT')).toMatchObject({ tradable: false, spreadBps: 100, reasons: ['spread 100 bps above 10'] });
    expect(info(s, 'EMPTY/USDT').reasons).toEqual(['spread unknown (empty side of the book)']);
    expect(s.universe).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it("takes the spread from the ticker when spreadSource is 'ticker', without order-book requests", async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT', 100);
    venue.books.set('BTC/USDT', { bid: 90, ask: 110 });
    const t = await setup(venue, { spreadSource: 'ticker', universe: { maxSpreadBps: 10 } });
    expect(info(t.snapshots[0]!, 'BTC/USDT').tradable).toBe(true);
    expect(venue.requests.some((r) => r.startsWith('book'))).toBe(false);
    await t.system.stop();
  });

  it('stablecoin pairs: left out by default, kept when the rule is off', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('USDC/USDT', 1);
    const on = await setup(venue);
    expect(info(on.snapshots[0]!, 'USDC/USDT')).toMatchObject({ tradable: false, reasons: ['stablecoin pair (USDC)'] });
    expect(on.snapshots[0]!.universe).toEqual(['BTC/USDT']);
    // Ruled-out markets cost no requests.
    expect(venue.requests).not.toContain('ticker USDC/USDT');
    await on.system.stop();
    const off = await setup(venue, { universe: { excludeStablecoinPairs: false } });
    expect(off.snapshots[0]!.universe).toEqual(['BTC/USDT', 'USDC/USDT']);
    await off.system.stop();
  });

  it('explicit exclusions: the listed symbol is left out, the others stay', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('LUNA/USDT');
    // Written the way the venue's own ids look: still matched to LUNA/USDT.
    const t = await setup(venue, { universe: { exclude: ['LUNAUSDT'] } });
    expect(info(t.snapshots[0]!, 'LUNA/USDT').reasons).toEqual(['excluded by configuration']);
    expect(t.snapshots[0]!.universe).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it('universe rules changed while running decide the next snapshot; what is watched is refused naming the key', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('LUNA/USDT');
    const t = await setup(venue);
    expect(t.snapshots[0]!.universe).toEqual(['BTC/USDT', 'LUNA/USDT']);
    const config = (input: Partial<MarketWatchdogConfigInput>) => marketWatchdogConfigSchema.parse({ provider: 'venue', intervalMs: 60_000, ...input });
    await t.watchdog.reconfigure(config({ universe: { exclude: ['LUNA/USDT'] } }));
    const next = await t.next();
    expect(next.universe).toEqual(['BTC/USDT']);
    expect(next.removed).toEqual(['LUNA/USDT']);
    await expect(t.watchdog.reconfigure(config({ universe: { exclude: ['LUNA/USDT'] }, types: ['swap'] }))).rejects.toThrow(/types\[0\] cannot change while the agent runs: restart the agent/);
    expect((await t.next()).universe).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it('only active markets: an inactive market is left out; a configured symbol the venue does not list is reported', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('OLD/USDT', 1, { active: false });
    const t = await setup(venue, { symbols: ['btc/usdt', 'OLD/USDT', 'GONE-USDT'] });
    const s = t.snapshots[0]!;
    expect(info(s, 'BTC/USDT').tradable).toBe(true);
    expect(info(s, 'OLD/USDT')).toMatchObject({ active: false, tradable: false, reasons: ['inactive on the venue'] });
    expect(info(s, 'GONE/USDT')).toMatchObject({ active: false, reasons: ['not listed by the venue'] });
    expect(s.universe).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it('quotes and types narrow the markets watched when no symbols are listed', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('ETH/BTC');
    venue.list('BTC/USDT:USDT', 100, { type: 'swap', settle: 'USDT' });
    venue.markets.at(-1)!.quote = 'USDT';
    const t = await setup(venue, { quotes: ['USDT'] });
    expect(t.snapshots[0]!.markets.map((m) => m.symbol)).toEqual(['BTC/USDT']);
    await t.system.stop();
  });

  it('maxSize keeps the highest-volume markets', async () => {
    const venue = new VenueDouble();
    for (const [symbol, volume] of [['A/USDT', 3e6], ['B/USDT', 9e6], ['C/USDT', 6e6]] as const) {
      venue.list(symbol);
      venue.tickers.set(symbol, { ...venue.tickers.get(symbol)!, quoteVolume24h: volume });
    }
    const t = await setup(venue, { universe: { maxSize: 2 } });
    expect(t.snapshots[0]!.universe).toEqual(['B/USDT', 'C/USDT']);
    expect(info(t.snapshots[0]!, 'A/USDT').reasons[0]).toContain('highest quote volume');
    await t.system.stop();
  });
});

describe('market-watchdog universe changes and failures', () => {
  it('reports removed when a market drops below a rule and added when it comes back', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('ETH/USDT');
    const t = await setup(venue, { universe: { minQuoteVolume24h: 1_000_000 } });
    venue.tickers.set('ETH/USDT', { ...venue.tickers.get('ETH/USDT')!, quoteVolume24h: 10 });
    const dropped = await t.next();
    expect(dropped).toMatchObject({ universe: ['BTC/USDT'], added: [], removed: ['ETH/USDT'] });
    venue.tickers.set('ETH/USDT', { ...venue.tickers.get('ETH/USDT')!, quoteVolume24h: 2_000_000 });
    venue.markets = venue.markets.map((m) => (m.symbol === 'BTC/USDT' ? { ...m, active: false } : m));
    t.clock.advanceBy(3_600_000 - 60_000);
    const back = await t.next();
    expect(back).toMatchObject({ universe: ['ETH/USDT'], added: ['ETH/USDT'], removed: ['BTC/USDT'] });
    await t.system.stop();
  });

  it('remembers the universe across a restart, so an unchanged universe is not announced again', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    const store = new MemoryStateStore();
    const first = await setup(venue, {}, store);
    expect(first.snapshots[0]!.added).toEqual(['BTC/USDT']);
    await first.system.stop();
    const second = await setup(venue, {}, store);
    expect(second.snapshots[0]).toMatchObject({ universe: ['BTC/USDT'], added: [], removed: [] });
    await second.system.stop();
  });

  it('a failing ticker makes that market untradable; most failing degrades the agent, which recovers after', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.list('ETH/USDT');
    venue.list('SOL/USDT');
    venue.failingTickers.add('SOL/USDT');
    const t = await setup(venue);
    expect(info(t.snapshots[0]!, 'SOL/USDT').reasons[0]).toContain('market data unavailable');
    expect(t.snapshots[0]!.universe).toEqual(['BTC/USDT', 'ETH/USDT']);
    expect(t.watchdog.state).toBe('running');
    venue.failingTickers.add('ETH/USDT');
    await t.next();
    expect(t.watchdog.state).toBe('degraded');
    venue.failingTickers.clear();
    const s = await t.next();
    expect(t.watchdog.state).toBe('running');
    expect(s.added).toEqual(['ETH/USDT', 'SOL/USDT']);
    await t.system.stop();
  });

  it('without a market list publishes nothing, alerts once and degrades, then resumes', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT');
    venue.failMarkets = true;
    const t = await setup(venue);
    await t.next();
    expect(t.snapshots).toHaveLength(0);
    expect(t.alerts.filter((a) => a === 'MARKETS_UNAVAILABLE')).toHaveLength(1);
    expect(t.watchdog.state).toBe('degraded');
    venue.failMarkets = false;
    const s = await t.next();
    expect(s.universe).toEqual(['BTC/USDT']);
    expect(t.watchdog.state).toBe('running');
    await t.system.stop();
  });

  it('rejects an unknown config key by name', () => {
    const result = agent.configSchema.safeParse({ provider: 'venue', universe: { minVolume: 5 } });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('minVolume');
  });
});

describe('market-watchdog venue rules', () => {
  it('carries tick size, step size, minimums and leverage cap from the market list into each market', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT:USDT', 50_000, {
      type: 'swap',
      settle: 'USDT',
      precision: { price: 0.1, amount: 0.001 },
      limits: { amount: { min: 0.001, max: 1_000 }, price: {}, cost: { min: 5 }, leverage: { min: 1, max: 125 } },
    });
    venue.list('ETH/USDT', 3_000);
    const t = await setup(venue, { types: ['swap', 'spot'] });
    const s = t.snapshots[0]!;
    expect(info(s, 'BTC/USDT:USDT')).toMatchObject({ tickSize: 0.1, stepSize: 0.001, minQuantity: 0.001, minNotional: 5, maxLeverage: 125, tradable: true });
    // A venue that says nothing gives nothing: no key at all rather than a made-up default.
    const eth = info(s, 'ETH/USDT');
    for (const key of ['tickSize', 'stepSize', 'minQuantity', 'minNotional', 'maxLeverage', 'initialMarginRate', 'maintenanceMarginRate']) expect(eth).not.toHaveProperty(key);
    await t.system.stop();
  });

  it('leaves out a zero step or a non-finite limit, and still describes markets the rules leave out', async () => {
    const venue = new VenueDouble();
    venue.list('BAD/USDT', 1, { precision: { price: 0, amount: Number.NaN }, limits: { amount: { min: Number.POSITIVE_INFINITY }, price: {}, cost: { min: -1 }, leverage: { max: 0 } } });
    venue.list('OLD/USDT', 1, { active: false, precision: { price: 0.0001, amount: 1 }, limits: { amount: { min: 1 }, price: {}, cost: { min: 10 } } });
    const t = await setup(venue);
    const s = t.snapshots[0]!;
    const bad = info(s, 'BAD/USDT');
    for (const key of ['tickSize', 'stepSize', 'minQuantity', 'minNotional', 'maxLeverage']) expect(bad).not.toHaveProperty(key);
    expect(bad.tradable).toBe(true);
    expect(info(s, 'OLD/USDT')).toMatchObject({ tradable: false, tickSize: 0.0001, stepSize: 1, minQuantity: 1, minNotional: 10 });
    // Limits come with the market list: they cost no request for a market left out.
    expect(venue.requests).not.toContain('ticker OLD/USDT');
    await t.system.stop();
  });
});

describe('market-watchdog margin terms', () => {
  it('passes the margin rates the market list gives, leaving out a negative one', async () => {
    const venue = new VenueDouble();
    venue.list('BTC/USDT:USDT', 50_000, { type: 'swap', initialMarginRate: 0.05, maintenanceMarginRate: 0.004 });
    venue.list('ETH/USDT:USDT', 3_000, { type: 'swap', initialMarginRate: -0.1, maintenanceMarginRate: Number.NaN });
    const t = await setup(venue, { types: ['swap'] });
    const s = t.snapshots[0]!;
    expect(info(s, 'BTC/USDT:USDT')).toMatchObject({ initialMarginRate: 0.05, maintenanceMarginRate: 0.004 });
    expect(info(s, 'ETH/USDT:USDT')).not.toHaveProperty('initialMarginRate');
    expect(info(s, 'ETH/USDT:USDT')).not.toHaveProperty('maintenanceMarginRate');
    await t.system.stop();
  });

  it("watching a paper venue, describes its perpetuals on the paper venue's terms: its leverage cap and margin rates, the source's steps", async () => {
    const source = new VenueDouble();
    source.list('BTC/USDT:USDT', 50_000, {
      type: 'swap',
      precision: { price: 0.1, amount: 0.001 },
      limits: { amount: { min: 0.001 }, price: {}, cost: { min: 5 }, leverage: { min: 1, max: 125 } },
    });
    source.list('ETH/USDT:USDT', 3_000, { type: 'swap' });
    const clock = new VirtualClock(1_700_000_000_000);
    const paper = new PaperExchange({ clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, leverage: 10, leverageBySymbol: { 'ETH/USDT:USDT': 4 }, maintenanceMarginRate: 0.01 });
    paper.linkMarketData(source, () => undefined);
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 3_600_000,
      validateOnPublish: true,
      services: { 'provider:paper': paper },
      agents: [{ id: 'markets', definition: agent, config: { provider: 'paper', types: ['swap'] } }],
    });
    const snapshots: MarketSnapshot[] = [];
    system.bus.subscribe('market.snapshot', (e) => {
      snapshots.push(e.payload);
    });
    await system.start();
    await settle();
    const s = snapshots[0]!;
    // Independent of the paper venue's code: its documented terms are 1 ÷ leverage and the configured rate.
    expect(info(s, 'BTC/USDT:USDT')).toMatchObject({ tickSize: 0.1, stepSize: 0.001, minQuantity: 0.001, minNotional: 5, maxLeverage: 10, initialMarginRate: 1 / 10, maintenanceMarginRate: 0.01 });
    expect(info(s, 'ETH/USDT:USDT')).toMatchObject({ maxLeverage: 4, initialMarginRate: 1 / 4, maintenanceMarginRate: 0.01 });
    await system.stop();
  });
});
