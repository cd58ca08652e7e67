import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock, IntervalOptions, TimerHandle } from '../clock.js';
import { TradebusError, errorMessage, toError } from '../errors.js';
import type { EventMap, EventSchemas } from '../events/catalogue.js';
import type { BuiltinEvents } from '../events/builtin.js';
import type { Envelope, EnvelopeOf } from '../bus/envelope.js';
import type { EventBus, Handler, KnownPattern, PublishOptions, SubscribeOptions, Subscription } from '../bus/event-bus.js';
import type { MatchingKeys, SubscriptionPattern } from '../bus/subjects.js';
import type { BusUsage } from '../bus/transport.js';
import { assertTransition, type AgentState } from './state.js';
import type { StateStore } from './store.js';

type Keys<E> = keyof E & string;

// Read once: heartbeats go out every few seconds for every agent, and the name does not change.
const HOST = hostname();

/** Everything an agent gets from the system that runs it. */
export interface AgentContext<C = unknown, E extends EventMap = BuiltinEvents> {
  id: string;
  kind: string;
  config: C;
  bus: EventBus<E>;
  logger: Logger;
  clock: Clock;
  store: StateStore;
  /** Interval of `agent.heartbeat` events. */
  heartbeatIntervalMs: number;
  /** Named services (providers, repositories...) registered by the launcher. */
  services: ServiceRegistry;
}

/** Looks up shared services by name; the error lists what is registered. */
export interface ServiceRegistry {
  get<T>(name: string): T;
  has(name: string): boolean;
}

export type StateListener = (from: AgentState, to: AgentState, reason?: string) => void;

interface BackgroundTask {
  promise: Promise<void>;
  controller: AbortController;
}

/**
 * Base class of every agent. Lifecycle: `start()` runs `initialize()` then `run()` and the agent
 * is running; `stop()` releases what the agent owns (subscriptions, timers, background tasks),
 * then runs `cleanup()`. Subscriptions and timers made through the helpers here are owned by the
 * agent and released on stop or failure, so a restart starts clean.
 */
export abstract class BaseAgent<C = unknown, E extends EventMap = BuiltinEvents> {
  readonly id: string;
  readonly kind: string;
  private currentConfig: C;
  protected readonly bus: EventBus<E>;
  protected readonly logger: Logger;
  protected readonly clock: Clock;
  protected readonly store: StateStore;
  protected readonly services: ServiceRegistry;
  private readonly heartbeatIntervalMs: number;
  private currentState: AgentState = 'created';
  private stateDetail: string | undefined;
  private readonly subscriptions = new Set<Subscription>();
  private readonly timers = new Set<TimerHandle>();
  private readonly tasks = new Set<BackgroundTask>();
  private readonly listeners = new Set<StateListener>();
  private runningSince: number | undefined;
  private ownDegradation: string | undefined;
  private externalDegradation: string | undefined;
  private ownErrors = 0;
  private ownLastError: { message: string; at: number } | undefined;

  constructor(context: AgentContext<C, E>) {
    this.id = context.id;
    this.kind = context.kind;
    this.currentConfig = context.config;
    this.bus = context.bus;
    this.logger = context.logger;
    this.clock = context.clock;
    this.store = context.store;
    this.services = context.services;
    this.heartbeatIntervalMs = context.heartbeatIntervalMs;
  }

  /** Loads state, connects to what the agent needs. Runs on every start, including restarts. */
  protected initialize(): void | Promise<void> {}
  /** Starts the agent's work (subscriptions, timers, background loops) and returns. */
  protected abstract run(): void | Promise<void>;
  /** Releases what `initialize` acquired. Owned subscriptions and timers are already gone. */
  protected cleanup(): void | Promise<void> {}

  /** The agent's validated settings; replaced as a whole by `reconfigure`. */
  protected get config(): C {
    return this.currentConfig;
  }

  /** True when the agent applies config changes while running (it overrides `onReconfigure`). */
  get reconfigurable(): boolean {
    return this.onReconfigure !== BaseAgent.prototype.onReconfigure;
  }

  /**
   * Applies new settings while running (the hot-reloadable part of the config). The caller has
   * validated `next` against the agent's schema. Throws when the agent does not support it.
   */
  async reconfigure(next: C): Promise<void> {
    if (!this.reconfigurable) {
      throw new TradebusError('AGENT_NOT_RECONFIGURABLE', `Agent '${this.id}' (${this.kind}) does not apply config changes while running: restart it with the new config instead.`);
    }
    const previous = this.currentConfig;
    try {
      await this.onReconfigure(next, previous);
    } catch (err) {
      throw new TradebusError('AGENT_RECONFIGURE_REFUSED', `Agent '${this.id}' refused the config change: ${errorMessage(err)}. Its previous config stays in force.`, { cause: err });
    }
    this.currentConfig = next;
  }

  /** Addresses this agent serves (a dashboard, say), printed by the launcher once the system runs. */
  links(): Array<{ name: string; url: string }> {
    return [];
  }

  /** Override to accept config changes while running; throw to refuse a change. */
  protected onReconfigure(_next: C, _previous: C): void | Promise<void> {}

  get state(): AgentState {
    return this.currentState;
  }

  /** Why the agent is degraded or failed, if it is. */
  get detail(): string | undefined {
    return this.stateDetail;
  }

  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    this.transition('starting');
    // A restart starts healthy as far as the agent itself knows; run() may degrade it again.
    this.ownDegradation = undefined;
    try {
      await this.initialize();
      await this.run();
    } catch (err) {
      this.releaseOwned();
      this.recordError(err);
      if (this.currentState === 'starting') this.transition('failed', errorMessage(err));
      // An agent that never ran has sent no heartbeat yet: this one makes it (and why it failed)
      // visible to health monitors, here and in other processes.
      this.heartbeat();
      throw err;
    }
    if (this.currentState !== 'starting') return;
    this.runningSince = this.clock.now();
    this.transition('running');
    this.every(this.heartbeatIntervalMs, () => this.heartbeat(), { skipMissed: true });
    this.heartbeat();
    this.applyDegradation();
  }

  async stop(): Promise<void> {
    if (this.currentState === 'stopped' || this.currentState === 'created') {
      if (this.currentState === 'created') this.transition('stopped');
      return;
    }
    if (this.currentState === 'stopping') return;
    this.transition('stopping');
    this.releaseOwned();
    await this.settleTasks();
    try {
      await this.cleanup();
    } catch (err) {
      this.recordError(err);
      this.logger.error({ err: toError(err) }, 'cleanup failed');
    }
    this.runningSince = undefined;
    this.transition('stopped');
    this.heartbeat();
  }

  /** Marks the agent failed (the supervisor restarts it) and releases what it owns. */
  protected fail(err: unknown): void {
    if (this.currentState === 'failed' || this.currentState === 'stopped') return;
    this.recordError(err);
    this.releaseOwned();
    this.runningSince = undefined;
    this.transition('failed', errorMessage(err));
    this.heartbeat();
  }

  /** Still working, but impaired (stale feed, lost connection...). */
  protected degrade(reason: string): void {
    this.ownDegradation = reason;
    this.applyDegradation();
  }

  protected recover(): void {
    this.ownDegradation = undefined;
    this.applyDegradation();
  }

  /**
   * A condition outside the agent that impairs it, such as the bus connection being lost: the
   * agent shows as degraded with `reason` until it is cleared with `undefined`. It combines with
   * the agent's own `degrade`/`recover`: the agent is back to running only when both are clear.
   */
  setExternalCondition(reason: string | undefined): void {
    this.externalDegradation = reason;
    this.applyDegradation();
  }

  private applyDegradation(): void {
    const reason = this.ownDegradation ?? this.externalDegradation;
    if (reason !== undefined && this.currentState === 'running') {
      this.transition('degraded', reason);
      this.heartbeat();
    } else if (reason !== undefined && this.currentState === 'degraded') {
      this.stateDetail = reason;
    } else if (reason === undefined && this.currentState === 'degraded') {
      this.transition('running');
      this.heartbeat();
    }
  }

  protected publish<K extends Keys<E>>(type: K, payload: E[K], options?: PublishOptions): Envelope<K, E[K]> {
    return this.bus.publish(type, payload, options);
  }

  /** A subscription owned by this agent: released on stop and on failure. */
  protected subscribe<P extends SubscriptionPattern<Keys<E>>>(
    pattern: KnownPattern<Keys<E>, P>,
    handler: Handler<EnvelopeOf<E, MatchingKeys<Keys<E>, P>>>,
    options?: SubscribeOptions,
  ): Subscription {
    const inner = this.bus.subscribe<P>(pattern, handler, options);
    const owned: Subscription = {
      unsubscribe: () => {
        this.subscriptions.delete(owned);
        inner.unsubscribe();
      },
    };
    this.subscriptions.add(owned);
    return owned;
  }

  /**
   * Runs `fn` every `intervalMs` of the agent's clock; an error in it is logged and counted. With
   * `skipMissed`, a clock that jumps over several due times (a replay) runs it once, at the latest.
   */
  protected every(intervalMs: number, fn: () => unknown, options?: IntervalOptions): TimerHandle {
    const handle = this.clock.setInterval(() => this.guarded('timer', fn), intervalMs, options);
    return this.own(handle);
  }

  /** Runs `fn` once after `delayMs` of the agent's clock. */
  protected after(delayMs: number, fn: () => unknown): TimerHandle {
    const raw: TimerHandle = this.clock.setTimeout(() => {
      this.timers.delete(raw);
      this.guarded('timer', fn);
    }, delayMs);
    return this.own(raw);
  }

  /**
   * Runs a long-lived loop (a stream reader, a poller). It receives an AbortSignal that fires on
   * stop; if it throws, the agent fails and the supervisor restarts it.
   */
  protected background(name: string, loop: (signal: AbortSignal) => Promise<void>): void {
    const controller = new AbortController();
    const task: BackgroundTask = {
      controller,
      promise: loop(controller.signal).then(
        () => undefined,
        (err: unknown) => {
          if (controller.signal.aborted) return;
          this.logger.error({ err: toError(err), task: name }, 'background task failed');
          this.fail(err);
        },
      ),
    };
    this.tasks.add(task);
    void task.promise.finally(() => this.tasks.delete(task));
  }

  /** Publishes a `system.alert` from this agent. */
  protected alert(level: 'info' | 'warning' | 'error' | 'critical', code: string, message: string, details?: Record<string, unknown>): void {
    const bus = this.bus as unknown as EventBus<BuiltinEvents>;
    bus.publish('system.alert', { level, code, message, agentId: this.id, details, timestamp: this.clock.now() });
  }

  /** Counts an error that did not come through a bus handler (those the bus counts itself). */
  protected recordError(err: unknown): void {
    this.ownErrors++;
    this.ownLastError = { message: errorMessage(err), at: this.clock.now() };
  }

  /** Numbers reported in heartbeats and the health API. */
  get metrics(): { errors: number; lastError: string | undefined; eventsIn: number; eventsOut: number; uptimeMs: number } {
    const s = this.bus.stats;
    const own = this.ownLastError;
    const fromBus = s.lastError;
    const lastError =
      fromBus !== undefined && (own === undefined || fromBus.at >= own.at) ? `${fromBus.type}: ${fromBus.message}` : own?.message;
    return {
      errors: s.errors + this.ownErrors,
      lastError,
      eventsIn: s.eventsIn,
      eventsOut: s.eventsOut,
      uptimeMs: this.runningSince === undefined ? 0 : Math.max(0, this.clock.now() - this.runningSince),
    };
  }

  /**
   * Set by an agent that runs as one of several instances sharing keys (symbols): its instance
   * name and what it owns go out in heartbeats and state changes, so the health view lists each
   * instance on its own.
   */
  protected shardStatus(): { instance: string; shard?: BuiltinEvents['agent.heartbeat']['shard'] } | undefined {
    return undefined;
  }

  private heartbeat(): void {
    const m = this.metrics;
    const sharded = this.shardStatus();
    const bus = this.bus as unknown as EventBus<BuiltinEvents>;
    try {
      bus.publish('agent.heartbeat', {
        agentId: this.id,
        kind: this.kind,
        status: this.currentState,
        uptimeMs: m.uptimeMs,
        errors: m.errors,
        lastError: m.lastError,
        eventsIn: m.eventsIn,
        eventsOut: m.eventsOut,
        pid: process.pid,
        host: HOST,
        transport: bus.transport.name,
        intervalMs: this.heartbeatIntervalMs,
        detail: this.stateDetail,
        instance: sharded?.instance,
        shard: sharded?.shard,
        timestamp: this.clock.now(),
      });
    } catch (err) {
      // A transport that is down must not turn a heartbeat into an agent failure.
      this.logger.warn({ err: toError(err) }, 'heartbeat not published');
    }
  }

  private transition(to: AgentState, detail?: string): void {
    const from = this.currentState;
    assertTransition(this.id, from, to);
    this.currentState = to;
    this.stateDetail = to === 'degraded' || to === 'failed' ? detail : undefined;
    this.logger.info({ from, to, reason: detail }, 'agent state changed');
    const bus = this.bus as unknown as EventBus<BuiltinEvents>;
    try {
      bus.publish('agent.status', { agentId: this.id, kind: this.kind, from, to, reason: detail, instance: this.shardStatus()?.instance, timestamp: this.clock.now() });
    } catch (err) {
      this.logger.warn({ err: toError(err) }, 'agent.status not published');
    }
    for (const listener of this.listeners) listener(from, to, detail);
  }

  private own(handle: TimerHandle): TimerHandle {
    this.timers.add(handle);
    return {
      cancel: () => {
        this.timers.delete(handle);
        handle.cancel();
      },
    };
  }

  private guarded(what: string, fn: () => unknown): void {
    try {
      // Like a handler, a timer callback's result is ignored unless it is a promise to watch.
      const r = fn();
      if (r !== undefined && r !== null && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(undefined, (err: unknown) => this.onGuardedError(what, err));
      }
    } catch (err) {
      this.onGuardedError(what, err);
    }
  }

  private onGuardedError(what: string, err: unknown): void {
    this.recordError(err);
    this.logger.error({ err: toError(err), in: what }, 'agent callback failed');
  }

  private releaseOwned(): void {
    for (const sub of [...this.subscriptions]) sub.unsubscribe();
    this.subscriptions.clear();
    for (const t of [...this.timers]) t.cancel();
    this.timers.clear();
    for (const task of this.tasks) task.controller.abort();
  }

  private async settleTasks(): Promise<void> {
    await Promise.allSettled([...this.tasks].map((t) => t.promise));
  }
}

/** How the launcher finds, validates and builds an agent: export one from an agent package. */
export interface AgentDefinition<C = unknown, E extends EventMap = BuiltinEvents> {
  kind: string;
  description?: string;
  /** The agent's own event types (from `defineEvents`), registered when the agent is loaded. */
  events?: EventSchemas;
  configSchema: z.ZodType<C>;
  /**
   * What the agent publishes and subscribes to, for least-privilege NATS permissions
   * (`tradebus nats-config`). Heartbeats, state changes and alerts need not be listed.
   */
  bus?: BusUsage;
  /**
   * Config paths the agent applies while running (`onReconfigure`); PATCH /config accepts changes
   * only to these. `a.*` is everything under `a`, `a[].b.*` everything under `b` of any element of
   * the list `a`, `a.b` that one key. Left out, the agent receives every change and decides.
   */
  hotSettings?: readonly string[];
  /**
   * Config paths that name files (same syntax as `hotSettings`). A relative path there is taken
   * from the config file's folder when a launcher loads the config, so `file: ./model.onnx` means
   * the file beside the config, whatever the working directory.
   */
  filePaths?: readonly string[];
  create(context: AgentContext<C, E>): BaseAgent<C, E>;
}

export function defineAgent<C, E extends EventMap = BuiltinEvents>(definition: AgentDefinition<C, E>): AgentDefinition<C, E> {
  return definition;
}
