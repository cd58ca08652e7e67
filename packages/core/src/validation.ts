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

export function formatZodIssues(issues: ReadonlyArray<z.core.$ZodIssue>): ConfigIssue[] {
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
      message = `expected ${issue.expected}, received ${received === undefined ? 'nothing (the key is missing)' : describe(received)}`;
    }
    out.push({ path: formatPath(issue.path), message });
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}
