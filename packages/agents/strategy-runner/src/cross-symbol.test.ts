import { describe, expect, it } from 'vitest';
import { VirtualClock, createSystem } from '@tradebus/core';
import type { Candle, Market, MarketDataProvider, OrderBookTop, Tick, Ticker } from '@tradebus/providers';
import { createStrategies, type Signal, type StrategyCandle } from '@tradebus/strategies';
import { agent, type StrategyRunnerAgent } from './index.js';
import { BAR, HistoryProvider, TF, loadCandles, settle } from './test-support/history-provider.js';

/*
 * A strategy reading across symbols (breadth) runs as one instance over all the runner's symbols,
 * at start and after its params change while running. Three symbols from the real XRP series:
 * itself and two copies whose prices run 7 and 19 bars ahead, so they move differently.
 */

const xrp = loadCandles();
const SHIFTS = { 'AAA/USDT': 0, 'BBB/USDT': 7, 'CCC/USDT': 19 } as const;
const SYMBOLS = Object.keys(SHIFTS) as Array<keyof typeof SHIFTS>;
const series = Object.fromEntries(
  SYMBOLS.map((symbol) => [
    symbol,
    xrp.slice(0, xrp.length - 19).map((c, i): StrategyCandle => ({ ...xrp[i + SHIFTS[symbol]]!, symbol, timestamp: c.timestamp })),
  ]),
) as Record<(typeof SYMBOLS)[number], StrategyCandle[]>;
const LIVE = 400;
const WARMUP = 200;

class PerSymbol implements MarketDataProvider {
  readonly id = 'multi';
  constructor(private readonly bySymbol: Map<string, HistoryProvider>) {}
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]> {
    return this.bySymbol.get(symbol)!.fetchOHLCV(symbol, timeframe, since, limit);
  }
  async loadMarkets(): Promise<Market[]> {
    return [];
  }
  async fetchTicker(symbol: string): Promise<Ticker> {
    return { symbol, timestamp: 0, last: 1 };
  }
  async fetchOrderBookTop(symbol: string): Promise<OrderBookTop> {
    return { symbol, timestamp: 0 };
  }
  watchTicks(): AsyncIterable<Tick> {
    throw new Error('not used');
  }
  watchCandles(): AsyncIterable<Candle> {
    throw new Error('not used');
  }
}

const zweig = (params: Record<string, number>) => ({ type: 'zweig-breadth', id: 'breadth', timeframe: TF, params: { minSymbols: 2, ...params } });

/** One instance fed `warm` (every symbol's bars in time order, no signals), then `live` the same way. */
function direct(params: Record<string, number>, warm: StrategyCandle[], live: StrategyCandle[]): Signal[] {
  const [strategy] = createStrategies([zweig(params)]);
  for (const c of warm) strategy!.warmUp([c]);
  return live.flatMap((c) => strategy!.onCandle(c));
}

const inTimeOrder = (from: number, to: number): StrategyCandle[] =>
  SYMBOLS.flatMap((s) => series[s].slice(from, to)).sort((a, b) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol));

describe('strategy-runner with a strategy that reads across symbols', () => {
  it('one instance sees every symbol, at start and after a change of its params while running', async () => {
    const clock = new VirtualClock(series['AAA/USDT'][LIVE]!.timestamp);
    const provider = new PerSymbol(new Map(SYMBOLS.map((s) => [s, new HistoryProvider(series[s], clock)])));
    const config = { provider: 'multi', symbols: SYMBOLS, timeframes: [TF], strategies: [zweig({ holdBars: 30 })], warmup: { bars: WARMUP } };
    const system = createSystem({ clock, heartbeatIntervalMs: 3_600_000, validateOnPublish: true, services: { 'provider:multi': provider }, agents: [{ id: 'runner', definition: agent, config }] });
    const signals: Signal[] = [];
    system.bus.subscribe('signal.generated', (e) => void signals.push(e.payload));
    await system.start();
    await settle();
    const runner = system.agent<StrategyRunnerAgent>('runner');
    const play = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        clock.advanceTo(series['AAA/USDT'][i]!.timestamp + BAR);
        for (const s of SYMBOLS) system.bus.publish('candle.closed', series[s][i]!);
      }
    };
    const CHANGE = LIVE + 300;
    play(LIVE, CHANGE);
    const before = direct({ holdBars: 30 }, inTimeOrder(LIVE - WARMUP, LIVE), inTimeOrder(LIVE, CHANGE));
    expect(before.length).toBeGreaterThan(3);
    expect(new Set(before.map((s) => s.symbol)).size).toBe(3);
    const order = (a: Signal, b: Signal) => a.timestamp - b.timestamp || a.symbol.localeCompare(b.symbol) || a.side.localeCompare(b.side);
    expect([...signals].sort(order)).toEqual([...before].sort(order));

    await runner.reconfigure(agent.configSchema.parse({ ...config, strategies: [zweig({ holdBars: 12 })] }));
    const published = signals.length;
    play(CHANGE, CHANGE + 400);
    // As a fresh instance with the new params warmed on the same recent bars of all three symbols.
    const after = direct({ holdBars: 12 }, inTimeOrder(CHANGE - WARMUP, CHANGE), inTimeOrder(CHANGE, CHANGE + 400));
    expect(after.length).toBeGreaterThan(3);
    expect(signals.slice(published).sort(order)).toEqual([...after].sort(order));
    await system.stop();
  });
});
