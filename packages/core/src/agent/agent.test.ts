import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VirtualClock } from '../clock.js';
import { createSystem } from '../system.js';
import { BaseAgent, defineAgent, type AgentContext } from './base-agent.js';
import type { AgentState } from './state.js';

class CountingAgent extends BaseAgent<{ failOnStart?: boolean; tickEveryMs?: number }> {
  ticks = 0;
  cleaned = 0;
  initialized = 0;
  received: number[] = [];

  protected override initialize(): void {
    this.initialized++;
    if (this.config.failOnStart) throw new Error('cannot connect');
  }

  protected run(): void {
    this.subscribe('price.tick', (e) => {
      this.received.push(e.payload.price);
      if (e.payload.price < 0) throw new Error('negative price');
    });
    this.every(this.config.tickEveryMs ?? 1000, () => {
      this.ticks++;
    });
  }

  protected override cleanup(): void {
    this.cleaned++;
  }

  crash(err: Error): void {
    this.fail(err);
  }

  goDegraded(reason: string): void {
    this.degrade(reason);
  }

  goRecovered(): void {
    this.recover();
  }
}

const counting = defineAgent({
  kind: 'counting',
  configSchema: z.object({ failOnStart: z.boolean().optional(), tickEveryMs: z.number().optional() }).strict(),
  create: (ctx: AgentContext<{ failOnStart?: boolean; tickEveryMs?: number }>) => new CountingAgent(ctx),
});

const tick = (price: number) => ({ symbol: 'BTC/USDT', price, timestamp: 1 });

describe('BaseAgent', () => {
  it('runs initialize and run on start, then owns its timers and subscriptions until stop', async () => {
    const clock = new VirtualClock(1_000);
    const system = createSystem({ clock, heartbeatIntervalMs: 500, agents: [{ id: 'a', definition: counting, config: { tickEveryMs: 100 } }] });
    await system.start();
    const agent = system.agent<CountingAgent>('a');
    expect(agent.state).toBe('running');
    expect(agent.initialized).toBe(1);
    clock.advanceBy(350);
    expect(agent.ticks).toBe(3);
    system.bus.publish('price.tick', tick(1));
    expect(agent.received).toEqual([1]);
    await system.stop();
    expect(agent.state).toBe('stopped');
    expect(agent.cleaned).toBe(1);
    clock.advanceBy(1_000);
    expect(agent.ticks).toBe(3);
  });

  it('refuses illegal transitions', async () => {
    const system = createSystem({ agents: [{ id: 'a', definition: counting }] });
    const agent = system.agent<CountingAgent>('a');
    expect(() => agent.goRecovered()).not.toThrow(); // recover from created is a no-op, not a transition
    await system.start();
    await expect(agent.start()).rejects.toMatchObject({ code: 'AGENT_STATE' });
    await system.stop();
  });

  it('goes degraded and back, reporting the reason and every state change on the bus', async () => {
    const clock = new VirtualClock(0);
    const system = createSystem({ clock, agents: [{ id: 'a', definition: counting }] });
    const changes: Array<[AgentState, AgentState, string | undefined]> = [];
    system.bus.subscribe('agent.status', (e) => void changes.push([e.payload.from, e.payload.to, e.payload.reason]));
    await system.start();
    const agent = system.agent<CountingAgent>('a');
    agent.goDegraded('feed is stale');
    expect(agent.state).toBe('degraded');
    expect(agent.detail).toBe('feed is stale');
    agent.goRecovered();
    expect(agent.state).toBe('running');
    await system.stop();
    expect(changes).toEqual([
      ['created', 'starting', undefined],
      ['starting', 'running', undefined],
      ['running', 'degraded', 'feed is stale'],
      ['degraded', 'running', undefined],
      ['running', 'stopping', undefined],
      ['stopping', 'stopped', undefined],
    ]);
  });

  it('stays degraded while either its own or an external condition holds', async () => {
    const system = createSystem({ agents: [{ id: 'a', definition: counting }] });
    await system.start();
    const agent = system.agent<CountingAgent>('a');
    agent.setExternalCondition('bus disconnected');
    expect([agent.state, agent.detail]).toEqual(['degraded', 'bus disconnected']);
    agent.goDegraded('feed stale');
    agent.setExternalCondition(undefined);
    expect([agent.state, agent.detail]).toEqual(['degraded', 'feed stale']);
    agent.setExternalCondition('bus disconnected');
    agent.goRecovered();
    expect([agent.state, agent.detail]).toEqual(['degraded', 'bus disconnected']);
    agent.setExternalCondition(undefined);
    expect(agent.state).toBe('running');
    await system.stop();
  });

  it('counts a handler error for its agent and keeps running', async () => {
    const system = createSystem({ agents: [{ id: 'a', definition: counting }] });
    await system.start();
    const agent = system.agent<CountingAgent>('a');
    system.bus.publish('price.tick', tick(-1));
    system.bus.publish('price.tick', tick(2));
    expect(agent.received).toEqual([-1, 2]);
    expect(agent.state).toBe('running');
    expect(agent.metrics.errors).toBe(1);
    expect(agent.metrics.lastError).toMatch(/negative price/);
    await system.stop();
  });

  it('publishes heartbeats with status, uptime, errors and event counts', async () => {
    const clock = new VirtualClock(10_000);
    const system = createSystem({ clock, heartbeatIntervalMs: 1_000, agents: [{ id: 'a', definition: counting }] });
    const beats: Array<{ status: string; uptimeMs: number; eventsIn: number }> = [];
    system.bus.subscribe('agent.heartbeat', (e) => {
      if (e.payload.agentId === 'a') beats.push({ status: e.payload.status, uptimeMs: e.payload.uptimeMs, eventsIn: e.payload.eventsIn });
    });
    await system.start();
    system.bus.publish('price.tick', tick(5));
    clock.advanceBy(1_000);
    clock.advanceBy(1_000);
    expect(beats.map((b) => b.status)).toEqual(['running', 'running', 'running']);
    expect(beats.map((b) => b.uptimeMs)).toEqual([0, 1_000, 2_000]);
    expect(beats[2]!.eventsIn).toBe(1);
    // A clock that jumps (a replay moving bar to bar) gets one heartbeat for the jump, not one per second skipped.
    clock.advanceBy(10_000);
    expect(beats.map((b) => b.uptimeMs)).toEqual([0, 1_000, 2_000, 12_000]);
    await system.stop();
  });

  it('rejects a bad agent config with the path of the key', () => {
    expect(() => createSystem({ agents: [{ id: 'a', definition: counting, config: { tickEveryMs: 'fast' } }] })).toThrow(
      /agents\[a\]\.config\.tickEveryMs: expected number, received string "fast"/,
    );
  });
});

class Tunable extends BaseAgent<{ level: number }> {
  applied: number[] = [];
  protected run(): void {}
  protected override onReconfigure(next: { level: number }): void {
    if (next.level > 10) throw new Error('level above 10 is not allowed while running');
    this.applied.push(next.level);
  }
  get level(): number {
    return this.config.level;
  }
}

describe('reconfigure', () => {
  const tunable = defineAgent({ kind: 'tunable', configSchema: z.object({ level: z.number() }), create: (ctx: AgentContext<{ level: number }>) => new Tunable(ctx) });

  it('applies a change when the agent supports it and keeps the old config when it refuses', async () => {
    const system = createSystem({ agents: [{ id: 't', definition: tunable, config: { level: 1 } }, { id: 'c', definition: counting }] });
    await system.start();
    const agent = system.agent<Tunable>('t');
    expect(agent.reconfigurable).toBe(true);
    await agent.reconfigure({ level: 5 });
    expect(agent.level).toBe(5);
    await expect(agent.reconfigure({ level: 50 })).rejects.toThrow(/above 10/);
    expect(agent.level).toBe(5);
    const plain = system.agent('c');
    expect(plain.reconfigurable).toBe(false);
    await expect(plain.reconfigure({})).rejects.toMatchObject({ code: 'AGENT_NOT_RECONFIGURABLE' });
    await system.stop();
  });
});
