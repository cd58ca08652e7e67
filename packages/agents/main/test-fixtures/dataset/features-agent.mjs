// An agent that only declares features, as a model runner does: the dataset command reads them.
import { z } from 'zod';
import { BaseAgent, defineAgent } from '@tradebus/core';

class Idle extends BaseAgent {
  run() {}
}

export const agent = defineAgent({
  kind: 'features-only',
  configSchema: z.object({ features: z.unknown().optional() }).strict(),
  create: (ctx) => new Idle(ctx),
});
