import { randomBytes } from 'node:crypto';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, deadLetterSchema, type BuiltinEvents, type DeadLetter } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FixtureProcess, ensureCoreBuilt, eventually } from './helpers.js';

const MALFORMED = 10_000;
const MAX_PAYLOAD = 64 * 1024;
const PREFIX = 'flood';
let server: NatsServer;
let sinks: FixtureProcess[] = [];
let transport: NatsTransport | undefined;

beforeAll(async () => {
  ensureCoreBuilt();
  server = await NatsServer.start();
});

afterAll(async () => {
  await Promise.all(sinks.map((s) => s.kill('SIGKILL')));
  await transport?.close();
  await server?.dispose();
});

const validTick = { symbol: 'BTC/USDT', price: 1, timestamp: 1_700_000_000_000 };
const envelope = (type: string, payload: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id: `raw-${Math.random()}`, type, source: 'attacker', ts: Date.now(), seq: 1, payload, ...extra });

/** The i-th malformed message: random bytes, JSON that is no envelope, wrong field types, wrong type, oversized. */
function malformed(i: number): { subject: string; data: Uint8Array | string } {
  switch (i % 5) {
    case 0:
      return { subject: 'price.tick', data: randomBytes(1 + (i % 512)) };
    case 1:
      return { subject: i % 2 === 0 ? 'candle.closed' : 'no-such.event', data: [`{"n":${i}}`, `[${i}]`, `"text ${i}"`, `${i}`, 'null', '{"id":'][i % 6]! };
    case 2:
      return i % 2 === 0
        ? { subject: 'price.tick', data: envelope('price.tick', { ...validTick, price: `${i}` }) }
        : { subject: 'order.requested', data: envelope('order.requested', { clientOrderId: i, symbol: 'BTC/USDT', side: 'hold' }) };
    case 3:
      return i % 2 === 0
        ? { subject: 'price.tick', data: envelope('order.updated', validTick) }
        : { subject: 'price.tick', data: envelope('price.tick', validTick, { id: 42, seq: -1 }) };
    default:
      return i % 50 === 4
        ? { subject: 'price.tick', data: envelope('price.tick', { ...validTick, pad: 'x'.repeat(MAX_PAYLOAD) }) }
        : { subject: 'account.updated', data: randomBytes(64) };
  }
}

it('10,000 malformed messages from a raw client to three processes: no crash, each one dead-lettered once with a reason', async () => {
  // Three agent processes subscribed to everything; two of them report dead letters, one does not.
  const env = { NATS_URL: server.url, TRADEBUS_PREFIX: PREFIX, MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD) };
  sinks = [
    new FixtureProcess('sink', 'sink-a', { ...env, REPORT_DEAD_LETTERS: '1' }),
    new FixtureProcess('sink', 'sink-b', { ...env, REPORT_DEAD_LETTERS: '1' }),
    new FixtureProcess('sink', 'sink-c', env),
  ];
  for (const sink of sinks) await sink.waitFor('ready');

  const raw = await server.connect();
  const letters: DeadLetter[] = [];
  let unreadable = 0;
  raw.subscribe(`${PREFIX}._dlq.>`, {
    callback: (_err, msg) => {
      const parsed = deadLetterSchema.safeParse(msg.json());
      if (parsed.success) letters.push(parsed.data);
      else unreadable++;
    },
  });
  await raw.flush();

  for (let i = 0; i < MALFORMED; i++) {
    const m = malformed(i);
    raw.publish(`${PREFIX}.${m.subject}`, m.data);
    // Let the socket drain now and then instead of queueing all 10,000 at once.
    if (i % 500 === 499) await raw.flush();
  }
  await raw.flush();

  await eventually(() => expect(letters.length).toBe(MALFORMED), 40_000);
  expect(unreadable).toBe(0);
  expect(letters.every((l) => l.reason.length > 0 && ['fixture-sink-a', 'fixture-sink-b'].includes(l.receivedBy))).toBe(true);
  const codes = new Map<string, number>();
  for (const l of letters) codes.set(l.code, (codes.get(l.code) ?? 0) + 1);
  expect([...codes.keys()].sort()).toEqual(['ENVELOPE_INVALID', 'PAYLOAD_INVALID', 'TOO_LARGE', 'TYPE_MISMATCH', 'UNDECODABLE']);
  expect(codes.get('TOO_LARGE')).toBe(MALFORMED / 50);
  expect(letters.filter((l) => l.truncated).length).toBe(MALFORMED / 50);

  // Every process dropped every message (its '>' subscription selects them all; a bad durable
  // message the server delivers again before it has the first refusal is dropped again), and the
  // two reporting processes together sent exactly one dead letter per message.
  const stats: Array<{ deadLettered: number; rejected: number; deadLettersDropped: number }> = [];
  for (const sink of sinks) {
    await eventually(async () => {
      const asked = sink.all('stats').length + 1;
      sink.send({ cmd: 'stats' });
      const last = (await sink.waitForCount('stats', asked)).at(-1)!.stats as (typeof stats)[number];
      expect(last.rejected).toBeGreaterThanOrEqual(MALFORMED);
      stats.push(last);
    }, 20_000);
  }
  expect(stats.map((s) => s.deadLettered).reduce((a, b) => a + b, 0)).toBe(MALFORMED);
  expect(stats[2]!.deadLettered).toBe(0);
  expect(stats.every((s) => s.deadLettersDropped === 0)).toBe(true);
  // The dead-letter stream holds one copy of each.
  const info = (await raw.request(`$JS.API.STREAM.INFO.${PREFIX.toUpperCase()}_DLQ`, '', { timeout: 5_000 })).json<{ state: { messages: number } }>();
  expect(info.state.messages).toBe(MALFORMED);
  expect(letters.length).toBe(MALFORMED);

  // The processes are alive and still deliver valid events.
  transport = new NatsTransport({ servers: server.url, prefix: PREFIX, catalogue: new EventCatalogue(builtinEvents) });
  await transport.connect();
  const bus = new EventBus<BuiltinEvents>({ transport, catalogue: new EventCatalogue(builtinEvents), clock: new WallClock(), source: 'checker' });
  const valid = bus.publish('price.tick', validTick);
  for (const sink of sinks) {
    await sink.waitFor('got', (e) => e.id === valid.id);
    expect(sink.all('got')).toHaveLength(1);
    expect(sink.running).toBe(true);
  }
  await raw.close();
});
