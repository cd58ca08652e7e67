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
