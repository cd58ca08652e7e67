import { ConfigError, importConfigModule, nearMatches, type AgentDefinition } from '@tradebus/core';

/** Built-in agent kinds, so a config may say `use: price-watchdog` instead of the package name. */
export const BUILTIN_AGENTS: Record<string, string> = {
  'price-watchdog': '@tradebus/agent-price-watchdog',
  'market-watchdog': '@tradebus/agent-market-watchdog',
  'strategy-runner': '@tradebus/agent-strategy-runner',
  'trade-manager': '@tradebus/agent-trade-manager',
  'trade-executor': '@tradebus/agent-trade-executor',
  'account-sync': '@tradebus/agent-account-sync',
  'trade-monitor': '@tradebus/agent-trade-monitor',
  notifier: '@tradebus/agent-notifier',
  'model-runner': '@tradebus/agent-model-runner',
  'profit-watchdog': '@tradebus/agent-profit-watchdog',
};

function isDefinition(value: unknown): value is AgentDefinition<unknown, any> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as AgentDefinition).kind === 'string' &&
    typeof (value as AgentDefinition).create === 'function' &&
    typeof (value as AgentDefinition).configSchema === 'object'
  );
}

/**
 * Loads the agent definition named by `agents[i].use`: a built-in kind, a package name, or a
 * path (relative to the config file) to a module of the bot author's own. The module exports
 * `agent` (or a default export) made with `defineAgent`.
 */
export async function resolveAgentDefinition(use: string, options: { baseDir: string; path: string }): Promise<AgentDefinition<unknown, any>> {
  const specifier = BUILTIN_AGENTS[use] ?? use;
  let mod: Record<string, unknown>;
  try {
    mod = await importConfigModule(specifier, options.baseDir, import.meta.url);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
        ? `cannot find '${specifier}'.${suggest(use)} Install the package, or give a path to your module relative to the config file.`
        : `loading '${specifier}' failed: ${(err as Error).message}`;
    throw new ConfigError(`Invalid configuration: ${options.path}: ${hint}`, [{ path: options.path, message: hint }], { cause: err });
  }
  const definition = mod.agent ?? mod.default;
  if (!isDefinition(definition)) {
    const message = `'${specifier}' does not export an agent definition: export \`agent\` (or a default export) made with defineAgent({ kind, configSchema, create }).`;
    throw new ConfigError(`Invalid configuration: ${options.path}: ${message}`, [{ path: options.path, message }]);
  }
  return definition;
}

function suggest(use: string): string {
  const near = nearMatches(use, [...Object.keys(BUILTIN_AGENTS), ...Object.values(BUILTIN_AGENTS)], 2);
  return near.length > 0 ? ` Did you mean ${near.map((n) => `'${n}'`).join(' or ')}?` : ` Built-in agents: ${Object.keys(BUILTIN_AGENTS).join(', ')}.`;
}
