import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { builtinEvents } from './builtin.js';
import { EventCatalogue, defineEvents, nearMatches } from './catalogue.js';

describe('EventCatalogue', () => {
  it('holds every built-in event', () => {
    const catalogue = new EventCatalogue(builtinEvents);
    for (const name of [
      'price.tick', 'candle.closed', 'candle.updated', 'market.snapshot', 'indicator.updated', 'signal.generated', 'signal.decided',
      'order.requested', 'order.updated', 'trade.opened', 'trade.closed', 'position.updated', 'account.updated', 'agent.heartbeat',
      'agent.status', 'system.alert', 'risk.state',
    ]) {
      expect(catalogue.has(name), name).toBe(true);
    }
  });

  it('validates payloads and names the bad field', () => {
    const catalogue = new EventCatalogue(builtinEvents);
    expect(catalogue.validate('price.tick', { symbol: 'BTC/USDT', price: 1, timestamp: 2 }).ok).toBe(true);
    const bad = catalogue.validate('price.tick', { symbol: 'BTC/USDT', price: -1, timestamp: 2 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.issues[0]?.path).toBe('price');
  });

  it('tells a wrong-type value from a missing key, quoting neither a secret', () => {
    const catalogue = new EventCatalogue(builtinEvents, defineEvents({ 'bot.login': z.object({ user: z.string(), token: z.string() }) }));
    const wrong = catalogue.validate('price.tick', { symbol: 'BTC/USDT', price: 'cheap', timestamp: 2 });
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) {
      expect(wrong.error.issues).toEqual([{ path: 'price', message: 'expected number, received string "cheap"' }]);
      expect(wrong.error.message).toBe('Invalid \'price.tick\' payload: price: expected number, received string "cheap"');
    }
    const missing = catalogue.validate('price.tick', { symbol: 'BTC/USDT', timestamp: 2 });
    if (!missing.ok) expect(missing.error.issues).toEqual([{ path: 'price', message: 'expected number, received nothing (the key is missing)' }]);
    expect(missing.ok).toBe(false);
    const secret = catalogue.validate('bot.login', { user: 'ann', token: 12345678 });
    expect(secret.ok).toBe(false);
    if (!secret.ok) expect(secret.error.issues).toEqual([{ path: 'token', message: 'expected string, received a number (not shown: the field is secret)' }]);
  });

  it('registers a bot author’s events and refuses bad or conflicting names', () => {
    const mine = defineEvents({ 'bot.greeting': z.object({ text: z.string() }) });
    const catalogue = new EventCatalogue(builtinEvents, mine);
    expect(catalogue.has('bot.greeting')).toBe(true);
    expect(() => defineEvents({ Greeting: z.object({}) })).toThrow(/dotted lowercase/);
    expect(() => catalogue.register({ 'bot.greeting': z.object({ other: z.number() }) })).toThrow(/already registered/);
  });

  it('suggests near matches for a misspelt name', () => {
    expect(nearMatches('order.update', ['order.updated', 'order.requested', 'price.tick'])).toEqual(['order.updated']);
    expect(() => new EventCatalogue(builtinEvents).assertKnown('candle.close')).toThrow(/Did you mean 'candle.closed'/);
  });
});
