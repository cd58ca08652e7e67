/**
 * What may change while the system runs. Each built-in agent declares the config paths it applies
 * live (`hotSettings`, exported beside its definition); PATCH /config accepts only those, and
 * GET /config/hot lists them. One list per agent, read from the agent's own module, so the API
 * and the agent never disagree about what is hot.
 *
 * A pattern is a dotted path: `limits.*` is everything under `limits`, `strategies[].params.*`
 * is everything under the params of any strategy, `sizing.riskPerTradePct` is that one key.
 */

export type SettingPath = ReadonlyArray<string | number>;

/** The hot settings a definition declares (attached as `hotSettings`); none when it declares none. */
export function hotSettingsOf(definition: unknown): readonly string[] {
  const list = (definition as { hotSettings?: unknown } | null)?.hotSettings;
  return Array.isArray(list) && list.every((p) => typeof p === 'string') ? (list as string[]) : [];
}

/** True when `path` falls under one of `patterns`. */
export function isHotSetting(path: SettingPath, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => matches(path, pattern));
}

function matches(path: SettingPath, pattern: string): boolean {
  const parts = pattern.split('.');
  let i = 0;
  for (const part of parts) {
    if (part === '*') return true;
    const indexed = part.endsWith('[]');
    const name = indexed ? part.slice(0, -2) : part;
    if (path[i] !== name) return false;
    i++;
    if (indexed) {
      if (typeof path[i] !== 'number') return false;
      i++;
    }
  }
  // `limits.maxOpenPositions` also covers a change below it, never a change above it.
  return i <= path.length;
}

/** `['strategies', 0, 'params', 'fast']` → `strategies[0].params.fast`. */
export function formatSettingPath(path: SettingPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Paths whose values differ; arrays of the same length are compared element by element. */
export function changedSettingPaths(before: unknown, after: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) => changedSettingPaths(before[k], after[k], [...prefix, k]));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => changedSettingPaths(b, after[i], [...prefix, i]));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}

/**
 * The keys a patch names, down to its leaves; an array is one leaf (it replaces the whole list,
 * and `changedSettingPaths` says which of its elements differ).
 */
export function touchedSettingPaths(patch: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (!isPlainObject(patch) || Object.keys(patch).length === 0) return Array.isArray(patch) ? [] : [prefix];
  return Object.entries(patch).flatMap(([k, v]) => touchedSettingPaths(v, [...prefix, k]));
}

/** `patch` merged into `base`: objects key by key, anything else (arrays too) replaced. */
export function mergeSettings(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = mergeSettings(base[k], v);
  return out;
}

/**
 * The first key of a change that the agent does not apply live, or undefined when all of it is
 * hot. `patch` is what was sent; `before` and `after` are the validated configs.
 */
export function coldSettingKey(patch: unknown, before: unknown, after: unknown, patterns: readonly string[]): SettingPath | undefined {
  const touched = [...touchedSettingPaths(patch), ...changedSettingPaths(before, after)];
  return touched.find((path) => path.length > 0 && !isHotSetting(path, patterns));
}

/**
 * For an agent's `onReconfigure`: throws, naming the key, when `next` changes a setting outside
 * `patterns` (one the agent only reads when it starts).
 */
export function refuseColdChanges(previous: unknown, next: unknown, patterns: readonly string[]): void {
  const cold = changedSettingPaths(previous, next).find((path) => !isHotSetting(path, patterns));
  if (cold === undefined) return;
  throw new Error(`${formatSettingPath(cold) || 'the config'} cannot change while the agent runs: restart the agent to change it (live: ${patterns.join(', ')})`);
}
