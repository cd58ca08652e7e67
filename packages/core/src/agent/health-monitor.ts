import type { Clock, TimerHandle } from '../clock.js';
import type { EventBus, Subscription } from '../bus/event-bus.js';
import type { BuiltinEvents } from '../events/builtin.js';
import type { AgentState } from './state.js';

/**
 * `failed`: the agent reported that it failed (it could not start, or crashed) and is waiting for
 * a restart or was given up on; `down`: it went silent (no heartbeat within the allowed misses).
 */
export type AgentHealthStatus = 'ok' | 'degraded' | 'down' | 'failed' | 'starting' | 'stopped';
export type SystemHealthStatus = 'ok' | 'degraded' | 'down';

export interface AgentHealth {
  agentId: string;
  kind: string;
  status: AgentHealthStatus;
  /** Last state the agent reported. */
  state: AgentState;
  detail: string | undefined;
  uptimeMs: number;
  heartbeatAgeMs: number;
  lastHeartbeatAt: number;
  intervalMs: number;
  errors: number;
  lastError: string | undefined;
  eventsIn: number;
  eventsOut: number;
  pid: number;
  host: string;
  transport: string;
  /** Instance name when several processes run this agent, each listed on its own. */
  instance?: string | undefined;
  /** What a sharded instance owns. */
  shard?: BuiltinEvents['agent.heartbeat']['shard'];
}

export interface SystemHealth {
  status: SystemHealthStatus;
  timestamp: number;
  agents: AgentHealth[];
}

interface Record {
  heartbeat: BuiltinEvents['agent.heartbeat'];
  receivedAt: number;
  state: AgentState;
  detail: string | undefined;
  down: boolean;
}

export interface HealthMonitorOptions {
  bus: EventBus<BuiltinEvents>;
  clock: Clock;
  /** Heartbeats an agent may miss before it counts as down. */
  missedHeartbeats?: number;
  /** How often to look for silent agents (default: the shortest heartbeat interval seen, at least 100 ms). */
  checkIntervalMs?: number;
}

/**
 * The system's view of its agents, built only from `agent.heartbeat` and `agent.status` events,
 * so it sees agents in other processes exactly like local ones. An agent whose heartbeats stop
 * for `missedHeartbeats` intervals is `down` and a `system.alert` says so once.
 */
export class HealthMonitor {
  private readonly bus: EventBus<BuiltinEvents>;
  private readonly clock: Clock;
  private readonly missed: number;
  private readonly checkIntervalMs: number;
  private readonly records = new Map<string, Record>();
  private subscriptions: Subscription[] = [];
  private timer: TimerHandle | undefined;

  constructor(options: HealthMonitorOptions) {
    this.bus = options.bus;
    this.clock = options.clock;
    this.missed = options.missedHeartbeats ?? 3;
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
  }

  start(): void {
    if (this.subscriptions.length > 0) return;
    this.subscriptions.push(
      this.bus.subscribe('agent.heartbeat', (event) => {
        const hb = event.payload;
        const previous = this.records.get(recordKey(hb.agentId, hb.instance));
        this.records.set(recordKey(hb.agentId, hb.instance), {
          heartbeat: hb,
          receivedAt: this.clock.now(),
          state: hb.status,
          detail: hb.detail,
          down: false,
        });
        if (previous?.down) {
          this.alert('info', 'AGENT_BACK', `Agent '${hb.agentId}' is sending heartbeats again.`, hb.agentId);
        }
      }),
      this.bus.subscribe('agent.status', (event) => {
        const record = this.records.get(recordKey(event.payload.agentId, event.payload.instance));
        if (record === undefined) return;
        record.state = event.payload.to;
        record.detail = event.payload.reason;
        record.receivedAt = this.clock.now();
        record.down = false;
      }),
    );
    this.timer = this.clock.setInterval(() => this.check(), this.checkIntervalMs, { skipMissed: true });
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Forgets an agent (e.g. one removed from the system). */
  forget(agentId: string): void {
    this.records.delete(agentId);
  }

  agent(agentId: string): AgentHealth | undefined {
    // A sharded agent has one record per instance: the first one stands for the agent.
    const key = this.records.has(agentId) ? agentId : [...this.records.keys()].sort().find((k) => k.startsWith(`${agentId}@`));
    const record = key === undefined ? undefined : this.records.get(key);
    return record === undefined ? undefined : this.describe(record.heartbeat.agentId, record, this.clock.now());
  }

  snapshot(): SystemHealth {
    const now = this.clock.now();
    const agents = [...this.records.entries()]
      .map(([, r]) => this.describe(r.heartbeat.agentId, r, now))
      .sort((a, b) => a.agentId.localeCompare(b.agentId) || (a.instance ?? '').localeCompare(b.instance ?? ''));
    return { status: overallHealth(agents), timestamp: now, agents };
  }

  private describe(agentId: string, r: Record, now: number): AgentHealth {
    const hb = r.heartbeat;
    const age = Math.max(0, now - r.receivedAt);
    return {
      agentId,
      kind: hb.kind,
      status: this.statusOf(r, age),
      state: r.state,
      detail: r.detail,
      uptimeMs: r.state === 'running' || r.state === 'degraded' ? hb.uptimeMs + age : 0,
      heartbeatAgeMs: age,
      lastHeartbeatAt: r.receivedAt,
      intervalMs: hb.intervalMs,
      errors: hb.errors,
      lastError: hb.lastError,
      eventsIn: hb.eventsIn,
      eventsOut: hb.eventsOut,
      pid: hb.pid,
      host: hb.host,
      transport: hb.transport,
      ...(hb.instance === undefined ? {} : { instance: hb.instance }),
      ...(hb.shard === undefined ? {} : { shard: hb.shard }),
    };
  }

  private statusOf(r: Record, ageMs: number): AgentHealthStatus {
    if (r.state === 'stopped') return 'stopped';
    if (r.state === 'failed') return 'failed';
    if (ageMs > r.heartbeat.intervalMs * this.missed) return 'down';
    if (r.state === 'degraded') return 'degraded';
    if (r.state === 'running') return 'ok';
    if (r.state === 'stopping') return 'stopped';
    return 'starting';
  }

  private check(): void {
    const now = this.clock.now();
    for (const [id, r] of this.records) {
      if (r.down || r.state === 'stopped' || r.state === 'failed') continue;
      const age = now - r.receivedAt;
      if (age > r.heartbeat.intervalMs * this.missed) {
        r.down = true;
        this.alert('error', 'AGENT_DOWN', `Agent '${id}' (${r.heartbeat.kind}, pid ${r.heartbeat.pid} on ${r.heartbeat.host}) sent no heartbeat for ${age} ms. Check its process and logs.`, r.heartbeat.agentId);
      }
    }
  }

  private alert(level: 'info' | 'error', code: string, message: string, agentId: string): void {
    try {
      this.bus.publish('system.alert', { level, code, message, agentId, timestamp: this.clock.now() });
    } catch {
      // Health must keep working while the bus is unavailable; the snapshot still shows the state.
    }
  }
}

/** Records of a sharded agent's instances are kept apart: `<agentId>@<instance>`. */
function recordKey(agentId: string, instance: string | undefined): string {
  return instance === undefined ? agentId : `${agentId}@${instance}`;
}

/** The system's status from its agents': ok when all are, down when none works, else degraded. */
export function overallHealth(agents: AgentHealth[]): SystemHealthStatus {
  const active = agents.filter((a) => a.status !== 'stopped');
  if (active.length === 0) return agents.length === 0 ? 'down' : 'degraded';
  if (active.every((a) => a.status === 'down' || a.status === 'failed')) return 'down';
  if (active.every((a) => a.status === 'ok')) return 'ok';
  return 'degraded';
}
