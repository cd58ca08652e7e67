import { MemoryStateStore, VirtualClock, createSystem } from '@tradebus/core';
import { PaperExchange } from '@tradebus/providers';
import { describe, expect, it } from 'vitest';
import { accountSyncConfigSchema, agent, hotSettings, type AccountSyncAgent, type AccountSyncConfigInput } from './index.js';

const T0 = Date.UTC(2024, 0, 1);

describe('account-sync settings changed while running', () => {
  it('a new interval sets the fetch cadence from then on; the provider is refused naming it', async () => {
    const clock = new VirtualClock(T0);
    const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0, taker: 0 } });
    const base: AccountSyncConfigInput = { provider: 'paper', intervalMs: 10_000, usePushedSnapshots: false, syncOnFills: false, reconcile: { enabled: false } };
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 24 * 3_600_000,
      stateStore: () => new MemoryStateStore(),
      services: { 'provider:paper': paper },
      agents: [{ id: 'sync', definition: agent, config: base }],
    });
    let fetched = 0;
    system.bus.subscribe('account.updated', () => void fetched++);
    await system.start();
    const sync = system.agent<AccountSyncAgent>('sync');
    const after = async (ms: number): Promise<number> => {
      const before = fetched;
      for (let i = 0; i < ms / 1_000; i++) {
        clock.advanceBy(1_000);
        await sync.whenIdle();
      }
      return fetched - before;
    };
    expect(await after(60_000)).toBe(6);
    await sync.reconfigure(accountSyncConfigSchema.parse({ ...base, intervalMs: 30_000, reconcile: { enabled: false, confirmations: 3 } }));
    expect(await after(60_000)).toBe(2);

    await expect(sync.reconfigure(accountSyncConfigSchema.parse({ ...base, provider: 'other' }))).rejects.toThrow(/provider cannot change while the agent runs: restart the agent/);
    expect(await after(60_000)).toBe(2);
    expect(hotSettings).toContain('reconcile.*');
    await system.stop();
  });
});
