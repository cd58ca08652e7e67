import { describe, expect, it } from 'vitest';
import { HealthMonitor } from '../agent/health-monitor.js';
import { EventBus } from '../bus/event-bus.js';
import { LocalTransport } from '../bus/local-transport.js';
import { VirtualClock } from '../clock.js';
import { builtinEvents, type BuiltinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';

describe('HealthMonitor with sharded instances', () => {
  it('lists every instance of one agent on its own, with its shard and host, and marks a silent one down', () => {
    const clock = new VirtualClock(0);
    const bus = new EventBus<BuiltinEvents>({ transport: new LocalTransport(), catalogue: new EventCatalogue(builtinEvents), clock, source: 'test' });
    const monitor = new HealthMonitor({ bus, clock, missedHeartbeats: 3, checkIntervalMs: 100 });
    monitor.start();
    const alerts: string[] = [];
    bus.subscribe('system.alert', (e) => void alerts.push(`${e.payload.code}:${e.payload.agentId}`));
    const beat = (instance: string, host: string, owned: string[]): void => {
      bus.publish('agent.heartbeat', {
        agentId: 'strategy', kind: 'strategy-runner', status: 'running', uptimeMs: 1, errors: 0, eventsIn: 0, eventsOut: 0, pid: 1, host, transport: 'nats', intervalMs: 1_000,
        instance, shard: { group: 'strategy', owned, members: 2, keys: 3 }, timestamp: clock.now(),
      });
    };
    beat('r1', 'box-a', ['BTC/USDT', 'ETH/USDT']);
    beat('r2', 'box-b', ['SOL/USDT']);
    const snap = monitor.snapshot();
    expect(snap.agents.map((a) => [a.agentId, a.instance, a.host, a.shard?.owned])).toEqual([
      ['strategy', 'r1', 'box-a', ['BTC/USDT', 'ETH/USDT']],
      ['strategy', 'r2', 'box-b', ['SOL/USDT']],
    ]);
    clock.advanceBy(2_000);
    beat('r1', 'box-a', ['BTC/USDT', 'ETH/USDT', 'SOL/USDT']);
    clock.advanceBy(2_000);
    beat('r1', 'box-a', ['BTC/USDT', 'ETH/USDT', 'SOL/USDT']);
    const after = monitor.snapshot();
    expect(after.agents.map((a) => [a.instance, a.status])).toEqual([
      ['r1', 'ok'],
      ['r2', 'down'],
    ]);
    expect(alerts).toEqual(['AGENT_DOWN:strategy']);
    expect(after.status).toBe('degraded');
    monitor.stop();
  });
});
