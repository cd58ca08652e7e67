// Compile-time checks: `npm run typecheck` fails if any @ts-expect-error line stops being an error.
import { z } from 'zod';
import { BaseAgent } from '../agent/base-agent.js';
import { EventBus } from '../bus/event-bus.js';
import { LocalTransport } from '../bus/local-transport.js';
import { WallClock } from '../clock.js';
import { builtinEvents, type BuiltinEvents } from './builtin.js';
import { EventCatalogue, defineEvents, type EventMapOf } from './catalogue.js';

const bus = new EventBus<BuiltinEvents>({
  transport: new LocalTransport(),
  catalogue: new EventCatalogue(builtinEvents),
  clock: new WallClock(),
  source: 'types',
});

bus.publish('price.tick', { symbol: 'BTC/USDT', price: 1, timestamp: 1 });
// @ts-expect-error unknown event name
bus.publish('price.tik', { symbol: 'BTC/USDT', price: 1, timestamp: 1 });
// @ts-expect-error wrong payload field type
bus.publish('price.tick', { symbol: 'BTC/USDT', price: '1', timestamp: 1 });
// @ts-expect-error missing payload field
bus.publish('price.tick', { symbol: 'BTC/USDT', timestamp: 1 });

bus.subscribe('price.tick', (event) => {
  const price: number = event.payload.price;
  // @ts-expect-error no such field on a tick
  void event.payload.quantity;
  void price;
});
// @ts-expect-error unknown event name in subscribe
bus.subscribe('price.tock', () => undefined);

bus.subscribe('order.*', (event) => {
  // The wildcard narrows to the order events, discriminated by `type`.
  if (event.type === 'order.updated') {
    const status: string = event.payload.status;
    void status;
  } else {
    const type: 'order.requested' | 'order.cancel_requested' = event.type;
    void type;
  }
  // @ts-expect-error trade events are not matched by order.*
  const t: 'trade.opened' = event.type;
  void t;
});

const mine = defineEvents({ 'bot.greeting': z.object({ text: z.string() }) });
type MyEvents = BuiltinEvents & EventMapOf<typeof mine>;
const myBus = bus as unknown as EventBus<MyEvents>;
myBus.publish('bot.greeting', { text: 'hello' });
// @ts-expect-error custom event payload is typed too
myBus.publish('bot.greeting', { text: 42 });
myBus.subscribe('bot.greeting', (e) => void e.payload.text.toUpperCase());

// A handler may return what its last expression gives: a concise arrow that publishes compiles.
bus.subscribe('price.tick', (e) => bus.publish('system.alert', { level: 'info', code: 'SEEN', message: e.payload.symbol, timestamp: e.ts }));
bus.subscribe('candle.closed', async (e) => e.payload.close * 2);
// Wildcards that match some event type compile and narrow the envelope.
bus.subscribe('*.tick', (e) => {
  const type: 'price.tick' = e.type;
  void type;
});
bus.subscribe('trade.>', (e) => void e.payload.symbol);
// @ts-expect-error a wildcard that matches no event type would never receive anything
bus.subscribe('prices.*', () => undefined);
// @ts-expect-error no event type starts with 'nope.'
bus.subscribe('nope.>', () => undefined);
// @ts-expect-error no event type ends in '.tock'
bus.subscribe('*.tock', () => undefined);

class Echo extends BaseAgent<{ symbol: string }, MyEvents> {
  protected run(): void {
    this.subscribe('price.tick', (e) => this.publish('bot.greeting', { text: e.payload.symbol }));
    this.subscribe('bot.*', (e) => {
      const text: string = e.payload.text;
      void text;
    });
    // @ts-expect-error a wildcard that matches no event type, in an agent
    this.subscribe('prices.*', () => undefined);
    this.every(1_000, () => this.publish('bot.greeting', { text: this.config.symbol }));
    this.after(1_000, async () => this.publish('bot.greeting', { text: 'later' }));
  }
}
void Echo;
