import { hostname } from 'node:os';
import type { DependencyContainer } from 'tsyringe';
import type { Logger } from 'pino';
import type { AgentDefinition, BaseAgent } from './agent/base-agent.js';
import { HealthMonitor, overallHealth, type AgentHealth, type AgentHealthStatus, type SystemHealth } from './agent/health-monitor.js';
import type { AgentState } from './agent/state.js';
import { MemoryStateStore, type StateStore } from './agent/store.js';
import { Supervisor, type RestartPolicy } from './agent/supervisor.js';
import { EventBus } from './bus/event-bus.js';
import { LocalTransport } from './bus/local-transport.js';
import type { Transport } from './bus/transport.js';
import { WallClock, type Clock } from './clock.js';
import { validateSection } from './config/loader.js';
import { ContainerServiceRegistry, TOKENS, createContainer } from './di.js';
import { ConfigError, TradebusError, type ConfigIssue } from './errors.js';
import { builtinEvents, type BuiltinEvents } from './events/builtin.js';
import { EventCatalogue, nearMatches, type EventSchemas } from './events/catalogue.js';
import { libraryLogger } from './logger.js';
import { formatPath } from './validation.js';

export interface SystemAgentSpec {
  id: string;
  definition: AgentDefinition<any, any>;
  /** Validated against the definition's config schema. */
  config?: unknown;
  dependsOn?: string[];
  restart?: Partial<RestartPolicy>;
}

export interface CreateSystemOptions {
  agents?: SystemAgentSpec[];
  /** Custom event sets (from `defineEvents`) beside the built-in catalogue. */
  events?: EventSchemas[];
  /** A catalogue to share with a transport built beforehand; `events` are registered into it. */
  catalogue?: EventCatalogue;
  transport?: Transport;
  clock?: Clock;
  /**
   * Root logger; agents get children of it. Default: JSON lines on stderr at TRADEBUS_LOG_LEVEL,
   * `warn` when unset (see `libraryLogger`). Pass `silentLogger()` for none.
   */
  logger?: Logger;
  heartbeatIntervalMs?: number;
  missedHeartbeats?: number;
  /** Where each agent keeps its state; in memory unless the data layer provides a store. */
  stateStore?: (agentId: string) => StateStore;
  /** Named services agents look up through `services.get(name)`. */
  services?: Record<string, unknown>;
  /** Validate payloads on publish in every agent's bus (useful in tests; costs time on the hot path). */
  validateOnPublish?: boolean;
  /**
   * Run the HealthMonitor in this process (default true): `health` then shows every agent on the
   * bus, from heartbeats. A process that runs one agent of a distributed system turns it off (one
   * observer per system is enough, and every monitor would raise its own alerts); `health` then
   * shows this process's own agents, read from them directly.
   */
  monitorHealth?: boolean;
}

/** What a system tells of its agents' health (`system.health`). */
export interface HealthView {
  snapshot(): SystemHealth;
  agent(agentId: string): AgentHealth | undefined;
}

/**
 * Agents that cannot start because of their settings (a provider name that names nothing, an
 * unknown symbol, a missing role...). The same start would fail again, so they are not restarted:
 * `system.start()` stops the system and rejects with this error, one issue per agent, each naming
 * the key to fix when the settings hold the bad value.
 */
export class AgentStartError extends ConfigError {
  /** Ids of the agents that could not start. */
  readonly agents: string[];
  constructor(failures: Array<{ agentId: string; issue: ConfigIssue; cause: unknown }>) {
    const lines = failures.map((f) => `${f.issue.path}: ${f.issue.message}`);
    const message =
      failures.length === 1
        ? `Agent '${failures[0]!.agentId}' cannot start: ${lines[0]}`
        : `${failures.length} agents cannot start:\n${lines.map((l) => `  - ${l}`).join('\n')}`;
    super(message, failures.map((f) => f.issue), { cause: failures[0]?.cause });
    this.agents = failures.map((f) => f.agentId);
  }
}

/**
 * Error codes that mean an agent's start failed on its settings or its wiring, not on something
 * that may pass: restarting would fail the same way.
 */
const CONFIGURATION_CODES = new Set([
  'CONFIG_INVALID',
  'SERVICE_UNKNOWN',
  'EVENT_UNKNOWN',
  'PROVIDER_ROLE_MISSING',
  'PROVIDER_BAD_SYMBOL',
  'PROVIDER_TIMEFRAME_UNAVAILABLE',
  'PROVIDER_NOT_SUPPORTED',
  'PROVIDER_AUTH',
  'PROVIDER_CODE_NOT_LOADED',
]);

/** The configuration error behind `err` (itself or one of its causes), if there is one. */
export function configurationErrorOf(err: unknown): TradebusError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof TradebusError && CONFIGURATION_CODES.has(current.code)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

// Read once: the local health view reports it for every agent.
const HOST = hostname();

/**
 * A whole Tradebus system in one object: catalogue, transport, clock, DI container, supervisor
 * and health monitor, with agents wired to them. `tradebus run` builds one from a config file;
 * a bot author can build one in code.
 */
export class TradebusSystem {
  readonly catalogue: EventCatalogue;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly container: DependencyContainer;
  readonly services: ContainerServiceRegistry;
  readonly supervisor: Supervisor;
  /** The agents' health: every agent on the bus with `monitorHealth` (the default), else this process's own. */
  readonly health: HealthView;
  private readonly monitor: HealthMonitor | undefined;
  /** A bus for code outside agents (the launcher, the API, tests), publishing as `system`. */
  readonly bus: EventBus<BuiltinEvents>;
  private readonly heartbeatIntervalMs: number;
  private readonly stateStore: (agentId: string) => StateStore;
  private readonly validateOnPublish: boolean;
  private started = false;
  private readonly monitorHealth: boolean;
  private unwatchTransport: (() => void) | undefined;
  private transportLostAt: number | undefined;
  /** Every logger handed out, so a level change reaches agents that already hold theirs. */
  private readonly loggers: Logger[] = [];
  private readonly timingListeners = new Set<(type: string, seconds: number) => void>();
  /** Every bus created for this system (agents, system, recorder...), for pendingHandlers. */
  private readonly buses: Array<EventBus<any>> = [];
  /** Where each agent's settings sit in the config, and the settings, to name the key behind a failed start. */
  private readonly agentSettings = new Map<string, { path: string; config: unknown }>();
  /** Agents whose start failed on their settings during `start()`. */
  private startFailures: Array<{ agentId: string; issue: ConfigIssue; cause: unknown }> | undefined;

  constructor(options: CreateSystemOptions = {}) {
    this.catalogue = options.catalogue ?? new EventCatalogue(builtinEvents);
    for (const set of options.events ?? []) this.catalogue.register(set);
    this.transport = options.transport ?? new LocalTransport();
    this.clock = options.clock ?? new WallClock();
    this.logger = options.logger ?? libraryLogger();
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
    this.validateOnPublish = options.validateOnPublish ?? false;
    this.monitorHealth = options.monitorHealth ?? true;
    const memoryStores = new Map<string, StateStore>();
    this.stateStore =
      options.stateStore ??
      ((id) => {
        let store = memoryStores.get(id);
        if (store === undefined) memoryStores.set(id, (store = new MemoryStateStore()));
        return store;
      });
    this.container = createContainer();
    this.services = new ContainerServiceRegistry(this.container);
    for (const [name, value] of Object.entries(options.services ?? {})) this.services.register(name, value);
    this.bus = this.createBus('system');
    this.supervisor = new Supervisor({
      logger: this.logger.child({ component: 'supervisor' }),
      bus: this.bus,
      shouldRestart: (agentId, err) => this.onStartFailure(agentId, err),
    });
    this.monitor = this.monitorHealth
      ? new HealthMonitor({
          bus: this.createBus('health-monitor'),
          clock: this.clock,
          missedHeartbeats: options.missedHeartbeats ?? 3,
          checkIntervalMs: Math.max(100, Math.floor(this.heartbeatIntervalMs / 2)),
        })
      : undefined;
    this.health = this.monitor ?? new LocalHealth(this.supervisor, this.clock, this.transport, this.heartbeatIntervalMs);
    this.container.register(TOKENS.Clock, { useValue: this.clock });
    this.container.register(TOKENS.Transport, { useValue: this.transport });
    this.container.register(TOKENS.Catalogue, { useValue: this.catalogue });
    this.container.register(TOKENS.Logger, { useValue: this.logger });
    this.container.register(TOKENS.Supervisor, { useValue: this.supervisor });
    this.container.register(TOKENS.Health, { useValue: this.health });
    this.container.register(TOKENS.Bus, { useValue: this.bus });
    for (const spec of options.agents ?? []) this.addAgent(spec);
  }

  /**
   * A bus publishing under `source`, on this system's transport, catalogue and clock. With a
   * `consumer` identity, its subscriptions to durable events resume after a restart (see
   * EventBusOptions.consumer); every agent's bus has its agent id as identity.
   */
  createBus<E extends Record<string, unknown> = BuiltinEvents>(
    source: string,
    onHandlerError?: ConstructorParameters<typeof EventBus>[0]['onHandlerError'],
    options: { consumer?: string } = {},
  ): EventBus<E> {
    const bus = new EventBus<E>({
      consumer: options.consumer,
      transport: this.transport,
      catalogue: this.catalogue,
      clock: this.clock,
      source,
      logger: this.childLogger({ agent: source }),
      validateOnPublish: this.validateOnPublish,
      onHandlerError,
      onHandlerTiming: (type, seconds) => {
        for (const listener of this.timingListeners) listener(type, seconds);
      },
    });
    this.buses.push(bus as EventBus<any>);
    return bus;
  }

  /**
   * Async handler runs started on any bus of this system and not yet settled. Zero means every
   * event delivered so far has been handled, as far as handlers' promises tell: a replay driver
   * checks it before it moves the clock on.
   */
  get pendingHandlers(): number {
    let n = 0;
    for (const bus of this.buses) n += bus.inFlight;
    return n;
  }

  /** Validates the agent's config, builds it with its own bus and logger, and puts it under supervision. */
  addAgent(spec: SystemAgentSpec, configPath = `agents[${spec.id}].config`): BaseAgent<any, any> {
    if (this.supervisor.has(spec.id)) {
      throw new TradebusError('AGENT_DUPLICATE', `An agent with id '${spec.id}' already exists: give each agent a unique id.`);
    }
    const config = validateSection(spec.definition.configSchema, spec.config, configPath);
    this.agentSettings.set(spec.id, { path: configPath, config });
    if (spec.definition.events) this.catalogue.register(spec.definition.events);
    const logger = this.childLogger({ agent: spec.id, kind: spec.definition.kind });
    const agent = spec.definition.create({
      id: spec.id,
      kind: spec.definition.kind,
      config,
      bus: this.createBus(spec.id, undefined, { consumer: spec.id }),
      logger,
      clock: this.clock,
      store: this.stateStore(spec.id),
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      services: this.services,
    });
    this.supervisor.add(agent, { dependsOn: spec.dependsOn, restart: spec.restart });
    if (this.started) void this.supervisor.startAgent(spec.id);
    return agent;
  }

  /** Receives sampled handler durations from every bus of this system (for latency metrics). */
  onHandlerTiming(listener: (type: string, seconds: number) => void): () => void {
    this.timingListeners.add(listener);
    return () => this.timingListeners.delete(listener);
  }

  /** Changes the log level of the system and of every agent's logger. */
  setLogLevel(level: string): void {
    this.logger.level = level;
    for (const l of this.loggers) l.level = level;
  }

  private childLogger(bindings: Record<string, string>): Logger {
    const child = this.logger.child(bindings);
    this.loggers.push(child);
    return child;
  }

  agent<A extends BaseAgent<any, any> = BaseAgent<any, any>>(id: string): A {
    return this.supervisor.get(id) as A;
  }

  /**
   * Connects the transport and starts every agent in dependency order. An agent whose start fails
   * on something that may pass (a venue that does not answer yet) is restarted with back-off and
   * `start()` resolves; one whose settings make it fail (see `AgentStartError`) would fail the same
   * way again: the system is stopped and `start()` rejects, naming the agent and the key.
   */
  async start(): Promise<void> {
    if (this.transport.status !== 'connected') await this.transport.connect();
    this.unwatchTransport ??= this.transport.onStatus((status, detail) => this.onTransportStatus(status, detail));
    this.monitor?.start();
    this.started = true;
    const failures: NonNullable<typeof this.startFailures> = [];
    this.startFailures = failures;
    try {
      await this.supervisor.start();
    } finally {
      this.startFailures = undefined;
    }
    if (failures.length > 0) {
      await this.stop().catch((err: unknown) => this.logger.warn({ err }, 'stopping after a failed start did not complete'));
      throw new AgentStartError(failures);
    }
  }

  /** Stops agents in reverse order within the deadline, then the health monitor and the transport. */
  async stop(deadlineMs = 10_000): Promise<{ timedOut: string[] }> {
    const result = await this.supervisor.stop(deadlineMs);
    this.monitor?.stop();
    this.started = false;
    this.unwatchTransport?.();
    this.unwatchTransport = undefined;
    await this.transport.close();
    return result;
  }

  /**
   * Called by the supervisor when an agent's start throws. A configuration error is final: the
   * agent stays failed (no restart loop), the failure is logged and alerted, and during `start()`
   * it is collected so that `start()` rejects. Anything else is retried with back-off.
   */
  private onStartFailure(agentId: string, err: unknown): boolean {
    const cause = configurationErrorOf(err);
    if (cause === undefined) return true;
    const issue = this.describeStartFailure(agentId, cause);
    const message = `Agent '${agentId}' cannot start: ${issue.path}: ${issue.message}`;
    this.logger.error({ agent: agentId, key: issue.path, code: cause.code }, `${message} It is not restarted: fix the setting and start it again.`);
    try {
      this.bus.publish('system.alert', { level: 'critical', code: 'AGENT_CONFIG_INVALID', message: `${message} It is not restarted: fix the setting and start it again.`, agentId, details: { key: issue.path, code: cause.code }, timestamp: this.clock.now() });
    } catch (alertErr) {
      this.logger.warn({ err: alertErr }, 'alert not published');
    }
    this.startFailures?.push({ agentId, issue, cause: err });
    return false;
  }

  /** The key of the agent's settings that holds the bad value, and what to do, as a config issue. */
  private describeStartFailure(agentId: string, err: TradebusError): ConfigIssue {
    const settings = this.agentSettings.get(agentId);
    const base = settings?.path ?? `agents[${agentId}].config`;
    const at = (key: string | undefined): string => (key === undefined ? base : `${base}.${key}`);
    const details = err.details ?? {};
    if (err.code === 'SERVICE_UNKNOWN' && typeof details.name === 'string') {
      const name = details.name;
      const known = Array.isArray(details.known) ? details.known.filter((k): k is string => typeof k === 'string') : [];
      // Services of one sort share a prefix (`provider:binance`): the setting holds the part after it.
      const colon = name.indexOf(':');
      const prefix = colon >= 0 ? name.slice(0, colon + 1) : '';
      const short = name.slice(prefix.length);
      const what = prefix === 'provider:' ? 'provider' : prefix === '' ? 'service' : `${prefix.slice(0, -1)} service`;
      const candidates = known.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
      const near = nearMatches(short, candidates);
      const hint = near.length > 0 ? ` Did you mean ${near.map((n) => `'${n}'`).join(' or ')}?` : '';
      const register = prefix === 'provider:' ? ` Name one of them, or register the provider (services: { 'provider:${short}': provider }).` : '';
      return {
        path: at(findKey(settings?.config, [short, name])),
        message: `no ${what} named '${short}' is registered.${hint} Registered: ${candidates.join(', ') || 'none'}.${register}`,
      };
    }
    // Other errors name what they refer to in their details (a symbol, a timeframe, a provider):
    // the key that holds it is the one to fix.
    const values = ['symbol', 'timeframe', 'name', 'provider'].map((k) => details[k]).filter((v): v is string => typeof v === 'string');
    return { path: at(findKey(settings?.config, values)), message: err.message };
  }

  /**
   * Makes a lost bus connection visible: a warning alert when it drops (a networked transport
   * buffers it and delivers it once the connection is back, so the outage shows in the event
   * history with its time) and an info alert with the outage length when it returns.
   */
  private onTransportStatus(status: string, detail: string | undefined): void {
    const lost = status === 'disconnected' || status === 'reconnecting';
    // Local agents show the outage in their state: degraded while the bus is away, back after.
    for (const { id } of this.supervisor.list()) {
      this.supervisor.get(id).setExternalCondition(lost ? `${this.transport.name} bus ${status}${detail ? ` (${detail})` : ''}` : undefined);
    }
    if (status === 'disconnected' && this.transportLostAt === undefined) {
      this.transportLostAt = this.clock.now();
      this.logger.warn({ transport: this.transport.name, detail }, 'bus connection lost');
      this.transportAlert('warning', 'TRANSPORT_DISCONNECTED', `Lost the ${this.transport.name} bus connection${detail ? ` (${detail})` : ''}: events to and from other processes wait until it is back; durable publishes fail meanwhile.`);
    } else if (status === 'connected' && this.transportLostAt !== undefined) {
      const downMs = this.clock.now() - this.transportLostAt;
      this.transportLostAt = undefined;
      this.logger.info({ transport: this.transport.name, downMs }, 'bus connection back');
      this.transportAlert('info', 'TRANSPORT_RECONNECTED', `The ${this.transport.name} bus connection is back after ${downMs} ms.`, { downMs });
    } else if (status === 'closed' && this.started) {
      this.logger.error({ transport: this.transport.name, detail }, 'bus connection closed for good: this process no longer sees other processes; restart it');
    }
  }

  private transportAlert(level: 'info' | 'warning', code: string, message: string, details?: Record<string, unknown>): void {
    try {
      this.bus.publish('system.alert', { level, code, message, details, timestamp: this.clock.now() });
    } catch (err) {
      this.logger.warn({ err, code }, 'transport alert not published');
    }
  }
}

export function createSystem(options: CreateSystemOptions = {}): TradebusSystem {
  return new TradebusSystem(options);
}

/** Path (`symbols[1]`, `provider`) of the first of `values` found among the string settings in `config`. */
function findKey(config: unknown, values: readonly string[]): string | undefined {
  for (const value of values) {
    const path = pathOf(config, value, [], 0);
    if (path !== undefined) return formatPath(path);
  }
  return undefined;
}

function pathOf(node: unknown, value: string, path: PropertyKey[], depth: number): PropertyKey[] | undefined {
  if (node === value) return path;
  if (node === null || typeof node !== 'object' || depth > 8) return undefined;
  for (const [key, child] of Object.entries(node)) {
    const found = pathOf(child, value, [...path, Array.isArray(node) ? Number(key) : key], depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

const LOCAL_STATUS: Record<AgentState, AgentHealthStatus> = {
  created: 'stopped',
  starting: 'starting',
  running: 'ok',
  degraded: 'degraded',
  stopping: 'stopped',
  stopped: 'stopped',
  failed: 'failed',
};

/**
 * The health of this process's own agents, read from them when asked: for a process that does
 * not watch the bus's heartbeats (one agent of a distributed system). Costs nothing in between.
 */
class LocalHealth implements HealthView {
  constructor(
    private readonly supervisor: Supervisor,
    private readonly clock: Clock,
    private readonly transport: Transport,
    private readonly intervalMs: number,
  ) {}

  snapshot(): SystemHealth {
    const now = this.clock.now();
    const agents = this.supervisor
      .list()
      .map(({ id }) => this.describe(id, now))
      .sort((a, b) => a.agentId.localeCompare(b.agentId));
    return { status: overallHealth(agents), timestamp: now, agents };
  }

  agent(agentId: string): AgentHealth | undefined {
    return this.supervisor.has(agentId) ? this.describe(agentId, this.clock.now()) : undefined;
  }

  private describe(agentId: string, now: number): AgentHealth {
    const agent = this.supervisor.get(agentId);
    const m = agent.metrics;
    return {
      agentId,
      kind: agent.kind,
      status: LOCAL_STATUS[agent.state],
      state: agent.state,
      detail: agent.detail,
      uptimeMs: m.uptimeMs,
      // Read from the agent itself: as fresh as it gets.
      heartbeatAgeMs: 0,
      lastHeartbeatAt: now,
      intervalMs: this.intervalMs,
      errors: m.errors,
      lastError: m.lastError,
      eventsIn: m.eventsIn,
      eventsOut: m.eventsOut,
      pid: process.pid,
      host: HOST,
      transport: this.transport.name,
    };
  }
}
