import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { agent as watchdog, type ProfitWatchdogAgent } from '@tradebus/agent-profit-watchdog';
import { runScenario, type Recorded, type ScenarioRun } from './watchdog-scenario.js';

/**
 * Drift: the RSI-reversion strategy on twenty days of nine real pairs (no fees, so its edge is the
 * strategy's own: 0.22 % per trade, about a tenth of a standard deviation). Played through the
 * whole system, the watchdog's Page-Hinkley test (default settings) must stay quiet. The recorded
 * decisions are then played again into a watchdog of their own, once as they were and once with
 * the edge taken away half way (every later trade's result negated): that must be flagged, after
 * the change and within DETECT_WITHIN trades of it.
 */

const DETECT_WITHIN = 60;
const REPLAYED = new Set(['signal.generated', 'signal.decided', 'trade.opened', 'trade.closed']);

const systems: TradebusSystem[] = [];
afterEach(async () => {
  for (const s of systems.splice(0)) await s.stop();
});

/** The recorded events, played into a fresh watchdog in their order; `change` may alter each closed trade (by its index). */
async function replay(events: Recorded[], change: (trade: BuiltinEvents['trade.closed'], index: number) => BuiltinEvents['trade.closed']) {
  const clock = new VirtualClock(0);
  const store = new MemoryStateStore();
  const system = createSystem({ clock, heartbeatIntervalMs: 3_600_000, validateOnPublish: true, stateStore: () => store, agents: [{ id: 'watchdog', definition: watchdog, config: {} }] });
  systems.push(system);
  const alerts: Array<BuiltinEvents['system.alert']> = [];
  system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload));
  await system.start();
  let closed = 0;
  for (const e of events) {
    if (!REPLAYED.has(e.type)) continue;
    const payload = e.payload as { timestamp?: number; closedAt?: number; openedAt?: number };
    clock.advanceTo(Math.max(clock.now(), payload.timestamp ?? payload.closedAt ?? payload.openedAt ?? 0));
    if (e.type === 'trade.closed') system.bus.publish('trade.closed', change(e.payload as BuiltinEvents['trade.closed'], closed++));
    else system.bus.publish(e.type as 'signal.generated', e.payload as BuiltinEvents['signal.generated']);
  }
  return { alerts: alerts.filter((a) => a.code === 'WATCHDOG_DRIFT'), agent: system.agent<ProfitWatchdogAgent>('watchdog'), closed };
}

describe('profit watchdog: drift of a strategy against its own history', () => {
  let run: ScenarioRun;
  beforeAll(async () => {
    run = await runScenario({ minConfidence: 0, strategy: { type: 'rsi-reversion', id: 'rsi' }, feeRate: 0, watchdog: {} });
  }, 120_000);

  it('does not flag the strategy played through the whole system on the whole data', () => {
    const trades = run.of('trade.closed');
    const mean = trades.reduce((s, t) => s + t.pnlPct, 0) / trades.length;
    expect(trades.length).toBeGreaterThan(200);
    expect(mean).toBeGreaterThan(0);
    expect(run.of('system.alert').filter((a) => a.code === 'WATCHDOG_DRIFT')).toEqual([]);
    const drift = run.watchdog!.snapshot().drift.find((d) => d.strategyId === 'rsi')!;
    expect(drift.trades).toBe(trades.length);
    expect(drift.drifting).toBe(false);
    expect(drift.statistic).toBeLessThanOrEqual(drift.threshold);
  });

  it('flags it within a stated number of trades once its edge is taken away, and not before', async () => {
    const trades = run.of('trade.closed');
    const half = Math.floor(trades.length / 2);

    const asRecorded = await replay(run.events, (t) => t);
    expect(asRecorded.closed).toBe(trades.length);
    expect(asRecorded.alerts).toEqual([]);

    const negated = await replay(run.events, (t, i) => (i < half ? t : { ...t, pnl: -t.pnl, pnlPct: -t.pnlPct }));
    expect(negated.alerts.length).toBeGreaterThan(0);
    const first = negated.alerts[0]!;
    const at = first.details!.tradesSinceStart as number;
    console.log(`edge removed after trade ${half} of ${trades.length}: flagged at trade ${at} (${at - half} trades later), Page-Hinkley ${(first.details!.statistic as number).toFixed(2)}`);
    expect(at).toBeGreaterThan(half);
    expect(at - half).toBeLessThanOrEqual(DETECT_WITHIN);
    expect(first.details!.strategyId).toBe('rsi');
    expect(first.level).toBe('warning');
  }, 120_000);
});
