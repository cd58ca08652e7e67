// An agent that holds a secret in its settings, logs its settings and publishes an event that
// carries the secret: the system must keep it out of logs, the API and the journal.
import { z } from 'zod';
import { BaseAgent, defineAgent, secret } from '@tradebus/core';

class Holder extends BaseAgent {
  run() {
    this.logger.info({ config: this.config }, 'configured');
    this.publish('system.alert', {
      level: 'info',
      code: 'HOLDER_READY',
      message: 'ready',
      agentId: this.id,
      details: { venue: 'demo', apiKey: this.config.apiKey, nested: { password: this.config.apiKey } },
      timestamp: this.clock.now(),
    });
  }
}

export const agent = defineAgent({
  kind: 'secret-holder',
  // Marked secret in the schema: that is what keeps it out of /config, logs and error messages.
  configSchema: z.object({ apiKey: secret(z.string()) }).strict(),
  create: (ctx) => new Holder(ctx),
});
