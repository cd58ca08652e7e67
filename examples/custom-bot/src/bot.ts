import { z } from 'zod';
import { BaseAgent, createSystem, defineAgent, defineEvents, type BuiltinEvents, type EventMapOf } from '@tradebus/core';

// 1. Your own event, typed by its schema.
export const botEvents = defineEvents({ 'bot.spike': z.object({ symbol: z.string(), change: z.number() }) });
type Events = BuiltinEvents & EventMapOf<typeof botEvents>;

// 2. Your own agent: flags a price move larger than `threshold` between two ticks.
class SpikeDetector extends BaseAgent<{ threshold: number }, Events> {
  private readonly last = new Map<string, number>();
  protected run(): void {
    this.subscribe('price.tick', ({ payload: tick }) => {
      const previous = this.last.get(tick.symbol);
      this.last.set(tick.symbol, tick.price);
      const change = previous === undefined ? 0 : tick.price / previous - 1;
      if (Math.abs(change) >= this.config.threshold) this.publish('bot.spike', { symbol: tick.symbol, change });
    });
  }
}
export const spikeDetector = defineAgent<{ threshold: number }, Events>({
  kind: 'spike-detector',
  configSchema: z.object({ threshold: z.number().positive() }),
  create: (ctx) => new SpikeDetector(ctx),
});

// 3. Run it with the built-in pieces: in-process bus, supervisor, health monitor.
export async function runBot(prices: number[], threshold = 0.01): Promise<Array<Events['bot.spike']>> {
  const system = createSystem({ events: [botEvents], agents: [{ id: 'spikes', definition: spikeDetector, config: { threshold } }] });
  const bus = system.createBus<Events>('demo-feed');
  const spikes: Array<Events['bot.spike']> = [];
  bus.subscribe('bot.spike', (e) => void spikes.push(e.payload));
  await system.start();
  for (const price of prices) bus.publish('price.tick', { symbol: 'XRP/ETH', price, timestamp: Date.now() });
  await system.stop();
  return spikes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await runBot([0.001392, 0.001393, 0.001425, 0.001424, 0.001380]));
}
