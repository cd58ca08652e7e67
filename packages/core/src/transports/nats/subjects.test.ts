import { describe, expect, it } from 'vitest';
import { backoffDelay } from './options.js';
import { intersectPatterns, isSubsetPattern, normalizePatterns, patternToken, streamNameFor } from './subjects.js';

describe('NATS subject patterns', () => {
  it('intersects patterns token by token', () => {
    expect(intersectPatterns('>', 'order.*')).toBe('order.*');
    expect(intersectPatterns('order.*', 'order.updated')).toBe('order.updated');
    expect(intersectPatterns('*.updated', 'order.*')).toBe('order.updated');
    expect(intersectPatterns('order.>', 'order.*')).toBe('order.*');
    expect(intersectPatterns('order.*', 'trade.*')).toBeUndefined();
    expect(intersectPatterns('order.*', 'order.a.b')).toBeUndefined();
    expect(intersectPatterns('a.>', 'a')).toBeUndefined();
  });

  it('knows when one pattern covers another', () => {
    expect(isSubsetPattern('order.updated', 'order.*')).toBe(true);
    expect(isSubsetPattern('order.*', '>')).toBe(true);
    expect(isSubsetPattern('order.*', 'order.>')).toBe(true);
    expect(isSubsetPattern('order.>', 'order.*')).toBe(false);
    expect(isSubsetPattern('*.updated', 'order.*')).toBe(false);
    expect(isSubsetPattern('order', 'order.>')).toBe(false);
  });

  it('drops durable patterns another one covers, and rejects invalid ones', () => {
    expect(normalizePatterns(['order.*', 'order.updated', 'trade.>', 'trade.opened', 'order.*'])).toEqual(['order.*', 'trade.>']);
    expect(() => normalizePatterns(['order.>.x'])).toThrow(/transport\.durable contains 'order\.>\.x'/);
  });

  it('derives names JetStream accepts', () => {
    expect(streamNameFor('tradebus.dev')).toBe('TRADEBUS_DEV');
    expect(patternToken('order.*')).toBe('order_STAR');
    expect(patternToken('trade.>')).toBe('trade_REST');
  });
});

describe('reconnect back-off', () => {
  it('doubles from the first delay up to the cap, plus jitter', () => {
    const noJitter = (): number => 0;
    expect(backoffDelay(0, 100, 1000, 50, noJitter)).toBe(100);
    expect(backoffDelay(100, 100, 1000, 50, noJitter)).toBe(200);
    expect(backoffDelay(300, 100, 1000, 50, noJitter)).toBe(400);
    expect(backoffDelay(700, 100, 1000, 50, noJitter)).toBe(800);
    expect(backoffDelay(60_000, 100, 1000, 50, noJitter)).toBe(1000);
    expect(backoffDelay(0, 100, 1000, 50, () => 0.999)).toBe(149);
  });
});
