import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * The lease settings every sharded agent takes in its `sharding` section. `members` names the
 * agent's instances in the descriptions ("runners", "watchdogs").
 */
export function shardLeaseSettings(members: string) {
  return {
    instance: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { error: "use letters, digits, '-' and '_'" })
      .optional()
      .describe(`Name of this instance, unique among the ${members} sharing the symbols and kept across its restarts; default $TRADEBUS_INSTANCE, else <host>-<pid>`),
    leaseTtlMs: z.number().int().min(500).default(6_000).describe(`One of the ${members} silent this long loses its symbols to the others (the takeover delay after a crash)`),
    renewIntervalMs: z.number().int().positive().optional().describe('How often leases are renewed and joins or leaves noticed (default a third of leaseTtlMs)'),
  };
}

/** The instance name a sharded agent runs under: the configured one, else $TRADEBUS_INSTANCE, else `<host>-<pid>`. */
export function shardInstanceName(configured: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return configured ?? env.TRADEBUS_INSTANCE ?? `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '-');
}
