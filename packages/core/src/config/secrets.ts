import { z } from 'zod';

/**
 * Secrets are marked where they are declared, in the schema, rather than guessed from key names:
 * `pass: secret(z.string()).optional()`. Everything that shows or logs a config (the REST API's
 * `/config`, logs, error messages) asks the schema which fields are secret. Independently of any
 * mark, the user-info part of every URL (`nats://user:pass@host`) is redacted wherever it appears.
 *
 * Secret values found while a config is loaded are also remembered for the life of the process,
 * so that a secret a library repeats in a message of its own (a connection error, say) is
 * scrubbed from log lines and error messages too.
 */

export const REDACTED = '[REDACTED]';

export interface SecretMeta {
  secret?: boolean;
}

/** Marks a config field (or a whole section) as secret: never shown, logged or echoed in an error. */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ secret: true }) as T;
}

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  options?: readonly AnySchema[];
  left?: AnySchema;
  right?: AnySchema;
  shape?: Record<string, AnySchema>;
  catchall?: AnySchema;
  element?: AnySchema;
  valueType?: AnySchema;
  items?: readonly AnySchema[];
  rest?: AnySchema | null;
  getter?: () => AnySchema;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional', 'success']);

function defOf(schema: AnySchema): Def {
  return schema._zod.def as unknown as Def;
}

function marked(schema: AnySchema): boolean {
  return (z.globalRegistry.get(schema) as SecretMeta | undefined)?.secret === true;
}

/**
 * The schemas a value at this node may have to satisfy, with wrappers, pipes and unions looked
 * through (every union option counts: a field secret in any of them is treated as secret), and
 * whether any schema on the way is marked secret.
 */
function expand(schemas: readonly AnySchema[]): { nodes: AnySchema[]; secret: boolean } {
  const nodes: AnySchema[] = [];
  let isSecret = false;
  const seen = new Set<AnySchema>();
  const visit = (s: AnySchema): void => {
    if (seen.has(s)) return;
    seen.add(s);
    if (marked(s)) isSecret = true;
    const def = defOf(s);
    if (WRAPPERS.has(def.type) && def.innerType) visit(def.innerType);
    else if (def.type === 'pipe') {
      if (def.in) visit(def.in);
      if (def.out) visit(def.out);
    } else if (def.type === 'union') for (const o of def.options ?? []) visit(o);
    else if (def.type === 'intersection') {
      if (def.left) visit(def.left);
      if (def.right) visit(def.right);
    } else if (def.type === 'lazy' && def.getter) visit(def.getter());
    else nodes.push(s);
  };
  for (const s of schemas) visit(s);
  return { nodes, secret: isSecret };
}

/** Schemas of the child `key` (an object key or an array index) of a node. */
function children(nodes: readonly AnySchema[], key: string | number): AnySchema[] {
  const out: AnySchema[] = [];
  for (const s of nodes) {
    const def = defOf(s);
    if (def.type === 'object') {
      const child = typeof key === 'string' ? def.shape?.[key] : undefined;
      if (child) out.push(child);
      else if (def.catchall) out.push(def.catchall);
    } else if (def.type === 'record' && def.valueType) out.push(def.valueType);
    else if (def.type === 'array' && def.element) out.push(def.element);
    else if (def.type === 'tuple') {
      const item = typeof key === 'number' ? def.items?.[key] : undefined;
      if (item) out.push(item);
      else if (def.rest) out.push(def.rest);
    }
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Walks `value` beside `schema` and rebuilds it, passing every leaf to `leaf` with whether the
 * schema marks it (or a section around it) secret. A secret section is passed whole.
 */
function mapLeaves(schemas: readonly AnySchema[], value: unknown, leaf: (value: unknown, secret: boolean) => unknown): unknown {
  const { nodes, secret: isSecret } = expand(schemas);
  if (isSecret) return leaf(value, true);
  if (Array.isArray(value)) return value.map((v, i) => mapLeaves(children(nodes, i), v, leaf));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mapLeaves(children(nodes, k), v, leaf);
    return out;
  }
  return leaf(value, false);
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/**
 * A copy of `value` (a config, or part of one, described by `schema`) fit to show: fields the
 * schema marks secret become `[REDACTED]`, and every string loses URL user-info and any secret
 * value this process knows. Parts the schema does not describe get the string scrubbing only.
 */
export function redactConfig<T>(schema: z.ZodType, value: T): T {
  return mapLeaves([schema], value, (v, isSecret) => {
    if (isSecret) return present(v) ? REDACTED : v;
    return typeof v === 'string' ? scrubSecrets(v) : v;
  }) as T;
}

/**
 * The secret values in `value`: those of fields `schema` marks secret, and the credentials of URL
 * user-info in any string. Works on a raw (not yet validated) config too.
 */
export function secretValuesOf(schema: z.ZodType, value: unknown): string[] {
  const found: string[] = [];
  const collect = (v: unknown, isSecret: boolean): unknown => {
    if (isSecret) {
      if (typeof v === 'string' || typeof v === 'number') found.push(String(v));
      else if (v !== null && typeof v === 'object') mapLeaves([], v, (inner) => collect(inner, true));
    } else if (typeof v === 'string') {
      for (const match of v.matchAll(URL_USERINFO)) found.push(...credentialsOf(match[2]!));
    }
    return v;
  };
  mapLeaves([schema], value, collect);
  return found;
}

/** True when the field at `path` (or a section around it) is marked secret in `schema`. */
export function isSecretPath(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): boolean {
  let current: AnySchema[] = [schema];
  for (const key of path) {
    const { nodes, secret: isSecret } = expand(current);
    if (isSecret) return true;
    current = children(nodes, typeof key === 'number' ? key : String(key));
    if (current.length === 0) return false;
  }
  return expand(current).secret;
}

/** Finds `scheme://user-info@` (user-info without '/', whitespace or quotes) in free text. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"'<>\\]+)@/gi;

/** The password part of `user:password` user-info, or the whole of a token-only user-info. */
function credentialsOf(userinfo: string): string[] {
  const decoded = safeDecode(userinfo);
  const colon = decoded.indexOf(':');
  const value = colon >= 0 ? decoded.slice(colon + 1) : decoded;
  const raw = colon >= 0 ? userinfo.slice(userinfo.indexOf(':') + 1) : userinfo;
  return [...new Set([value, raw])].filter((v) => v.length > 0);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Values shorter than this are not scrubbed from free text by value: they would match ordinary
 * words and numbers. Marked fields and URL user-info are redacted whatever their length.
 */
export const MIN_SCRUBBED_SECRET_LENGTH = 6;

const known = new Set<string>();
let knownPattern: RegExp | undefined;

/** Remembers secret values for the life of the process, to scrub them from logs and error messages. */
export function registerSecretValues(values: Iterable<unknown>): void {
  let added = false;
  for (const v of values) {
    if (typeof v !== 'string' || v.length < MIN_SCRUBBED_SECRET_LENGTH) continue;
    // Also the form the value takes inside a JSON string (a log line), when that differs.
    for (const form of new Set([v, JSON.stringify(v).slice(1, -1)])) {
      if (!known.has(form)) {
        known.add(form);
        added = true;
      }
    }
  }
  if (!added) return;
  // Longest first, so a secret that contains another one is replaced whole.
  const alternatives = [...known].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  knownPattern = new RegExp(alternatives.join('|'), 'g');
}

/** `text` without URL user-info and without any secret value registered in this process. */
export function scrubSecrets(text: string): string {
  let out = text.includes('@') ? text.replace(URL_USERINFO, `$1${REDACTED}@`) : text;
  if (knownPattern !== undefined) {
    knownPattern.lastIndex = 0;
    if (knownPattern.test(out)) out = out.replace(knownPattern, REDACTED);
  }
  return out;
}

/** True when `text` holds URL user-info or a registered secret value. */
export function hasSecrets(text: string): boolean {
  if (text.includes('@')) {
    URL_USERINFO.lastIndex = 0;
    if (URL_USERINFO.test(text)) return true;
  }
  if (knownPattern === undefined) return false;
  knownPattern.lastIndex = 0;
  return knownPattern.test(text);
}
