// Compile-time checks: `npm run typecheck` fails if any @ts-expect-error line stops being an error.
import { z } from 'zod';
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
