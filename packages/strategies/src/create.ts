import { builtinStrategies } from './builtins/index.js';
import { StrategyRegistry, type CreateStrategyOptions } from './registry.js';
import type { Strategy } from './types.js';

const builtins = new StrategyRegistry(builtinStrategies);

/** A new registry holding the built-in strategies; add your own with `register`. */
export function builtinRegistry(): StrategyRegistry {
  return new StrategyRegistry(builtinStrategies);
}

/**
 * Validates a strategy config and builds the strategy:
 * `createStrategy({ type: 'ema-cross', id: 'fast-ema', params: { fast: 9 } })`.
 * Throws StrategyConfigError naming the bad field. Pass `registry` for custom strategy types.
 */
export function createStrategy(config: unknown, options: CreateStrategyOptions = {}): Strategy {
  return (options.registry ?? builtins).create(config, options);
}

/** Builds every strategy of a list and checks their ids are unique. */
export function createStrategies(configs: readonly unknown[], options: CreateStrategyOptions = {}): Strategy[] {
  return (options.registry ?? builtins).createAll(configs, options);
}
