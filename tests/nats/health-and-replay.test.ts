import { EventCatalogue, NatsTransport, builtinEvents } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FixtureProcess, ensureCoreBuilt, eventually } from './helpers.js';

const HEARTBEAT_MS = 200;
let server: NatsServer;
const processes: FixtureProcess[] = [];
let probe: NatsTransport | undefined;

beforeAll(async () => {
  ensureCoreBuilt();
  server = await NatsServer.start();
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.kill('SIGKILL')));
  await probe?.close();
  await server?.dispose();
});

function start(role: FixtureProcess['role'], agentId: string): FixtureProcess {
  const p = new FixtureProcess(role, agentId, { NATS_URL: server.url, TRADEBUS_PREFIX: 'replay', HEARTBEAT_MS: String(HEARTBEAT_MS) });
  processes.push(p);
  return p;
}

it('three processes: events flow, a killed subscriber is seen down, and on restart it receives exactly what it missed', async () => {
  const observer = start('observer', 'observer');
  let subscriber = start('subscriber', 'subscriber');
  const publisher = start('publisher', 'publisher');
  await Promise.all([observer.waitFor('ready'), subscriber.waitFor('ready'), publisher.waitFor('ready')]);
  await observer.waitFor('health', (e) => e.agentId === 'subscriber' && e.status === 'ok');
  await observer.waitFor('health', (e) => e.agentId === 'publisher' && e.status === 'ok');

  // Events flow between processes.
  publisher.send({ cmd: 'publish', from: 0, count: 10 });
  const firstBatch = await subscriber.waitForCount('received', 10);
  expect(firstBatch.map((e) => e.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  // Every one is acknowledged on the server before the crash, so none is due for redelivery.
  probe = new NatsTransport({ servers: server.url, prefix: 'replay', catalogue: new EventCatalogue(builtinEvents) });
  await probe.connect();
  await eventually(async () => expect(await probe!.durableInfo('fixture-sub')).toMatchObject({ pending: 0, ackPending: 0 }));

  await subscriber.kill('SIGKILL');
  const down = await observer.waitFor('health', (e) => e.agentId === 'subscriber' && e.status === 'down', 10_000);
  // Down after three missed heartbeats: the observer noticed within one more interval of that.
  expect(down.at - (down.lastHeartbeatAt as number)).toBeGreaterThan(3 * HEARTBEAT_MS);
  expect(down.at - (down.lastHeartbeatAt as number)).toBeLessThanOrEqual(4 * HEARTBEAT_MS);
  expect(observer.all('health', (e) => e.agentId === 'publisher' && e.status === 'down')).toHaveLength(0);

  // Published while the subscriber is away: JetStream keeps them for its durable consumer.
  publisher.send({ cmd: 'publish', from: 10, count: 5 });
  await publisher.waitFor('published', (e) => e.n === 14);
  expect(await probe.durableInfo('fixture-sub')).toMatchObject({ pending: 5 });

  subscriber = start('subscriber', 'subscriber');
  await subscriber.waitFor('ready');
  await subscriber.waitForCount('received', 5);
  publisher.send({ cmd: 'publish', from: 15, count: 1 });
  await subscriber.waitFor('received', (e) => e.n === 15);
  const replayed = subscriber.all('received');
  expect(replayed.map((e) => e.n)).toEqual([10, 11, 12, 13, 14, 15]);
  expect(new Set(replayed.map((e) => e.id)).size).toBe(replayed.length);
  await observer.waitFor('health', (e) => e.agentId === 'subscriber' && e.status === 'ok' && e.at > down.at);

  for (const p of [publisher, subscriber, observer]) expect(p.running).toBe(true);
  await Promise.all([publisher.kill(), subscriber.kill(), observer.kill()]);
  expect(publisher.exitInfo).toEqual({ code: 0, signal: null });
  expect(subscriber.exitInfo).toEqual({ code: 0, signal: null });
});
