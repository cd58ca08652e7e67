// Test helpers that need nothing beyond core's own dependencies. The transport contract suite
// needs vitest and lives at `@tradebus/core/testing/contract`, so importing this entry point
// works in any test runner (or none).
export { NatsServer, NatsServerError, findNatsServer, freePort, type NatsServerOptions } from './nats-server.js';
export { NatsCluster, type NatsClusterOptions } from './nats-cluster.js';
export { seededRandom } from './random.js';
