import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  agentEntrySchema,
  nearMatches,
  formatMessage,
  hasEnvReferences,
  loadConfigFile,
  resolveEnvReferences,
  resolveFileSettings,
  validateSection,
  type AgentDefinition,
  type AgentEntry,
  type ConfigIssue,
  type SystemConfig,
} from '@tradebus/core';
import { isBuiltinProviderKind, loadCustomProviderKinds, parseProviderConfig, providerClosure, providerConfigSchemaFor } from '@tradebus/providers';
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
  /**
   * The providers this process builds: those its agents use (see `providersOf`) and those these
   * follow. Their `${VAR}` references are resolved in `config`; other providers' are left as
   * written, so their variables need not be set here. Undefined: every provider of the config.
   */
  providers?: string[];
}

/**
 * The providers an agent uses: its entry's `providers`, else the `provider` its settings name
 * (every built-in agent that talks to a venue names it there).
 */
export function providersOf(agent: Pick<PreparedAgent, 'entry' | 'config'>): string[] {
  if (agent.entry.providers !== undefined) return agent.entry.providers;
  const named = (agent.config as { provider?: unknown } | null | undefined)?.provider;
  return typeof named === 'string' ? [named] : [];
}

/**
 * Loads and validates the whole config before anything starts: the file itself, then every
 * enabled agent's settings against that agent's own schema. All problems are reported at once.
 */
export async function prepareSystem(configPath: string, options: { only?: string[]; env?: Record<string, string | undefined> } = {}): Promise<PreparedSystem> {
  const source = resolve(configPath);
  const baseDir = dirname(source);
  let config: SystemConfig;
  try {
    // Provider settings resolve their variables below, once it is known which ones this process builds.
    config = loadConfigFile(source, { env: options.env, deferEnv: (path) => path.length >= 2 && path[0] === 'providers' });
  } catch (err) {
    throw await withAgentIssues(err, baseDir, source, options.only);
  }
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
  if (options.only !== undefined) {
    for (const id of options.only) {
      if (!ids.has(id)) issues.push({ path: 'agents', message: `no agent with id '${id}' in the config; agents: ${[...ids].join(', ') || 'none'}` });
    }
  }
  for (const [i, entry] of config.agents.entries()) {
    if (!entry.enabled) continue;
    if (options.only !== undefined && !options.only.includes(entry.id)) continue;
    const prepared = await prepareAgent(entry, i, baseDir, source, issues);
    if (prepared !== undefined) agents.push(prepared);
  }
  const providers = providerClosure(config.providers, agents.flatMap(providersOf));
  const section = { ...config.providers };
  const kindOf = (raw: unknown): string | undefined => (raw !== null && typeof raw === 'object' ? ((raw as { kind?: unknown }).kind as string | undefined) : undefined);
  // Custom kinds are packages or modules next to the config: loaded for the providers this
  // process builds (another process's provider may come from a package not installed here).
  const unloadable = new Set<string>();
  try {
    await loadCustomProviderKinds(Object.fromEntries(Object.entries(config.providers).filter(([name]) => providers.includes(name))), baseDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
    for (const issue of err.issues) unloadable.add(issue.path);
  }
  for (const [name, raw] of Object.entries(config.providers)) {
    const built = providers.includes(name);
    // A provider this process does not build is checked only as far as that needs no variable,
    // and one of a custom kind only where it is built.
    if (!built && hasEnvReferences(raw)) continue;
    const kind = kindOf(raw);
    if (typeof kind === 'string' && !isBuiltinProviderKind(kind) && (!built || unloadable.has(`providers.${name}.kind`))) continue;
    try {
      const schema = typeof kind === 'string' ? providerConfigSchemaFor(kind) : undefined;
      const resolved = built ? (resolveEnvReferences(raw, { env: options.env, path: ['providers', name], schema, source }) as typeof raw) : raw;
      parseProviderConfig(name, resolved, { baseDir });
      section[name] = resolved;
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  issues.push(...misspeltProviders(agents, config.providers));
  if (issues.length > 0) throw new ConfigError(formatMessage(source, issues), issues);
  return { config: { ...config, providers: section }, baseDir, source, agents, providers };
}

/**
 * Provider names in agents' settings that are not in the `providers` section but close to one
 * there: a typo, reported now rather than when the agent fails to start. A name close to none
 * may be a provider that code registers (`launchSystem(..., { services })`), and is left alone.
 */
function misspeltProviders(agents: PreparedAgent[], section: Record<string, unknown>): ConfigIssue[] {
  const configured = Object.keys(section);
  const issues: ConfigIssue[] = [];
  for (const agent of agents) {
    for (const name of providersOf(agent)) {
      if (Object.hasOwn(section, name)) continue;
      // A longer or shorter spelling of a configured name (`demo` beside `demo-venue`) may well be another provider.
      const near = nearMatches(name, configured).filter((c) => !c.startsWith(name) && !name.startsWith(c));
      if (near.length === 0) continue;
      const key = agent.entry.providers !== undefined ? `${agent.path}.providers` : `${agent.path}.config.provider`;
      issues.push({ path: key, message: `no provider named '${name}' in providers. Did you mean '${near[0]}'? Configured: ${configured.join(', ')}.` });
    }
  }
  return issues;
}

/** Resolves an agent entry and validates its settings; problems go to `issues`. */
async function prepareAgent(entry: AgentEntry, index: number, baseDir: string, source: string, issues: ConfigIssue[]): Promise<PreparedAgent | undefined> {
  const path = `agents[${index}]`;
  try {
    const definition = await resolveAgentDefinition(entry.use, { baseDir, path: `${path}.use` });
    const agentConfig = validateSection(definition.configSchema, entry.config, `${path}.config`, source);
    return { entry, definition, config: resolveFileSettings(agentConfig, definition.filePaths ?? [], baseDir), path };
  } catch (err) {
    if (err instanceof ConfigError) issues.push(...err.issues);
    else throw err;
    return undefined;
  }
}

/**
 * When the file itself fails its checks, the agents' settings are checked too, as far as their
 * entries can be read, so one run names every problem instead of one layer at a time.
 */
async function withAgentIssues(err: unknown, baseDir: string, source: string, only: string[] | undefined): Promise<unknown> {
  if (!(err instanceof ConfigError) || err.document === null || typeof err.document !== 'object') return err;
  const agents = (err.document as { agents?: unknown }).agents;
  if (!Array.isArray(agents)) return err;
  const more: ConfigIssue[] = [];
  for (const [i, raw] of agents.entries()) {
    const entry = agentEntrySchema.safeParse(raw);
    // An entry that is itself wrong is already reported by the file's checks.
    if (!entry.success || !entry.data.enabled) continue;
    if (only !== undefined && !only.includes(entry.data.id)) continue;
    await prepareAgent(entry.data, i, baseDir, source, more);
  }
  if (more.length === 0) return err;
  const issues = [...err.issues, ...more];
  return new ConfigError(formatMessage(source, issues), issues, { cause: err, document: err.document });
}
