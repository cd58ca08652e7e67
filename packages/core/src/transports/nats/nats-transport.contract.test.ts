import { afterAll, beforeAll } from 'vitest';
import { builtinEvents } from '../../events/builtin.js';
import { EventCatalogue } from '../../events/catalogue.js';
import { NatsServer } from '../../testing/index.js';
import { runTransportContract } from '../../testing/transport-contract.js';
import { NatsTransport } from './nats-transport.js';

// One real nats-server for the suite; every participant gets its own connection, as a separate
// process would, and the suite waits on all of them to settle.
let server: NatsServer;
const created: NatsTransport[] = [];
const catalogue = new EventCatalogue(builtinEvents);

beforeAll(async () => {
  server = await NatsServer.start();
});

afterAll(async () => {
  await Promise.allSettled(created.map((t) => t.close()));
  await server?.dispose();
});

runTransportContract('nats', {
  create: () => {
    const transport = new NatsTransport({ servers: server.url, catalogue, prefix: 'contract', name: `contract-${created.length}` });
    created.push(transport);
    return transport;
  },
  settle: async () => {
    await Promise.all(created.filter((t) => t.status === 'connected').map((t) => t.flush()));
  },
  durable: true,
});
