import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { ConfigError, nearMatches, silentLogger, TradebusError, validateSection, type Clock, type Logger, type StateStore } from '@tradebus/core';
import { credentialEnvNames } from './ccxt/credentials.js';
import type { CcxtExchange } from './ccxt/provider.js';
import { findSecretFields, PROVIDER_KINDS, providerConfigSchemas, type ProviderConfig } from './config.js';
import { isBuiltinProviderKind, loadCustomProviderKinds, loadedProviderDefinition, loadProviderDefinition, type ProviderDefinition } from './definition.js';
import { conversionGaps } from './paper/currencies.js';
import { PaperExchange, type FundingOptions } from './paper/paper-exchange.js';
import { ReplayProvider } from './replay/replay-provider.js';
import { SyntheticProvider } from './synthetic/synthetic-provider.js';
import type { AccountProvider, ExecutionProvider, MarketDataProvider, Provider } from './types.js';

export interface ProviderDeps {
  clock: Clock;
  logger?: Logger;
  /** Environment for credentials; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Path of the config file, so relative data paths resolve next to it. */
  configFile?: string;
  /** Providers created so far, for a paper exchange that follows another provider's prices. */
  providers?: ReadonlyMap<string, Provider>;
  /** A ready ccxt instance per provider name (advanced use and offline tests). */
  ccxtInstances?: Record<string, CcxtExchange>;
  /**
   * Durable storage per provider (e.g. a namespace of the data store's state log): a paper
   * exchange keeps its books there under `venue:<name>` and must be `open()`ed before use.
   * Without it a paper exchange keeps nothing (backtests).
   */
  stateStore?: (namespace: string) => StateStore;
  /**
   * Custom provider kinds by the name a config's `kind` gives them, for code that builds
   * providers from definitions it imported itself (`{ 'demo-venue': demoVenue }`). A kind not
   * listed here is loaded as a package or module by `buildProviders` (see `defineProvider`).
   */
  kinds?: Readonly<Record<string, ProviderDefinition<any>>>;
}

/** A `providers.<name>` entry of a custom kind, validated by its definition's schema. */
export interface CustomProviderConfig {
  kind: string;
  definition: ProviderDefinition<any>;
  /** The settings (`kind` left out) as the definition's schema returned them. */
  settings: unknown;
}

/** What `loadCcxt()` gives: the ccxt provider and its helpers, loaded on first use. */
export type CcxtSupport = typeof import('./ccxt/provider.js') & Pick<typeof import('./ccxt/errors.js'), 'mapCcxtError'>;

// ccxt is a large library: a process loads it only when it builds a ccxt provider.
let ccxtSupport: CcxtSupport | undefined;

/** Loads ccxt and the ccxt provider (once per process) and returns them. */
export async function loadCcxt(): Promise<CcxtSupport> {
  if (ccxtSupport === undefined) {
    const [provider, errors] = await Promise.all([import('./ccxt/provider.js'), import('./ccxt/errors.js')]);
    ccxtSupport = { ...provider, mapCcxtError: errors.mapCcxtError };
  }
  return ccxtSupport;
}

/**
 * Loads the code the given provider kinds need beyond this module: ccxt for `ccxt`, and the
 * definition of each custom kind (a package or module, resolved from `baseDir`, the config
 * file's folder), so that `createProvider` can build them.
 */
export async function loadProviderKinds(kinds: Iterable<string>, options: { baseDir?: string } = {}): Promise<void> {
  for (const kind of new Set(kinds)) {
    if (kind === 'ccxt') await loadCcxt();
    else if (kind !== '' && !isBuiltinProviderKind(kind)) await loadProviderDefinition(kind, { baseDir: options.baseDir, path: `kind '${kind}'` });
  }
}

export class ProviderCodeNotLoadedError extends TradebusError {
  constructor(name: string, kind: string) {
    super(
      'PROVIDER_CODE_NOT_LOADED',
      `Provider '${name}' is of kind '${kind}', whose code is loaded on demand: build it with 'await buildProviders(...)', or call 'await loadProviderKinds(['${kind}'])' before createProvider.`,
      { details: { name, kind } },
    );
  }
}

function issue(path: string, message: string): ConfigError {
  return new ConfigError(`Invalid configuration:\n  - ${path}: ${message}\nFix this key and try again (see docs/providers.md).`, [{ path, message }]);
}

export interface ParseProviderOptions {
  /** Folder of the config file, where custom kinds were resolved from. */
  baseDir?: string | undefined;
  /** Custom kinds given in code (see ProviderDeps.kinds). */
  kinds?: Readonly<Record<string, ProviderDefinition<any>>> | undefined;
}

/**
 * Validates `providers.<name>` against its kind's schema; errors name the offending key. A custom
 * kind must have been loaded first (`buildProviders`, `loadProviderKinds`) or be given in `kinds`.
 */
export function parseProviderConfig(name: string, raw: unknown, options: ParseProviderOptions = {}): ProviderConfig | CustomProviderConfig {
  const path = `providers.${name}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw issue(path, 'expected an object with a kind');
  const kind = (raw as { kind?: unknown }).kind;
  const custom = typeof kind === 'string' && !isBuiltinProviderKind(kind) ? (options.kinds?.[kind] ?? loadedProviderDefinition(kind, options.baseDir)) : undefined;
  if (typeof kind !== 'string' || (!isBuiltinProviderKind(kind) && custom === undefined)) {
    const suggestions = typeof kind === 'string' ? nearMatches(kind, PROVIDER_KINDS) : [];
    const hint = suggestions.length > 0 ? ` Did you mean '${suggestions[0]}'?` : '';
    throw issue(
      `${path}.kind`,
      `unknown provider kind ${JSON.stringify(kind ?? null)}: use one of ${PROVIDER_KINDS.join(', ')}, or the name of a package (or a path to a module) that exports a provider definition (loaded by buildProviders or loadProviderKinds).${hint}`,
    );
  }
  const secrets = findSecretFields(raw);
  if (secrets.length > 0) {
    const exchange = typeof (raw as { exchange?: unknown }).exchange === 'string' ? (raw as { exchange: string }).exchange : name;
    const env = credentialEnvNames(name, exchange);
    throw issue(
      `${path}.${secrets[0]}`,
      `credentials never sit in the config file as plain settings: remove this key and set ${env.apiKey[0]} and ${env.secret[0]} (or ${env.apiKey.at(-1)} / ${env.secret.at(-1)}) in the environment, or name your own variables in a credentials section: credentials: { apiKey: \${MY_KEY}, secret: \${MY_SECRET} }`,
    );
  }
  if (custom !== undefined) {
    const { kind: _kind, ...settings } = raw as Record<string, unknown>;
    return { kind, definition: custom, settings: validateSection(custom.configSchema, settings, path) };
  }
  return validateSection(providerConfigSchemas[kind as keyof typeof providerConfigSchemas] as typeof providerConfigSchemas.ccxt, raw, path) as ProviderConfig;
}

export class ProviderCreateError extends TradebusError {
  constructor(name: string, kind: string, detail: string, cause?: unknown) {
    super('PROVIDER_CREATE_FAILED', `Provider '${name}' (kind '${kind}') could not be built: ${detail}. Check its settings under providers.${name}, or report it to the provider's authors.`, {
      cause,
      details: { name, kind },
    });
  }
}

function createCustomProvider(name: string, config: CustomProviderConfig, deps: ProviderDeps, logger: Logger, baseDir: string | undefined): Provider {
  let provider: Provider;
  try {
    provider = config.definition.create({
      name,
      config: config.settings,
      clock: deps.clock,
      logger,
      env: deps.env ?? process.env,
      baseDir,
      store: deps.stateStore?.(`provider:${name}`),
      providers: deps.providers ?? new Map(),
    });
  } catch (err) {
    if (err instanceof TradebusError) throw err;
    throw new ProviderCreateError(name, config.kind, (err as Error)?.message ?? String(err), err);
  }
  if (provider === null || typeof provider !== 'object' || typeof provider.close !== 'function') {
    throw new ProviderCreateError(name, config.kind, `create() of '${config.definition.kind}' returned no provider (an object with its roles and close())`);
  }
  return provider;
}

/**
 * Builds the provider configured under `providers.<name>`. The config is validated first (errors
 * name the key); a ccxt exchange id or a paper exchange's `marketData` that does not exist is
 * reported with near matches.
 */
export function createProvider(name: string, rawConfig: unknown, deps: ProviderDeps): Provider {
  const baseDir = deps.configFile ? dirname(deps.configFile) : undefined;
  const config = parseProviderConfig(name, rawConfig, { baseDir, kinds: deps.kinds });
  const logger = deps.logger ?? silentLogger();
  if ('definition' in config) return createCustomProvider(name, config, deps, logger.child({ provider: name }), baseDir);
  switch (config.kind) {
    case 'ccxt': {
      if (ccxtSupport === undefined) throw new ProviderCodeNotLoadedError(name, config.kind);
      const instance = deps.ccxtInstances?.[name];
      if (instance === undefined) {
        try {
          ccxtSupport.assertKnownExchange(config.exchange);
        } catch (err) {
          throw issue(`providers.${name}.exchange`, (err as Error).message);
        }
      }
      return new ccxtSupport.CcxtProvider({
        id: name,
        exchange: config.exchange,
        clock: deps.clock,
        logger,
        credentials: config.credentials,
        env: deps.env,
        sandbox: config.sandbox,
        defaultType: config.defaultType,
        timeoutMs: config.timeoutMs,
        websocket: config.websocket,
        pollIntervalMs: config.pollIntervalMs,
        candleCloseGraceMs: config.candleCloseGraceMs,
        checkExistingBeforeCreate: config.checkExistingBeforeCreate,
        orderBookDepth: config.orderBookDepth,
        exchangeOptions: config.options,
        instance,
      });
    }
    case 'replay':
      return new ReplayProvider({
        id: name,
        venue: config.venue,
        clock: deps.clock,
        logger,
        sources: config.sources,
        baseDir: config.baseDir ?? baseDir,
        speed: config.speed,
        maxPauseMs: config.maxPauseMs,
        startAt: config.startAt,
        warmupBars: config.warmupBars,
        endAt: config.endAt,
        store: deps.stateStore?.(`replay:${name}`),
        resume: config.resume,
      });
    case 'synthetic':
      return new SyntheticProvider({
        id: name,
        venue: config.venue,
        clock: deps.clock,
        logger,
        seed: config.seed,
        symbols: config.symbols,
        timeframe: config.timeframe,
        stepsPerBar: config.stepsPerBar,
        start: config.start,
        historyBars: config.historyBars,
        bars: config.bars,
        speed: config.speed,
        maxPauseMs: config.maxPauseMs,
      });
    case 'paper': {
      const paper = new PaperExchange({
        id: name,
        venue: config.venue,
        clock: deps.clock,
        logger,
        quoteCurrency: config.quoteCurrency,
        balances: config.balances,
        fees: config.fees,
        slippage: config.slippage,
        partialFills: config.partialFills,
        marketFillOnCandle: config.marketFillOnCandle,
        spreadBps: config.spreadBps,
        latencyMs: config.latencyMs,
        participation: config.participation,
        intrabar: config.intrabar,
        limitFill: config.limitFill,
        leverage: config.leverage,
        leverageBySymbol: config.leverageBySymbol,
        maintenanceMarginRate: config.maintenanceMarginRate,
        candleTimeframe: config.candleTimeframe,
        symbols: config.symbols,
        accountUpdates: config.accountUpdates,
        funding: config.funding === undefined ? undefined : loadFunding(name, config.funding, baseDir),
        store: deps.stateStore?.(`venue:${name}`),
        history: config.history,
      });
      if (config.marketData !== undefined) linkPaper(name, paper, config, deps.providers ?? new Map());
      return paper;
    }
  }
}

function linkPaper(name: string, paper: PaperExchange, config: Extract<ProviderConfig, { kind: 'paper' }>, providers: ReadonlyMap<string, Provider>): void {
  const sourceName = config.marketData!;
  const source = providers.get(sourceName);
  if (source === undefined) {
    const suggestions = nearMatches(sourceName, providers.keys());
    const known = [...providers.keys()];
    throw issue(
      `providers.${name}.marketData`,
      `no provider named '${sourceName}'.${suggestions.length > 0 ? ` Did you mean '${suggestions[0]}'?` : ''} Known: ${known.join(', ') || 'none'}`,
    );
  }
  if (source.marketData === undefined) throw issue(`providers.${name}.marketData`, `provider '${sourceName}' (${source.kind}) has no market data`);
  if (source.feed !== undefined) {
    refuseUnvaluedCurrencies(name, config, sourceName, source.feed.symbols);
    paper.linkMarketData(source.marketData, source.feed.addListener(paper));
    return;
  }
  if (config.symbols === undefined || config.symbols.length === 0) {
    throw issue(
      `providers.${name}.symbols`,
      `'${sourceName}' is a live provider: list the symbols the paper exchange should follow (or leave marketData out and feed it ticks and candles yourself)`,
    );
  }
  refuseUnvaluedCurrencies(name, config, sourceName, config.symbols);
  const controller = new AbortController();
  paper.linkMarketData(source.marketData, () => controller.abort());
  void paper.attach(source.marketData, config.symbols, controller.signal, config.timeframe).catch((err: unknown) => {
    paper.reportFeedError(err);
  });
}

/** Funding settings with the recorded rates read, checked row by row. */
function loadFunding(name: string, funding: NonNullable<Extract<ProviderConfig, { kind: 'paper' }>['funding']>, baseDir: string | undefined): FundingOptions {
  const out: FundingOptions = { intervalMs: funding.intervalHours * 3_600_000, rate: funding.rate };
  if (funding.file === undefined) return out;
  const path = resolvePath(baseDir ?? process.cwd(), funding.file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw issue(`providers.${name}.funding.file`, `cannot read ${path} (${(err as Error).message}): give the path of a CSV of funding rates, relative to the config file`);
  }
  const [head = '', ...rows] = text.trim().split(/\r?\n/);
  const columns = head.split(',').map((c) => c.trim());
  const timeAt = columns.findIndex((c) => c === 'timestamp' || c === 'fundingTime');
  const rateAt = columns.findIndex((c) => c === 'rate' || c === 'fundingRate');
  if (timeAt < 0 || rateAt < 0) {
    throw issue(`providers.${name}.funding.file`, `${path} needs a header with a timestamp (or fundingTime) column and a rate (or fundingRate) column; it has: ${head}`);
  }
  const series = rows.map((row, i) => {
    const cells = row.split(',');
    const time = Number(cells[timeAt]);
    const rate = Number(cells[rateAt]);
    if (!Number.isFinite(time) || !Number.isFinite(rate)) {
      throw issue(`providers.${name}.funding.file`, `${path} line ${i + 2}: expected a time in ms and a rate, got '${row}'`);
    }
    return { time, rate };
  });
  series.sort((a, b) => a.time - b.time);
  return { ...out, series };
}

/**
 * A paper account in a currency its market data cannot price would report its holdings as worth
 * nothing: refused before anything runs, naming the pair that is missing.
 */
function refuseUnvaluedCurrencies(name: string, config: Extract<ProviderConfig, { kind: 'paper' }>, sourceName: string, symbols: readonly string[] | undefined): void {
  if (symbols === undefined || symbols.length === 0) return;
  const gaps = conversionGaps(config.quoteCurrency, symbols, Object.keys(config.balances));
  if (gaps.length === 0) return;
  const pairs = gaps.map((g) => g.pair).join(', ');
  throw issue(
    `providers.${name}.quoteCurrency`,
    `the account is kept in ${config.quoteCurrency}, but no market of '${sourceName}' converts ${gaps.map((g) => g.asset).join(', ')} into it: add ${pairs} (or a pair through one other currency) to the market data, or set quoteCurrency to the currency the markets are quoted in`,
  );
}

/**
 * Builds every provider of a `providers` config section, loading the code their kinds need first
 * (ccxt only when a ccxt provider is among them). Pass only the providers this process uses: one
 * that is not built never reads its credentials.
 */
export async function buildProviders(section: Record<string, unknown>, deps: ProviderDeps): Promise<Map<string, Provider>> {
  const kindOf = (raw: unknown): string => (raw !== null && typeof raw === 'object' ? String((raw as { kind?: unknown }).kind) : '');
  await loadProviderKinds(Object.values(section).map(kindOf).filter((kind) => kind === 'ccxt'));
  // Custom kinds given in code need no loading; the others are packages or modules next to the config.
  const toLoad = Object.fromEntries(Object.entries(section).filter(([, raw]) => deps.kinds?.[kindOf(raw)] === undefined));
  await loadCustomProviderKinds(toLoad, deps.configFile ? dirname(deps.configFile) : undefined);
  return createProviders(section, deps);
}

/**
 * The providers that the named ones need, in the order of `section`: each named one, and the
 * provider a paper exchange follows (`marketData`), transitively.
 */
export function providerClosure(section: Record<string, unknown>, names: Iterable<string>): string[] {
  const needed = new Set<string>();
  const add = (name: string): void => {
    if (needed.has(name) || !Object.hasOwn(section, name)) return;
    needed.add(name);
    const raw = section[name] as { kind?: unknown; marketData?: unknown } | null;
    if (raw !== null && typeof raw === 'object' && raw.kind === 'paper' && typeof raw.marketData === 'string') add(raw.marketData);
  };
  for (const name of names) add(name);
  return Object.keys(section).filter((name) => needed.has(name));
}

/**
 * Builds every provider of a `providers` config section: data providers first, then paper
 * exchanges (which may follow one of them). Provider names are the keys of the section. A ccxt
 * provider needs its code loaded first (`loadProviderKinds`); `buildProviders` does both.
 */
export function createProviders(section: Record<string, unknown>, deps: ProviderDeps): Map<string, Provider> {
  const created = new Map<string, Provider>(deps.providers ?? []);
  const entries = Object.entries(section);
  const isPaper = (raw: unknown): boolean => raw !== null && typeof raw === 'object' && (raw as { kind?: unknown }).kind === 'paper';
  for (const [name, raw] of [...entries.filter(([, r]) => !isPaper(r)), ...entries.filter(([, r]) => isPaper(r))]) {
    created.set(name, createProvider(name, raw, { ...deps, providers: created }));
  }
  return created;
}

/** The service name a provider is registered under in the system's service registry. */
export function providerServiceName(name: string): string {
  return `provider:${name}`;
}

/** Registers providers so agents find them with `getProvider(services, name)`. */
export function registerProviders(registry: { register(name: string, value: unknown): unknown }, providers: ReadonlyMap<string, Provider>): void {
  for (const [name, provider] of providers) registry.register(providerServiceName(name), provider);
}

export class ProviderRoleError extends TradebusError {
  constructor(name: string, kind: string, role: string) {
    super('PROVIDER_ROLE_MISSING', `Provider '${name}' (${kind}) cannot serve as ${role}. Point this agent at a provider that can (see docs/providers.md).`, {
      details: { name, kind, role },
    });
  }
}

/** The provider registered under `name` (see `registerProviders`); the error lists what is registered. */
export function getProvider(services: { get<T>(name: string): T }, name: string): Provider {
  return services.get<Provider>(providerServiceName(name));
}

export function requireMarketData(provider: Provider): MarketDataProvider {
  if (provider.marketData === undefined) throw new ProviderRoleError(provider.id, provider.kind, 'market data');
  return provider.marketData;
}

export function requireExecution(provider: Provider): ExecutionProvider {
  if (provider.execution === undefined) throw new ProviderRoleError(provider.id, provider.kind, 'execution');
  return provider.execution;
}

export function requireAccount(provider: Provider): AccountProvider {
  if (provider.account === undefined) throw new ProviderRoleError(provider.id, provider.kind, 'account');
  return provider.account;
}
