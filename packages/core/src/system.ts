import type { DependencyContainer } from 'tsyringe';
import type { Logger } from 'pino';
import type { AgentDefinition, BaseAgent } from './agent/base-agent.js';
import { HealthMonitor } from './agent/health-monitor.js';
import { MemoryStateStore, type StateStore } from './agent/store.js';
import { Supervisor, type RestartPolicy } from './agent/supervisor.js';
import { EventBus } from './bus/event-bus.js';
import { LocalTransport } from './bus/local-transport.js';
import type { Transport } from './bus/transport.js';
import { WallClock, type Clock } from './clock.js';
import { validateSection } from './config/loader.js';
import { ContainerServiceRegistry, TOKENS, createContainer } from './di.js';
import { TradebusError } from './errors.js';
import { builtinEvents, type BuiltinEvents } from './events/builtin.js';
import { EventCatalogue, type EventSchemas } from './events/catalogue.js';
import { silentLogger } from './logger.js';

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
   * Run the HealthMonitor in this process (default true). A process that runs one agent of a
   * distributed system turns it off: one observer per system is enough, and every monitor would
   * raise its own alerts.
   */
  monitorHealth?: boolean;
}

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
  readonly health: HealthMonitor;
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

  constructor(options: CreateSystemOptions = {}) {
    this.catalogue = options.catalogue ?? new EventCatalogue(builtinEvents);
    for (const set of options.events ?? []) this.catalogue.register(set);
    this.transport = options.transport ?? new LocalTransport();
    this.clock = options.clock ?? new WallClock();
    this.logger = options.logger ?? silentLogger();
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
    this.supervisor = new Supervisor({ logger: this.logger.child({ component: 'supervisor' }), bus: this.bus });
    this.health = new HealthMonitor({
      bus: this.createBus('health-monitor'),
      clock: this.clock,
      missedHeartbeats: options.missedHeartbeats ?? 3,
      checkIntervalMs: Math.max(100, Math.floor(this.heartbeatIntervalMs / 2)),
    });
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

  async start(): Promise<void> {
    if (this.transport.status !== 'connected') await this.transport.connect();
    this.unwatchTransport ??= this.transport.onStatus((status, detail) => this.onTransportStatus(status, detail));
    if (this.monitorHealth) this.health.start();
    this.started = true;
    await this.supervisor.start();
  }

  /** Stops agents in reverse order within the deadline, then the health monitor and the transport. */
  async stop(deadlineMs = 10_000): Promise<{ timedOut: string[] }> {
    const result = await this.supervisor.stop(deadlineMs);
    this.health.stop();
    this.started = false;
    this.unwatchTransport?.();
    this.unwatchTransport = undefined;
    await this.transport.close();
    return result;
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
