import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock, createSystem, openDataStore, type BuiltinEvents, type DataStore, type TradebusSystem } from '@tradebus/core';
import { agent, type ProfitWatchdogAgent, type ProfitWatchdogConfigInput } from './index.js';

const T0 = Date.UTC(2026, 0, 5);
const open: Array<{ system: TradebusSystem; data: DataStore }> = [];
afterEach(async () => {
  for (const { system, data } of open.splice(0)) {
    await system.stop();
    await data.close();
  }
});

async function start(dir: string, config: ProfitWatchdogConfigInput, clock: VirtualClock) {
  const data = await openDataStore({ dir, fsync: 'batch' });
  const system = createSystem({ clock, heartbeatIntervalMs: 3_600_000, validateOnPublish: true, stateStore: data.stateStore, agents: [{ id: 'watchdog', definition: agent, config }] });
  await system.start();
  const entry = { system, data };
  open.push(entry);
  const alerts: Array<BuiltinEvents['system.alert']> = [];
  system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload));
  return {
    agent: system.agent<ProfitWatchdogAgent>('watchdog'),
    bus: system.bus,
    alerts,
    async stop() {
      open.splice(open.indexOf(entry), 1);
      await system.stop();
      await data.close();
    },
  };
}

type Bus = TradebusSystem['bus'];

/** One entry signal and what became of it: a trade (accepted, optionally still open) or a counterfactual (rejected). */
function decision(bus: Bus, clock: VirtualClock, i: number, o: { strategyId: string; symbol: string; confidence: number; accepted: boolean; pnlPct: number; close?: boolean }): void {
  const id = `s${i}`;
  const at = clock.now();
  bus.publish('signal.generated', { id, strategyId: o.strategyId, symbol: o.symbol, side: 'long', confidence: o.confidence, price: 100, reason: 'test', timestamp: at });
  if (o.accepted) {
    bus.publish('signal.decided', { signalId: id, strategyId: o.strategyId, symbol: o.symbol, side: 'long', decision: 'accepted', reasons: [], timestamp: at });
    bus.publish('trade.opened', { tradeId: `t${i}`, symbol: o.symbol, side: 'long', quantity: 1, entryPrice: 100, strategyId: o.strategyId, signalId: id, fees: 0, openedAt: at });
    if (o.close !== false) closeTrade(bus, clock, i, o);
  } else {
    bus.publish('signal.decided', { signalId: id, strategyId: o.strategyId, symbol: o.symbol, side: 'long', decision: 'rejected', reasons: [`adjusted confidence ${o.confidence} is below the minimum 0.5`], timestamp: at });
    bus.publish('signal.decided', {
      signalId: id,
      strategyId: o.strategyId,
      symbol: o.symbol,
      side: 'long',
      decision: 'outcome',
      reasons: ['would have closed at take_profit'],
      outcome: { exitPrice: 100 * (1 + o.pnlPct / 100), pnlPct: o.pnlPct, exitReason: 'take_profit', closedAt: at },
      timestamp: at,
    });
  }
  clock.advanceBy(60_000);
}

function closeTrade(bus: Bus, clock: VirtualClock, i: number, o: { strategyId: string; symbol: string; pnlPct: number }): void {
  bus.publish('trade.closed', {
    tradeId: `t${i}`,
    symbol: o.symbol,
    side: 'long',
    quantity: 1,
    entryPrice: 100,
    exitPrice: 100 * (1 + o.pnlPct / 100),
    pnl: o.pnlPct,
    pnlPct: o.pnlPct,
    fees: 0,
    strategyId: o.strategyId,
    exitReason: 'take_profit',
    openedAt: clock.now() - 60_000,
    closedAt: clock.now(),
  });
}

/** A fixed, varied sequence: no randomness, so a failure replays the same. */
const pnlOf = (i: number): number => Math.sin(i * 1.7) * 2 + (i % 3 === 0 ? -0.5 : 0.4);

describe('profit watchdog state', () => {
  it('survives a restart: windows, drift test and signals still waiting for their outcome', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-watchdog-state-'));
    const clock = new VirtualClock(T0);
    const config: ProfitWatchdogConfigInput = { windowSize: 30, reportEvery: 1000, recommendations: { tunables: [{ agent: 'manager', current: 0.3 }] } };
    const first = await start(join(dir, 'data'), config, clock);
    for (let i = 0; i < 120; i++) {
      decision(first.bus, clock, i, { strategyId: i % 2 === 0 ? 'a' : 'b', symbol: i % 3 === 0 ? 'ETH/BTC' : 'LTC/BTC', confidence: 0.2 + (i % 8) / 10, accepted: i % 4 !== 0, pnlPct: pnlOf(i) });
    }
    // Accepted, trade open: its outcome comes after the restart.
    decision(first.bus, clock, 500, { strategyId: 'a', symbol: 'ETH/BTC', confidence: 0.9, accepted: true, pnlPct: 3, close: false });
    const before = first.agent.snapshot();
    const recordsBefore = first.agent.records();
    expect(before.outcomes).toBe(120);
    await first.stop();

    const second = await start(join(dir, 'data'), config, clock);
    const after = second.agent.snapshot();
    expect(second.agent.records()).toEqual(recordsBefore);
    expect(after.groups).toEqual(before.groups);
    expect(after.drift).toEqual(before.drift);
    expect(after.outcomes).toBe(120);
    expect(after.recommendations.map((r) => ({ ...r, id: '' }))).toEqual(before.recommendations.map((r) => ({ ...r, id: '' })));

    closeTrade(second.bus, clock, 500, { strategyId: 'a', symbol: 'ETH/BTC', pnlPct: 3 });
    const last = second.agent.records().find((r) => r.signalId === 's500')!;
    expect(last).toMatchObject({ signalId: 's500', decision: 'accepted', confidence: 0.9, pnlPct: 3 });
    expect(second.agent.snapshot().outcomes).toBe(121);
  });

  it('works out decision quality per window as defined: winners, losers, false positives and negatives, expectancy interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-watchdog-quality-'));
    const clock = new VirtualClock(T0);
    const w = await start(join(dir, 'data'), { windowSize: 40, reportEvery: 1000 }, clock);
    const made: Array<{ accepted: boolean; pnlPct: number }> = [];
    for (let i = 0; i < 100; i++) {
      const o = { strategyId: 'a', symbol: 'ETH/BTC', confidence: 0.5, accepted: i % 5 !== 0, pnlPct: pnlOf(i) };
      made.push(o);
      decision(w.bus, clock, i, o);
    }
    const g = w.agent.snapshot().groups.find((x) => x.strategyId === 'a' && x.symbol === undefined)!;
    const win = made.slice(-40);
    const acc = win.filter((r) => r.accepted);
    const rej = win.filter((r) => !r.accepted);
    const aw = acc.filter((r) => r.pnlPct > 0).length;
    const al = acc.length - aw;
    const rw = rej.filter((r) => r.pnlPct > 0).length;
    const rl = rej.length - rw;
    expect(g.decisions).toBe(40);
    expect(g.acceptanceQuality).toBeCloseTo(aw / acc.length, 12);
    expect(g.rejectionQuality).toBeCloseTo(rl / rej.length, 12);
    expect(g.falsePositiveRate).toBeCloseTo(al / (al + rl), 12);
    expect(g.falseNegativeRate).toBeCloseTo(rw / (rw + aw), 12);
    const m = acc.reduce((s, r) => s + r.pnlPct, 0) / acc.length;
    const sd = Math.sqrt(acc.reduce((s, r) => s + (r.pnlPct - m) ** 2, 0) / (acc.length - 1));
    expect(g.expectancyPct).toBeCloseTo(m, 12);
    // 95 % Student t interval; t(0.975, 31) = 2.0395 from the table.
    expect(acc.length).toBe(32);
    expect(g.expectancyHighPct! - m).toBeCloseTo((2.0395 * sd) / Math.sqrt(32), 3);
    // Per regime too: candles never came, so every signal's regime is unknown.
    expect(w.agent.snapshot().groups.some((x) => x.regime === 'unknown')).toBe(true);
  });

  it('alerts on underperformance and missed opportunities with the numbers behind them, once per cooldown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-watchdog-alerts-'));
    const clock = new VirtualClock(T0);
    const w = await start(join(dir, 'data'), { windowSize: 40, minWindow: 10, reportEvery: 20, alerts: { cooldownOutcomes: 100 } }, clock);
    // Accepted trades lose about 1 %, rejected signals would have made about 1 %.
    for (let i = 0; i < 80; i++) decision(w.bus, clock, i, { strategyId: 'a', symbol: 'ETH/BTC', confidence: 0.5, accepted: i % 2 === 0, pnlPct: (i % 2 === 0 ? -1 : 1) + Math.sin(i) * 0.3 });
    const under = w.alerts.filter((a) => a.code === 'WATCHDOG_UNDERPERFORMANCE');
    const missed = w.alerts.filter((a) => a.code === 'WATCHDOG_MISSED_OPPORTUNITIES');
    // Three groups (strategy, × symbol, × regime), each alerted once within the cooldown.
    expect(under).toHaveLength(3);
    expect(missed).toHaveLength(3);
    const d = under.find((a) => a.details!.symbol === undefined)!.details!;
    // At the first report (20 outcomes): 10 accepted, all losing.
    const accepted = Array.from({ length: 10 }, (_, k) => -1 + Math.sin(2 * k) * 0.3);
    expect(d.accepted).toBe(10);
    expect(d.expectancyPct as number).toBeCloseTo(accepted.reduce((s, x) => s + x, 0) / 10, 12);
    expect(d.expectancyHighPct as number).toBeLessThan(0);
    expect(missed[0]!.details!.missedRate).toBe(1);
  });
});
