import { z } from 'zod';
import { compilePattern } from '@tradebus/core';

const csv = z
  .string()
  .transform((s) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0));

const eventPattern = z.string().refine(
  (p) => {
    try {
      compilePattern(p);
      return true;
    } catch {
      return false;
    }
  },
  { error: (iss) => `'${String(iss.input)}' is not an event type or pattern: use '.'-separated tokens such as order.updated, '*' for one token (order.*), '>' as the last token (trade.>)` },
);
const epochMs = z.coerce.number().int().nonnegative().describe('Epoch milliseconds');

export const eventsQuerySchema = z
  .object({
    type: csv
      .pipe(z.array(eventPattern).min(1, { error: 'name at least one event type or pattern, or leave type out for every type' }))
      .optional()
      .describe('Event types or patterns, comma separated (e.g. order.*,trade.closed)'),
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

const KILL_SWITCH_ACTIONS = ['kill', 'resume', 'reducing_only', 'reset_breakers', 'flatten'] as const;

export const killSwitchSchema = z
  .object({
    // No default: a request that does not say what to do must not halt (or resume) trading.
    action: z.enum(KILL_SWITCH_ACTIONS, {
      error: (iss) => (iss.input === undefined ? `required: say what to do, one of ${KILL_SWITCH_ACTIONS.join(', ')}` : `use one of ${KILL_SWITCH_ACTIONS.join(', ')}`),
    }),
    reason: z.string().min(1).max(500).default('operator request'),
    by: z.string().max(100).optional(),
  })
  .strict();

export const watchdogReportQuerySchema = z
  .object({ agent: z.string().min(1).optional().describe('Id of the profit watchdog whose report to return; the latest report of any when left out') })
  .strict();

export const agentActionParams = z.object({ id: z.string().min(1), action: z.enum(['start', 'stop', 'restart']) });

/** The hot-reloadable subset of the config. */
export const configPatchSchema = z
  .object({
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }).strict().optional(),
    agents: z
      .record(z.string(), z.object({ config: z.record(z.string(), z.unknown()) }).strict())
      .optional()
      .describe(
        "Per agent id: keys of its config to change, merged key by key into the current config, then validated by the agent. Only the agent's live settings (GET /config/hot) may change; any other key is refused with 400 naming it. Changes are kept in the data directory and survive a restart",
      ),
  })
  .strict()
  .refine((p) => p.log !== undefined || (p.agents !== undefined && Object.keys(p.agents).length > 0), {
    message: 'nothing to change: send log.level and/or agents.<id>.config',
  });
