import type { z } from 'zod';
import { ValidationError } from '../errors.js';
import { formatZodIssues } from '../validation.js';
import { DataArgumentError } from './errors.js';

/** Parses `value` with `schema`; the error names each bad field of `what`. */
export function validateRecord<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues);
  throw new ValidationError(`Invalid ${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, issues, { cause: result.error });
}

export function checkLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!(Number.isInteger(limit) && limit > 0) && limit !== Infinity) {
    throw new DataArgumentError(`limit must be a positive integer (or Infinity), got ${String(limit)}.`, { limit });
  }
  return limit;
}
