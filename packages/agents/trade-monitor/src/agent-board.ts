import type { BuiltinEvents } from '@tradebus/core';
import type { AgentRow, SystemHealthView } from './snapshot.js';

type Heartbeat = BuiltinEvents['agent.heartbeat'];
type StatusChange = BuiltinEvents['agent.status'];

interface Entry {
  heartbeat: Heartbeat;
  receivedAt: number;
  state: Heartbeat['status'];
  detail: string | undefined;
}

/**
 * Agent health as the dashboard sees it, from `agent.heartbeat` and `agent.status` only, so agents
 * in other processes show up like local ones. Same rules as core's HealthMonitor (an agent that
 * misses `missedHeartbeats` intervals is down). It is kept here rather than running a second
 * HealthMonitor because that one publishes `system.alert`s, and the system's own monitor already
 * does: two would double every "agent down" alert.
 */
export class AgentBoard {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly missedHeartbeats: number) {}

  heartbeat(hb: Heartbeat, now: number): void {
    this.entries.set(hb.agentId, { heartbeat: hb, receivedAt: now, state: hb.status, detail: hb.detail });
  }

  /**
   * Adds an agent known from elsewhere (the REST API's health view) whose heartbeats this board
   * has not heard yet; the age it had there carries over. Agents already heard of are left alone.
   */
  seed(agent: Omit<Heartbeat, 'status' | 'timestamp'> & { state: Heartbeat['status']; heartbeatAgeMs: number }, now: number): boolean {
    if (this.entries.has(agent.agentId)) return false;
    const receivedAt = now - agent.heartbeatAgeMs;
    const { state, heartbeatAgeMs: _age, ...rest } = agent;
    this.entries.set(agent.agentId, { heartbeat: { ...rest, status: state, timestamp: receivedAt }, receivedAt, state, detail: agent.detail });
    return true;
  }

  status(change: StatusChange, now: number): void {
    const entry = this.entries.get(change.agentId);
    if (entry === undefined) return;
    entry.state = change.to;
    entry.detail = change.reason;
    entry.receivedAt = now;
  }

  view(now: number): SystemHealthView {
    const agents = [...this.entries.entries()].map(([id, e]) => this.describe(id, e, now)).sort((a, b) => a.agentId.localeCompare(b.agentId));
    return { status: overall(agents), timestamp: now, agents };
  }

  private describe(agentId: string, e: Entry, now: number): AgentRow {
    const hb = e.heartbeat;
    const age = Math.max(0, now - e.receivedAt);
    const row: AgentRow = {
      agentId,
      kind: hb.kind,
      status: this.statusOf(e, age),
      state: e.state,
      heartbeatAgeMs: age,
      lastHeartbeatAt: e.receivedAt,
      intervalMs: hb.intervalMs,
      uptimeMs: e.state === 'running' || e.state === 'degraded' ? hb.uptimeMs + age : 0,
      errors: hb.errors,
      eventsIn: hb.eventsIn,
      eventsOut: hb.eventsOut,
      pid: hb.pid,
      host: hb.host,
      transport: hb.transport,
    };
    if (e.detail !== undefined) row.detail = e.detail;
    if (hb.lastError !== undefined) row.lastError = hb.lastError;
    return row;
  }

  private statusOf(e: Entry, ageMs: number): AgentRow['status'] {
    if (e.state === 'stopped' || e.state === 'stopping') return 'stopped';
    if (e.state === 'failed') return 'failed';
    if (ageMs > e.heartbeat.intervalMs * this.missedHeartbeats) return 'down';
    if (e.state === 'degraded') return 'degraded';
    if (e.state === 'running') return 'ok';
    return 'starting';
  }
}

function overall(agents: AgentRow[]): SystemHealthView['status'] {
  const active = agents.filter((a) => a.status !== 'stopped');
  if (active.length === 0) return agents.length === 0 ? 'down' : 'degraded';
  if (active.every((a) => a.status === 'down' || a.status === 'failed')) return 'down';
  if (active.every((a) => a.status === 'ok')) return 'ok';
  return 'degraded';
}
