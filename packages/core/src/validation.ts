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
      const received = (issue as { input?: unknown }).input;
      const shown = received === undefined ? 'nothing (the key is missing)' : options.conceal?.(issue.path) ? `${kindOf(received)} (not shown: the field is secret)` : describe(received);
      message = `expected ${issue.expected}, received ${shown}`;
    }
    out.push({ path: formatPath(issue.path), message });
  }
  return out;
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
