import { fileURLToPath } from 'node:url';
import { VirtualClock, createSystem, type BuiltinEvents, type Envelope, type StateStore, type TradebusSystem } from '@tradebus/core';
import { PaperExchange, ReplayProvider } from '@tradebus/providers';
import { holdUntilIdle, waitUntilIdle } from '@tradebus/agent-main';
import { agent as priceWatchdog } from '@tradebus/agent-price-watchdog';
import { agent as strategyRunner } from '@tradebus/agent-strategy-runner';
import { agent as tradeManager, type TradeManagerAgent, type TradeManagerConfigInput } from '@tradebus/agent-trade-manager';
import { agent as tradeExecutor, type TradeExecutorAgent } from '@tradebus/agent-trade-executor';
import { agent as accountSync, type AccountSyncAgent } from '@tradebus/agent-account-sync';

export const DATA = {
  'ETH/BTC': fileURLToPath(new URL('../data/binance-ETH-BTC-5m.csv', import.meta.url)),
  'LTC/BTC': fileURLToPath(new URL('../data/binance-LTC-BTC-5m.csv', import.meta.url)),
} as const;
export const SYMBOLS = Object.keys(DATA) as Array<keyof typeof DATA>;
export const TF = '5m';
export const BAR = 300_000;
export const STRATEGIES = [
  { type: 'ema-cross', id: 'ema', params: { fast: 9, slow: 21 } },
  { type: 'donchian-breakout', id: 'donchian' },
];

export interface TradingRun {
  system: TradebusSystem;
  clock: VirtualClock;
  replay: ReplayProvider;
  paper: PaperExchange;
  events: Envelope[];
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  manager: TradeManagerAgent;
  executor: TradeExecutorAgent;
  sync: AccountSyncAgent;
  /** Plays the replay to the end, letting every agent finish each bar before the clock moves on. */
  play(): Promise<void>;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The whole trading pipeline in one process on a virtual clock: replayed real candles →
 * price-watchdog → strategy-runner → trade-manager → trade-executor (paper) → paper exchange, with
 * account-sync reporting the paper account and reconciling it with the manager's books.
 */
export async function startTradingRun(options: {
  warmupBars: number;
  playedBars: number;
  manager?: TradeManagerConfigInput;
  stateStore?: (agentId: string) => StateStore;
}): Promise<TradingRun> {
  const clock = new VirtualClock(0);
  const firstBar = 1515560100000;
  const replay = new ReplayProvider({
    clock,
    sources: SYMBOLS.map((symbol) => ({ type: 'candles' as const, file: DATA[symbol], symbol, timeframe: TF })),
    warmupBars: options.warmupBars,
    endAt: firstBar + (options.warmupBars + options.playedBars) * BAR,
  });
  await replay.load();
  const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'BTC', balances: { BTC: 1 }, fees: { maker: 0.001, taker: 0.001 } });
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: options.stateStore,
    services: { 'provider:replay': replay, 'provider:paper': paper },
    agents: [
      { id: 'prices', definition: priceWatchdog, config: { provider: 'replay', symbols: SYMBOLS, timeframes: [TF], ticks: false } },
      {
        id: 'strategies',
        definition: strategyRunner,
        dependsOn: ['prices'],
        config: { provider: 'replay', symbols: SYMBOLS, timeframes: [TF], strategies: STRATEGIES, warmup: { bars: options.warmupBars } },
      },
      {
        id: 'manager',
        definition: tradeManager,
        config: {
          timeframe: TF,
          equity: { initial: 1, source: 'auto' },
          aggregation: { minConfidence: 0.3 },
          sizing: { riskPerTradePct: 1, quantityStep: 0.001 },
          limits: { maxOpenPositions: 2, maxExposurePerSymbolPct: 45, maxTotalExposurePct: 90 },
          ...options.manager,
        },
      },
      { id: 'executor', definition: tradeExecutor, config: { provider: 'paper', mode: 'paper' } },
      { id: 'account', definition: accountSync, config: { provider: 'paper', quoteCurrency: 'BTC', intervalMs: 60_000 } },
    ],
  });
  const events: Envelope[] = [];
  system.bus.subscribe('>', (e) => {
    if (e.type !== 'agent.heartbeat' && e.type !== 'candle.updated' && e.type !== 'indicator.updated') events.push(e);
  });
  await system.start();
  const manager = system.agent<TradeManagerAgent>('manager');
  const executor = system.agent<TradeExecutorAgent>('executor');
  const sync = system.agent<AccountSyncAgent>('account');
  // The same wait the backtest engine uses: every agent's queue empty and no file or network work pending.
  const idle = async (): Promise<void> => void (await waitUntilIdle(system));
  return {
    system,
    clock,
    replay,
    paper,
    events,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.payload as never),
    manager,
    executor,
    sync,
    idle,
    async play() {
      // Held after every moment until every agent is done with it, as the launcher holds a
      // replay, so nothing is still being decided when the clock moves on.
      const gate = holdUntilIdle(replay, system);
      try {
        await replay.start();
      } finally {
        gate.release();
      }
      await idle();
    },
    stop: async () => {
      await system.stop();
    },
  };
}
