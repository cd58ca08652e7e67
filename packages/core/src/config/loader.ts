import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { formatPath, formatZodIssues } from '../validation.js';
import { systemConfigSchema, type SystemConfig } from './schema.js';
import { isSecretPath, registerSecretValues, secretValuesOf } from './secrets.js';

export interface LoadConfigOptions<S extends z.ZodType> {
  schema?: S;
  /** Environment used for `${VAR}` references and `TRADEBUS__A__B` overrides. */
  env?: Record<string, string | undefined>;
  /**
   * Paths (from the root) whose `${VAR}` references are left as written, for the code that knows
   * whether it needs that part to resolve them with `resolveEnvReferences`: a process that does
   * not build a provider must not need (or read) the variables of its credentials.
   */
  deferEnv?: (path: ReadonlyArray<string | number>) => boolean;
}

/**
 * Reads a JSON or YAML config file and validates it.
 *
 * Secrets stay out of the file: a string value `${NAME}` is replaced by the environment variable
 * NAME (`${NAME:-fallback}` when it may be unset), and `TRADEBUS__API__TOKEN=...` sets `api.token` (double underscore between keys; values
 * are parsed as JSON when they look like JSON, else kept as strings).
 */
export function loadConfigFile<S extends z.ZodType = typeof systemConfigSchema>(
  file: string,
  options: LoadConfigOptions<S> = {},
): z.output<S> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the --config path.`, [], { cause: err });
  }
  return parseConfig(text, { ...options, source: path });
}

export function parseConfig<S extends z.ZodType = typeof systemConfigSchema>(
  text: string,
  options: LoadConfigOptions<S> & { source?: string; format?: 'json' | 'yaml' } = {},
): z.output<S> {
  const source = options.source ?? 'config';
  const format = options.format ?? (extname(source).toLowerCase() === '.json' ? 'json' : 'yaml');
  let raw: unknown;
  if (format === 'json') {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${source} is not valid JSON: ${(err as Error).message}`, [], { cause: err });
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      throw new ConfigError(`${source} is not valid YAML: ${first.message}`, [], { cause: first });
    }
    raw = doc.toJS();
  }
  return validateConfig(raw ?? {}, { ...options, source });
}

/** Validates an already-parsed config object (after env substitution and overrides). */
export function validateConfig<S extends z.ZodType = typeof systemConfigSchema>(
  raw: unknown,
  options: LoadConfigOptions<S> & { source?: string } = {},
): z.output<S> {
  const env = options.env ?? process.env;
  const source = options.source ?? 'config';
  const schema = (options.schema ?? systemConfigSchema) as z.ZodType;
  const missing: ConfigIssue[] = [];
  let value = substituteEnv(raw, { env, missing, schema, path: [], rel: [], defer: options.deferEnv });
  if (missing.length > 0) {
    throw new ConfigError(formatMessage(source, missing), missing);
  }
  value = applyOverrides(value, env, schema);
  // Known before validation, so that no message about this config, valid or not, can show them.
  registerSecretValues(secretValuesOf(schema, value));
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const issues = formatZodIssues(result.error.issues, { conceal: (path) => isSecretPath(schema, path) });
    throw new ConfigError(formatMessage(source, issues), issues, { cause: result.error, document: value });
  }
  return result.data as z.output<S>;
}

/** Validates a nested part of the config (an agent's or a provider's settings) and reports paths from the root. */
export function validateSection<S extends z.ZodType>(schema: S, value: unknown, pathPrefix: string, source = 'config'): z.output<S> {
  registerSecretValues(secretValuesOf(schema, value ?? {}));
  const result = schema.safeParse(value ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues, { conceal: (path) => isSecretPath(schema, path) }).map((i) => ({
    ...i,
    path: i.path === '' ? pathPrefix : i.path.startsWith('[') ? `${pathPrefix}${i.path}` : `${pathPrefix}.${i.path}`,
  }));
  throw new ConfigError(formatMessage(source, issues), issues, { cause: result.error });
}

export function formatMessage(source: string, issues: ConfigIssue[]): string {
  const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
  return `Invalid configuration in ${source}:\n${lines.join('\n')}\nFix these keys and try again (see docs/configuration.md).`;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Resolves the `${VAR}` references in one part of a config left unresolved by `deferEnv`.
 * `path` is where the part sits (for messages); `schema`, when given, describes the part, so a
 * secret field stays a string whatever its value looks like. Throws a ConfigError naming every
 * reference to a variable that is not set.
 */
export function resolveEnvReferences(
  value: unknown,
  options: { env?: Record<string, string | undefined>; path?: ReadonlyArray<string | number>; schema?: z.ZodType; source?: string } = {},
): unknown {
  const missing: ConfigIssue[] = [];
  const resolved = substituteEnv(value, { env: options.env ?? process.env, missing, schema: options.schema, path: [...(options.path ?? [])], rel: [] });
  if (missing.length > 0) throw new ConfigError(formatMessage(options.source ?? 'config', missing), missing);
  if (options.schema !== undefined) registerSecretValues(secretValuesOf(options.schema, resolved));
  return resolved;
}

/** True when `value` holds a `${VAR}` reference anywhere. */
export function hasEnvReferences(value: unknown): boolean {
  if (typeof value === 'string') return /\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}/.test(value);
  if (Array.isArray(value)) return value.some(hasEnvReferences);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasEnvReferences);
  return false;
}

interface Substitution {
  env: Record<string, string | undefined>;
  missing: ConfigIssue[];
  /** Describes the value at `rel`; secret fields keep the string a reference resolves to. */
  schema: z.ZodType | undefined;
  /** Path from the config's root, for messages and `defer`. */
  path: Array<string | number>;
  /** Path from where `schema` starts. */
  rel: Array<string | number>;
  defer?: ((path: ReadonlyArray<string | number>) => boolean) | undefined;
}

function substituteEnv(value: unknown, s: Substitution): unknown {
  const { env, path, missing } = s;
  if (s.defer?.(path)) return value;
  if (typeof value === 'string') {
    // A value that is one reference and nothing else takes the type of what it resolves to
    // (`speed: ${SPEED:-600}` is the number 600), as an override does; a secret stays a string.
    const whole = value.match(/^\$\{[^}]+\}$/) !== null;
    const replaced = value.replace(ENV_REF, (ref, name: string, fallback: string | undefined) => {
      const v = env[name] === undefined || env[name] === '' ? fallback : env[name];
      if (v === undefined) {
        missing.push({ path: formatPath(path), message: `refers to environment variable ${name}, which is not set: export it or remove the reference` });
        return ref;
      }
      return v;
    });
    const isSecret = s.schema !== undefined && isSecretPath(s.schema, s.rel);
    return whole && replaced !== value && !isSecret ? parseOverride(replaced) : replaced;
  }
  const child = (key: string | number): Substitution => ({ ...s, path: [...path, key], rel: [...s.rel, key] });
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, child(i)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, child(k));
    return out;
  }
  return value;
}

function applyOverrides(value: unknown, env: Record<string, string | undefined>, schema: z.ZodType): unknown {
  const overrides = Object.entries(env).filter(([k, v]) => k.startsWith('TRADEBUS__') && v !== undefined);
  if (overrides.length === 0) return value;
  const root = (value !== null && typeof value === 'object' ? structuredClone(value) : {}) as Record<string, unknown>;
  for (const [key, raw] of overrides) {
    const parts = key.slice('TRADEBUS__'.length).split('__').map(camel);
    let node: Record<string, unknown> = root;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === null || typeof next !== 'object') node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    // A secret is a string whatever it looks like: a numeric token must not turn into a number.
    node[parts[parts.length - 1]!] = isSecretPath(schema, parts) ? raw! : parseOverride(raw!);
  }
  return root;
}

function camel(part: string): string {
  return part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseOverride(raw: string): unknown {
  if (/^(true|false|null|-?\d+(\.\d+)?|\[.*\]|\{.*\})$/s.test(raw.trim())) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

export type { SystemConfig };
