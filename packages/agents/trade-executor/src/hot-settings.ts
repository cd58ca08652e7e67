/**
 * Settings this agent applies while running (PATCH /config); any other change is refused and
 * needs a restart. Patterns: `a.*` is everything under `a`, `a[].b.*` everything under `b` of any
 * element of the list `a`, `a.b` that one key.
 */
export const hotSettings: readonly string[] = [
  'rateLimit.*',
  'retry.*',
  'venueBreaker.*',
  'slippageGuard.*',
];

type Path = Array<string | number>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function changedPaths(before: unknown, after: unknown, prefix: Path = []): Path[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    return [...new Set([...Object.keys(before), ...Object.keys(after)])].flatMap((k) => changedPaths(before[k], after[k], [...prefix, k]));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => changedPaths(b, after[i], [...prefix, i]));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}

function isHot(path: Path): boolean {
  return hotSettings.some((pattern) => {
    let i = 0;
    for (const part of pattern.split('.')) {
      if (part === '*') return true;
      const indexed = part.endsWith('[]');
      if (path[i++] !== (indexed ? part.slice(0, -2) : part)) return false;
      if (indexed && typeof path[i++] !== 'number') return false;
    }
    return i <= path.length;
  });
}

/** Throws, naming the key, when `next` changes a setting this agent only reads when it starts. */
export function refuseColdChanges(previous: unknown, next: unknown): void {
  const cold = changedPaths(previous, next).find((path) => !isHot(path));
  if (cold === undefined) return;
  const key = cold.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || 'the config';
  throw new Error(`${key} cannot change while the agent runs: restart the agent to change it (live: ${hotSettings.join(', ')})`);
}
