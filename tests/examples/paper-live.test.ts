import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CandleEvent } from '@tradebus/core';
import { freePort } from '@tradebus/core/testing';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';
import { startLoopbackBinance, type LoopbackBinance } from './loopback-binance.js';
import { until } from './support.js';

// examples/paper-live/tradebus.yaml as `tradebus run` starts it (prepareSystem + launchSystem),
// with one difference: the ccxt binance instance is handed in, its URLs pointed at a loopback
// Binance that answers in Binance's formats. No internet. Websockets off, as BINANCE_WEBSOCKET=false
// does for a user: tickers and candles are polled over REST.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const config = join(root, 'examples', 'paper-live', 'tradebus.yaml');
const MINUTE = 60_000;

let running: RunningSystem | undefined;
let venue: LoopbackBinance | undefined;

afterEach(async () => {
  await running?.stop().catch(() => undefined);
  running = undefined;
  await venue?.close();
  venue = undefined;
});

describe('examples/paper-live', () => {
  it('runs every agent on Binance public market data; closed 1-minute bars flow as candle.closed', { timeout: 45_000 }, async () => {
    venue = await startLoopbackBinance({ historyBars: 600, advanceEveryMs: 400 });
    const apiPort = await freePort();
    const env = {
      TRADEBUS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tradebus-example-paper-live-')),
      TRADEBUS_API_PORT: String(apiPort),
      TRADEBUS_MONITOR_PORT: '0',
      TRADEBUS_API_TOKEN: 'paper-live-example-test-token',
      BINANCE_WEBSOCKET: 'false',
      // Poll faster than the example's 2 s, so the test sees many bars in a few seconds.
      TRADEBUS__PROVIDERS__BINANCE__POLL_INTERVAL_MS: '150',
    };
    const prepared = await prepareSystem(config, { env });
    expect(prepared.config.providers.binance).toMatchObject({ kind: 'ccxt', exchange: 'binance', websocket: false, pollIntervalMs: 150 });

    running = await launchSystem(prepared, { env, providerDeps: { ccxtInstances: { binance: venue.exchange } } });
    const closed: CandleEvent[] = [];
    const ticks: Array<{ symbol: string; price: number; bid?: number | undefined; ask?: number | undefined }> = [];
    const bus = running.system.createBus('example-test');
    bus.subscribe('candle.closed', (e) => void closed.push(e.payload));
    bus.subscribe('price.tick', (e) => void ticks.push(e.payload));

    const perSymbol = (symbol: string): CandleEvent[] => closed.filter((c) => c.symbol === symbol);
    await until('ten closed bars of each symbol', async () => (perSymbol('BTC/USDT').length >= 10 && perSymbol('ETH/USDT').length >= 10 ? true : undefined), 25_000);

    for (const symbol of ['BTC/USDT', 'ETH/USDT'] as const) {
      const bars = perSymbol(symbol);
      // Once per bar, in order, without gaps: each bar opens one minute after the previous one.
      for (let i = 1; i < bars.length; i++) expect(bars[i]!.timestamp - bars[i - 1]!.timestamp, `${symbol} bar ${i}`).toBe(MINUTE);
      // Exactly the bars the venue served, through ccxt's parser and the watchdog's checks.
      const served = new Map(venue.bars(symbol).map((b) => [b.timestamp, b]));
      for (const bar of bars) {
        const expected = served.get(bar.timestamp);
        expect(expected, `${symbol} ${bar.timestamp}`).toBeDefined();
        expect(bar).toEqual({ symbol, timeframe: '1m', timestamp: bar.timestamp, open: expected!.open, high: expected!.high, low: expected!.low, close: expected!.close, volume: expected!.volume });
      }
    }

    // Every agent of the example is up and healthy, as the REST API reports it.
    const status = await until('every agent ok', async () => {
      const body = (await (await fetch(`${running!.apiUrl}/agents/status`)).json()) as { status: string; agents: Array<{ agentId: string; status: string; detail?: string }> };
      return body.agents.length === 6 && body.agents.every((a) => a.status === 'ok') ? body : undefined;
    });
    expect(status.agents.map((a) => a.agentId).sort()).toEqual(['account', 'executor', 'manager', 'monitor', 'prices', 'strategies']);
    expect(status.status).toBe('ok');

    // Ticks from the 24-hour ticker, with its bid and ask, at the last served close.
    for (const symbol of ['BTC/USDT', 'ETH/USDT'] as const) {
      const closes = new Set(venue.bars(symbol).map((b) => b.close));
      const seen = ticks.filter((t) => t.symbol === symbol);
      expect(seen.length, symbol).toBeGreaterThan(0);
      for (const t of seen) {
        expect(closes.has(t.price)).toBe(true);
        expect(t.ask).toBe(t.price);
        expect(t.bid).toBeCloseTo(t.price - 0.01, 8);
      }
    }
    // The strategies warmed up from Binance's history (one long klines request per symbol).
    const warmups = venue.requests.filter((r) => r.path === '/api/v3/klines' && Number(r.query.get('limit')) >= 100);
    expect(new Set(warmups.map((r) => r.query.get('symbol')))).toEqual(new Set(['BTCUSDT', 'ETHUSDT']));
    // Nothing the system asked for went unanswered: these are all the endpoints it uses.
    expect(venue.unanswered).toEqual([]);

    const stopped = await running.stop();
    running = undefined;
    expect(stopped.timedOut).toEqual([]);
  });
});
