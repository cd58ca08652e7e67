import { describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, silentLogger } from '@tradebus/core';
import { agent, hotSettings, priceWatchdogConfigSchema, type PriceWatchdogAgent, type PriceWatchdogConfigInput } from './index.js';
import { ScriptedProvider, readCandles, settle } from './test-support/scripted-provider.js';

const SYMBOL = 'XRP/ETH';
const TF = '5m';
const BAR = 300_000;
const bars = readCandles(new URL('../test-data/binance-XRP-ETH-5m.csv', import.meta.url), SYMBOL, TF);

describe('price-watchdog settings changed while running', () => {
  const base: PriceWatchdogConfigInput = { provider: 'scripted', symbols: [SYMBOL], timeframes: [TF], ticks: false, stale: { candleIntervals: 3, checkEveryMs: 10_000 } };

  it('a new stale threshold decides the next check; a setting read at start is refused naming it', async () => {
    const clock = new VirtualClock(bars[0]!.timestamp);
    const provider = new ScriptedProvider();
    const system = createSystem({
      clock,
      logger: silentLogger(),
      heartbeatIntervalMs: 3_600_000,
      stateStore: () => new MemoryStateStore(),
      services: { 'provider:scripted': provider },
      agents: [{ id: 'prices', definition: agent, config: base }],
    });
    const stale: string[] = [];
    system.bus.subscribe('system.alert', (e) => void (e.payload.code === 'FEED_STALE' && stale.push(e.payload.message)));
    await system.start();
    await settle();
    const watchdog = system.agent<PriceWatchdogAgent>('prices');
    clock.advanceTo(bars[0]!.timestamp + BAR);
    provider.candleStream(SYMBOL, TF).push(bars[0]!);
    await settle();
    const lastData = clock.now();

    await watchdog.reconfigure(priceWatchdogConfigSchema.parse({ ...base, stale: { candleIntervals: 10, checkEveryMs: 10_000 } }));
    // Past the old threshold (3 bars), within the new one (10 bars): not stale.
    clock.advanceTo(lastData + 3 * BAR + 20_000);
    await settle();
    expect(stale).toEqual([]);
    clock.advanceTo(lastData + 10 * BAR + 20_000);
    await settle();
    expect(stale).toHaveLength(1);

    await expect(watchdog.reconfigure(priceWatchdogConfigSchema.parse({ ...base, timeframes: ['1m'] }))).rejects.toThrow(/timeframes\[0\] cannot change while the agent runs: restart the agent/);
    await expect(watchdog.reconfigure(priceWatchdogConfigSchema.parse({ ...base, stale: { candleIntervals: 3, checkEveryMs: 1_000 } }))).rejects.toThrow(/stale\.checkEveryMs/);
    expect(hotSettings).toEqual(['stale.candleIntervals', 'stale.tickMs']);
    await system.stop();
  });
});
