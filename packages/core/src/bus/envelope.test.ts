import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.js';
import { builtinEvents, type BuiltinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';
import { EventBus } from './event-bus.js';
import { LocalTransport } from './local-transport.js';
import { toPlainEnvelope } from './envelope.js';

describe('envelopes', () => {
  const clock = new VirtualClock(1_700_000_000_000);
  const bus = new EventBus<BuiltinEvents>({ transport: new LocalTransport(), catalogue: new EventCatalogue(builtinEvents), clock, source: 'feed' });

  it('carry a stable id, the clock time, the source and a per-source sequence', () => {
    const a = bus.publish('price.tick', { symbol: 'X/Y', price: 1, timestamp: 1 });
    clock.advanceBy(5);
    const b = bus.publish('price.tick', { symbol: 'X/Y', price: 2, timestamp: 2 }, { cause: a });
    expect(a.id).toBe(a.id);
    expect(a.id < b.id).toBe(true);
    expect([a.ts, b.ts]).toEqual([1_700_000_000_000, 1_700_000_000_005]);
    expect([a.seq, b.seq]).toEqual([b.seq - 1, a.seq + 1]);
    expect(b.causationId).toBe(a.id);
    expect(b.correlationId).toBe(a.id);
    expect(a.source).toBe('feed');
  });

  it('serialise with their id, and copy to a plain object', () => {
    const e = bus.publish('price.tick', { symbol: 'X/Y', price: 3, timestamp: 3 }, { correlationId: 'flow' });
    const json = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    expect(json).toEqual({ id: e.id, type: 'price.tick', source: 'feed', ts: e.ts, seq: e.seq, correlationId: 'flow', payload: e.payload });
    expect({ ...toPlainEnvelope(e) }).toEqual(json);
  });
});

describe('handler timing', () => {
  it('reports one handler run in 64, after async handlers settle', async () => {
    const timings: Array<[string, number]> = [];
    const bus = new EventBus<BuiltinEvents>({
      transport: new LocalTransport(),
      catalogue: new EventCatalogue(builtinEvents),
      clock: new VirtualClock(0),
      source: 'timed',
      onHandlerTiming: (type, seconds) => void timings.push([type, seconds]),
    });
    bus.subscribe('price.tick', async () => {
      await new Promise((r) => setTimeout(r, 2));
    });
    for (let i = 0; i < 128; i++) bus.publish('price.tick', { symbol: 'X/Y', price: i, timestamp: i });
    expect(timings).toHaveLength(0);
    await bus.idle();
    expect(timings).toHaveLength(2);
    expect(timings.every(([type, s]) => type === 'price.tick' && s >= 0.001)).toBe(true);
  });
});
