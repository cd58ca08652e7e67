import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { VirtualClock } from '../clock.js';
import { createSystem } from '../system.js';
import { BaseAgent, defineAgent, type AgentContext } from './base-agent.js';

const log: string[] = [];

class OrderedAgent extends BaseAgent<{ failStarts?: number; slowStopMs?: number }> {
  static startsFailed = new Map<string, number>();
  protected override initialize(): void {
    const failed = OrderedAgent.startsFailed.get(this.id) ?? 0;
    if (failed < (this.config.failStarts ?? 0)) {
      OrderedAgent.startsFailed.set(this.id, failed + 1);
      throw new Error(`start ${failed + 1} failed`);
    }
  }
  protected run(): void {
    log.push(`start:${this.id}`);
  }
  protected override async cleanup(): Promise<void> {
    if (this.config.slowStopMs) await new Promise((r) => setTimeout(r, this.config.slowStopMs));
    log.push(`stop:${this.id}`);
  }
  crash(): void {
    this.fail(new Error('crashed'));
  }
}

const ordered = defineAgent({
  kind: 'ordered',
  configSchema: z.object({ failStarts: z.number().optional(), slowStopMs: z.number().optional() }),
  create: (ctx: AgentContext<{ failStarts?: number; slowStopMs?: number }>) => new OrderedAgent(ctx),
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Supervisor', () => {
  it('starts agents in dependency order and stops them in reverse', async () => {
    log.length = 0;
    const system = createSystem({
      agents: [
        { id: 'executor', definition: ordered, dependsOn: ['manager'] },
        { id: 'manager', definition: ordered, dependsOn: ['feed'] },
        { id: 'feed', definition: ordered },
        { id: 'monitor', definition: ordered },
      ],
    });
    await system.start();
    await system.stop();
    expect(log).toEqual([
      'start:feed',
      'start:manager',
      'start:executor',
      'start:monitor',
      'stop:monitor',
      'stop:executor',
      'stop:manager',
      'stop:feed',
    ]);
  });

  it('rejects dependency cycles and unknown dependencies with the ids involved', async () => {
    const cyclic = createSystem({
      agents: [
        { id: 'a', definition: ordered, dependsOn: ['b'] },
        { id: 'b', definition: ordered, dependsOn: ['a'] },
      ],
    });
    await expect(cyclic.start()).rejects.toThrow(/cycle: a → b → a/);
    const unknown = createSystem({ agents: [{ id: 'a', definition: ordered, dependsOn: ['ghost'] }] });
    await expect(unknown.start()).rejects.toThrow(/depends on 'ghost'/);
  });

  it('restarts a failed agent with back-off and keeps the others running', async () => {
    const system = createSystem({
      agents: [
        { id: 'flaky', definition: ordered, restart: { initialDelayMs: 10, maxDelayMs: 50 } },
        { id: 'steady', definition: ordered },
      ],
    });
    const alerts: string[] = [];
    system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload.code));
    await system.start();
    system.agent<OrderedAgent>('flaky').crash();
    expect(system.agent('steady').state).toBe('running');
    await until(() => system.agent('flaky').state === 'running');
    expect(system.supervisor.list().find((a) => a.id === 'flaky')?.restarts).toBe(1);
    expect(alerts).toContain('AGENT_FAILED');
    await system.stop();
  });

  it('retries an agent that fails to start, then gives up when the budget is spent', async () => {
    OrderedAgent.startsFailed.clear();
    const system = createSystem({
      agents: [
        { id: 'recovers', definition: ordered, config: { failStarts: 2 }, restart: { initialDelayMs: 5 } },
        { id: 'hopeless', definition: ordered, config: { failStarts: 100 }, restart: { initialDelayMs: 5, maxRestarts: 3 } },
        { id: 'fine', definition: ordered },
      ],
    });
    const alerts: string[] = [];
    system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload.code));
    await system.start();
    expect(system.agent('fine').state).toBe('running');
    await until(() => system.agent('recovers').state === 'running');
    await until(() => alerts.includes('AGENT_RESTART_BUDGET_EXHAUSTED'));
    const hopeless = system.supervisor.list().find((a) => a.id === 'hopeless')!;
    expect(hopeless.gaveUp).toBe(true);
    expect(hopeless.state).toBe('failed');
    expect(OrderedAgent.startsFailed.get('hopeless')).toBe(4);
    await system.stop();
  });

  it('counts restart back-off and the restart budget on wall time, not on a market clock that stands still', async () => {
    OrderedAgent.startsFailed.clear();
    // A replay's clock moves only when data plays; here it never moves at all.
    const clock = new VirtualClock(1_000_000);
    const system = createSystem({
      clock,
      agents: [{ id: 'broken', definition: ordered, config: { failStarts: 100 }, restart: { initialDelayMs: 5, maxDelayMs: 20, maxRestarts: 3, windowMs: 60_000 } }],
    });
    const alerts: string[] = [];
    system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload.code));
    await system.start();
    await until(() => alerts.includes('AGENT_RESTART_BUDGET_EXHAUSTED'));
    const info = system.supervisor.list()[0]!;
    expect(info).toMatchObject({ id: 'broken', state: 'failed', gaveUp: true, restarts: 3, lastError: 'start 4 failed' });
    expect(OrderedAgent.startsFailed.get('broken')).toBe(4);
    expect(clock.now()).toBe(1_000_000);
    await system.stop();
  });

  it('reports agents that miss the shutdown deadline', async () => {
    const system = createSystem({ agents: [{ id: 'slow', definition: ordered, config: { slowStopMs: 300 } }] });
    await system.start();
    const result = await system.stop(20);
    expect(result.timedOut).toEqual(['slow']);
  });

  it('stops, starts and restarts one agent on request without restarting it on its own', async () => {
    const system = createSystem({ agents: [{ id: 'a', definition: ordered }, { id: 'b', definition: ordered }] });
    await system.start();
    await system.supervisor.stopAgent('a');
    expect(system.agent('a').state).toBe('stopped');
    expect(system.agent('b').state).toBe('running');
    await system.supervisor.startAgent('a');
    expect(system.agent('a').state).toBe('running');
    await system.supervisor.restartAgent('b');
    expect(system.agent('b').state).toBe('running');
    expect(() => system.supervisor.get('nope')).toThrow(/Known agents: a, b/);
    await system.stop();
  });
});
