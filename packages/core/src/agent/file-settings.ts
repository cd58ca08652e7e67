import { isAbsolute, resolve } from 'node:path';
import { isHotSetting, type SettingPath } from './hot-settings.js';

/**
 * A copy of an agent's settings with every string at one of `patterns` (the `hotSettings` syntax:
 * `a.b`, `a[].b`, `a.*`) that is a relative path taken from `baseDir`, so a file named in a config
 * is found beside the config whatever the working directory, as the providers' files are.
 */
export function resolveFileSettings<C>(settings: C, patterns: readonly string[], baseDir: string): C {
  if (patterns.length === 0) return settings;
  return walk(settings, [], patterns, baseDir) as C;
}

function walk(value: unknown, path: Array<string | number>, patterns: readonly string[], baseDir: string): unknown {
  if (typeof value === 'string') return path.length > 0 && isHotSetting(path as SettingPath, patterns) && !isAbsolute(value) ? resolve(baseDir, value) : value;
  if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i], patterns, baseDir));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, [...path, key], patterns, baseDir)]));
  }
  return value;
}
