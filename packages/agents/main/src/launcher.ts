import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import {
  ConfigError,
  TradebusError,
  errorMessage,
  DATA_STORE_SERVICE,
  LocalTransport,
  NatsTransport,
  openDataStore,
  type DataStore,
  VirtualClock,
  WallClock,
  createLogger,
  createSystem,
  validateSection,
  type Clock,
  type Logger,
  EventCatalogue,
  builtinEvents,
  type SystemConfig,
  type Transport,
  type TradebusSystem,
} from '@tradebus/core';
import { buildProviders, registerProviders, type Provider, type ProviderDeps } from '@tradebus/providers';
import { createApiApp } from './api/app.js';
import { redactConfigChanges } from './api/redact.js';
import { HttpError } from './api/errors.js';
import { ConfigOverridesStore, applyOverrides } from './config-overrides.js';
import { coldSettingKey as coldKey, formatSettingPath as formatPath, hotSettingsOf, mergeSettings as deepMerge } from '@tradebus/core';
import { HistoryRecorder, dataSourceOf } from './recorder.js';
import { holdUntilIdle, quiescentProviders } from './pacing.js';
import { SystemMetrics } from './api/metrics.js';
import type { configPatchSchema } from './api/schemas.js';
import type { z } from 'zod';
import type { PreparedAgent, PreparedSystem } from './prepare.js';

export const VERSION = '0.1.0';

export interface LaunchOptions {
  logger?: Logger;
  clock?: Clock;
  /** Serve the REST API (default: `api.enabled` of the config). */
  api?: boolean;
  /** Overrides `api.port` (0 picks a free port). */
  apiPort?: number;
  env?: Record<string, string | undefined>;
  /** Builds the transport; defaults to what the config says. */
  transport?: Transport;
  /** A folder under `data.dir` for this process (one agent per process keeps its own files). */
  dataSubdir?: string;
  /** Use this data store instead of opening `data.dir` (tests, backtests). */
  dataStore?: DataStore;
  /** Start simulated markets (replay, synthetic) once the agents run; false leaves it to `startMarkets()` (default true). */
  startMarkets?: boolean;
  /** Extra provider dependencies, e.g. ccxt exchange instances pointed at a test server. */
  providerDeps?: Pick<ProviderDeps, 'ccxtInstances'>;
  /** Named services beside the providers (e.g. for tests). */
  services?: Record<string, unknown>;
  /**
   * Journal bus events and record trading history (orders, trades, positions, accounts) in this
   * process's data store, and report dead letters. One process per system does it: by default a
   * process on the local bus, or the one that serves the API (docs/nats.md).
   */
  record?: boolean;
}

export interface RunningSystem {
  system: TradebusSystem;
  config: SystemConfig;
  /** Base URL of the REST API, when it is served. */
  apiUrl: string | undefined;
  /** Starts the simulated markets, when `startMarkets: false` held them; does nothing the second time. */
  startMarkets(): void;
  /** Where the API token was written when none was configured. */
  tokenFile: string | undefined;
  stop(deadlineMs?: number): Promise<{ timedOut: string[] }>;
}

/** Resolves the API token: environment first, then config, else a generated one kept in the data dir. */
export function resolveApiToken(config: SystemConfig, dataDir: string, env: Record<string, string | undefined>): { token: string; file: string | undefined } {
  const fromEnv = env.TRADEBUS_API_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < 16) throw new ConfigError('TRADEBUS_API_TOKEN is too short: use at least 16 characters.', [{ path: 'TRADEBUS_API_TOKEN', message: 'use at least 16 characters' }]);
    return { token: fromEnv, file: undefined };
  }
  if (config.api.token !== undefined) return { token: config.api.token, file: undefined };
  const file = join(dataDir, 'api-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), file };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
}

/**
 * Builds and starts a whole system from a prepared config: transport, providers, agents under the
 * supervisor, the health monitor and the REST API.
 */
export async function launchSystem(prepared: PreparedSystem, options: LaunchOptions = {}): Promise<RunningSystem> {
  const config = prepared.config;
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger({ level: config.log.level, name: config.system.name });
  const clock = options.clock ?? (config.system.clock === 'market' ? new VirtualClock(0) : new WallClock());
  const catalogue = new EventCatalogue(builtinEvents, ...prepared.agents.flatMap((a) => (a.definition.events ? [a.definition.events] : [])));
  const serveApi = options.api ?? config.api.enabled;
  const record = options.record ?? (config.transport.kind === 'local' || serveApi);
  const transport = options.transport ?? createTransport(config, catalogue, logger, record);
  const dataDir = resolve(prepared.baseDir, config.data.dir, options.dataSubdir ?? '.');
  let alertSink: TradebusSystem['bus'] | undefined;
  const data =
    options.dataStore ??
    (await openDataStore({
      ...config.data,
      dir: dataDir,
      logger,
      // A store that stops accepting writes must be loud: the alert reaches the dashboard and metrics.
      onFailure: (err) => {
        logger.fatal({ err }, 'data store stopped accepting writes');
        alertSink?.publish('system.alert', { level: 'critical', code: err.code, message: err.message, timestamp: clock.now() });
      },
    }));
  const ownsData = options.dataStore === undefined;
  // Settings changed while running (PATCH /config) are kept here and applied again before any agent starts.
  const overrides = new ConfigOverridesStore(dataDir);
  let agents: PreparedAgent[];
  let shownConfig: SystemConfig;
  try {
    ({ agents, config: shownConfig } = applyOverrides(prepared, await overrides.load(), logger));
  } catch (err) {
    if (ownsData) await data.close();
    throw err;
  }
  // Subscriptions below need a connected transport (NATS refuses them before).
  try {
    await transport.connect();
  } catch (err) {
    await transport.close().catch(() => undefined);
    if (ownsData) await data.close();
    throw err;
  }

  let system: TradebusSystem;
  let providers: Map<string, Provider>;
  try {
    // Only the providers this process's agents use: another venue's keys are never read here.
    const used = prepared.providers ?? Object.keys(config.providers);
    const section = Object.fromEntries(Object.entries(config.providers).filter(([name]) => used.includes(name)));
    providers = await buildProviders(resolveProviderPaths(section, prepared.baseDir), {
      ...options.providerDeps,
      clock,
      logger: logger.child({ component: 'providers' }),
      env,
      configFile: prepared.source,
      // A paper venue keeps its books beside the agents' state, in the same group commit.
      stateStore: (namespace) => data.stateLog.namespace(namespace),
    });
    system = createSystem({
      catalogue,
      transport,
      clock,
      logger,
      heartbeatIntervalMs: config.system.heartbeatIntervalMs,
      missedHeartbeats: config.system.missedHeartbeats,
      stateStore: data.stateStore,
      services: { ...options.services, [DATA_STORE_SERVICE]: data },
      // In a multi-process system only the process that serves the API watches health and
      // raises agent-down alerts, so each outage is reported once.
      monitorHealth: options.api ?? config.api.enabled,
    });
    registerProviders(system.services, providers);
    alertSink = system.bus;
    // On market time the clock starts where the data does, before any agent sets a timer on it.
    if (clock instanceof VirtualClock) {
      for (const provider of providers.values()) await (provider as { load?: () => Promise<void> }).load?.();
    }
    // Venues with books of their own read them before any agent can trade.
    for (const provider of providers.values()) await (provider as { open?: () => Promise<void> }).open?.();
  } catch (err) {
    await transport.close().catch(() => undefined);
    if (ownsData) await data.close();
    throw err;
  }
  for (const agent of agents) {
    system.addAgent(
      {
        id: agent.entry.id,
        definition: agent.definition,
        config: agent.config,
        // Dependencies on agents in other processes are met by those processes.
        dependsOn: agent.entry.dependsOn.filter((d) => prepared.agents.some((a) => a.entry.id === d)),
        restart: agent.entry.restart,
      },
      `${agent.path}.config`,
    );
  }

  let currentConfig = shownConfig;
  const metrics = new SystemMetrics(system, { perf: config.api.perf });
  let server: Server | undefined;
  let apiUrl: string | undefined;
  let tokenFile: string | undefined;
  const startedAt = Date.now();

  // Durable consumers named after the data directory: history missed while this process is down
  // is recorded when it returns, and two recording processes with their own stores both get everything.
  const store = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const recorder = record ? new HistoryRecorder(data, system.createBus('recorder', undefined, { consumer: `history-${store}` }), logger.child({ component: 'recorder' }), {
        // In one process the history is written behind the agents; across processes a delivery is acknowledged once it is on disk.
        ackWhenDurable: config.transport.kind !== 'local',
      }) : undefined;
  const journal =
    record && config.data.journal.enabled
      ? data.journal.attach(system.createBus('journal', undefined, { consumer: `journal-${store}` }), { types: config.data.journal.types, exclude: config.data.journal.exclude })
      : undefined;

  // Only the API serves /metrics: elsewhere counting every event on the bus would be wasted work.
  if (serveApi) metrics.start();
  recorder?.start();
  const gates: Array<{ release(): void }> = [];
  let marketsStarted = false;
  // The replay holds while a venue's fills wait for their write or the disk falls behind the writers.
  const settling = [...quiescentProviders(providers.values()), { isIdle: () => data.backlogBytes() < BACKLOG_LIMIT_BYTES, whenIdle: () => data.flush() }];
  const startMarkets = (): void => {
    if (marketsStarted) return;
    marketsStarted = true;
    // Simulated markets (replay, synthetic) play once every agent is listening.
    for (const provider of providers.values()) {
      const market = provider as Partial<SimulatedMarket>;
      if ((provider.kind === 'replay' || provider.kind === 'synthetic') && typeof market.start === 'function') {
        // The replay waits after each moment until the agents are idle: however fast it plays,
        // it never outruns them, so nothing queues up without bound.
        if (provider.feed !== undefined && typeof market.pause === 'function') gates.push(holdUntilIdle(provider, system, settling));
        market.start().then(
          (summary) => logger.info({ provider: provider.id, ...summaryOf(summary) }, 'market data replay finished'),
          (err: unknown) => logger.error({ err, provider: provider.id }, 'market data replay failed'),
        );
      }
    }
  };
  const closeProviders = async (): Promise<void> => {
    for (const gate of gates.splice(0)) gate.release();
    for (const provider of providers.values()) {
      (provider as Partial<SimulatedMarket>).stop?.();
      await provider.close().catch((err: unknown) => logger.warn({ err, provider: provider.id }, 'provider did not close cleanly'));
    }
  };
  try {
    await system.start();
    if (options.startMarkets !== false) startMarkets();
    if (serveApi) {
      const { token, file } = resolveApiToken(config, dataDir, env);
      tokenFile = file;
      const schemas = { agents: new Map(prepared.agents.map((a) => [a.entry.id, a.definition.configSchema])) };
      const app = createApiApp({
        system,
        config: () => currentConfig,
        schemas,
        hotSettings: Object.fromEntries(agents.map((a) => [a.entry.id, hotSettingsOf(a.definition)])),
        patchConfig: async (patch) => {
          const { applied, next } = await applyConfigPatch(system, agents, currentConfig, patch, overrides);
          currentConfig = next;
          logger.info({ changes: redactConfigChanges(applied, schemas), by: 'api' }, 'config changed while running');
          // The event is journalled and seen by every process: an agent's secret setting stays out of it.
          system.bus.publish('config.changed', { changes: redactConfigChanges(applied, schemas), by: 'api', timestamp: clock.now() });
          return applied;
        },
        data: dataSourceOf(data),
        metrics,
        token,
        logger: logger.child({ component: 'api' }),
        bodyLimit: config.api.bodyLimit,
        cors: config.api.cors,
        startedAt,
        version: VERSION,
      });
      server = await listen(app, config.api.host, options.apiPort ?? config.api.port);
      const address = server.address() as AddressInfo;
      apiUrl = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      logger.info({ url: apiUrl }, 'REST API listening');
    }
  } catch (err) {
    await system.stop(config.system.shutdownDeadlineMs).catch(() => undefined);
    await closeProviders();
    recorder?.stop();
    journal?.unsubscribe();
    if (ownsData) await data.close();
    throw err;
  }

  return {
    system,
    config,
    apiUrl,
    tokenFile,
    startMarkets,
    async stop(deadlineMs = config.system.shutdownDeadlineMs) {
      metrics.stop();
      if (server !== undefined) await new Promise<void>((r) => server!.close(() => r()));
      server?.closeAllConnections();
      const result = await system.stop(deadlineMs);
      await closeProviders();
      recorder?.stop();
      journal?.unsubscribe();
      if (ownsData) await data.close();
      return result;
    },
  };
}

/** Bytes the data store may have waiting for the disk before a replay holds for it. */
const BACKLOG_LIMIT_BYTES = 4 * 1024 * 1024;

/** What the launcher needs of a replay or synthetic provider: start and stop playing. */
interface SimulatedMarket {
  start(): Promise<unknown>;
  stop(): void;
  pause(): void;
}

function summaryOf(summary: unknown): Record<string, unknown> {
  return summary !== null && typeof summary === 'object' ? { ...(summary as Record<string, unknown>), gaps: undefined } : {};
}

function createTransport(config: SystemConfig, catalogue: EventCatalogue, logger: Logger, record: boolean): Transport {
  if (config.transport.kind === 'local') return new LocalTransport();
  return NatsTransport.fromConfig({ ...config.transport, reportDeadLetters: config.transport.reportDeadLetters ?? record }, catalogue, logger);
}

/** File paths in provider settings are relative to the config file, like every path in it. */
function resolveProviderPaths(section: Record<string, unknown>, baseDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(section)) {
    const entry = raw as Record<string, unknown>;
    out[name] = entry.kind === 'replay' && entry.baseDir === undefined ? { ...entry, baseDir } : entry;
  }
  return out;
}

async function applyConfigPatch(
  system: TradebusSystem,
  agents: PreparedAgent[],
  current: SystemConfig,
  patch: z.output<typeof configPatchSchema>,
  overrides: ConfigOverridesStore,
): Promise<{ applied: Record<string, unknown>; next: SystemConfig }> {
  const applied: Record<string, unknown> = {};
  const next: SystemConfig = structuredClone(current);
  // Validate every change before applying any, so a patch is all or nothing.
  const plans: Array<{ id: string; config: unknown; previous: unknown; change: Record<string, unknown> }> = [];
  for (const [id, change] of Object.entries(patch.agents ?? {})) {
    const prep = agents.find((a) => a.entry.id === id);
    if (prep === undefined || !system.supervisor.has(id)) {
      throw new ConfigError(`agents.${id}: no agent with that id runs in this process.`, [{ path: `agents.${id}`, message: 'unknown agent' }]);
    }
    const agent = system.supervisor.get(id);
    const hot = hotSettingsOf(prep.definition);
    if (!agent.reconfigurable) {
      throw new ConfigError(`agents.${id}: this agent (${agent.kind}) does not apply changes while running; edit the config file and restart it.`, [
        { path: `agents.${id}`, message: 'not hot-reloadable' },
      ]);
    }
    const index = next.agents.findIndex((a) => a.id === id);
    // Nested settings merge key by key: { limits: { maxOpenPositions: 1 } } keeps the other limits.
    const before = next.agents[index]?.config ?? {};
    const merged = deepMerge(before, change.config);
    const validated = validateSection(prep.definition.configSchema, merged, `agents.${id}.config`);
    const previous = validateSection(prep.definition.configSchema, before, `agents.${id}.config`);
    // An agent that declares its live settings gets only those; one that declares none decides alone.
    const cold = hot.length > 0 ? coldKey(change.config, previous, validated, hot) : undefined;
    if (cold !== undefined) {
      const key = `agents.${id}.config.${formatPath(cold)}`;
      throw new HttpError(400, 'SETTING_NOT_LIVE', `${key} cannot change while the agent runs: restart the agent to change it (edit the config file). Live settings of '${id}': ${hot.join(', ')} (GET /config/hot).`, [
        { path: key, message: 'not a live setting: restart the agent to change it' },
      ]);
    }
    plans.push({ id, config: validated, previous, change: change.config });
    if (index >= 0) next.agents[index] = { ...next.agents[index]!, config: merged };
    applied[`agents.${id}.config`] = change.config;
  }
  const done: typeof plans = [];
  try {
    for (const plan of plans) {
      await system.supervisor.get(plan.id).reconfigure(plan.config);
      done.push(plan);
    }
  } catch (err) {
    // One agent refused: the others go back to what they had, so the patch stays all or nothing.
    for (const { id, previous } of done.reverse()) await system.supervisor.get(id).reconfigure(previous).catch(() => undefined);
    throw err;
  }
  if (plans.length > 0) {
    try {
      await overrides.record(Object.fromEntries(plans.map((p) => [p.id, p.change])));
    } catch (err) {
      // Applied but not kept: say so, rather than let a restart silently undo it.
      throw new TradebusError(
        'CONFIG_NOT_SAVED',
        `The change is applied to the running agents but could not be saved to ${overrides.path} (${errorMessage(err)}): it will not survive a restart. Fix the data directory and send it again, or put it in the config file.`,
        { cause: err },
      );
    }
  }
  if (patch.log !== undefined) {
    system.setLogLevel(patch.log.level);
    next.log = { ...next.log, level: patch.log.level };
    applied['log.level'] = patch.log.level;
  }
  return { applied, next };
}

function listen(app: ReturnType<typeof createApiApp>, host: string, port: number): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolvePromise(server));
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`api.port ${port} on ${host} is in use: stop the other process or choose another port (api.port, or TRADEBUS__API__PORT).`, [{ path: 'api.port', message: 'in use' }])
          : err,
      );
    });
  });
}
