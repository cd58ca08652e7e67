import { MemoryStateStore, VirtualClock, createSystem, type SystemAgentSpec } from '@tradebus/core';
import { agent as watchdog, type ProfitWatchdogAgent } from '@tradebus/agent-profit-watchdog';
import { fmt, type BenchModule, type BenchResult } from './types.js';

const T0 = Date.UTC(2024, 0, 1);
const DECISIONS = 20_000;
const STRATEGIES = 5;
const SYMBOLS = 10;
let reportMs = Number.NaN;

/**
 * Decisions followed per second: each one signal.generated, signal.decided, and either
 * trade.opened + trade.closed (accepted) or a counterfactual outcome (rejected), on the local bus
 * with state in memory. With the watchdog (report every 20 outcomes, one tunable of 19
 * candidate values) against the same events with only a subscriber that counts them.
 */
async function decisionsPerSecond(withWatchdog: boolean): Promise<number> {
  const clock = new VirtualClock(T0);
  const store = new MemoryStateStore();
  const agents: SystemAgentSpec[] = withWatchdog
    ? [{ id: 'watchdog', definition: watchdog, config: { reportEvery: 20, historySize: 1000, recommendations: { tunables: [{ agent: 'manager', current: 0.3, min: 0.05, max: 0.95 }] } } }]
    : [];
  const system = createSystem({ clock, heartbeatIntervalMs: 24 * 3_600_000, stateStore: () => store, agents });
  let seen = 0;
  if (!withWatchdog) system.bus.subscribe('>', () => void seen++);
  await system.start();
  const bus = system.bus;
  const started = performance.now();
  for (let i = 0; i < DECISIONS; i++) {
    const id = `s${i}`;
    const strategyId = `st${i % STRATEGIES}`;
    const symbol = `S${i % SYMBOLS}/USDT`;
    const confidence = ((i * 7919) % 100) / 100;
    const pnlPct = Math.sin(i * 1.3) * 2 + (confidence - 0.5);
    const at = clock.now();
    const side = 'long' as const;
    bus.publish('signal.generated', { id, strategyId, symbol, side, confidence, price: 100, reason: 'bench', timestamp: at });
    if (confidence >= 0.3) {
      bus.publish('signal.decided', { signalId: id, strategyId, symbol, side, decision: 'accepted', reasons: [], timestamp: at });
      bus.publish('trade.opened', { tradeId: `t${i}`, symbol, side, quantity: 1, entryPrice: 100, strategyId, signalId: id, fees: 0, openedAt: at });
      bus.publish('trade.closed', { tradeId: `t${i}`, symbol, side, quantity: 1, entryPrice: 100, exitPrice: 100 + pnlPct, pnl: pnlPct, pnlPct, fees: 0, strategyId, exitReason: 'take_profit', openedAt: at, closedAt: at });
    } else {
      bus.publish('signal.decided', { signalId: id, strategyId, symbol, side, decision: 'rejected', reasons: [`adjusted confidence ${confidence} is below the minimum 0.3`], timestamp: at });
      bus.publish('signal.decided', {
        signalId: id,
        strategyId,
        symbol,
        side,
        decision: 'outcome',
        reasons: ['bench'],
        outcome: { exitPrice: 100 + pnlPct, pnlPct, exitReason: 'take_profit', closedAt: at },
        timestamp: at,
      });
    }
    clock.advanceBy(1_000);
  }
  const seconds = (performance.now() - started) / 1000;
  if (withWatchdog) {
    const agent = system.agent<ProfitWatchdogAgent>('watchdog');
    const t = performance.now();
    for (let k = 0; k < 20; k++) agent.snapshot();
    reportMs = (performance.now() - t) / 20;
  }
  await system.stop();
  return DECISIONS / seconds;
}

const bench: BenchModule = {
  title: 'Profit watchdog',
  description:
    'Decisions the profit watchdog follows per second: for each, signal.generated, signal.decided and the outcome (a trade opened and closed, or a counterfactual), 5 strategies on 10 symbols, state in memory, a report every 20 outcomes (decision quality of every window, the drift test, the replay of up to 5,000 outcomes under 19 candidate thresholds). Against the same events delivered to one counting subscriber and no watchdog.',
  async run(): Promise<BenchResult[]> {
    await decisionsPerSecond(true);
    const ours = await bestRateAsync(3, () => decisionsPerSecond(true));
    const peer = await bestRateAsync(3, () => decisionsPerSecond(false));
    return [{ name: 'decisions followed', ours, peer, peerName: 'bus only', unit: 'decisions/s', ratio: ours / peer, notes: `one report (figures and replay): ${fmt(reportMs)} ms` }];
  },
};

async function bestRateAsync(rounds: number, fn: () => Promise<number>): Promise<number> {
  let best = 0;
  for (let i = 0; i < rounds; i++) best = Math.max(best, await fn());
  return best;
}

export default bench;
