import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventCatalogue, NatsTransport, WallClock, builtinEvents, createSystem, silentLogger, type TradebusSystem } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';
import priceWatchdog from './index.js';
import { ScriptedProvider } from './test-support/scripted-provider.js';

const BAR = 300_000;
const T0 = Date.UTC(2018, 0, 10);
const symbols = ['ADA/BTC', 'ETH/BTC', 'LTC/BTC', 'ZEC/BTC'];
let server: NatsServer;

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  await server?.dispose();
});

function transport(prefix: string, name: string): NatsTransport {
  return new NatsTransport({ servers: server.url, catalogue: new EventCatalogue(builtinEvents), prefix, name, durable: ['candle.closed'] });
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sharded price watchdog', () => {
  it('publishes every closed bar of every symbol once across a handover, filling the bars closed meanwhile from history', async () => {
    const prefix = `wd${process.pid}`;
    const provider = new ScriptedProvider();
    const owned = new Map<string, string[]>();
    const seen = new Map<string, number>();
    const recorder = transport(prefix, 'recorder');
    await recorder.connect();
    recorder.subscribe('candle.closed', (e) => {
      const p = e.payload as { symbol: string; timestamp: number };
      seen.set(`${p.symbol}|${p.timestamp}`, (seen.get(`${p.symbol}|${p.timestamp}`) ?? 0) + 1);
    }, { durable: 'recorder' });
    recorder.subscribe('agent.heartbeat', (e) => {
      const hb = e.payload as { instance?: string; shard?: { owned: string[] } };
      if (hb.instance !== undefined) owned.set(hb.instance, hb.shard?.owned ?? []);
    });
    await recorder.flush();

    const start = async (instance: string): Promise<TradebusSystem> => {
      const system = createSystem({
        transport: transport(prefix, instance),
        clock: new WallClock(),
        logger: silentLogger(),
        heartbeatIntervalMs: 100,
        services: { 'provider:scripted': provider },
        agents: [{ id: 'prices', definition: priceWatchdog, config: { provider: 'scripted', symbols, timeframes: ['5m'], ticks: false, publishForming: false, resume: false, sharding: { instance, leaseTtlMs: 1_500, renewIntervalMs: 150 } } }],
      });
      await system.start();
      return system;
    };
    const streaming = (symbol: string): boolean => {
      try {
        provider.candleStream(symbol, '5m');
        return true;
      } catch {
        return false;
      }
    };
    const bar = (symbol: string, i: number) => ({ symbol, timeframe: '5m', timestamp: T0 + i * BAR, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, closed: true });
    const close = (i: number, live: boolean): void => {
      for (const symbol of symbols) {
        const c = bar(symbol, i);
        provider.history.set(`${symbol}|5m`, [...(provider.history.get(`${symbol}|5m`) ?? []), c]);
        if (live) provider.candleStream(symbol, '5m').push(c);
      }
    };

    const a = await start('a');
    const b = await start('b');
    try {
      await until('a and b to share the symbols', () => (owned.get('a')?.length ?? 0) === 2 && (owned.get('b')?.length ?? 0) === 2 && symbols.every(streaming));
      for (let i = 1; i <= 20; i++) {
        close(i, true);
        await new Promise((r) => setTimeout(r, 5));
      }
      await until('bars 1-20', () => seen.size === 20 * symbols.length);
      const aSymbols = [...owned.get('a')!];

      // a leaves; bars 21-25 close while nobody watches its symbols.
      await a.stop();
      for (let i = 21; i <= 25; i++) close(i, false);
      await until('b to own every symbol', () => owned.get('b')?.length === symbols.length && symbols.every(streaming));
      for (let i = 26; i <= 40; i++) {
        // b's own symbols missed 21-25 live: it fills them from history when bar 26 shows the gap.
        close(i, true);
        await new Promise((r) => setTimeout(r, 5));
      }
      await until('bars 1-40', () => seen.size === 40 * symbols.length);
      await new Promise((r) => setTimeout(r, 300));

      const expected = symbols.flatMap((s) => Array.from({ length: 40 }, (_, i) => `${s}|${T0 + (i + 1) * BAR}`)).sort();
      expect([...seen.keys()].sort()).toEqual(expected);
      expect([...seen.entries()].filter(([, n]) => n > 1)).toEqual([]);
      expect(aSymbols.length).toBe(2);
    } finally {
      await a.stop().catch(() => undefined);
      await b.stop().catch(() => undefined);
      await recorder.close();
    }
  }, 60_000);
});
