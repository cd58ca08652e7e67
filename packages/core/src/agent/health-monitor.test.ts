import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VirtualClock } from '../clock.js';
import { createSystem } from '../system.js';
import { BaseAgent, defineAgent, type AgentContext } from './base-agent.js';

class Quiet extends BaseAgent {
  protected run(): void {}
  hang(): void {
    // Simulates a process that died without a goodbye: no more heartbeats, no status change.
    (this as unknown as { releaseOwned(): void }).releaseOwned();
  }
  goDegraded(): void {
    this.degrade('slow venue');
  }
}
const quiet = defineAgent({ kind: 'quiet', configSchema: z.unknown(), create: (ctx: AgentContext) => new Quiet(ctx) });

class Unstartable extends BaseAgent {
  protected override initialize(): void {
    throw new Error('state file is truncated: cannot read 3 missing bytes');
  }
  protected run(): void {}
}
const unstartable = defineAgent({ kind: 'unstartable', configSchema: z.unknown(), create: (ctx: AgentContext) => new Unstartable(ctx) });

describe('HealthMonitor', () => {
  it('derives agent and system status from heartbeats only', async () => {
    const clock = new VirtualClock(0);
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 1_000,
      missedHeartbeats: 3,
      agents: [
        { id: 'a', definition: quiet },
        { id: 'b', definition: quiet },
      ],
    });
    const alerts: string[] = [];
    system.bus.subscribe('system.alert', (e) => void alerts.push(`${e.payload.code}:${e.payload.agentId}`));
    await system.start();
    clock.advanceBy(1_000);
    let snap = system.health.snapshot();
    expect(snap.status).toBe('ok');
    expect(snap.agents.map((a) => [a.agentId, a.status])).toEqual([
      ['a', 'ok'],
      ['b', 'ok'],
    ]);
    expect(snap.agents[0]).toMatchObject({ pid: process.pid, transport: 'local', errors: 0, heartbeatAgeMs: 0 });

    system.agent<Quiet>('b').goDegraded();
    expect(system.health.agent('b')?.status).toBe('degraded');
    expect(system.health.snapshot().status).toBe('degraded');

    system.agent<Quiet>('a').hang();
    clock.advanceBy(3_000);
    expect(system.health.agent('a')?.status).toBe('ok');
    clock.advanceBy(1_000);
    snap = system.health.snapshot();
    expect(snap.agents.find((a) => a.agentId === 'a')?.status).toBe('down');
    expect(snap.agents.find((a) => a.agentId === 'a')?.heartbeatAgeMs).toBe(4_000);
    expect(alerts).toEqual(['AGENT_DOWN:a']);
    await system.stop();
    expect(system.health.snapshot().agents.find((a) => a.agentId === 'b')?.status).toBe('stopped');
  });

  it('lists an agent that cannot start as failed, with its error, and the system as degraded', async () => {
    const clock = new VirtualClock(0);
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 1_000,
      agents: [
        { id: 'fine', definition: quiet },
        // Restarts are the supervisor's business; a long delay keeps the agent failed for this check.
        { id: 'broken', definition: unstartable, restart: { initialDelayMs: 60_000 } },
      ],
    });
    await system.start();
    const snap = system.health.snapshot();
    expect(snap.agents.map((a) => [a.agentId, a.status])).toEqual([
      ['broken', 'failed'],
      ['fine', 'ok'],
    ]);
    expect(system.health.agent('broken')).toMatchObject({
      kind: 'unstartable',
      state: 'failed',
      errors: 1,
      lastError: 'state file is truncated: cannot read 3 missing bytes',
      detail: 'state file is truncated: cannot read 3 missing bytes',
      pid: process.pid,
    });
    expect(snap.status).toBe('degraded');
    await system.stop();
  });

  it('reports down when every running agent is down, and nothing as down', async () => {
    const clock = new VirtualClock(0);
    const system = createSystem({ clock, heartbeatIntervalMs: 100, agents: [{ id: 'a', definition: quiet }] });
    expect(system.health.snapshot().status).toBe('down');
    await system.start();
    system.agent<Quiet>('a').hang();
    clock.advanceBy(1_000);
    expect(system.health.snapshot().status).toBe('down');
    await system.stop();
  });
});
