import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.js';
import { builtinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';
import { EventBus } from './event-bus.js';
import { LocalTransport } from './local-transport.js';

function newBus(): EventBus {
  return new EventBus({ transport: new LocalTransport(), catalogue: new EventCatalogue(builtinEvents), clock: new VirtualClock(0), source: 'test' });
}

const tick = { symbol: 'BTC/USDT', price: 1, timestamp: 1 };

describe('EventBus handler results', () => {
  it('ignores what a handler returns unless it is a promise', async () => {
    const bus = newBus();
    await bus.transport.connect();
    const seen: unknown[] = [];
    // Each returns something that is not a promise: a value, null, an envelope.
    bus.subscribe('price.tick', (e) => seen.push(e.payload.price));
    bus.subscribe('price.tick', () => null);
    bus.subscribe('price.tick', (e) => bus.publish('system.alert', { level: 'info', code: 'SEEN', message: e.payload.symbol, timestamp: 0 }));
    bus.publish('price.tick', tick);
    expect(seen).toEqual([1]);
    expect(bus.stats).toMatchObject({ errors: 0, pending: 0 });
  });

  it('waits for a returned promise or thenable and counts its rejection', async () => {
    const bus = newBus();
    await bus.transport.connect();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    bus.subscribe('price.tick', async () => {
      await gate;
      return 'done';
    });
    bus.subscribe('price.tick', () => ({ then: (_ok: () => void, fail: (err: Error) => void) => fail(new Error('thenable failed')) }));
    bus.publish('price.tick', tick);
    expect(bus.stats.pending).toBe(2);
    release();
    await bus.idle();
    expect(bus.stats).toMatchObject({ pending: 0, errors: 1, lastError: { message: 'thenable failed', type: 'price.tick' } });
  });
});
