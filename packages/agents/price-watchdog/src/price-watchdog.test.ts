import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AgentStartError, MemoryStateStore, VirtualClock, createSystem, silentLogger, type CandleEvent, type StateStore } from '@tradebus/core';
import { NetworkError, ReplayProvider, SyntheticProvider, type Candle } from '@tradebus/providers';
import { agent, Backoff, type PriceWatchdogAgent, type PriceWatchdogConfigInput } from './index.js';
import { ScriptedProvider, readCandles, settle } from './test-support/scripted-provider.js';

const SYMBOL = 'XRP/ETH';
const TF = '5m';
const BAR = 300_000;
const bars = readCandles(new URL('../test-data/binance-XRP-ETH-5m.csv', import.meta.url), SYMBOL, TF);
const bar = (i: number): Candle => bars[i]!;
const forming = (i: number): Candle => ({ ...bar(i), close: bar(i).open, closed: false });

interface Alert {
  level: string;
  code: string;
  message: string;
}

async function setup(config: Partial<PriceWatchdogConfigInput> = {}, options: { store?: StateStore; startAt?: number; provider?: ScriptedProvider } = {}) {
  const clock = new VirtualClock(options.startAt ?? bar(0).timestamp);
  const provider = options.provider ?? new ScriptedProvider();
  const store = options.store ?? new MemoryStateStore();
  const system = createSystem({
    clock,
    logger: silentLogger(),
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    services: { 'provider:scripted': provider },
    agents: [
      {
        id: 'prices',
        definition: agent,
        config: { provider: 'scripted', symbols: [SYMBOL], timeframes: [TF], ticks: false, ...config },
      },
    ],
  });
  const closed: CandleEvent[] = [];
  const updated: CandleEvent[] = [];
  const alerts: Alert[] = [];
  system.bus.subscribe('candle.closed', (e) => {
    closed.push(e.payload);
  });
  system.bus.subscribe('candle.updated', (e) => {
    updated.push(e.payload);
  });
  system.bus.subscribe('system.alert', (e) => {
    alerts.push(e.payload);
  });
  await system.start();
  await settle();
  const watchdog = system.agent<PriceWatchdogAgent>('prices');
  /** Delivers bar i on the stream as it happens live: a forming update mid-bar, then the close. */
  const live = async (i: number): Promise<void> => {
    clock.advanceTo(bar(i).timestamp + BAR / 2);
    provider.candleStream(SYMBOL, TF).push(forming(i));
    await settle();
    clock.advanceTo(bar(i).timestamp + BAR);
    provider.candleStream(SYMBOL, TF).push(bar(i));
    await settle();
  };
  return { clock, provider, system, watchdog, closed, updated, alerts, live, store };
}

const codes = (alerts: Alert[]) => alerts.map((a) => a.code);
const times = (candles: CandleEvent[]) => candles.map((c) => c.timestamp);
const expectedTimes = (from: number, to: number) => bars.slice(from, to + 1).map((c) => c.timestamp);

describe('price-watchdog config', () => {
  it('fills defaults and rejects unknown keys by name', () => {
    const parsed = agent.configSchema.parse({ provider: 'binance', symbols: ['BTC/USDT'] });
    expect(parsed).toMatchObject({ timeframes: ['1m'], candles: true, ticks: true, stale: { candleIntervals: 3 } });
    const bad = agent.configSchema.safeParse({ provider: 'binance', symbols: ['BTC/USDT'], timeframe: '5m' });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('timeframe');
    const badTf = agent.configSchema.safeParse({ provider: 'binance', symbols: ['BTC/USDT'], timeframes: ['5 minutes'] });
    expect(badTf.error?.issues[0]?.path).toEqual(['timeframes', 0]);
  });
});

describe('price-watchdog provider lookup', () => {
  it("uses the market-data role of a launcher's provider", async () => {
    const scripted = new ScriptedProvider();
    const full = { id: 'venue', kind: 'paper', venue: 'venue', marketData: scripted, close: async () => undefined };
    const system = createSystem({
      clock: new VirtualClock(0),
      logger: silentLogger(),
      services: { 'provider:venue': full },
      agents: [{ id: 'ok', definition: agent, config: { provider: 'venue', symbols: [SYMBOL], ticks: false } }],
    });
    await system.start();
    await settle();
    expect(system.agent('ok').state).toBe('running');
    expect(scripted.candleStreams).toHaveLength(1);
    await system.stop();
  });

  it('does not start with a provider that has no market data or is not there, and says which key to fix', async () => {
    const scripted = new ScriptedProvider();
    const full = { id: 'venue', kind: 'paper', venue: 'venue', marketData: scripted, close: async () => undefined };
    const system = createSystem({
      clock: new VirtualClock(0),
      logger: silentLogger(),
      services: { 'provider:venue': full, 'provider:orders': { ...full, marketData: undefined } },
      agents: [
        { id: 'wrong', definition: agent, config: { provider: 'orders', symbols: [SYMBOL] } },
        { id: 'typo', definition: agent, config: { provider: 'venu', symbols: [SYMBOL] } },
      ],
    });
    const err = (await system.start().catch((e: unknown) => e)) as AgentStartError;
    expect(err).toBeInstanceOf(AgentStartError);
    expect(err.issues).toEqual([
      { path: 'agents[wrong].config.provider', message: "Provider 'orders' (paper) cannot serve as market data. Point this agent at a provider that can (see docs/providers.md)." },
      {
        path: 'agents[typo].config.provider',
        message: "no provider named 'venu' is registered. Did you mean 'venue'? Registered: orders, venue. Name one of them, or register the provider (services: { 'provider:venu': provider }).",
      },
    ]);
    // Neither is left restarting in the background.
    expect(system.supervisor.list().map((a) => a.gaveUp)).toEqual([true, true]);
  });
});

describe('price-watchdog symbols', () => {
  const listed = (symbol: string) => {
    const [base, quote] = symbol.split('/') as [string, string];
    return { symbol, base, quote, settle: quote, type: 'spot' as const, contractSize: 1, active: true, precision: {}, limits: { amount: {}, price: {}, cost: {} } };
  };

  it('matches symbols written as venue ids or in lower case to the venue market, and fails naming near matches for an unknown one', async () => {
    const provider = new ScriptedProvider();
    provider.markets = [listed(SYMBOL), listed('BTC/USDT')];
    const t = await setup({ symbols: ['xrpeth', 'btc-usdt'] }, { provider });
    expect(t.watchdog.feeds().map((f) => f.symbol)).toEqual([SYMBOL, 'BTC/USDT']);
    await t.live(0);
    expect(t.closed.map((c) => c.symbol)).toEqual([SYMBOL]);
    await t.system.stop();

    const bad = await setup({ symbols: ['BTC/USDT', 'XPR/ETH'] }, { provider }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(AgentStartError);
    expect((bad as AgentStartError).issues).toEqual([
      { path: 'agents[prices].config.symbols[1]', message: expect.stringContaining("unknown symbol 'XPR/ETH'. Did you mean 'XRP/ETH'") as unknown as string },
    ]);
  });
});

describe('price-watchdog streams', () => {
  it('publishes forming updates and exactly one candle.closed per bar, in order', async () => {
    const t = await setup();
    for (let i = 0; i < 5; i++) await t.live(i);
    // A late copy of a bar already closed must not go out twice.
    t.provider.candleStream(SYMBOL, TF).push(bar(3));
    t.provider.candleStream(SYMBOL, TF).push(forming(4));
    await settle();
    expect(times(t.closed)).toEqual(expectedTimes(0, 4));
    expect(t.closed[2]).toEqual({ symbol: SYMBOL, timeframe: TF, timestamp: bar(2).timestamp, open: bar(2).open, high: bar(2).high, low: bar(2).low, close: bar(2).close, volume: bar(2).volume });
    expect(times(t.updated)).toEqual(expectedTimes(0, 4));
    expect(t.watchdog.feeds()[0]).toMatchObject({ closedPublished: 5, duplicatesDropped: 2 });
    await t.system.stop();
  });

  it('publishes ticks and drops a trade a reconnected stream hands back again', async () => {
    const t = await setup({ candles: false, ticks: true });
    const ticks: number[] = [];
    t.system.bus.subscribe('price.tick', (e) => {
      ticks.push(e.payload.price);
    });
    const stream = t.provider.tickStream(SYMBOL);
    stream.push({ symbol: SYMBOL, price: 1, tradeId: 'a', timestamp: 10 });
    stream.push({ symbol: SYMBOL, price: 2, tradeId: 'b', timestamp: 11 });
    stream.push({ symbol: SYMBOL, price: 2, tradeId: 'b', timestamp: 11 });
    stream.push({ symbol: SYMBOL, price: 3, bid: 2.9, ask: 3.1, timestamp: 12 });
    await settle();
    expect(ticks).toEqual([1, 2, 3]);
    await t.system.stop();
  });

  it('drops invalid provider data with an alert instead of publishing it or failing', async () => {
    const t = await setup();
    t.provider.candleStream(SYMBOL, TF).push({ ...bar(0), close: Number.NaN });
    await settle();
    await t.live(1);
    expect(times(t.closed)).toEqual([bar(1).timestamp]);
    expect(codes(t.alerts)).toContain('FEED_BAD_DATA');
    expect(t.watchdog.state).toBe('running');
    expect(t.watchdog.feeds()[0]?.rejected).toBe(1);
    await t.system.stop();
  });
});

describe('price-watchdog stale feeds', () => {
  it('stays quiet while data flows within the threshold, degrades and alerts when it stops, recovers when it resumes', async () => {
    const t = await setup({ stale: { candleIntervals: 3, checkEveryMs: 10_000 } });
    await t.live(0);
    const lastData = t.clock.now();
    t.clock.advanceTo(lastData + 3 * BAR - 10_001);
    await settle();
    expect(codes(t.alerts)).not.toContain('FEED_STALE');
    expect(t.watchdog.state).toBe('running');

    t.clock.advanceTo(lastData + 3 * BAR + 10_000);
    await settle();
    expect(codes(t.alerts).filter((c) => c === 'FEED_STALE')).toHaveLength(1);
    expect(t.watchdog.state).toBe('degraded');
    expect(t.watchdog.detail).toContain(`candles:${SYMBOL}:${TF} stale`);

    // Stays one alert however long the silence lasts.
    t.clock.advanceBy(5 * BAR);
    await settle();
    expect(codes(t.alerts).filter((c) => c === 'FEED_STALE')).toHaveLength(1);

    t.provider.candleStream(SYMBOL, TF).push(forming(9));
    await settle();
    expect(codes(t.alerts)).toContain('FEED_RECOVERED');
    expect(t.watchdog.state).toBe('running');
    await t.system.stop();
  });

  it('flags a tick feed that never delivers anything', async () => {
    const t = await setup({ candles: false, ticks: true, stale: { tickMs: 30_000, checkEveryMs: 5_000 } });
    t.clock.advanceBy(25_000);
    await settle();
    expect(t.watchdog.state).toBe('running');
    t.clock.advanceBy(10_000);
    await settle();
    expect(t.alerts.find((a) => a.code === 'FEED_STALE')?.message).toContain(`ticks:${SYMBOL}`);
    expect(t.watchdog.state).toBe('degraded');
    await t.system.stop();
  });
});

describe('price-watchdog reconnect and backfill', () => {
  const reconnect = { initialDelayMs: 60_000, factor: 2, maxDelayMs: 3_600_000, jitter: 0 };

  it('retries a broken stream with backoff on the agent clock and fills the missed bars from fetchOHLCV', async () => {
    const t = await setup({ reconnect });
    t.provider.history.set(`${SYMBOL}|${TF}`, bars.slice(0, 40));
    for (let i = 0; i <= 9; i++) await t.live(i);
    const brokeAt = t.clock.now();

    // The venue drops the connection and refuses the next three attempts (60 s, 120 s, 240 s later).
    t.provider.streamFailures = 3;
    t.provider.candleStream(SYMBOL, TF).fail(new NetworkError('scripted', 'socket closed'));
    await settle();
    expect(t.watchdog.state).toBe('degraded');
    expect(t.alerts.filter((a) => a.code === 'FEED_DISCONNECTED')).toHaveLength(1);
    expect(t.alerts.find((a) => a.code === 'FEED_DISCONNECTED')?.level).toBe('warning');

    const streamsBefore = t.provider.candleStreams.length;
    t.clock.advanceTo(brokeAt + 59_999);
    await settle();
    expect(t.provider.candleStreams.length).toBe(streamsBefore);
    for (const delay of [60_000, 120_000, 240_000, 480_000]) {
      t.clock.advanceBy(delay);
      await settle();
    }
    expect(t.provider.candleStreams.length).toBe(streamsBefore + 4);
    expect(t.watchdog.state).toBe('degraded');

    // Each attempt first asks for the bars after the last one published, once one can be over:
    // not at 60 s and 180 s after bar 10 opened; at 420 s bar 10 was over, so 900 s asked from bar 11.
    expect(t.provider.fetchCalls.map((c) => c.since)).toEqual([10, 11].map((i) => bar(i).timestamp));
    // 900 s after bar 9 closed, bars 10–12 are over and came from history; bar 13 is still forming.
    expect(times(t.closed)).toEqual(expectedTimes(0, 12));

    // The new stream repeats the last closed bar (a websocket cache) before going on.
    t.provider.candleStream(SYMBOL, TF).push(bar(12));
    await t.live(13);
    await t.live(14);
    expect(times(t.closed)).toEqual(expectedTimes(0, 14));
    expect(t.watchdog.state).toBe('running');
    expect(codes(t.alerts)).toContain('FEED_RECONNECTED');
    expect(t.watchdog.feeds()[0]).toMatchObject({ backfilled: 3, reconnects: 4, connected: true });
    await t.system.stop();
  });

  it('fills a gap the stream reveals (a stream that resumes at the current bar) before publishing the newer bar', async () => {
    const t = await setup({ reconnect });
    t.provider.history.set(`${SYMBOL}|${TF}`, bars.slice(0, 40));
    for (let i = 0; i <= 4; i++) await t.live(i);
    // The stream silently skips bars 5–7 (no disconnect at all) and goes on with bar 8.
    t.clock.advanceTo(bar(8).timestamp + BAR);
    t.provider.candleStream(SYMBOL, TF).push(forming(8));
    t.provider.candleStream(SYMBOL, TF).push(bar(8));
    await settle();
    expect(times(t.closed)).toEqual(expectedTimes(0, 8));
    expect(t.provider.fetchCalls).toHaveLength(1);
    expect(t.provider.fetchCalls[0]).toMatchObject({ since: bar(5).timestamp });
    // candle.updated for bar 8 came after the backfilled closes: consumers never see time go backwards.
    expect(t.updated.at(-1)?.timestamp).toBe(bar(8).timestamp);
    await t.system.stop();
  });

  it('treats a failing backfill like a broken stream: retries later, still without gaps or duplicates', async () => {
    const t = await setup({ reconnect });
    t.provider.history.set(`${SYMBOL}|${TF}`, bars.slice(0, 40));
    for (let i = 0; i <= 4; i++) await t.live(i);
    t.provider.fetchFailures = 1;
    t.clock.advanceTo(bar(7).timestamp + BAR);
    t.provider.candleStream(SYMBOL, TF).push(bar(7));
    await settle();
    expect(times(t.closed)).toEqual(expectedTimes(0, 4));
    expect(t.watchdog.state).toBe('degraded');
    t.clock.advanceBy(60_000);
    await settle();
    expect(times(t.closed)).toEqual(expectedTimes(0, 7));
    await t.live(8);
    expect(times(t.closed)).toEqual(expectedTimes(0, 8));
    expect(t.watchdog.state).toBe('running');
    await t.system.stop();
  });

  it('after a restart resumes from the remembered last bar: fills what was missed and republishes nothing', async () => {
    const store = new MemoryStateStore();
    const provider = new ScriptedProvider();
    provider.history.set(`${SYMBOL}|${TF}`, bars.slice(0, 40));
    const first = await setup({}, { store, provider });
    for (let i = 0; i <= 5; i++) await first.live(i);
    await first.system.stop();

    const second = await setup({}, { store, provider, startAt: bar(10).timestamp + 1_000 });
    expect(times(second.closed)).toEqual(expectedTimes(6, 9));
    await second.live(10);
    expect(times(second.closed)).toEqual(expectedTimes(6, 10));
    await second.system.stop();
  });
});

describe('price-watchdog on the replay provider', () => {
  it('publishes every bar of real candle data once, in order, with a tick per bar', async () => {
    const clock = new VirtualClock(0);
    const file = fileURLToPath(new URL('../test-data/binance-XRP-ETH-5m.csv', import.meta.url));
    const replay = new ReplayProvider({ clock, sources: [{ type: 'candles', file, symbol: SYMBOL, timeframe: TF }] });
    await replay.load();
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 3_600_000,
      validateOnPublish: true,
      services: { 'provider:replay': replay },
      agents: [
        {
          id: 'prices',
          definition: agent,
          // Default staleness: the tick feed, one tick per bar, must not look stale between bars.
          config: { provider: 'replay', symbols: [SYMBOL], timeframes: [TF] },
        },
      ],
    });
    const closed: CandleEvent[] = [];
    const ticks: number[] = [];
    const alerts: string[] = [];
    system.bus.subscribe('candle.closed', (e) => {
      closed.push(e.payload);
    });
    system.bus.subscribe('price.tick', (e) => {
      ticks.push(e.payload.price);
    });
    system.bus.subscribe('system.alert', (e) => {
      alerts.push(e.payload.code);
    });
    await system.start();
    const summary = await replay.start();
    await settle();
    expect(summary.records).toBe(bars.length);
    expect(closed).toEqual(bars.map(({ closed: _, ...c }) => c));
    expect(ticks).toEqual(bars.map((c) => c.close));
    // Data flowed on every bar: nothing went stale while the replay played.
    expect(alerts).not.toContain('FEED_STALE');
    // The end of the data is not a broken stream: no reconnecting, no alert.
    expect(replay.exhausted).toBe(true);
    expect(alerts).not.toContain('FEED_DISCONNECTED');
    expect(system.agent<PriceWatchdogAgent>('prices').feeds().map((f) => f.reconnects)).toEqual([0, 0]);
    await system.stop();
  });
});

describe('price-watchdog on a synthetic market', () => {
  /** Plays `bars` one-minute bars of a synthetic market through a watchdog with default settings. */
  async function play(bars: number, stale?: PriceWatchdogConfigInput['stale']) {
    const clock = new VirtualClock(Date.UTC(2024, 0, 1));
    const market = new SyntheticProvider({ clock, seed: 7, symbols: [{ symbol: 'BTC/USDT', startPrice: 40_000 }], timeframe: '1m', historyBars: 0, bars, speed: 'max' });
    const system = createSystem({
      clock,
      logger: silentLogger(),
      heartbeatIntervalMs: 3_600_000,
      services: { 'provider:synthetic': market },
      agents: [{ id: 'prices', definition: agent, config: { provider: 'synthetic', symbols: ['BTC/USDT'], stale } }],
    });
    const alerts: string[] = [];
    const states: string[] = [];
    let ticks = 0;
    system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload.code));
    system.bus.subscribe('agent.status', (e) => void states.push(e.payload.to));
    system.bus.subscribe('price.tick', () => void ticks++);
    await system.start();
    await market.start();
    await settle();
    await system.stop();
    return { alerts, states, ticks };
  }

  it('follows the feed timeframe: a 1m market that trades once per bar never looks stale with the default settings', async () => {
    const run = await play(300);
    expect(run.ticks).toBe(300);
    expect(run.alerts.filter((c) => c === 'FEED_STALE' || c === 'FEED_RECOVERED')).toEqual([]);
    expect(run.states).not.toContain('degraded');
  });

  it('still flags a tick feed that goes silent for longer than its threshold', async () => {
    // A threshold below one bar: every gap between two bars is a stale episode (and the setting is warned about).
    const run = await play(5, { tickMs: 30_000, checkEveryMs: 10_000 });
    expect(run.alerts.filter((c) => c === 'FEED_STALE').length).toBeGreaterThanOrEqual(4);
    expect(run.states).toContain('degraded');
  });
});

describe('price-watchdog on pushed replay data', () => {
  it('publishes bars built from finer data (15m from 5m) as well as the native ones, once each, in time order', async () => {
    const clock = new VirtualClock(0);
    const file = fileURLToPath(new URL('../test-data/binance-XRP-ETH-5m.csv', import.meta.url));
    const replay = new ReplayProvider({ clock, sources: [{ type: 'candles', file, symbol: SYMBOL, timeframe: TF }] });
    await replay.load();
    expect(typeof replay.pushCandles).toBe('function');
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 3_600_000,
      validateOnPublish: true,
      services: { 'provider:replay': replay },
      agents: [{ id: 'prices', definition: agent, config: { provider: 'replay', symbols: [SYMBOL], timeframes: [TF, '15m'], ticks: false } }],
    });
    const closed: Array<CandleEvent & { at: number }> = [];
    system.bus.subscribe('candle.closed', (e) => void closed.push({ ...e.payload, at: clock.now() }));
    await system.start();
    await replay.start();
    await settle();
    const fives = closed.filter((c) => c.timeframe === TF);
    const fifteens = closed.filter((c) => c.timeframe === '15m');
    expect(fives.map((c) => c.timestamp)).toEqual(bars.map((c) => c.timestamp));
    // Each 15-minute bar is its three 5-minute bars, published when the last of them closed.
    const expected = [];
    for (const b of bars) {
      const start = b.timestamp - (b.timestamp % 900_000);
      const group = bars.filter((x) => x.timestamp >= start && x.timestamp < start + 900_000);
      if (group.length === 3 && group[2] === b) {
        expected.push({ timestamp: start, open: group[0]!.open, high: Math.max(...group.map((x) => x.high)), low: Math.min(...group.map((x) => x.low)), close: b.close, at: start + 900_000 });
      }
    }
    expect(expected.length).toBeGreaterThan(10);
    expect(fifteens.map(({ timestamp, open, high, low, close, at }) => ({ timestamp, open, high, low, close, at }))).toEqual(expected);
    await system.stop();
  });
});

describe('Backoff', () => {
  it('grows by the factor up to the cap, jitters within bounds, repeats for the same seed, honours retry-after', () => {
    const policy = { initialDelayMs: 1_000, maxDelayMs: 10_000, factor: 2, jitter: 0.5 };
    const a = new Backoff(policy, 'feed-a');
    const delays = Array.from({ length: 8 }, () => a.next());
    const caps = [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000];
    delays.forEach((d, i) => {
      expect(d).toBeLessThanOrEqual(caps[i]!);
      expect(d).toBeGreaterThanOrEqual(caps[i]! / 2);
    });
    const b = new Backoff(policy, 'feed-a');
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(delays);
    const c = new Backoff(policy, 'feed-b');
    expect(Array.from({ length: 8 }, () => c.next())).not.toEqual(delays);
    a.reset();
    expect(a.next(30_000)).toBe(30_000);
  });
});
