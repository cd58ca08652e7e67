import { z } from 'zod';
import { BaseAgent, VirtualClock, createSystem, defineAgent, defineEvents, type BuiltinEvents, type EventMapOf } from '@tradebus/core';
import { SyntheticProvider, type SyntheticSymbol } from '@tradebus/providers';
import priceWatchdog from '@tradebus/agent-price-watchdog';

// Your own event: the schema is its type for the compiler and its check where it crosses a
// process boundary.
export const botEvents = defineEvents({
  'bot.move': z.object({ symbol: z.string(), change: z.number(), timestamp: z.number() }),
});
export type BotEvents = BuiltinEvents & EventMapOf<typeof botEvents>;
export type Move = BotEvents['bot.move'];

export const moveDetectorConfig = z.object({ threshold: z.number().positive().default(0.002) }).strict();
type MoveDetectorConfig = z.output<typeof moveDetectorConfig>;

/** Your own agent: flags every closed bar whose close is at least `threshold` away from its open. */
class MoveDetector extends BaseAgent<MoveDetectorConfig, BotEvents> {
  protected run(): void {
    this.subscribe('candle.closed', ({ payload: bar }) => {
      const change = bar.close / bar.open - 1;
      if (Math.abs(change) >= this.config.threshold) {
        this.publish('bot.move', { symbol: bar.symbol, change, timestamp: bar.timestamp });
      }
    });
  }
}

export const moveDetector = defineAgent<MoveDetectorConfig, BotEvents>({
  kind: 'move-detector',
  description: 'Flags closed bars that moved more than a threshold',
  configSchema: moveDetectorConfig,
  events: botEvents,
  // What it uses on the bus (checked, and used to give its process least privilege on NATS).
  bus: { subscribes: ['candle.closed'], publishes: ['bot.move'] },
  create: (ctx) => new MoveDetector(ctx),
});
export default moveDetector;

/** The made-up market the bot trades on: the same seed always gives the same prices. */
export const market = {
  seed: 'tradebus-starter',
  timeframe: '1m',
  start: Date.UTC(2024, 0, 1),
  symbols: [{ symbol: 'BTC/USDT', startPrice: 60_000, volatility: 0.6 }] satisfies SyntheticSymbol[],
};

export interface RunBotOptions {
  /** One-minute bars to play. */
  bars: number;
  threshold?: number;
  onMove?: (move: Move) => void;
}

/**
 * Plays `bars` bars of the synthetic market as fast as the agents keep up (a virtual clock): the
 * built-in price watchdog turns them into `candle.closed` events and the move detector reacts.
 */
export async function runBot(options: RunBotOptions): Promise<{ bars: number; moves: Move[] }> {
  const clock = new VirtualClock(market.start);
  const provider = new SyntheticProvider({ id: 'market', clock, ...market, historyBars: 0, bars: options.bars, speed: 'max' });
  const system = createSystem({
    clock,
    events: [botEvents],
    services: { 'provider:market': provider },
    agents: [
      { id: 'prices', definition: priceWatchdog, config: { provider: 'market', symbols: market.symbols.map((s) => s.symbol), timeframes: [market.timeframe], ticks: false } },
      { id: 'moves', definition: moveDetector, config: { threshold: options.threshold } },
    ],
  });
  const moves: Move[] = [];
  let bars = 0;
  const bus = system.createBus<BotEvents>('observer');
  bus.subscribe('candle.closed', () => {
    bars++;
  });
  bus.subscribe('bot.move', ({ payload }) => {
    moves.push(payload);
    options.onMove?.(payload);
  });
  await system.start();
  try {
    await provider.start(); // resolves once every bar has been played
  } finally {
    await system.stop();
    await provider.close();
  }
  return { bars, moves };
}
