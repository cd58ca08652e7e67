import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, defineAgent, type AgentContext } from './agent/base-agent.js';
import { runAgentProcess } from './agent-process.js';
import { EventBus } from './bus/event-bus.js';
import { WallClock } from './clock.js';
import { ConfigError } from './errors.js';
import { builtinEvents, type BuiltinEvents } from './events/builtin.js';
import { EventCatalogue, defineEvents, type EventMapOf } from './events/catalogue.js';
import { silentLogger } from './logger.js';
import { NatsServer } from './testing/nats-server.js';
import { NatsTransport } from './transports/nats/nats-transport.js';

const pingEvents = defineEvents({ 'bot.ping': z.object({ n: z.number() }) });
type PingEvents = BuiltinEvents & EventMapOf<typeof pingEvents>;

const received: number[] = [];
class Listener extends BaseAgent<unknown, PingEvents> {
  protected run(): void {
    this.subscribe('bot.ping', (e) => received.push(e.payload.n));
  }
}
// The agent's event types come with its definition only: nothing else tells the process about them.
const listener = defineAgent<unknown, PingEvents>({ kind: 'listener', events: pingEvents, configSchema: z.unknown(), create: (ctx: AgentContext<unknown, PingEvents>) => new Listener(ctx) });

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

describe('runAgentProcess', () => {
  it("takes transport settings with their defaults left out, receives the definition's own events, and reports its agent healthy", async () => {
    const prefix = 'test.agentprocess';
    const proc = await runAgentProcess({
      definition: listener,
      id: 'listener',
      // As in a config file: only what differs from the defaults.
      transport: { kind: 'nats', servers: server.url, prefix },
      logger: silentLogger(),
      handleSignals: false,
    });
    const publisher = new NatsTransport({ servers: server.url, prefix, catalogue: new EventCatalogue(builtinEvents, pingEvents) });
    await publisher.connect();
    try {
      const bus = new EventBus<PingEvents>({ transport: publisher, catalogue: new EventCatalogue(builtinEvents, pingEvents), clock: new WallClock(), source: 'pinger' });
      for (let n = 1; n <= 3; n++) bus.publish('bot.ping', { n });
      const deadline = Date.now() + 8_000;
      while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received).toEqual([1, 2, 3]);
      expect((proc.system.transport as NatsTransport).stats.unknownTypes).toBe(0);
      expect(proc.system.health.snapshot()).toMatchObject({ status: 'ok', agents: [{ agentId: 'listener', kind: 'listener', status: 'ok', eventsIn: 3 }] });
    } finally {
      await publisher.close();
      await proc.stop();
    }
  });

  it('names a bad transport setting before connecting to anything', async () => {
    const attempt = runAgentProcess({
      definition: listener,
      id: 'listener',
      transport: { kind: 'nats', servers: server.url, prefix: 'no spaces allowed' },
      logger: silentLogger(),
      handleSignals: false,
    });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/transport\.prefix/);
  });
});
