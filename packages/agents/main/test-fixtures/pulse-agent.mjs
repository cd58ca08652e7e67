// A bot author's own agent module, loaded by path from a config file.
import { z } from 'zod';
import { BaseAgent, defineAgent } from '@tradebus/core';

class Pulse extends BaseAgent {
  run() {
    this.every(this.config.everyMs, () => {
      this.publish('system.alert', { level: 'info', code: 'PULSE', message: 'pulse', agentId: this.id, timestamp: this.clock.now() });
    });
  }
}

export const agent = defineAgent({
  kind: 'pulse',
  configSchema: z.object({ everyMs: z.number().int().positive().default(100) }).strict(),
  create: (ctx) => new Pulse(ctx),
});
