import type { Logger } from 'pino';
import { WallClock, type Clock, type TimerHandle } from '../clock.js';
import { TradebusError, errorMessage, toError } from '../errors.js';
import type { EventBus } from '../bus/event-bus.js';
import type { BuiltinEvents } from '../events/builtin.js';
import { silentLogger } from '../logger.js';
import type { BaseAgent } from './base-agent.js';
import type { AgentState } from './state.js';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs` before the supervisor gives up on the agent. */
  maxRestarts: number;
  windowMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  maxRestarts: 5,
  windowMs: 60_000,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
};

export interface SupervisedAgentOptions {
  /** Ids of agents that must be started before this one (and stopped after it). */
  dependsOn?: string[];
  restart?: Partial<RestartPolicy>;
}

export interface SupervisedAgentInfo {
  id: string;
  kind: string;
  state: AgentState;
  detail: string | undefined;
  restarts: number;
  gaveUp: boolean;
  dependsOn: string[];
  /** The agent's last error (why it failed, while it is failed or being restarted). */
  lastError: string | undefined;
}

interface Entry {
  agent: BaseAgent<any, any>;
  dependsOn: string[];
  policy: RestartPolicy;
  restartTimes: number[];
  restarts: number;
  pendingRestart: TimerHandle | undefined;
  gaveUp: boolean;
  /** True while the operator (or shutdown) wants the agent stopped: failures then do not restart it. */
  held: boolean;
  unlisten: () => void;
}

export class SupervisorError extends TradebusError {}

export interface StopResult {
  /** Agents that did not stop within the deadline. */
  timedOut: string[];
}

export interface SupervisorOptions {
  logger?: Logger;
  /** Used for `system.alert` events about restarts. */
  bus?: EventBus<BuiltinEvents>;
  /**
   * Wall time for restart back-off and the restart budget; the wall clock by default. Not the
   * system's clock: on a replay's market clock, time jumps bar by bar (or stands still), so an
   * agent failing on every start would never exhaust its budget, and back-off would not pace
   * anything. A test of the back-off itself may pass a virtual clock it advances by hand.
   */
  wallClock?: Clock;
  restart?: Partial<RestartPolicy>;
  /**
   * Asked when an agent's start (the first or a restart) throws: false keeps it failed instead of
   * restarting it, for an error the same start would hit again (a setting that names nothing).
   */
  shouldRestart?: (agentId: string, err: unknown) => boolean;
}

/**
 * Starts agents in dependency order, stops them in reverse, restarts a failed agent with
 * exponential back-off within a restart budget, and never lets one agent's failure stop another.
 */
export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly logger: Logger;
  private readonly bus: EventBus<BuiltinEvents> | undefined;
  private readonly wallClock: Clock;
  private readonly defaultPolicy: RestartPolicy;
  private readonly shouldRestart: ((agentId: string, err: unknown) => boolean) | undefined;
  private shuttingDown = false;

  constructor(options: SupervisorOptions = {}) {
    this.logger = options.logger ?? silentLogger();
    this.bus = options.bus;
    this.wallClock = options.wallClock ?? new WallClock();
    this.defaultPolicy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    this.shouldRestart = options.shouldRestart;
  }

  add(agent: BaseAgent<any, any>, options: SupervisedAgentOptions = {}): this {
    if (this.entries.has(agent.id)) {
      throw new SupervisorError('AGENT_DUPLICATE', `An agent with id '${agent.id}' is already registered: give each agent a unique id.`);
    }
    const entry: Entry = {
      agent,
      dependsOn: options.dependsOn ?? [],
      policy: { ...this.defaultPolicy, ...options.restart },
      restartTimes: [],
      restarts: 0,
      pendingRestart: undefined,
      gaveUp: false,
      held: true,
      unlisten: () => undefined,
    };
    entry.unlisten = agent.onStateChange((_from, to, reason) => {
      if (to === 'failed') this.onFailure(entry, reason);
    });
    this.entries.set(agent.id, entry);
    return this;
  }

  get(id: string): BaseAgent<any, any> {
    return this.entry(id).agent;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  list(): SupervisedAgentInfo[] {
    return this.order().map((e) => ({
      id: e.agent.id,
      kind: e.agent.kind,
      state: e.agent.state,
      detail: e.agent.detail,
      restarts: e.restarts,
      gaveUp: e.gaveUp,
      dependsOn: e.dependsOn,
      lastError: e.agent.metrics.lastError,
    }));
  }

  /** Starts every agent in dependency order. An agent that fails to start is retried in the background. */
  async start(): Promise<void> {
    this.shuttingDown = false;
    for (const entry of this.order()) await this.startEntry(entry);
  }

  /** Stops every agent in reverse dependency order, each within what is left of the deadline. */
  async stop(deadlineMs = 10_000): Promise<StopResult> {
    this.shuttingDown = true;
    const deadline = Date.now() + deadlineMs;
    const timedOut: string[] = [];
    for (const entry of this.order().reverse()) {
      entry.held = true;
      entry.pendingRestart?.cancel();
      entry.pendingRestart = undefined;
      const left = Math.max(0, deadline - Date.now());
      const ok = await withDeadline(entry.agent.stop(), left).catch((err: unknown) => {
        this.logger.error({ err: toError(err), agent: entry.agent.id }, 'agent failed to stop cleanly');
        return true;
      });
      if (!ok) timedOut.push(entry.agent.id);
    }
    return { timedOut };
  }

  async startAgent(id: string): Promise<void> {
    const entry = this.entry(id);
    entry.gaveUp = false;
    entry.restartTimes = [];
    await this.startEntry(entry);
  }

  async stopAgent(id: string): Promise<void> {
    const entry = this.entry(id);
    entry.held = true;
    entry.pendingRestart?.cancel();
    entry.pendingRestart = undefined;
    await entry.agent.stop();
  }

  async restartAgent(id: string): Promise<void> {
    await this.stopAgent(id);
    await this.startAgent(id);
  }

  /**
   * Stops the system gracefully on SIGINT/SIGTERM within `deadlineMs`, then calls `onExit` with
   * exit code 0 (clean) or 1 (an agent missed the deadline). A second signal exits at once.
   */
  handleSignals(options: { deadlineMs?: number; onExit?: (code: number) => void; beforeStop?: () => Promise<void> } = {}): () => void {
    const onExit = options.onExit ?? ((code: number) => process.exit(code));
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) {
        this.logger.warn({ signal }, 'second signal: exiting now');
        onExit(130);
        return;
      }
      stopping = true;
      this.logger.info({ signal }, 'shutting down');
      void (async () => {
        await options.beforeStop?.();
        const result = await this.stop(options.deadlineMs ?? 10_000);
        if (result.timedOut.length > 0) this.logger.error({ agents: result.timedOut }, 'agents missed the shutdown deadline');
        onExit(result.timedOut.length > 0 ? 1 : 0);
      })();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }

  private async startEntry(entry: Entry): Promise<void> {
    entry.held = false;
    const state = entry.agent.state;
    if (state === 'running' || state === 'degraded' || state === 'starting') return;
    try {
      await entry.agent.start();
    } catch (err) {
      // The state listener has already scheduled a restart; the other agents go on starting.
      this.logger.error({ err: toError(err), agent: entry.agent.id }, 'agent failed to start');
      this.refuseRestartUnlessUseful(entry, err);
    }
  }

  private refuseRestartUnlessUseful(entry: Entry, err: unknown): void {
    if (this.shouldRestart === undefined || this.shouldRestart(entry.agent.id, err)) return;
    entry.pendingRestart?.cancel();
    entry.pendingRestart = undefined;
    entry.gaveUp = true;
  }

  private onFailure(entry: Entry, reason: string | undefined): void {
    if (entry.held || this.shuttingDown) return;
    const now = this.wallClock.now();
    entry.restartTimes = entry.restartTimes.filter((t) => now - t < entry.policy.windowMs);
    if (entry.restartTimes.length >= entry.policy.maxRestarts) {
      entry.gaveUp = true;
      this.logger.error({ agent: entry.agent.id, reason }, 'restart budget exhausted: the agent stays failed');
      this.alert('critical', 'AGENT_RESTART_BUDGET_EXHAUSTED', `Agent '${entry.agent.id}' failed ${entry.restartTimes.length + 1} times within ${entry.policy.windowMs} ms and will not be restarted: ${reason ?? 'unknown error'}. Fix the cause and start it again (POST /agents/${entry.agent.id}/start).`, entry.agent.id);
      return;
    }
    const delay = Math.min(entry.policy.maxDelayMs, entry.policy.initialDelayMs * entry.policy.factor ** entry.restartTimes.length);
    entry.restartTimes.push(now);
    this.alert('error', 'AGENT_FAILED', `Agent '${entry.agent.id}' failed (${reason ?? 'unknown error'}); restarting in ${delay} ms.`, entry.agent.id);
    entry.pendingRestart?.cancel();
    entry.pendingRestart = this.wallClock.setTimeout(() => {
      entry.pendingRestart = undefined;
      if (entry.held || this.shuttingDown || entry.agent.state !== 'failed') return;
      entry.restarts++;
      this.logger.info({ agent: entry.agent.id, attempt: entry.restarts }, 'restarting agent');
      entry.agent.start().catch((err: unknown) => {
        this.logger.error({ err: toError(err), agent: entry.agent.id }, 'restart failed: ' + errorMessage(err));
        this.refuseRestartUnlessUseful(entry, err);
      });
    }, delay);
  }

  private alert(level: 'error' | 'critical', code: string, message: string, agentId: string): void {
    try {
      this.bus?.publish('system.alert', { level, code, message, agentId, timestamp: this.bus.clock.now() });
    } catch (err) {
      this.logger.warn({ err: toError(err) }, 'alert not published');
    }
  }

  private entry(id: string): Entry {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      throw new SupervisorError('AGENT_UNKNOWN', `No agent with id '${id}'. Known agents: ${[...this.entries.keys()].join(', ') || 'none'}.`);
    }
    return entry;
  }

  /** Dependency order (dependencies first), registration order among equals; rejects cycles and unknown ids. */
  private order(): Entry[] {
    const result: Entry[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (entry: Entry, path: string[]): void => {
      const id = entry.agent.id;
      const s = state.get(id);
      if (s === 'done') return;
      if (s === 'visiting') {
        throw new SupervisorError('AGENT_DEPENDENCY_CYCLE', `Agents depend on each other in a cycle: ${[...path, id].join(' → ')}. Remove one of these dependsOn entries.`);
      }
      state.set(id, 'visiting');
      for (const dep of entry.dependsOn) {
        const depEntry = this.entries.get(dep);
        if (depEntry === undefined) {
          throw new SupervisorError('AGENT_DEPENDENCY_UNKNOWN', `Agent '${id}' depends on '${dep}', which is not registered. Known agents: ${[...this.entries.keys()].join(', ')}.`);
        }
        visit(depEntry, [...path, id]);
      }
      state.set(id, 'done');
      result.push(entry);
    };
    for (const entry of this.entries.values()) visit(entry, []);
    return result;
  }
}

async function withDeadline(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
