import { z } from 'zod';

const csv = z
  .string()
  .transform((s) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0));
const epochMs = z.coerce.number().int().nonnegative().describe('Epoch milliseconds');

export const eventsQuerySchema = z
  .object({
    type: csv.optional().describe('Event types or patterns, comma separated (e.g. order.*,trade.closed)'),
    since: epochMs.optional(),
    until: epochMs.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    order: z.enum(['asc', 'desc']).default('desc'),
  })
  .strict();

export const listQuerySchema = z
  .object({
    symbol: z.string().optional(),
    status: z.enum(['open', 'closed', 'all']).default('all'),
    since: epochMs.optional(),
    until: epochMs.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const killSwitchSchema = z
  .object({
    action: z.enum(['kill', 'resume', 'reducing_only', 'reset_breakers']).default('kill'),
    reason: z.string().min(1).max(500).default('operator request'),
    by: z.string().max(100).optional(),
  })
  .strict();

export const agentActionParams = z.object({ id: z.string().min(1), action: z.enum(['start', 'stop', 'restart']) });

/** The hot-reloadable subset of the config. */
export const configPatchSchema = z
  .object({
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }).strict().optional(),
    agents: z
      .record(z.string(), z.object({ config: z.record(z.string(), z.unknown()) }).strict())
      .optional()
      .describe('Per agent id: keys of its config to change (merged into the current config, then validated by the agent)'),
  })
  .strict()
  .refine((p) => p.log !== undefined || (p.agents !== undefined && Object.keys(p.agents).length > 0), {
    message: 'nothing to change: send log.level and/or agents.<id>.config',
  });
