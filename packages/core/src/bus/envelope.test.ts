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
