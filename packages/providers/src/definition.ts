import { z } from 'zod';
import { ConfigError, importConfigModule, nearMatches, type Clock, type ConfigIssue, type Logger, type StateStore } from '@tradebus/core';
import { PROVIDER_KINDS, providerConfigSchemas } from './config.js';
import type { Provider } from './types.js';

/** Everything a provider of a custom kind gets when the launcher (or `createProvider`) builds it. */
export interface ProviderContext<C = unknown> {
  /** The key under `providers:`: the name agents use (`provider: <name>`), and the provider's `id`. */
  name: string;
  /** The entry's settings, validated by the definition's schema (`kind` left out). */
  config: C;
  clock: Clock;
  logger: Logger;
  /** The environment, for credentials that are not in a `credentials` section. */
  env: Record<string, string | undefined>;
  /** Folder of the config file: relative paths in the settings start there. */
  baseDir: string | undefined;
  /** Durable storage of its own (namespace `provider:<name>`), when the system keeps state on disk. */
  store: StateStore | undefined;
  /** Providers built before this one, for a provider that follows another one's prices. */
  providers: ReadonlyMap<string, Provider>;
}

/**
 * How a config file builds a provider of your own: export one from a package (or a module) and
 * name it as the kind, `providers.<name>.kind: '@acme/tradebus-provider-x'`. The entry's other
 * settings are validated by `configSchema` (errors name the key, `providers.<name>.<key>`), and
 * `create` builds the provider from them.
 */
export interface ProviderDefinition<C = unknown> {
  /** What the provider is, shown in messages (`demo-venue`); `Provider.kind` of what `create` returns. */
  kind: string;
  description?: string;
  /**
   * The entry's settings without `kind`. Credentials belong in a `credentials` section written
   * as `${VAR}` references; mark them with `secret()` so they are redacted wherever config is shown.
   */
  configSchema: z.ZodType<C>;
  create(context: ProviderContext<C>): Provider;
}

export function defineProvider<C>(definition: ProviderDefinition<C>): ProviderDefinition<C> {
  return definition;
}

export function isBuiltinProviderKind(kind: string): kind is (typeof PROVIDER_KINDS)[number] {
  return (PROVIDER_KINDS as readonly string[]).includes(kind);
}

function isDefinition(value: unknown): value is ProviderDefinition {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ProviderDefinition).kind === 'string' &&
    typeof (value as ProviderDefinition).create === 'function' &&
    typeof (value as { configSchema?: { safeParse?: unknown } }).configSchema?.safeParse === 'function'
  );
}

/** Definitions loaded so far, by the folder their kind was resolved from and the kind as written. */
const loaded = new Map<string, ProviderDefinition<any>>();
const cacheKey = (baseDir: string | undefined, kind: string): string => `${baseDir ?? ''}\u0000${kind}`;

/**
 * The loaded definition of a custom kind, if `loadProviderKinds` (or `buildProviders`, or the
 * launcher's config check) has loaded it for configs in `baseDir`.
 */
export function loadedProviderDefinition(kind: string, baseDir: string | undefined): ProviderDefinition | undefined {
  return loaded.get(cacheKey(baseDir, kind)) ?? (baseDir === undefined ? undefined : loaded.get(cacheKey(undefined, kind)));
}

/**
 * The schema that validates a `providers.<name>` entry of `kind`, `kind` included: a built-in
 * kind's, or a loaded custom kind's when its schema is an object. For tools that show or redact
 * provider settings.
 */
export function providerConfigSchemaFor(kind: string): z.ZodType | undefined {
  if (isBuiltinProviderKind(kind)) return providerConfigSchemas[kind];
  for (const [key, definition] of loaded) {
    if (!key.endsWith(`\u0000${kind}`)) continue;
    return definition.configSchema instanceof z.ZodObject ? definition.configSchema.extend({ kind: z.string() }) : undefined;
  }
  return undefined;
}

/**
 * Loads the definition a custom provider kind names: a package (resolved from `baseDir` first,
 * the folder of the config file, then from Tradebus itself, as agents' `use:` is) or a path
 * relative to `baseDir`. The module exports `provider` (or a default export) made with
 * `defineProvider`. Problems are ConfigErrors at `path`.
 */
export async function loadProviderDefinition(kind: string, options: { baseDir?: string | undefined; path?: string } = {}): Promise<ProviderDefinition> {
  const cached = loaded.get(cacheKey(options.baseDir, kind));
  if (cached !== undefined) return cached;
  const path = options.path ?? 'providers.<name>.kind';
  const baseDir = options.baseDir ?? process.cwd();
  let mod: Record<string, unknown>;
  try {
    mod = await importConfigModule(kind, baseDir, import.meta.url);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_UNSUPPORTED_DIR_IMPORT';
    const near = nearMatches(kind, PROVIDER_KINDS, 1);
    const message = missing
      ? `unknown provider kind '${kind}': use one of ${PROVIDER_KINDS.join(', ')}, or the name of an installed package (or a path to a module) that exports a provider definition.${near.length > 0 ? ` Did you mean '${near[0]}'?` : ''}`
      : `loading provider kind '${kind}' failed: ${(err as Error).message}`;
    throw new ConfigError(`Invalid configuration:\n  - ${path}: ${message}`, [{ path, message }], { cause: err });
  }
  const definition = mod.provider ?? mod.default;
  if (!isDefinition(definition)) {
    const message = `'${kind}' does not export a provider definition: export \`provider\` (or a default export) made with defineProvider({ kind, configSchema, create }) from @tradebus/providers.`;
    throw new ConfigError(`Invalid configuration:\n  - ${path}: ${message}`, [{ path, message }]);
  }
  loaded.set(cacheKey(options.baseDir, kind), definition);
  return definition;
}

/**
 * Loads the custom kinds of a `providers` section (entries whose kind is not built in), each
 * resolved from `baseDir`. Every entry that cannot be loaded is reported, in one ConfigError.
 */
export async function loadCustomProviderKinds(section: Record<string, unknown>, baseDir: string | undefined): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const [name, raw] of Object.entries(section)) {
    const kind = raw !== null && typeof raw === 'object' ? (raw as { kind?: unknown }).kind : undefined;
    if (typeof kind !== 'string' || kind === '' || isBuiltinProviderKind(kind)) continue;
    try {
      await loadProviderDefinition(kind, { baseDir, path: `providers.${name}.kind` });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(`Invalid configuration:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`, issues);
  }
}
