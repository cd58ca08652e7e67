import type { z } from 'zod';
import type { ConfigIssue } from './errors.js';

/** Renders a zod path as `agents[2].config.symbols`, the form used in every error message. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

export interface FormatIssuesOptions {
  /** Paths whose values must not be quoted in a message (secret fields). */
  conceal?: (path: ReadonlyArray<PropertyKey>) => boolean;
  /**
   * The value that was parsed, to name what a wrong-type key holds when the issues were made
   * without `reportInput: true` (zod leaves the received value out of its issues by default).
   */
  input?: unknown;
}

export function formatZodIssues(issues: ReadonlyArray<z.core.$ZodIssue>, options: FormatIssuesOptions = {}): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `unknown key '${key}': remove it or check its spelling` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type') {
      const received = receivedValue(issue, options);
      if (received === UNKNOWN) {
        // Without the value, saying what was received would be a guess (a wrong type is not a missing key).
        message = `expected ${issue.expected}`;
      } else {
        const shown =
          received.value === undefined
            ? 'nothing (the key is missing)'
            : options.conceal?.(issue.path)
              ? `${kindOf(received.value)} (not shown: the field is secret)`
              : describe(received.value);
        message = `expected ${issue.expected}, received ${shown}`;
      }
    }
    out.push({ path: formatPath(issue.path), message });
  }
  return out;
}

const UNKNOWN = Symbol('unknown');

/** What the key held: from the issue when zod reported it, else looked up in `options.input`. */
function receivedValue(issue: z.core.$ZodIssue, options: FormatIssuesOptions): { value: unknown } | typeof UNKNOWN {
  // zod puts `input` on an issue (even when undefined) only when asked to with `reportInput`.
  if (Object.hasOwn(issue, 'input')) return { value: (issue as { input?: unknown }).input };
  if (!Object.hasOwn(options, 'input')) return UNKNOWN;
  let value: unknown = options.input;
  for (const part of issue.path) {
    if (value === null || typeof value !== 'object') return { value: undefined };
    if (!Object.hasOwn(value, part)) return { value: undefined };
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return { value };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  const kind = Array.isArray(value) ? 'array' : typeof value;
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}
