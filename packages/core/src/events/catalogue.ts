import { z } from 'zod';
import { UnknownEventError, ValidationError } from '../errors.js';
import { isSecretKey } from '../logger.js';
import { formatZodIssues } from '../validation.js';

/** An event catalogue is a map from dotted event name to the zod schema of its payload. */
export type EventSchemas = Record<string, z.ZodType>;

/** The payload types inferred from a catalogue: `{ 'price.tick': { symbol: string; ... } }`. */
export type EventMapOf<S extends EventSchemas> = { [K in keyof S & string]: z.output<S[K]> };

/** Any map from event name to payload type. */
export type EventMap = Record<string, unknown>;

const EVENT_NAME = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;

/**
 * Declares a bot author's own events. Names are dotted lowercase (`bot.greeting`), the same rule
 * as the built-in ones, because they become NATS subjects across processes.
 */
export function defineEvents<const S extends EventSchemas>(schemas: S): S {
  for (const name of Object.keys(schemas)) {
    if (!EVENT_NAME.test(name)) {
      throw new ValidationError(
        `Event name '${name}' is not valid: use dotted lowercase words such as 'bot.greeting' (letters, digits, '-' and '_', at least two parts).`,
      );
    }
  }
  return schemas;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; error: ValidationError };

/** The runtime registry of event schemas shared by a process: used for name checks and boundary validation. */
export class EventCatalogue {
  private readonly schemas = new Map<string, z.ZodType>();

  constructor(...sets: EventSchemas[]) {
    for (const set of sets) this.register(set);
  }

  register(set: EventSchemas): this {
    for (const [name, schema] of Object.entries(defineEvents(set))) {
      const existing = this.schemas.get(name);
      if (existing !== undefined && existing !== schema) {
        throw new ValidationError(`Event '${name}' is already registered with a different schema. Pick another name for your event.`);
      }
      this.schemas.set(name, schema);
    }
    return this;
  }

  has(name: string): boolean {
    return this.schemas.has(name);
  }

  names(): string[] {
    return [...this.schemas.keys()].sort();
  }

  schema(name: string): z.ZodType {
    const schema = this.schemas.get(name);
    if (schema === undefined) throw new UnknownEventError(name, this.suggest(name));
    return schema;
  }

  /** Throws UnknownEventError with near matches when `name` is not registered. */
  assertKnown(name: string): void {
    if (!this.schemas.has(name)) throw new UnknownEventError(name, this.suggest(name));
  }

  validate<T = unknown>(name: string, payload: unknown): ValidationResult<T> {
    const schema = this.schemas.get(name);
    if (schema === undefined) {
      return { ok: false, error: new ValidationError(`Unknown event type '${name}'.`, [{ path: 'type', message: `unknown event type '${name}'` }]) };
    }
    const result = schema.safeParse(payload);
    if (result.success) return { ok: true, value: result.data as T };
    // Payloads are free-form: a value under a secret-looking key is named by its kind, never quoted.
    const issues = formatZodIssues(result.error.issues, { input: payload, conceal: (path) => path.some((p) => typeof p === 'string' && isSecretKey(p)) });
    return {
      ok: false,
      error: new ValidationError(
        `Invalid '${name}' payload: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
        issues,
        { cause: result.error },
      ),
    };
  }

  /** Registered names closest to `name`, for "did you mean" hints. */
  suggest(name: string, max = 3): string[] {
    return nearMatches(name, this.names(), max);
  }
}

/** Candidates within a small edit distance (or sharing a prefix), closest first. */
export function nearMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: Array<[string, number]> = [];
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    const limit = Math.max(2, Math.floor(c.length / 3));
    if (d <= limit || c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase())) scored.push([c, d]);
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return scored.slice(0, max).map(([c]) => c);
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
