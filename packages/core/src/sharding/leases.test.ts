import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';
import { NatsServer } from '../testing/nats-server.js';
import { NatsTransport } from '../transports/nats/nats-transport.js';
import { LocalTransport } from '../bus/local-transport.js';
import { ShardLeases, ShardingError, assignShards } from './leases.js';

const catalogue = new EventCatalogue(builtinEvents);
let server: NatsServer;

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  await server?.dispose();
});

const keys = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'DOGE/USDT', 'BNB/USDT', 'LTC/USDT', 'DOT/USDT', 'LINK/USDT'];

interface Instance {
  name: string;
  transport: NatsTransport;
  leases: ShardLeases;
  /** What the callbacks say this instance is processing. */
  active: Set<string>;
  log: string[];
}

const handedOver: Array<{ key: string; got: unknown; saved: unknown }> = [];

async function instance(prefix: string, name: string, checkpoints: Map<string, number>): Promise<Instance> {
  const transport = new NatsTransport({ servers: server.url, catalogue, prefix, name, reconnectWaitMs: 50, reconnectMaxWaitMs: 100, maxReconnectAttempts: 0 });
  await transport.connect();
  const active = new Set<string>();
  const log: string[] = [];
  const leases: ShardLeases = await ShardLeases.open({
    transport,
    group: 'runner',
    instance: name,
    keys,
    leaseTtlMs: 900,
    renewIntervalMs: 150,
    acquire: (key, checkpoint) => {
      handedOver.push({ key, got: checkpoint, saved: checkpoints.has(key) ? { n: checkpoints.get(key) } : undefined });
      active.add(key);
      log.push(`+${key}`);
    },
    release: async (key) => {
      active.delete(key);
      log.push(`-${key}`);
      const n = (checkpoints.get(key) ?? 0) + 1;
      await leases.saveCheckpoint(key, { n });
      // Known saved only once the bucket has it (a dead instance's last save does not arrive).
      if (JSON.stringify(await leases.checkpoint(key).catch(() => undefined)) === JSON.stringify({ n })) checkpoints.set(key, n);
    },
  });
  return { name, transport, leases, active, log };
}

describe('ShardLeases', () => {
  it('gives every key to exactly one live instance, and moves keys on join, leave and death', async () => {
    const prefix = `sh${process.pid}`;
    const checkpoints = new Map<string, number>();
    const a = await instance(prefix, 'a', checkpoints);
    const b = await instance(prefix, 'b', checkpoints);
    const all = [a, b];
    const overlaps: string[] = [];
    // Sampled all along: a key must never be processed by two instances at once.
    const watch = setInterval(() => {
      for (const key of keys) {
        const holders = all.filter((i) => i.active.has(key)).map((i) => i.name);
        if (holders.length > 1) overlaps.push(`${key}: ${holders.join('+')}`);
      }
    }, 5);
    const settled = async (expected: Instance[]): Promise<void> => {
      const deadline = Date.now() + 8_000;
      for (;;) {
        const owners = keys.map((k) => expected.filter((i) => i.active.has(k)).map((i) => i.name));
        const assignment = assignShards(keys, expected.map((i) => i.name));
        const want = keys.map((k) => [assignment.get(k)!]);
        if (JSON.stringify(owners) === JSON.stringify(want)) return;
        if (Date.now() > deadline) expect(owners).toEqual(want);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await a.leases.start();
      await b.leases.start();
      await settled([a, b]);
      expect(a.active.size + b.active.size).toBe(keys.length);
      expect(a.active.size).toBeGreaterThan(0);
      expect(b.active.size).toBeGreaterThan(0);
      // What the bucket says matches what the instances do.
      for (const key of keys) expect((await a.leases.lease(key))?.owner).toBe(a.active.has(key) ? 'a' : 'b');

      const c = await instance(prefix, 'c', checkpoints);
      all.push(c);
      await c.leases.start();
      await settled([a, b, c]);
      expect(c.active.size).toBeGreaterThan(0);
      expect(c.leases.report()).toMatchObject({ group: 'runner', instance: 'c', members: 3, keys: keys.length, owned: [...c.active].sort() });

      await a.leases.stop();
      await settled([b, c]);

      // c dies: its connection goes, it can renew nothing and stops its keys on its own; b takes
      // them once the leases expire.
      await c.transport.close();
      await settled([b]);
      expect(b.active.size).toBe(keys.length);
      expect(overlaps).toEqual([]);
      // Every new owner started from the checkpoint its predecessor saved.
      expect(handedOver.length).toBeGreaterThan(keys.length);
      expect(handedOver.filter((h) => JSON.stringify(h.got) !== JSON.stringify(h.saved))).toEqual([]);
      expect(c.log.filter((l) => l.startsWith('-')).length).toBe(c.log.filter((l) => l.startsWith('+')).length);
    } finally {
      clearInterval(watch);
      for (const i of all) {
        await i.leases.stop().catch(() => undefined);
        await i.transport.close();
      }
    }
  }, 40_000);

  it('refuses a bus without JetStream, naming the setting', async () => {
    const err = await ShardLeases.open({ transport: new LocalTransport(), group: 'g', instance: 'i', keys, acquire: () => undefined, release: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardingError);
    expect((err as ShardingError).code).toBe('SHARDING_NEEDS_NATS');
    expect((err as Error).message).toContain('transport.kind: nats');
  });

  it('gives every member its share, even of few keys, and moves about a third when a third member joins two', () => {
    const few = ['ADA/BTC', 'ETH/BTC', 'LTC/BTC', 'ZEC/BTC'];
    const count = (a: Map<string, string>): Record<string, number> => [...a.values()].reduce<Record<string, number>>((acc, m) => ((acc[m] = (acc[m] ?? 0) + 1), acc), {});
    expect(count(assignShards(few, ['r1', 'r2']))).toEqual({ r1: 2, r2: 2 });
    expect(Object.values(count(assignShards(few, ['r1', 'r2', 'r3']))).sort()).toEqual([1, 1, 2]);
    const many = Array.from({ length: 3000 }, (_, i) => `S${i}`);
    const before = assignShards(many, ['a', 'b']);
    const after = assignShards(many, ['a', 'b', 'c']);
    expect(Math.max(...Object.values(count(after)))).toBe(1000);
    const moved = many.filter((k) => before.get(k) !== after.get(k));
    // Mostly keys going to the newcomer; a few move between the old two as the load evens out.
    expect(moved.filter((k) => after.get(k) === 'c').length).toBe(1000);
    expect(moved.length / many.length).toBeGreaterThan(0.33);
    expect(moved.length / many.length).toBeLessThan(0.45);
  });
});
