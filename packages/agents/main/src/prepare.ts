import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  loadConfigFile,
  validateSection,
  type AgentDefinition,
  type AgentEntry,
  type ConfigIssue,
  type SystemConfig,
} from '@tradebus/core';
import { parseProviderConfig } from '@tradebus/providers';
import { resolveAgentDefinition } from './resolve.js';

export interface PreparedAgent {
  entry: AgentEntry;
  definition: AgentDefinition<unknown, any>;
  config: unknown;
  /** Path of the entry in the config, for error messages. */
  path: string;
}

export interface PreparedSystem {
  config: SystemConfig;
  /** Folder of the config file: relative paths in it (data dir, agent modules, data files) resolve from here. */
  baseDir: string;
  source: string;
  agents: PreparedAgent[];
}

/**
 * Loads and validates the whole config before anything starts: the file itself, then every
 * enabled agent's settings against that agent's own schema. All problems are reported at once.
 */
export async function prepareSystem(configPath: string, options: { only?: string[]; env?: Record<string, string | undefined> } = {}): Promise<PreparedSystem> {
  const source = resolve(configPath);
  const config = loadConfigFile(source, { env: options.env });
  const baseDir = dirname(source);
  const issues: ConfigIssue[] = [];
  const agents: PreparedAgent[] = [];
  const ids = new Set<string>();
  for (const [i, entry] of config.agents.entries()) {
    const path = `agents[${i}]`;
    if (ids.has(entry.id)) issues.push({ path: `${path}.id`, message: `duplicate agent id '${entry.id}': give each agent a unique id` });
    ids.add(entry.id);
    for (const dep of entry.dependsOn) {
      if (!config.agents.some((a) => a.id === dep)) issues.push({ path: `${path}.dependsOn`, message: `'${dep}' is not the id of an agent in this config` });
    }
  }
  for (const [name, raw] of Object.entries(config.providers)) {
    try {
      parseProviderConfig(name, raw);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (options.only !== undefined) {
    for (const id of options.only) {
      if (!ids.has(id)) issues.push({ path: 'agents', message: `no agent with id '${id}' in the config; agents: ${[...ids].join(', ') || 'none'}` });
    }
  }
  for (const [i, entry] of config.agents.entries()) {
    if (!entry.enabled) continue;
    if (options.only !== undefined && !options.only.includes(entry.id)) continue;
    const path = `agents[${i}]`;
    try {
      const definition = await resolveAgentDefinition(entry.use, { baseDir, path: `${path}.use` });
      const agentConfig = validateSection(definition.configSchema, entry.config, `${path}.config`, source);
      agents.push({ entry, definition, config: agentConfig, path });
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(
      `Invalid configuration in ${source}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}\nFix these keys and try again (see docs/configuration.md).`,
      issues,
    );
  }
  return { config, baseDir, source, agents };
}
