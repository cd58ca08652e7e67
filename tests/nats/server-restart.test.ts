import { NatsServer } from '@tradebus/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FixtureProcess, ensureCoreBuilt } from './helpers.js';

const EVENTS = 300;
const RECONNECT_BOUND_MS = 5_000;
let server: NatsServer;
const processes: FixtureProcess[] = [];

beforeAll(async () => {
  ensureCoreBuilt();
  server = await NatsServer.start();
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.kill('SIGKILL')));
  await server?.dispose();
});

it('survives nats-server being killed mid-stream: clients reconnect within 5 s, no durable event lost or handled twice', async () => {
  const env = { NATS_URL: server.url, TRADEBUS_PREFIX: 'restart', HEARTBEAT_MS: '200' };
  const subscriber = new FixtureProcess('subscriber', 'subscriber', env);
  const publisher = new FixtureProcess('publisher', 'publisher', env);
  processes.push(subscriber, publisher);
  await Promise.all([subscriber.waitFor('ready'), publisher.waitFor('ready')]);

  publisher.send({ cmd: 'publish', from: 0, count: EVENTS, intervalMs: 5 });
  await publisher.waitFor('published', (e) => (e.n as number) >= 100);
  const killedAt = Date.now();
  await server.stop('SIGKILL');
  await publisher.waitFor('status', (e) => e.status !== 'connected' && e.at >= killedAt);
  await new Promise((r) => setTimeout(r, 500));
  await server.restart();
  const restartedAt = Date.now();

  for (const p of [publisher, subscriber]) {
    const back = await p.waitFor('status', (e) => e.status === 'connected' && e.at > killedAt, 15_000);
    expect(back.at - restartedAt, `${p.role} reconnected ${back.at - restartedAt} ms after the server came back`).toBeLessThan(RECONNECT_BOUND_MS);
  }

  await publisher.waitFor('published', (e) => e.n === EVENTS - 1, 60_000);
  const received = await subscriber.waitForCount('received', EVENTS, 30_000);
  // A marker after the last event: anything still in flight would have arrived before it.
  publisher.send({ cmd: 'publish', from: EVENTS, count: 1 });
  await subscriber.waitFor('received', (e) => e.n === EVENTS);

  const numbers = subscriber.all('received').map((e) => e.n as number);
  expect(numbers.length).toBe(EVENTS + 1);
  expect(new Set(numbers).size).toBe(EVENTS + 1);
  expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: EVENTS + 1 }, (_, i) => i));
  expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
  // Publishes refused while the server was down said so at once and were repeated; none ended in doubt.
  const errors = publisher.all('publish-error');
  expect(errors.filter((e) => e.code !== 'TRANSPORT_DISCONNECTED')).toEqual([]);
  // Each published envelope arrived once: every acknowledged id is among the received ones.
  const publishedIds = new Set(publisher.all('published').map((e) => e.id));
  expect(subscriber.all('received').every((e) => publishedIds.has(e.id))).toBe(true);
  expect(publishedIds.size).toBe(EVENTS + 1);
});
