import { REDACTED, redactConfig, systemConfigSchema, type SystemConfig } from '@tradebus/core';
import { providerConfigSchemaFor } from '@tradebus/providers';
import type { z } from 'zod';

/** The schemas that say which settings are secret, beside the system schema itself. */
export interface ConfigSchemas {
  /** Each agent's config schema, by agent id, for the agents loaded in this process. */
  agents: ReadonlyMap<string, z.ZodType>;
}

/**
 * The config as `GET /config` shows it: every field a schema marks secret redacted (the system
 * schema, each provider kind's, each loaded agent's), and URL user-info and known secret values
 * scrubbed from every string. An agent not loaded in this process has no schema here to say what
 * in its settings is secret, so its settings are not shown at all.
 */
export function redactSystemConfig(config: SystemConfig, schemas: ConfigSchemas): unknown {
  const redacted = redactConfig(systemConfigSchema, config);
  const providers: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(redacted.providers)) {
    const schema = typeof raw.kind === 'string' ? providerConfigSchemaFor(raw.kind) : undefined;
    // A custom kind whose schema this process has not loaded cannot say what is secret: its settings are not shown.
    providers[name] = schema === undefined ? { kind: raw.kind, settings: REDACTED } : redactConfig(schema, raw);
  }
  const agents = redacted.agents.map((entry) => {
    if (entry.config === undefined) return entry;
    const schema = schemas.agents.get(entry.id);
    return { ...entry, config: schema === undefined ? REDACTED : redactConfig(schema, entry.config) };
  });
  return { ...redacted, providers, agents };
}

/** The changes of a `PATCH /config` as they may be shown and recorded: agents' secret settings redacted. */
export function redactConfigChanges(changes: Record<string, unknown>, schemas: ConfigSchemas): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(changes)) {
    const agent = /^agents\.(.+)\.config$/.exec(key)?.[1];
    const schema = agent === undefined ? undefined : schemas.agents.get(agent);
    out[key] = agent === undefined ? redactConfig(systemConfigSchema, value) : schema === undefined ? REDACTED : redactConfig(schema, value);
  }
  return out;
}
