// One sharded strategy-runner process of the nats-scale benchmark.
//   node nats-scale-child.js <url> <prefix> <instance> <runner config JSON>
// Prints `cpu <µs>` (its own user+system CPU) for every `cpu` line on stdin.
import { createInterface } from 'node:readline';
import { createLogger, runAgentProcess } from '@tradebus/core';
import strategyRunner from '@tradebus/agent-strategy-runner';

const [url, prefix, instance, configJson] = process.argv.slice(2) as [string, string, string, string];
const noHistory = { id: 'none', loadMarkets: async () => [], fetchOHLCV: async () => [], watchCandles: () => () => undefined, watchTicker: () => () => undefined };
const config = { ...(JSON.parse(configJson) as Record<string, unknown>), sharding: { instance, leaseTtlMs: 3_000 } };
await runAgentProcess({
  definition: strategyRunner,
  id: 'strategy',
  config,
  transport: { kind: 'nats', servers: url, prefix, name: `bench-${instance}`, durable: ['candle.closed'] },
  services: { 'provider:none': noHistory },
  heartbeatIntervalMs: 200,
  logger: createLogger({ level: 'warn', name: instance, destination: process.stderr }),
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'cpu') return;
  const u = process.cpuUsage();
  process.stdout.write(`cpu ${u.user + u.system}\n`);
});
process.stdout.write('ready\n');
