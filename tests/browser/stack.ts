import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { VirtualClock, createSystem, parseConfig, type Envelope, type TradebusSystem } from '@tradebus/core';
import { PaperExchange, ReplayProvider } from '@tradebus/providers';
import { createApiApp, holdUntilIdle, SystemMetrics, waitUntilIdle, type ApiDataSource } from '@tradebus/agent-main';
import { agent as priceWatchdog } from '@tradebus/agent-price-watchdog';
import { agent as strategyRunner } from '@tradebus/agent-strategy-runner';
import { agent as tradeManager, tradeManagerConfigSchema, type TradeManagerAgent, type TradeManagerConfigInput } from '@tradebus/agent-trade-manager';
import { agent as tradeExecutor } from '@tradebus/agent-trade-executor';
import { agent as accountSync } from '@tradebus/agent-account-sync';
import { agent as tradeMonitor, type TradeMonitorAgent, type TradeMonitorConfigInput } from '@tradebus/agent-trade-monitor';

export const API_TOKEN = 'dashboard-test-token-7f3a9c2e';
export const SYMBOLS = ['ETH/BTC', 'LTC/BTC'] as const;
export const AGENT_IDS = ['account', 'executor', 'manager', 'monitor', 'prices', 'strategies'];
const TF = '5m';
const BAR = 300_000;
const FIRST_BAR = 1515560100000;
const data = (symbol: string) => fileURLToPath(new URL(`./data/binance-${symbol.replace('/', '-')}-5m.csv`, import.meta.url));

export interface Stack {
  system: TradebusSystem;
  clock: VirtualClock;
  apiUrl: string;
  monitor: TradeMonitorAgent;
  manager: TradeManagerAgent;
  /** Every event on the bus, in order. */
  journal: Envelope[];
  /**
   * Plays `bars` more bars of every symbol (all that is left by default), letting every agent
   * finish each bar before the clock moves on. Returns with the replay paused.
   */
  play(bars?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A whole trading system in one process on a virtual clock: replayed Binance candles →
 * price-watchdog → strategy-runner → trade-manager → trade-executor (paper exchange) with
 * account-sync, the main REST API with its token check, and the trade-monitor serving the page.
 */
export async function startStack(options: { warmupBars?: number; playedBars?: number; monitor?: TradeMonitorConfigInput } = {}): Promise<Stack> {
  const warmupBars = options.warmupBars ?? 300;
  const playedBars = options.playedBars ?? 600;
  const clock = new VirtualClock(0);
  const replay = new ReplayProvider({
    clock,
    sources: SYMBOLS.map((symbol) => ({ type: 'candles' as const, file: data(symbol), symbol, timeframe: TF })),
    warmupBars,
    endAt: FIRST_BAR + (warmupBars + playedBars) * BAR,
  });
  await replay.load();
  const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'BTC', balances: { BTC: 1 }, fees: { maker: 0.001, taker: 0.001 } });
  const system = createSystem({
    clock,
    // Virtual time: one heartbeat per replayed minute, and the clock stands still once the replay ends.
    heartbeatIntervalMs: 60_000,
    validateOnPublish: true,
    services: { 'provider:replay': replay, 'provider:paper': paper },
  });
  const journal: Envelope[] = [];
  system.bus.subscribe('>', (e) => void journal.push(e));

  const history: ApiDataSource = {
    events: async (q) => journal.filter((e) => q.type === undefined || q.type.includes(e.type)).slice(-q.limit),
    orders: async () => [],
    trades: async () => [],
    positions: async () => [],
    account: async () => undefined,
  };
  const metrics = new SystemMetrics(system);
  let managerConfig: TradeManagerConfigInput = {
    timeframe: TF,
    equity: { initial: 1, source: 'auto' },
    aggregation: { minConfidence: 0.3 },
    sizing: { riskPerTradePct: 1, quantityStep: 0.001 },
    limits: { maxOpenPositions: 2, maxExposurePerSymbolPct: 45, maxTotalExposurePct: 90 },
    // Far from anything this replay reaches: only shown, not acting.
    breakers: { drawdownLadder: [{ drawdownPct: 50, sizeMultiplier: 0.5 }] },
    portfolio: { groups: { map: { 'ETH/BTC': 'alts', 'LTC/BTC': 'alts' } } },
  };
  const app = createApiApp({
    system,
    config: () => parseConfig('{}', { env: {} }),
    // The trade manager's settings change live, merged key by key as the launcher does.
    patchConfig: async (patch) => {
      const change = patch.agents?.manager?.config;
      if (change === undefined) return {};
      const next = merge(managerConfig, change) as TradeManagerConfigInput;
      await system.agent<TradeManagerAgent>('manager').reconfigure(tradeManagerConfigSchema.parse(next));
      managerConfig = next;
      return { 'agents.manager.config': change };
    },
    data: history,
    metrics,
    token: API_TOKEN,
    logger: system.logger,
    bodyLimit: '16kb',
    cors: false,
    startedAt: Date.now(),
    version: 'test',
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  system.addAgent({ id: 'prices', definition: priceWatchdog, config: { provider: 'replay', symbols: SYMBOLS, timeframes: [TF], ticks: false } });
  system.addAgent({
    id: 'strategies',
    definition: strategyRunner,
    dependsOn: ['prices'],
    config: {
      provider: 'replay',
      symbols: SYMBOLS,
      timeframes: [TF],
      strategies: [
        { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
        { type: 'donchian-breakout', id: 'donchian' },
      ],
      warmup: { bars: warmupBars },
    },
  });
  system.addAgent({ id: 'manager', definition: tradeManager, config: managerConfig });
  system.addAgent({ id: 'executor', definition: tradeExecutor, config: { provider: 'paper', mode: 'paper' } });
  system.addAgent({ id: 'account', definition: accountSync, config: { provider: 'paper', quoteCurrency: 'BTC', intervalMs: 60_000 } });
  system.addAgent({ id: 'monitor', definition: tradeMonitor, config: { port: 0, apiUrl, retryMs: 1_000, symbols: [...SYMBOLS], ...options.monitor } });
  metrics.start();
  await system.start();

  const manager = system.agent<TradeManagerAgent>('manager');
  let running: Promise<unknown> | undefined;
  // The same wait the backtest engine uses: every agent's queue empty and no file or network work pending.
  const idle = async (): Promise<void> => void (await waitUntilIdle(system));

  return {
    system,
    clock,
    apiUrl,
    monitor: system.agent<TradeMonitorAgent>('monitor'),
    manager,
    journal,
    async play(bars = Number.POSITIVE_INFINITY) {
      // The replay is held after every moment until every agent is done with it (as the launcher
      // holds one), and paused after `bars` moments, so nothing is still being decided when the
      // test looks.
      const gate = holdUntilIdle(replay, system);
      let moments = 0;
      let reached!: () => void;
      const limit = new Promise<void>((resolve) => (reached = resolve));
      const unlisten = replay.feed.addListener({
        step: () => {
          if (++moments < bars) return;
          replay.pause();
          reached();
        },
      });
      if (running === undefined) running = replay.start();
      else replay.resume();
      await Promise.race([limit, running]);
      unlisten();
      gate.release();
      await idle();
    },
    async stop() {
      metrics.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await system.stop();
      await replay.close();
      await running;
    },
  };
}

function merge(base: unknown, patch: unknown): unknown {
  const plain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!plain(base) || !plain(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = merge(base[k], v);
  return out;
}
