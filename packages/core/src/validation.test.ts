import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtinEvents } from './events/builtin.js';
import { EventCatalogue } from './events/catalogue.js';
import { decodeInbound } from './transports/nats/codec.js';
import { formatZodIssues } from './validation.js';

const schema = z.object({ price: z.number(), legs: z.array(z.object({ qty: z.number() })) });

describe('formatZodIssues', () => {
  it('names what a wrong-type key holds, whether zod reported the value or the caller passed the input', () => {
    const value = { price: 'cheap', legs: [{ qty: 1 }, { qty: true }] };
    const expected = [
      { path: 'price', message: 'expected number, received string "cheap"' },
      { path: 'legs[1].qty', message: 'expected number, received boolean true' },
    ];
    const reported = schema.safeParse(value, { reportInput: true });
    expect(formatZodIssues(reported.error!.issues)).toEqual(expected);
    const plain = schema.safeParse(value);
    expect(formatZodIssues(plain.error!.issues, { input: value })).toEqual(expected);
  });

  it('calls a key missing only when it is', () => {
    const value = { legs: [] };
    const plain = schema.safeParse(value);
    expect(formatZodIssues(plain.error!.issues, { input: value })).toEqual([{ path: 'price', message: 'expected number, received nothing (the key is missing)' }]);
    expect(formatZodIssues(schema.safeParse(value, { reportInput: true }).error!.issues)[0]!.message).toBe('expected number, received nothing (the key is missing)');
  });

  it('without the value, says what was expected and does not guess what was received', () => {
    const plain = schema.safeParse({ price: 'cheap', legs: [] });
    expect(formatZodIssues(plain.error!.issues)).toEqual([{ path: 'price', message: 'expected number' }]);
  });
});

describe('dead-letter reasons', () => {
  const catalogue = new EventCatalogue(builtinEvents);
  const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
  const envelope = { id: 'e1', type: 'price.tick', source: 'feed', ts: 1, seq: 1 };

  it('name the wrong-type payload key as it is, as docs/nats.md shows', () => {
    const decoded = decodeInbound(encode({ ...envelope, payload: { symbol: 'BTC/USDT', price: 'cheap', timestamp: 1 } }), 'price.tick', catalogue, 1 << 20);
    expect(decoded).toMatchObject({
      ok: false,
      code: 'PAYLOAD_INVALID',
      reason: `Invalid 'price.tick' payload: price: expected number, received string "cheap"`,
      issues: [{ path: 'price', message: 'expected number, received string "cheap"' }],
    });
  });

  it('name the wrong-type envelope field as it is', () => {
    const decoded = decodeInbound(encode({ ...envelope, seq: 'one', payload: {} }), 'price.tick', catalogue, 1 << 20);
    expect(decoded).toMatchObject({ ok: false, code: 'ENVELOPE_INVALID', issues: [{ path: 'seq', message: 'expected number, received string "one"' }] });
  });
});
