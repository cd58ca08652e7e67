import { join } from 'node:path';
import { z } from 'zod';
import { DurableJsonFile, TradebusError, validateSection, type Logger } from '@tradebus/core';
import { coldSettingKey as coldKey, formatSettingPath as formatPath, hotSettingsOf, mergeSettings as deepMerge } from '@tradebus/core';
import type { PreparedAgent, PreparedSystem } from './prepare.js';

/** File in the data directory that keeps the settings changed while running (PATCH /config). */
export const OVERRIDES_FILE = 'config-overrides.json';

const overridesSchema = z
  .object({
    version: z.literal(1),
    /** Per agent id: what was changed, merged over the config file's settings on every start. */
    agents: z.record(z.string(), z.record(z.string(), z.unknown())),
  })
  .strict();

export type ConfigOverrides = z.output<typeof overridesSchema>;

export class ConfigOverridesError extends TradebusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_OVERRIDES_INVALID', message, options);
  }
}

/**
 * The settings changed while running, kept in `<dataDir>/config-overrides.json` through a
 * crash-safe document: a change acknowledged by the API is on disk, and survives a restart.
 */
export class ConfigOverridesStore {
  private readonly file: DurableJsonFile<ConfigOverrides>;
  private current: ConfigOverrides = { version: 1, agents: {} };

  constructor(dataDir: string) {
    this.file = new DurableJsonFile<ConfigOverrides>(join(dataDir, OVERRIDES_FILE), { fsync: 'always' });
  }

  get path(): string {
    return this.file.path;
  }

  async load(): Promise<ConfigOverrides> {
    const raw = await this.file.read();
    if (raw === null) return this.current;
    const parsed = overridesSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigOverridesError(
        `${this.file.path} is not a file of settings changed while running (${parsed.error.issues[0]?.message ?? 'unreadable'}): repair it, or delete it to start from the config file alone.`,
        { cause: parsed.error },
      );
    }
    this.current = parsed.data;
    return this.current;
  }

  /** Adds a change of one agent's settings and waits until it is on disk. */
  async record(changes: Record<string, Record<string, unknown>>): Promise<void> {
    const agents = { ...this.current.agents };
    for (const [id, change] of Object.entries(changes)) agents[id] = deepMerge(agents[id] ?? {}, change) as Record<string, unknown>;
    const next: ConfigOverrides = { version: 1, agents };
    await this.file.write(next);
    this.current = next;
  }

  /** Waits for writes in flight. */
  idle(): Promise<void> {
    return this.file.idle();
  }
}

/**
 * The prepared agents with the kept changes merged over their file settings, and the system
 * config to show for them. A change that no longer validates or is no longer live (the config
 * file or the agent changed since) is left out with an error in the log: the file's settings
 * hold for that agent.
 */
export function applyOverrides(prepared: PreparedSystem, overrides: ConfigOverrides, logger: Logger): { agents: PreparedAgent[]; config: PreparedSystem['config'] } {
  const config = structuredClone(prepared.config);
  const agents = prepared.agents.map((agent) => {
    const change = overrides.agents[agent.entry.id];
    if (change === undefined) return agent;
    const index = config.agents.findIndex((a) => a.id === agent.entry.id);
    const merged = deepMerge(config.agents[index]?.config ?? {}, change);
    try {
      const validated = validateSection(agent.definition.configSchema, merged, `agents.${agent.entry.id}.config`);
      const cold = coldKey(change, agent.config, validated, hotSettingsOf(agent.definition));
      if (cold !== undefined) throw new Error(`${formatPath(cold)} is no longer a live setting of this agent`);
      if (index >= 0) config.agents[index] = { ...config.agents[index]!, config: merged };
      logger.info({ agent: agent.entry.id, change }, 'settings changed while running are applied again');
      return { ...agent, config: validated };
    } catch (err) {
      logger.error(
        { err, agent: agent.entry.id, change },
        `settings changed while running no longer apply to agent '${agent.entry.id}': it starts with its config file settings; remove its entry from ${OVERRIDES_FILE} to silence this`,
      );
      return agent;
    }
  });
  return { agents, config };
}
