import { defineAgent, type AgentDefinition } from '@tradebus/core';
import type { StrategyRegistry } from '@tradebus/strategies';
import { strategyRunnerConfigSchema, type StrategyRunnerConfig } from './config.js';
import { StrategyRunnerAgent } from './strategy-runner.js';
import { hotSettings } from './hot-settings.js';

export { strategyRunnerConfigSchema, type StrategyRunnerConfig, type StrategyRunnerConfigInput } from './config.js';
export { StrategyRunnerAgent, type SeriesReport } from './strategy-runner.js';
export { hotSettings } from './hot-settings.js';

export interface StrategyRunnerOptions {
  /** Strategy types the config may name; the built-in strategies when left out. */
  registry?: StrategyRegistry;
}

/**
 * The agent definition, for a bot that brings its own strategy types:
 * `createStrategyRunnerAgent({ registry: builtinRegistry().register(myStrategy) })`.
 */
export function createStrategyRunnerAgent(options: StrategyRunnerOptions = {}): AgentDefinition<StrategyRunnerConfig> {
  return defineAgent<StrategyRunnerConfig>({
    kind: 'strategy-runner',
    description: 'Streaming indicators per symbol and timeframe, warmed up from history; runs strategies and publishes their signals',
    configSchema: strategyRunnerConfigSchema(options.registry),
    hotSettings,
    create: (context) => new StrategyRunnerAgent(context, options.registry),
  });
}

export const agent = createStrategyRunnerAgent();
export default agent;
