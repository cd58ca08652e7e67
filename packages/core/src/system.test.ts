import { describe, expect, it } from 'vitest';
import { createSystem } from './system.js';

describe('TradebusSystem.pendingHandlers', () => {
  it('counts async handler runs on every bus of the system until they settle', async () => {
    const system = createSystem({ monitorHealth: false });
    const watcher = system.createBus('watcher');
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    watcher.subscribe('system.alert', async () => {
      await gate;
    });
    system.bus.subscribe('system.alert', () => undefined);
    expect(system.pendingHandlers).toBe(0);
    system.bus.publish('system.alert', { level: 'info', code: 'T', message: 'one', timestamp: 0 });
    system.bus.publish('system.alert', { level: 'info', code: 'T', message: 'two', timestamp: 0 });
    // The synchronous handler is done at once; the two async runs are not.
    expect(system.pendingHandlers).toBe(2);
    finish();
    await gate;
    await new Promise((r) => setImmediate(r));
    expect(system.pendingHandlers).toBe(0);
  });
});
