import { ConfigError, validateSection } from '@tradebus/core';
import type { PreparedSystem } from '../prepare.js';

/**
 * Setting a value deep in a prepared config, for parameter sweeps and `--set`: the path starts
 * with an agent id (`strategy.strategies[0].params.fast` sets that key in the config of the agent
 * with id `strategy`) or with `providers.<name>` (`providers.data.endAt`). The agent's settings
 * are validated again by its own schema, so a swept value that the agent refuses is reported
 * with its full path before anything runs.
 */

export type PathPart = string | number;

export function parsePath(path: string): PathPart[] {
  const parts: PathPart[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let consumed = 0;
  for (const match of path.matchAll(re)) {
    if (match[1] !== undefined) parts.push(match[1]);
    else parts.push(Number(match[2]));
    consumed += match[0].length;
  }
  const separators = (path.match(/\./g) ?? []).length;
  if (parts.length === 0 || consumed + separators !== path.length || /\.\.|^\.|\.$|\.\[/.test(path)) {
    throw new ConfigError(`'${path}' is not a config path: write it like strategy.strategies[0].params.fast (agent id first) or providers.data.endAt.`, [
      { path, message: 'not a config path' },
    ]);
  }
  return parts;
}

export function formatPathParts(parts: readonly PathPart[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Sets `value` at `parts` inside `root`, creating objects on the way; arrays must already exist. */
function setIn(root: Record<string, unknown>, parts: readonly PathPart[], value: unknown, shown: string): void {
  let node: unknown = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    const container = node as Record<string | number, unknown>;
    let next = container[key];
    if (next === undefined || next === null) {
      if (typeof parts[i + 1] === 'number') {
        throw new ConfigError(`${shown}: ${formatPathParts(parts.slice(0, i + 1))} is not a list in the config, so it has no [${parts[i + 1]}].`, [
          { path: shown, message: 'no such list' },
        ]);
      }
      next = container[key] = {};
    }
    if (typeof next !== 'object') {
      throw new ConfigError(`${shown}: ${formatPathParts(parts.slice(0, i + 1))} is a ${typeof next}, not an object or list.`, [{ path: shown, message: 'not an object' }]);
    }
    if (typeof parts[i + 1] === 'number' && !Array.isArray(next)) {
      throw new ConfigError(`${shown}: ${formatPathParts(parts.slice(0, i + 1))} is not a list.`, [{ path: shown, message: 'not a list' }]);
    }
    node = next;
  }
  const last = parts[parts.length - 1]!;
  if (Array.isArray(node) && typeof last === 'number' && last > node.length) {
    throw new ConfigError(`${shown}: the list has ${node.length} entries, so [${last}] is out of range.`, [{ path: shown, message: 'index out of range' }]);
  }
  (node as Record<string | number, unknown>)[last] = value;
}

/** A copy of `prepared` with the overrides applied and the touched agents' settings validated again. */
export function applyOverrides(prepared: PreparedSystem, overrides: Record<string, unknown>): PreparedSystem {
  const entries = Object.entries(overrides);
  if (entries.length === 0) return prepared;
  const config = structuredClone(prepared.config);
  const touched = new Set<string>();
  for (const [path, value] of entries) {
    const parts = parsePath(path);
    const head = parts[0];
    if (head === 'providers') {
      if (typeof parts[1] !== 'string' || config.providers[parts[1]] === undefined) {
        const known = Object.keys(config.providers);
        throw new ConfigError(`${path}: no provider named '${String(parts[1])}' in the config; providers: ${known.join(', ') || 'none'}.`, [{ path, message: 'unknown provider' }]);
      }
      if (parts.length < 3) throw new ConfigError(`${path}: name a setting of the provider, e.g. providers.${parts[1]}.endAt.`, [{ path, message: 'no setting named' }]);
      setIn(config.providers as Record<string, unknown>, parts.slice(1), value, path);
      continue;
    }
    const index = config.agents.findIndex((a) => a.id === head);
    if (index < 0 || !prepared.agents.some((a) => a.entry.id === head)) {
      const ids = prepared.agents.map((a) => a.entry.id);
      throw new ConfigError(`${path}: '${String(head)}' is not the id of an enabled agent; paths start with an agent id (${ids.join(', ')}) or providers.`, [
        { path, message: 'unknown agent' },
      ]);
    }
    if (parts.length < 2) throw new ConfigError(`${path}: name a setting of the agent, e.g. ${String(head)}.symbols.`, [{ path, message: 'no setting named' }]);
    const entry = config.agents[index]!;
    const raw = (entry.config ?? {}) as Record<string, unknown>;
    entry.config = raw;
    setIn(raw, parts.slice(1), value, path);
    touched.add(String(head));
  }
  const agents = prepared.agents.map((agent) => {
    if (!touched.has(agent.entry.id)) return agent;
    const index = config.agents.findIndex((a) => a.id === agent.entry.id);
    const entry = config.agents[index]!;
    return { ...agent, entry, config: validateSection(agent.definition.configSchema, entry.config, `agents[${index}].config`, prepared.source) };
  });
  return { ...prepared, config, agents };
}

/** Parses `--set a.b=value`: the value as JSON when it reads as JSON (numbers, booleans, lists), else as text. */
export function parseAssignment(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`'${text}' is not an assignment: write path=value, e.g. strategy.strategies[0].params.fast=9.`, [{ path: text, message: 'not path=value' }]);
  return [text.slice(0, eq).trim(), parseValue(text.slice(eq + 1).trim())];
}

export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
