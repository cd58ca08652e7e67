import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { EventBus } from '../bus/event-bus.js';
import type { Transport } from '../bus/transport.js';
import { WallClock } from '../clock.js';
import { builtinEvents, type BuiltinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';
import type { Envelope } from '../bus/envelope.js';

export interface TransportContractOptions {
  /** Creates a fresh, unconnected transport. Called once per participant ("process") per test. */
  create: () => Transport | Promise<Transport>;
  /**
   * Waits until events published so far have reached subscribers. Local delivery is synchronous;
   * networked transports pass something like a round trip to the server.
   */
  settle?: () => Promise<void>;
  /**
   * The transport persists durable events (order.*, trade.*...): a subscriber with a durable name
   * receives what was published while it was away, and never the same event twice. Runs the
   * extra tests for that.
   */
  durable?: boolean;
}

const tick = (symbol: string, price: number): BuiltinEvents['price.tick'] => ({ symbol, price, timestamp: 1_700_000_000_000 });
const orderUpdate = (clientOrderId: string): BuiltinEvents['order.updated'] => ({
  clientOrderId,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'market',
  status: 'filled',
  quantity: 1,
  filledQuantity: 1,
  fills: [],
  fee: 0,
  timestamp: 1_700_000_000_000,
});

async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * The behaviour every transport must have. A transport package runs it with its own factory:
 * `runTransportContract('nats', { create: () => new NatsTransport(...) })`.
 *
 * Each test makes two transports, as two processes would; in-process transports may return the
 * same instance twice.
 */
export function runTransportContract(name: string, options: TransportContractOptions): void {
  describe(`transport contract: ${name}`, () => {
    let transports: Transport[] = [];
    const catalogue = new EventCatalogue(builtinEvents);
    const clock = new WallClock();
    const settle = options.settle ?? (async () => undefined);

    async function bus(source: string, transport?: Transport): Promise<EventBus<BuiltinEvents>> {
      let t = transport;
      if (t === undefined) {
        t = await options.create();
        if (!transports.includes(t)) {
          transports.push(t);
          if (t.status !== 'connected') await t.connect();
        }
      }
      return new EventBus<BuiltinEvents>({ transport: t, catalogue, clock, source });
    }

    beforeEach(() => {
      transports = [];
    });

    afterEach(async () => {
      await Promise.all(transports.map((t) => t.close()));
    });

    it('delivers an event with its envelope to a subscriber of its exact type', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const received: Envelope[] = [];
      sub.subscribe('price.tick', (e) => void received.push(e));
      await settle();
      const sent = pub.publish('price.tick', tick('BTC/USDT', 42_000), { correlationId: 'flow-1' });
      await eventually(() => expect(received).toHaveLength(1));
      const got = received[0]!;
      expect(got.id).toBe(sent.id);
      expect(got.type).toBe('price.tick');
      expect(got.source).toBe('publisher');
      expect(got.seq).toBe(sent.seq);
      expect(got.correlationId).toBe('flow-1');
      expect(got.payload).toEqual(tick('BTC/USDT', 42_000));
    });

    it('accepts subscriptions and responders made before connect, and delivers to them once connected', async () => {
      const t = await options.create();
      if (!transports.includes(t)) transports.push(t);
      const early = new EventBus<BuiltinEvents>({ transport: t, catalogue, clock, source: 'early' });
      const prices: number[] = [];
      const orders: string[] = [];
      const dropped: number[] = [];
      // Before connect(), as an agent wired before its system starts would.
      early.subscribe('price.tick', (e) => void prices.push(e.payload.price));
      early.subscribe('order.*', (e) => void orders.push(e.type));
      early.subscribe('price.tick', (e) => void dropped.push(e.payload.price)).unsubscribe();
      early.respond('price.tick', (req) => req.payload.price * 2);
      if (t.status !== 'connected') await t.connect();
      const pub = await bus('publisher');
      await settle();
      pub.publish('price.tick', tick('A/B', 5));
      await pub.publishConfirmed('order.updated', orderUpdate('early-1'));
      await eventually(() => expect(prices).toEqual([5]));
      await eventually(() => expect(orders).toEqual(['order.updated']));
      await expect(pub.request('price.tick', tick('A/B', 21), { timeoutMs: 3000 })).resolves.toBe(42);
      expect(dropped).toEqual([]);
    });

    it('keeps publish order from one publisher', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const prices: number[] = [];
      sub.subscribe('price.tick', (e) => void prices.push(e.payload.price));
      await settle();
      for (let i = 0; i < 200; i++) pub.publish('price.tick', tick('ETH/USDT', i));
      await eventually(() => expect(prices).toHaveLength(200));
      expect(prices).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });

    it('numbers events per source and gives each a unique, sortable id', async () => {
      const pub = await bus('publisher');
      const ids: string[] = [];
      const seqs: number[] = [];
      for (let i = 0; i < 50; i++) {
        const e = pub.publish('price.tick', tick('ETH/USDT', i));
        ids.push(e.id);
        seqs.push(e.seq);
      }
      expect(new Set(ids).size).toBe(50);
      expect([...ids].sort()).toEqual(ids);
      expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('matches wildcard patterns: * for one token, > for the rest', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const star: string[] = [];
      const tail: string[] = [];
      const all: string[] = [];
      sub.subscribe('order.*', (e) => void star.push(e.type));
      sub.subscribe('trade.>', (e) => void tail.push(e.type));
      sub.subscribe('>', (e) => void all.push(e.type));
      await settle();
      const ts = 1_700_000_000_000;
      pub.publish('order.requested', {
        clientOrderId: 'c1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: ts,
      });
      pub.publish('trade.opened', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1, fees: 0, openedAt: ts });
      pub.publish('price.tick', tick('BTC/USDT', 1));
      await eventually(() => expect(all).toHaveLength(3));
      expect(star).toEqual(['order.requested']);
      expect(tail).toEqual(['trade.opened']);
      expect(all).toEqual(['order.requested', 'trade.opened', 'price.tick']);
    });

    it('stops delivery after unsubscribe', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const got: number[] = [];
      const handle = sub.subscribe('price.tick', (e) => void got.push(e.payload.price));
      await settle();
      pub.publish('price.tick', tick('A/B', 1));
      await eventually(() => expect(got).toEqual([1]));
      handle.unsubscribe();
      await settle();
      pub.publish('price.tick', tick('A/B', 2));
      // Let event 2 reach the server before the marker subscribes, or a networked marker may see it too.
      await settle();
      const marker: number[] = [];
      sub.subscribe('price.tick', (e) => void marker.push(e.payload.price));
      await settle();
      pub.publish('price.tick', tick('A/B', 3));
      await eventually(() => expect(marker).toEqual([3]));
      expect(got).toEqual([1]);
    });

    it('gives each event of a queue group to exactly one member', async () => {
      const pub = await bus('publisher');
      const a = await bus('worker-a');
      const b = await bus('worker-b');
      const seenA: number[] = [];
      const seenB: number[] = [];
      a.subscribe('price.tick', (e) => void seenA.push(e.payload.price), { queue: 'workers' });
      b.subscribe('price.tick', (e) => void seenB.push(e.payload.price), { queue: 'workers' });
      await settle();
      for (let i = 0; i < 100; i++) pub.publish('price.tick', tick('A/B', i));
      await eventually(() => expect(seenA.length + seenB.length).toBe(100));
      await settle();
      expect(seenA.length + seenB.length).toBe(100);
      expect([...seenA, ...seenB].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    });

    it('isolates a throwing or rejecting handler from the publisher and the other subscribers', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const got: number[] = [];
      sub.subscribe('price.tick', () => {
        throw new Error('boom');
      });
      sub.subscribe('price.tick', async () => {
        throw new Error('async boom');
      });
      sub.subscribe('price.tick', (e) => void got.push(e.payload.price));
      await settle();
      expect(() => pub.publish('price.tick', tick('A/B', 7))).not.toThrow();
      await eventually(() => expect(got).toEqual([7]));
      await eventually(() => expect(sub.stats.errors).toBe(2));
      expect(sub.stats.lastError?.type).toBe('price.tick');
    });

    it('waits for the next matching event, or times out', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const waiting = sub.waitFor('price.tick', { timeoutMs: 3000, filter: (e) => e.payload.price > 10 });
      await settle();
      pub.publish('price.tick', tick('A/B', 5));
      pub.publish('price.tick', tick('A/B', 11));
      const got = await waiting;
      expect(got.payload.price).toBe(11);
      await expect(sub.waitFor('price.tick', { timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    });

    it('answers each request through exactly one responder', async () => {
      const client = await bus('client');
      let calls = 0;
      for (const name of ['server-1', 'server-2']) {
        const server = await bus(name);
        server.respond('price.tick', (req) => {
          calls++;
          return { doubled: req.payload.price * 2, by: name };
        });
      }
      await settle();
      const reply = await client.request<'price.tick', { doubled: number }>('price.tick', tick('A/B', 21), { timeoutMs: 3000 });
      expect(reply.doubled).toBe(42);
      expect(calls).toBe(1);
      const replies = await Promise.all([1, 2, 3, 4].map((p) => client.request<'price.tick', { doubled: number }>('price.tick', tick('A/B', p), { timeoutMs: 3000 })));
      expect(replies.map((r) => r.doubled)).toEqual([2, 4, 6, 8]);
      expect(calls).toBe(5);
    });

    it('passes a responder error back to the requester, and fails a request nobody answers', async () => {
      const server = await bus('server');
      const client = await bus('client');
      server.respond('system.alert', (req) => {
        throw new Error(`cannot handle ${req.payload.code}`);
      });
      await settle();
      const alert = { level: 'info' as const, code: 'X1', message: 'm', timestamp: 1 };
      await expect(client.request('system.alert', alert, { timeoutMs: 3000 })).rejects.toThrow(/cannot handle X1/);
      await eventually(() => expect(server.stats.errors).toBe(1));
      await expect(
        client.request('agent.status', { agentId: 'x', kind: 'k', from: 'created', to: 'starting', timestamp: 1 }, { timeoutMs: 300 }),
      ).rejects.toMatchObject({ code: expect.stringMatching(/^(TIMEOUT|NO_RESPONDER)$/) });
    });

    it('reports its connection through onStatus, and refuses to publish once closed', async () => {
      const t = await options.create();
      if (!transports.includes(t)) transports.push(t);
      const seen: string[] = [];
      const stop = t.onStatus((status) => seen.push(status));
      if (t.status !== 'connected') await t.connect();
      expect(t.status).toBe('connected');
      const pub = await bus('publisher', t);
      await t.close();
      expect(t.status).toBe('closed');
      expect(seen[seen.length - 1]).toBe('closed');
      stop();
      expect(() => pub.publish('price.tick', tick('A/B', 1))).toThrow(/closed/);
    });

    it('confirms a publish the publisher must not lose, and delivers it', async () => {
      const pub = await bus('publisher');
      const sub = await bus('subscriber');
      const got: string[] = [];
      sub.subscribe('order.updated', (e) => void got.push(e.payload.clientOrderId));
      await settle();
      const sent = await pub.publishConfirmed('order.updated', orderUpdate('confirmed-1'));
      expect(sent.type).toBe('order.updated');
      await eventually(() => expect(got).toEqual(['confirmed-1']));
    });

    if (options.durable) {
      it('gives a durable subscriber what was published while it was away, each event once', async () => {
        const durable = `contract-${Math.random().toString(36).slice(2, 10)}`;
        const pub = await bus('publisher');
        const first = await bus('subscriber-before');
        const before: string[] = [];
        first.subscribe('order.updated', (e) => void before.push(e.payload.clientOrderId), { durable });
        await settle();
        await pub.publishConfirmed('order.updated', orderUpdate('d1'));
        await eventually(() => expect(before).toEqual(['d1']));
        await settle();
        await first.transport.close();
        await pub.publishConfirmed('order.updated', orderUpdate('d2'));
        await pub.publishConfirmed('order.updated', orderUpdate('d3'));
        const second = await bus('subscriber-after');
        const after: string[] = [];
        second.subscribe('order.updated', (e) => void after.push(e.payload.clientOrderId), { durable });
        await settle();
        await eventually(() => expect(after).toEqual(['d2', 'd3']));
        await pub.publishConfirmed('order.updated', orderUpdate('d4'));
        await eventually(() => expect(after).toEqual(['d2', 'd3', 'd4']));
        expect(before).toEqual(['d1']);
      });

      it('delivers a durable event once even when its envelope is published twice', async () => {
        const pub = await bus('publisher');
        const sub = await bus('subscriber');
        const plain: string[] = [];
        const durable: string[] = [];
        sub.subscribe('order.updated', (e) => void plain.push(e.id));
        sub.subscribe('order.updated', (e) => void durable.push(e.id), { durable: `contract-${Math.random().toString(36).slice(2, 10)}` });
        await settle();
        const envelope = await pub.publishConfirmed('order.updated', orderUpdate('twice'));
        await pub.transport.publish(envelope);
        const marker = await pub.publishConfirmed('order.updated', orderUpdate('marker'));
        await eventually(() => expect(durable).toEqual([envelope.id, marker.id]));
        await eventually(() => expect(plain).toEqual([envelope.id, marker.id]));
      });
    }

    it('rejects an unknown event name with a clear error', async () => {
      const pub = await bus('publisher');
      const untyped = pub as unknown as { publish(type: string, payload: unknown): void; subscribe(type: string, h: () => void): void };
      expect(() => untyped.publish('price.tik', {})).toThrow(/Unknown event type 'price.tik'.*price\.tick/);
      expect(() => untyped.subscribe('ordr.updated', () => undefined)).toThrow(/order\.updated/);
    });
  });
}
