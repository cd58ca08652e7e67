import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { nkeys, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, defineAgent, type AgentContext } from '../../agent/base-agent.js';
import { EventBus } from '../../bus/event-bus.js';
import type { Envelope } from '../../bus/envelope.js';
import type { TransportStatus } from '../../bus/transport.js';
import { WallClock } from '../../clock.js';
import { natsTransportSchema } from '../../config/schema.js';
import { builtinEvents, type BuiltinEvents } from '../../events/builtin.js';
import { EventCatalogue } from '../../events/catalogue.js';
import { createSystem } from '../../system.js';
import { NatsServer } from '../../testing/nats-server.js';
import { consumerNames, natsAuthorization } from './authorization.js';
import { deadLetterSchema, type DeadLetter } from './codec.js';
import { NatsTransport } from './nats-transport.js';
import type { NatsTransportOptions } from './options.js';

const catalogue = new EventCatalogue(builtinEvents);
const clock = new WallClock();
const tick = (price: number): BuiltinEvents['price.tick'] => ({ symbol: 'BTC/USDT', price, timestamp: 1_700_000_000_000 });
const order = (clientOrderId: string): BuiltinEvents['order.updated'] => ({
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

async function eventually(check: () => void | Promise<void>, timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

let server: NatsServer;
let open: Array<{ close(): Promise<unknown> }> = [];
let prefixCounter = 0;

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  await server?.dispose();
});

afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

function freshPrefix(): string {
  return `t${process.pid}.p${prefixCounter++}`;
}

async function transport(prefix: string, options: Partial<NatsTransportOptions> = {}): Promise<NatsTransport> {
  const t = new NatsTransport({ servers: server.url, catalogue, prefix, reconnectWaitMs: 50, reconnectMaxWaitMs: 300, reconnectJitterMs: 50, ...options });
  open.push(t);
  await t.connect();
  return t;
}

async function raw(): Promise<NatsConnection> {
  const nc = await server.connect();
  open.push(nc);
  return nc;
}

function bus(t: NatsTransport, source: string): EventBus<BuiltinEvents> {
  return new EventBus<BuiltinEvents>({ transport: t, catalogue, clock, source });
}

function envelopeBytes(fields: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ id: 'x1', source: 'raw', ts: 1, seq: 1, ...fields }));
}

describe('NatsTransport validation at the boundary', () => {
  it('dead-letters every kind of bad message with its reason and bytes, and delivers none of them', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix, { maxPayloadBytes: 4096, reportDeadLetters: true });
    const nc = await raw();
    const letters: Array<{ subject: string; letter: DeadLetter }> = [];
    nc.subscribe(`${prefix}._dlq.>`, { callback: (_err, msg) => void letters.push({ subject: msg.subject, letter: deadLetterSchema.parse(msg.json()) }) });
    const delivered: Envelope[] = [];
    t.subscribe('>', (e) => void delivered.push(e));
    await t.flush();
    await nc.flush();

    const bad: Array<{ subject: string; data: Uint8Array; code: DeadLetter['code'] }> = [
      { subject: 'price.tick', data: new Uint8Array([0xff, 0xfe, 0x00, 0x7b]), code: 'UNDECODABLE' },
      { subject: 'price.tick', data: new TextEncoder().encode('{"not":"an envelope"}'), code: 'ENVELOPE_INVALID' },
      { subject: 'price.tick', data: envelopeBytes({ type: 'price.tick', payload: { symbol: 'BTC/USDT', price: 'cheap', timestamp: 1 } }), code: 'PAYLOAD_INVALID' },
      { subject: 'price.tick', data: envelopeBytes({ type: 'order.updated', payload: order('o1') }), code: 'TYPE_MISMATCH' },
      { subject: 'candle.closed', data: new Uint8Array(5000).fill(0x20), code: 'TOO_LARGE' },
      { subject: 'no.such-event', data: new TextEncoder().encode('[1,2,3]'), code: 'ENVELOPE_INVALID' },
    ];
    for (const b of bad) nc.publish(`${prefix}.${b.subject}`, b.data);
    nc.publish(`${prefix}.price.tick`, envelopeBytes({ type: 'price.tick', payload: tick(42) }));
    await nc.flush();

    await eventually(() => expect(letters).toHaveLength(bad.length));
    await eventually(() => expect(delivered).toHaveLength(1));
    expect(delivered[0]!.payload).toEqual(tick(42));
    expect(t.stats.deadLettered).toBe(bad.length);
    // The '>' subscription dropped each of them; the check reported each once.
    expect(t.stats.rejected).toBe(bad.length);
    const byCode = new Map(letters.map((l) => [l.letter.code, l]));
    for (const b of bad) {
      const l = letters.find((x) => x.letter.subject === `${prefix}.${b.subject}` && x.letter.code === b.code);
      expect(l, `dead letter for ${b.code} on ${b.subject}`).toBeDefined();
      expect(l!.letter.reason.length).toBeGreaterThan(10);
      expect(l!.letter.size).toBe(b.data.length);
      expect(Buffer.from(l!.letter.data, 'base64')).toEqual(Buffer.from(b.data));
    }
    expect(byCode.get('PAYLOAD_INVALID')!.letter.issues?.[0]?.path).toBe('price');
    expect(byCode.get('PAYLOAD_INVALID')!.subject).toBe(`${prefix}._dlq.price.tick`);
    expect(letters.find((l) => l.letter.subject.endsWith('no.such-event'))!.subject).toBe(`${prefix}._dlq.unknown`);
    // Dead letters are kept in their own stream for later inspection.
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`${t.options.streamName}_DLQ`);
    expect(info.state.messages).toBe(bad.length);
  });

  it('reports each bad message once per bus, however many processes and subscriptions receive it', async () => {
    const prefix = freshPrefix();
    // Three processes, each with three subscriptions that select price.tick; two of them report dead letters.
    const processes = [
      await transport(prefix, { reportDeadLetters: true, name: 'reporter-1' }),
      await transport(prefix, { reportDeadLetters: true, name: 'reporter-2' }),
      await transport(prefix, { name: 'quiet' }),
    ];
    const delivered: Envelope[] = [];
    for (const t of processes) {
      for (const pattern of ['>', 'price.*', 'price.tick']) t.subscribe(pattern, (e) => void delivered.push(e));
      await t.flush();
    }
    const nc = await raw();
    const letters: DeadLetter[] = [];
    nc.subscribe(`${prefix}._dlq.>`, { callback: (_err, msg) => void letters.push(deadLetterSchema.parse(msg.json())) });
    await nc.flush();

    const BAD = 200;
    for (let i = 0; i < BAD; i++) {
      nc.publish(`${prefix}.price.tick`, envelopeBytes({ id: `bad-${i}`, type: 'price.tick', payload: { symbol: 'BTC/USDT', price: `p${i}`, timestamp: 1 } }));
    }
    await nc.flush();
    // Every process has received the bad messages once its own round trip is back; then the
    // dead letters they sent have reached the server, and the reader has them all.
    for (const t of processes) await t.flush();
    for (const t of processes) await t.flush();
    await nc.flush();

    expect(letters).toHaveLength(BAD);
    expect(new Set(letters.map((l) => JSON.parse(Buffer.from(l.data, 'base64').toString('utf8')).id as string)).size).toBe(BAD);
    expect(processes.map((t) => t.stats.deadLettered).reduce((a, b) => a + b, 0)).toBe(BAD);
    expect(processes[2]!.stats.deadLettered).toBe(0);
    for (const t of processes) expect(t.stats.rejected).toBe(3 * BAD);
    expect(delivered).toEqual([]);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(`${processes[0]!.options.streamName}_DLQ`)).state.messages).toBe(BAD);
  });

  it('keeps dead letters in a stream bounded by age and size, and applies changed bounds to an existing stream', async () => {
    const prefix = freshPrefix();
    const first = await transport(prefix, { reportDeadLetters: true });
    const jsm = await jetstreamManager(await raw());
    const name = `${first.options.streamName}_DLQ`;
    const before = (await jsm.streams.info(name)).config;
    expect(before.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(before.max_bytes).toBe(128 * 1024 * 1024);
    expect(before.discard).toBe('old');
    // A config with other bounds, validated as a config file would be.
    const section = natsTransportSchema.parse({ kind: 'nats', servers: server.url, prefix, reportDeadLetters: true, deadLetterMaxAgeMs: 3_600_000, deadLetterMaxBytes: 8 * 1024 * 1024 });
    const second = NatsTransport.fromConfig(section, catalogue);
    open.push(second);
    await second.connect();
    const after = (await jsm.streams.info(name)).config;
    expect(after.max_age).toBe(3_600_000 * 1e6);
    expect(after.max_bytes).toBe(8 * 1024 * 1024);
    expect(after.subjects).toEqual([`${prefix}._dlq.>`]);
    expect(natsTransportSchema.safeParse({ kind: 'nats', deadLetterMaxBytes: 10 }).error?.issues[0]?.path).toEqual(['deadLetterMaxBytes']);
  });

  it('leaves the dead-letter stream alone in a process that does not report', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix);
    const jsm = await jetstreamManager(await raw());
    await expect(jsm.streams.info(`${t.options.streamName}_DLQ`)).rejects.toThrow(/stream not found/);
  });

  it('does not deliver well-formed events of types this process does not know, and does not dead-letter them', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix);
    const nc = await raw();
    const delivered: string[] = [];
    t.subscribe('bot.*', (e) => void delivered.push(e.type));
    await t.flush();
    nc.publish(`${prefix}.bot.greeting`, envelopeBytes({ type: 'bot.greeting', payload: { hello: 'world' } }));
    await nc.flush();
    await eventually(() => expect(t.stats.unknownTypes).toBe(1));
    expect(delivered).toEqual([]);
    expect(t.stats.deadLettered).toBe(0);
  });

  it('answers an invalid request with an error instead of leaving the requester waiting', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix);
    bus(t, 'server').respond('price.tick', (req) => req.payload.price * 2);
    await t.flush();
    const nc = await raw();
    const reply = await nc.request(`${prefix}._req.price.tick`, envelopeBytes({ type: 'price.tick', payload: { price: -1 } }), { timeout: 3000 });
    const body = reply.json<{ payload: { ok: boolean; error: { code: string; message: string } } }>();
    expect(body.payload.ok).toBe(false);
    expect(body.payload.error.code).toBe('REQUEST_INVALID');
    expect(body.payload.error.message).toMatch(/symbol/);
    expect(t.stats.deadLettered).toBe(1);
    const client = bus(await transport(prefix), 'client');
    await expect(client.request('price.tick', tick(21), { timeoutMs: 3000 })).resolves.toBe(42);
  });
});

describe('NatsTransport durable events', () => {
  it('resolves a durable publish on the JetStream ack and stores the event once per id', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix);
    const pub = bus(t, 'publisher');
    const envelope = await pub.publishConfirmed('order.updated', order('once'));
    await t.publish(envelope);
    expect(t.stats.published).toBe(2);
    expect(t.stats.duplicatePublishes).toBe(1);
    const jsm = await jetstreamManager(await raw());
    const info = await jsm.streams.info(t.options.streamName);
    expect(info.state.messages).toBe(1);
    expect(info.config.subjects).toEqual(['order.*', 'trade.*', 'position.*', 'account.*'].map((p) => `${prefix}.${p}`));
  });

  it('rejects a durable publish loudly when JetStream cannot store it', async () => {
    const prefix = freshPrefix();
    const t = await transport(prefix, { durablePublishTimeoutMs: 600, ackTimeoutMs: 200 });
    const jsm = await jetstreamManager(await raw());
    await jsm.streams.delete(t.options.streamName);
    const pub = bus(t, 'publisher');
    await expect(pub.publishConfirmed('order.updated', order('lost'))).rejects.toMatchObject({ code: 'DURABLE_PUBLISH_FAILED', message: /not confirmed by JetStream/ });
    expect(t.stats.durablePublishFailures).toBe(1);
  });

  it('gives a durable wildcard subscriber both kinds of event, and replays only the durable ones it missed', async () => {
    const prefix = freshPrefix();
    const pubTransport = await transport(prefix);
    const pub = bus(pubTransport, 'publisher');
    const first = await transport(prefix);
    const seen: string[] = [];
    first.subscribe('>', (e) => void seen.push(`${e.type}:${(e.payload as { clientOrderId?: string; price?: number }).clientOrderId ?? (e.payload as { price: number }).price}`), { durable: 'all' });
    await first.flush();
    pub.publish('price.tick', tick(1));
    await pub.publishConfirmed('order.updated', order('a'));
    await eventually(() => expect(seen.sort()).toEqual(['order.updated:a', 'price.tick:1']));
    await first.flush();
    await first.close();

    pub.publish('price.tick', tick(2));
    await pub.publishConfirmed('order.updated', order('b'));
    await pub.publishConfirmed('trade.opened', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 1, fees: 0, openedAt: 1 });

    const second = await transport(prefix);
    const replayed: string[] = [];
    second.subscribe('>', (e) => void replayed.push(e.type), { durable: 'all' });
    await second.flush();
    await eventually(() => expect(replayed.sort()).toEqual(['order.updated', 'trade.opened']));
    pub.publish('price.tick', tick(3));
    await eventually(() => expect(replayed).toContain('price.tick'));
    const jsm = await jetstreamManager(await raw());
    const names: string[] = [];
    for await (const c of jsm.consumers.list(pubTransport.options.streamName)) names.push(c.name);
    expect(names.sort()).toEqual(['all-account_STAR', 'all-order_STAR', 'all-position_STAR', 'all-trade_STAR']);
  });

  it('refuses a durable name that cannot name a JetStream consumer', async () => {
    const t = await transport(freshPrefix());
    expect(() => t.subscribe('order.updated', () => undefined, { durable: 'my.durable' })).toThrow(/letters, digits/);
  });
});

describe('durable consumption by an agent across restarts of its process', () => {
  const request = (n: number): BuiltinEvents['order.requested'] => ({
    clientOrderId: `o-${n}`,
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'market',
    quantity: 1,
    reduceOnly: false,
    purpose: 'entry',
    timestamp: 1_700_000_000_000 + n,
  });

  /** What the "executor" of this test saw, and a gate its handler waits on when closed. */
  interface Log {
    handled: string[];
    started: string[];
    gate: Promise<void> | undefined;
  }

  class Executor extends BaseAgent<Log> {
    protected run(): void {
      // No durable name and no option: the agent's id makes the subscription durable.
      this.subscribe(
        'order.requested',
        async (e) => {
          this.config.started.push(e.payload.clientOrderId);
          if (this.config.gate !== undefined) await this.config.gate;
          this.config.handled.push(e.payload.clientOrderId);
        },
        { serial: true },
      );
    }
  }
  const executor = defineAgent({ kind: 'test-executor', configSchema: z.custom<Log>(), create: (ctx: AgentContext<Log>) => new Executor(ctx) });

  /** One "process": its own connection, a system running the executor with id `id`. */
  async function executorProcess(prefix: string, log: Log, id = 'executor'): Promise<{ system: ReturnType<typeof createSystem>; transport: NatsTransport }> {
    // A short ack wait: an event the previous process took and never acknowledged comes back soon.
    const t = new NatsTransport({ servers: server.url, catalogue, prefix, ackWaitMs: 1_500 });
    const system = createSystem({ transport: t, monitorHealth: false, agents: [{ id, definition: executor, config: log }] });
    open.push({ close: () => system.stop() });
    await system.start();
    await t.flush();
    return { system, transport: t };
  }

  it('receives what was published while it was down, each event once and in order, acknowledged only once handled', async () => {
    const prefix = freshPrefix();
    const pub = bus(await transport(prefix), 'manager');
    const log: Log = { handled: [], started: [], gate: undefined };

    const first = await executorProcess(prefix, log);
    await pub.publishConfirmed('order.requested', request(1));
    await eventually(() => expect(log.handled).toEqual(['o-1']));
    await first.transport.flush();
    await first.system.stop();

    // The executor process is down: the requests wait in JetStream.
    for (let n = 2; n <= 6; n++) await pub.publishConfirmed('order.requested', request(n));

    let open2!: () => void;
    log.gate = new Promise<void>((resolve) => (open2 = resolve));
    const second = await executorProcess(prefix, log);
    // Nothing is acknowledged while the handler of the first missed request has not settled.
    await eventually(() => expect(log.started).toEqual(['o-1', 'o-2']));
    const consumer = 'executor-order_requested';
    const held = await second.transport.durableInfo(consumer);
    expect(held.ackPending).toBeGreaterThanOrEqual(1);
    expect(held.ackPending + held.pending).toBe(5);
    log.gate = undefined;
    open2();
    await eventually(() => expect(log.handled).toEqual(['o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6']));
    await eventually(async () => expect(await second.transport.durableInfo(consumer)).toMatchObject({ pending: 0, ackPending: 0 }));

    // A request whose handling has not settled when the process goes is delivered again to the next one.
    let open3!: () => void;
    log.gate = new Promise<void>((resolve) => (open3 = resolve));
    await pub.publishConfirmed('order.requested', request(7));
    await eventually(() => expect(log.started.at(-1)).toBe('o-7'));
    await second.system.stop(1_000);
    log.gate = undefined;
    open3();
    const third = await executorProcess(prefix, log);
    await eventually(() => expect(log.handled.filter((id) => id === 'o-7')).toHaveLength(2));
    expect(log.handled.slice(0, 6)).toEqual(['o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6']);
    await eventually(async () => expect(await third.transport.durableInfo(consumer)).toMatchObject({ pending: 0, ackPending: 0 }));

    const jsm = await jetstreamManager(await raw());
    const names: string[] = [];
    for await (const c of jsm.consumers.list(third.transport.options.streamName)) names.push(c.name);
    expect(names).toEqual([consumer]);
  });

  it('gives each of two subscriptions of one agent to one type every event, and a plain subscription on request', async () => {
    const prefix = freshPrefix();
    const pub = bus(await transport(prefix), 'manager');
    const seen = { a: [] as string[], b: [] as string[], plain: [] as string[] };
    class Twice extends BaseAgent {
      protected run(): void {
        this.subscribe('order.updated', (e) => void seen.a.push(e.payload.clientOrderId));
        this.subscribe('order.updated', (e) => void seen.b.push(e.payload.clientOrderId));
        this.subscribe('order.updated', (e) => void seen.plain.push(e.payload.clientOrderId), { durable: false });
      }
    }
    const twice = defineAgent({ kind: 'twice', configSchema: z.unknown(), create: (ctx: AgentContext) => new Twice(ctx) });
    const t = new NatsTransport({ servers: server.url, catalogue, prefix });
    const system = createSystem({ transport: t, monitorHealth: false, agents: [{ id: 'books', definition: twice }] });
    open.push({ close: () => system.stop() });
    await system.start();
    await t.flush();
    const ids = Array.from({ length: 10 }, (_, i) => `u-${i}`);
    for (const id of ids) await pub.publishConfirmed('order.updated', order(id));
    await eventually(() => expect([seen.a, seen.b, seen.plain]).toEqual([ids, ids, ids]));
    const jsm = await jetstreamManager(await raw());
    const names: string[] = [];
    for await (const c of jsm.consumers.list(t.options.streamName)) names.push(c.name);
    expect(names.sort()).toEqual(['books-order_updated', 'books-order_updated-2']);
    // The names a server's permissions must allow (natsPermissions) are the ones the transport uses.
    expect(consumerNames('books', ['order.updated', 'order.updated'], t.durablePatterns)).toEqual(names);
  });
});

describe('NatsTransport while the server is away', () => {
  /** A stream the test makes to see what reached the server, whichever client reconnects first. */
  async function record(own: NatsServer, name: string, subject: string): Promise<() => Promise<Envelope[]>> {
    const setup = await own.connect();
    await (await jetstreamManager(setup)).streams.add({ name, subjects: [subject] });
    await setup.close();
    return async () => {
      const nc = await own.connect();
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(name);
        const out: Envelope[] = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const stored = await jsm.streams.getMessage(name, { seq });
          if (stored !== null) out.push(JSON.parse(new TextDecoder().decode(stored.data)) as Envelope);
        }
        return out;
      } finally {
        await nc.close();
      }
    };
  }

  it('buffers plain events, fails durable publishes and requests at once, and catches up on reconnect', async () => {
    const own = await NatsServer.start();
    open.push({ close: () => own.dispose() });
    const prefix = freshPrefix();
    const make = async (options: Partial<NatsTransportOptions> = {}): Promise<NatsTransport> => {
      const t = new NatsTransport({ servers: own.url, catalogue, prefix, reconnectWaitMs: 50, reconnectMaxWaitMs: 200, reconnectJitterMs: 20, ...options });
      open.push(t);
      await t.connect();
      return t;
    };
    const stored = await record(own, 'TICKS', `${prefix}.price.tick`);
    const pubTransport = await make({ publishBufferSize: 3 });
    const subTransport = await make();
    const statuses: TransportStatus[] = [];
    pubTransport.onStatus((s) => statuses.push(s));
    const pub = bus(pubTransport, 'publisher');
    const prices: number[] = [];
    subTransport.subscribe('price.tick', (e) => void prices.push((e.payload as { price: number }).price));
    await subTransport.flush();

    await own.stop('SIGKILL');
    await eventually(() => expect(pubTransport.status).not.toBe('connected'));
    for (const p of [1, 2, 3]) pub.publish('price.tick', tick(p));
    expect(pubTransport.stats.buffered).toBe(3);
    expect(() => pub.publish('price.tick', tick(4))).toThrow(/publish buffer is full/);
    expect(pubTransport.stats.bufferOverflows).toBe(1);
    expect(() => pub.publish('order.updated', order('x'))).toThrow(/was not published: the NATS connection is (disconnected|reconnecting)/);
    await expect(pub.request('price.tick', tick(1), { timeoutMs: 500 })).rejects.toMatchObject({ code: 'TRANSPORT_DISCONNECTED' });

    await own.restart();
    await eventually(() => expect(pubTransport.status).toBe('connected'));
    await eventually(() => expect(subTransport.status).toBe('connected'));
    // The buffered events reached the server, in publish order, once.
    await eventually(async () => expect((await stored()).map((e) => (e.payload as { price: number }).price)).toEqual([1, 2, 3]));
    expect(pubTransport.stats.reconnects).toBe(1);
    expect(pubTransport.stats.buffered).toBe(0);
    expect(statuses[0]).toBe('disconnected');
    expect(statuses).toContain('reconnecting');
    expect(statuses[statuses.length - 1]).toBe('connected');
    // Subscriptions came back with the connection.
    await subTransport.flush();
    pub.publish('price.tick', tick(5));
    await eventually(() => expect(prices).toContain(5));
    await expect(pub.publishConfirmed('order.updated', order('after'))).resolves.toMatchObject({ type: 'order.updated' });
  });

  it('lets the system raise alerts about the outage that other processes receive', async () => {
    const own = await NatsServer.start();
    open.push({ close: () => own.dispose() });
    const prefix = freshPrefix();
    const stored = await record(own, 'ALERTS', `${prefix}.system.alert`);
    const options = { servers: own.url, catalogue, prefix, reconnectWaitMs: 50, reconnectMaxWaitMs: 200, reconnectJitterMs: 20 };
    const system = createSystem({ transport: new NatsTransport(options), monitorHealth: false, agents: [{ id: 'idle', definition: idleAgent }] });
    open.push({ close: () => system.stop() });
    await system.start();
    expect(system.agent('idle').state).toBe('running');
    await own.stop('SIGKILL');
    await eventually(() => expect(system.transport.status).not.toBe('connected'));
    // Local agents show the outage as degraded, with the reason, and come back with the bus.
    await eventually(() => expect(system.agent('idle').state).toBe('degraded'));
    expect(system.agent('idle').detail).toMatch(/nats bus (disconnected|reconnecting)/);
    await own.restart();
    await eventually(async () => expect((await stored()).map((e) => (e.payload as { code: string }).code)).toEqual(['TRANSPORT_DISCONNECTED', 'TRANSPORT_RECONNECTED']));
    await eventually(() => expect(system.agent('idle').state).toBe('running'));
  });
});

class IdleAgent extends BaseAgent {
  protected run(): void {}
}
const idleAgent = defineAgent({ kind: 'idle', configSchema: z.unknown(), create: (ctx: AgentContext) => new IdleAgent(ctx) });

describe('NatsTransport auth, TLS and config', () => {
  let dir: string;
  let secured: NatsServer;
  let tokenServer: NatsServer;
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tradebus-tls-'));
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tradebus-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'server.pem', '-extfile', 'san.cnf');
    secured = await NatsServer.start({
      jetstream: false,
      config: `
tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }
authorization { users: [ { user: alice, password: "s3cret-pass" }, { nkey: ${user.getPublicKey()} } ] }
`,
    });
    tokenServer = await NatsServer.start({ jetstream: false, config: 'authorization { token: "t0ken-for-tests" }' });
  });

  afterAll(async () => {
    await secured?.dispose();
    await tokenServer?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const plain = { durable: [], deadLetterStream: false, catalogue };

  async function roundTrip(t: NatsTransport): Promise<void> {
    open.push(t);
    await t.connect();
    const b = bus(t, 'auth-check');
    const got = b.waitFor('price.tick', { timeoutMs: 3000 });
    await t.flush();
    b.publish('price.tick', tick(7));
    await expect(got).resolves.toMatchObject({ payload: { price: 7 } });
  }

  it('connects with user and password over TLS, and refuses a wrong password with a clear error', async () => {
    const tls = { caFile: join(dir, 'ca.pem') };
    await roundTrip(new NatsTransport({ ...plain, servers: secured.url, user: 'alice', pass: 's3cret-pass', tls }));
    const wrong = new NatsTransport({ ...plain, servers: secured.url, user: 'alice', pass: 'nope', tls, maxReconnectAttempts: 0 });
    await expect(wrong.connect()).rejects.toMatchObject({ code: 'NATS_CONNECT_FAILED', message: /Cannot connect to NATS.*credentials/ });
  });

  it('connects with an nkey seed', async () => {
    await roundTrip(new NatsTransport({ ...plain, servers: secured.url, nkeySeed: seed, tls: { caFile: join(dir, 'ca.pem') } }));
  });

  it('connects with a token taken from the validated config section', async () => {
    const config = natsTransportSchema.parse({ kind: 'nats', servers: tokenServer.url, token: 't0ken-for-tests', durable: [], deadLetterStream: false, prefix: 'cfg.test' });
    await roundTrip(NatsTransport.fromConfig(config, catalogue));
  });

  it('says to start the recording process first when its own permissions do not let it create the streams', async () => {
    const users = [
      { user: 'main', passwordEnv: 'TB_TEST_PASS_MAIN', recorder: true, agents: [] },
      { user: 'agent', passwordEnv: 'TB_TEST_PASS_AGENT', agents: [{ id: 'agent', bus: { subscribes: ['order.updated'] } }] },
    ];
    const own = await NatsServer.start({ config: natsAuthorization({ prefix: 'perm', users }), env: { TB_TEST_PASS_MAIN: 'main-pass-1', TB_TEST_PASS_AGENT: 'agent-pass-1' } });
    open.push({ close: () => own.dispose() });
    const agent = (): NatsTransport => new NatsTransport({ catalogue, servers: own.url, prefix: 'perm', user: 'agent', pass: 'agent-pass-1', inboxPrefix: '_INBOX_agent', maxReconnectAttempts: 0 });
    await expect(agent().connect()).rejects.toMatchObject({ code: 'NATS_PERMISSION_DENIED', message: /start it first/ });
    // Once the recording process has created them, the agent's process only reads them.
    const main = new NatsTransport({ catalogue, servers: own.url, prefix: 'perm', user: 'main', pass: 'main-pass-1', inboxPrefix: '_INBOX_main', reportDeadLetters: true });
    open.push(main);
    await main.connect();
    const t = agent();
    open.push(t);
    await expect(t.connect()).resolves.toBeUndefined();
  });

  it('says how to enable JetStream when the server has none', async () => {
    const t = new NatsTransport({ catalogue, servers: tokenServer.url, token: 't0ken-for-tests' });
    await expect(t.connect()).rejects.toMatchObject({ code: 'NATS_JETSTREAM_UNAVAILABLE', message: /-js/ });
  });

  it('reports an unreadable TLS file as a config error naming the key', async () => {
    const t = new NatsTransport({ ...plain, servers: secured.url, tls: { caFile: join(dir, 'missing.pem') } });
    await expect(t.connect()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: /transport\.tls\.caFile/ });
  });
});
