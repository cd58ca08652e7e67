import { MemoryStateStore, VirtualClock, createSystem } from '@tradebus/core';
import { PaperExchange } from '@tradebus/providers';
import { describe, expect, it } from 'vitest';
import { agent, hotSettings, tradeExecutorConfigSchema, type TradeExecutorAgent, type TradeExecutorConfigInput } from './index.js';

const T0 = Date.UTC(2024, 0, 1);

describe('trade-executor settings changed while running', () => {
  it('accepts its venue guards, rate limit and retries, refuses the rest and retries that make no sense, with the reason', async () => {
    const clock = new VirtualClock(T0);
    const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 10_000 }, fees: { maker: 0, taker: 0 } });
    const base: TradeExecutorConfigInput = { provider: 'venue', mode: 'paper' };
    const system = createSystem({
      clock,
      heartbeatIntervalMs: 24 * 3_600_000,
      stateStore: () => new MemoryStateStore(),
      services: { 'provider:venue': paper },
      agents: [{ id: 'ex', definition: agent, config: base }],
    });
    await system.start();
    const ex = system.agent<TradeExecutorAgent>('ex');
    expect(ex.reconfigurable).toBe(true);
    const live = { ...base, rateLimit: { capacity: 2, refillPerSecond: 1 }, venueBreaker: { failures: 5 }, slippageGuard: { expectedBps: 20 }, retry: { maxAttempts: 2 } };
    await expect(ex.reconfigure(tradeExecutorConfigSchema.parse(live))).resolves.toBeUndefined();
    await expect(ex.reconfigure(tradeExecutorConfigSchema.parse({ ...live, mode: 'live' }))).rejects.toThrow(/mode cannot change while the agent runs: restart the agent/);
    await expect(ex.reconfigure(tradeExecutorConfigSchema.parse({ ...live, retry: { initialDelayMs: 20_000, maxDelayMs: 10_000 } }))).rejects.toThrow(
      /retry.initialDelayMs \(20000\) is above retry.maxDelayMs \(10000\)/,
    );
    expect(hotSettings).toEqual(['rateLimit.*', 'retry.*', 'venueBreaker.*', 'slippageGuard.*']);
    await system.stop();
  });
});
