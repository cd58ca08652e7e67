import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventCatalogue, NatsTransport, builtinEvents, loadConfigFile, natsTransportSchema, validateSection } from '@tradebus/core';
import { findNatsServer } from '@tradebus/core/testing';
import { strategyRunnerConfigSchema } from '@tradebus/agent-strategy-runner';

const here = dirname(fileURLToPath(import.meta.url));
const urls = 'nats://nats-1.internal:4222,nats://nats-2.internal:4222,nats://nats-3.internal:4222';

describe('examples/nats-cluster', () => {
  it('has three nats-server configs the server accepts, each naming itself and routing to all three', () => {
    for (const n of [1, 2, 3]) {
      const file = join(here, `nats-${n}.conf`);
      const run = spawnSync(findNatsServer(), ['-t', '-c', file], { encoding: 'utf8' });
      expect(run.status).toBe(0);
      expect(`${run.stdout}${run.stderr}`).toContain('is valid');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(`server_name: nats-${n}`);
      for (const m of [1, 2, 3]) expect(text).toContain(`nats-route://nats-${m}.internal:6222`);
    }
  });

  it('runs the system on all three nodes with three copies, and the strategy runner sharded', async () => {
    for (const file of ['system.yaml', 'main.yaml']) {
      const config = (await loadConfigFile(join(here, file), { env: { NATS_URLS: urls } })) as { transport: unknown; agents: Array<{ id: string; config: unknown }> };
      const transport = validateSection(natsTransportSchema, config.transport, 'transport');
      expect(transport.replicas).toBe(3);
      expect(transport.durable).toContain('candle.closed');
      // The comma-separated variable becomes the three servers the client may use.
      expect(new NatsTransport({ catalogue: new EventCatalogue(builtinEvents), servers: transport.servers }).options.servers).toEqual(urls.split(','));
      const strategy = config.agents.find((a) => a.id === 'strategy');
      if (strategy !== undefined) expect(validateSection(strategyRunnerConfigSchema(), strategy.config, 'agents[strategy].config').sharding).toMatchObject({ leaseTtlMs: 6000, from: 'all' });
    }
  });
});
