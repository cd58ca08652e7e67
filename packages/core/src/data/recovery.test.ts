import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, defineAgent, type AgentContext } from '../agent/base-agent.js';
import type { BuiltinEvents } from '../events/builtin.js';
import { createSystem, type TradebusSystem } from '../system.js';
import { DATA_STORE_SERVICE, openDataStore, type DataStore } from './data-store.js';
import type { OrderRecord, PositionRecord } from './repositories.js';

interface RiskState {
  peakEquity: number;
  breakerTripped: boolean;
}

/**
 * The shape of recovery every stateful agent follows: `initialize()` loads what the previous run
 * acknowledged (its own key-value state, plus shared open orders and positions from the data
 * store), and every change is stored before the agent acts on it.
 */
class RiskKeeper extends BaseAgent<{ maxDrawdownPct: number }> {
  risk: RiskState = { peakEquity: 0, breakerTripped: false };
  openOrders: OrderRecord[] = [];
  positions: PositionRecord[] = [];

  constructor(context: AgentContext<{ maxDrawdownPct: number }>) {
    super(context);
  }

  protected override async initialize(): Promise<void> {
    this.risk = (await this.store.get<RiskState>('risk')) ?? { peakEquity: 0, breakerTripped: false };
    const data = this.services.get<DataStore>(DATA_STORE_SERVICE);
    this.openOrders = await data.orders.listOpen();
    this.positions = await data.positions.listOpen();
  }

  protected run(): void {
    this.subscribe(
      'account.updated',
      async (event) => {
        const equity = event.payload.equity;
        const peakEquity = Math.max(this.risk.peakEquity, equity);
        const drawdownPct = peakEquity > 0 ? ((peakEquity - equity) / peakEquity) * 100 : 0;
        const next: RiskState = { peakEquity, breakerTripped: this.risk.breakerTripped || drawdownPct > this.config.maxDrawdownPct };
        // Stored (durably) before anyone hears about it: a restart never forgets a tripped breaker.
        await this.store.set('risk', next);
        this.risk = next;
        this.publish('risk.state', riskState(next, equity, drawdownPct, this.clock.now()));
      },
      { serial: true },
    );
  }
}

function riskState(state: RiskState, equity: number, drawdownPct: number, timestamp: number): BuiltinEvents['risk.state'] {
  return {
    killSwitch: false,
    reducingOnly: state.breakerTripped,
    breakers: [{ name: 'max-drawdown', tripped: state.breakerTripped }],
    equity,
    peakEquity: state.peakEquity,
    drawdownPct,
    dailyPnl: 0,
    openPositions: 0,
    exposure: 0,
    heat: 0,
    timestamp,
  };
}

const riskKeeper = defineAgent({
  kind: 'risk-keeper',
  configSchema: z.object({ maxDrawdownPct: z.number().positive() }),
  create: (context) => new RiskKeeper(context),
});

const account = (equity: number): BuiltinEvents['account.updated'] => ({
  venue: 'paper',
  quoteCurrency: 'USDT',
  equity,
  balances: [],
  timestamp: 1,
});

const dirs: string[] = [];
const running: Array<{ system: TradebusSystem; store: DataStore }> = [];
afterEach(async () => {
  for (const { system, store } of running.splice(0)) {
    await system.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
  }
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function boot(dir: string): Promise<{ system: TradebusSystem; store: DataStore; agent: RiskKeeper }> {
  const store = await openDataStore({ dir, fsync: 'always' });
  const system = createSystem({
    agents: [{ id: 'risk', definition: riskKeeper, config: { maxDrawdownPct: 10 } }],
    stateStore: store.stateStore,
    services: { [DATA_STORE_SERVICE]: store },
    heartbeatIntervalMs: 60_000,
  });
  store.journal.attach(system.createBus('journal'));
  running.push({ system, store });
  await system.start();
  return { system, store, agent: system.agent<RiskKeeper>('risk') };
}

async function shutdown(system: TradebusSystem, store: DataStore): Promise<void> {
  await system.stop();
  await store.close();
  running.splice(running.findIndex((r) => r.system === system), 1);
}

describe('agent recovery from the data store', () => {
  it('restores risk state, open orders and positions after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tradebus-recovery-'));
    dirs.push(dir);

    const first = await boot(dir);
    expect(first.agent.risk).toEqual({ peakEquity: 0, breakerTripped: false });
    for (const equity of [1000, 1200, 1050]) {
      const stored = first.system.bus.waitFor('risk.state', { filter: (e) => e.payload.equity === equity });
      first.system.bus.publish('account.updated', account(equity));
      await stored;
    }
    expect(first.agent.risk).toEqual({ peakEquity: 1200, breakerTripped: true });
    await first.store.orders.recordRequested({
      clientOrderId: 'open-1',
      symbol: 'BTC/USDT',
      side: 'sell',
      type: 'stop_market',
      quantity: 0.5,
      stopPrice: 90,
      reduceOnly: true,
      purpose: 'stop_loss',
      timestamp: 5,
    });
    await first.store.positions.upsert({
      symbol: 'BTC/USDT',
      side: 'long',
      quantity: 0.5,
      entryPrice: 100,
      unrealizedPnl: 0,
      realizedPnl: 0,
      timestamp: 5,
    });
    await shutdown(first.system, first.store);

    const second = await boot(dir);
    expect(second.agent).not.toBe(first.agent);
    expect(second.agent.risk).toEqual({ peakEquity: 1200, breakerTripped: true });
    expect(second.agent.openOrders.map((o) => `${o.clientOrderId}:${o.status}:${o.purpose}`)).toEqual(['open-1:requested:stop_loss']);
    expect(second.agent.positions.map((p) => `${p.symbol}:${p.side}:${p.quantity}`)).toEqual(['BTC/USDT:long:0.5']);
    expect(await second.store.agentState.agents()).toEqual(['risk']);

    // The journal saw the first run's events and can replay them for recovery or audit.
    const peaks: number[] = [];
    for await (const entry of second.store.journal.replay({ type: 'risk.state' })) peaks.push((entry.envelope.payload as { peakEquity: number }).peakEquity);
    expect(peaks).toEqual([1000, 1200, 1200]);
  });

  it('keeps state stores separate per agent and stores copies, not references', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tradebus-recovery-'));
    dirs.push(dir);
    let store = await openDataStore({ dir });
    const a = store.stateStore('agent-a');
    const b = store.stateStore('agent/b'); // any id works: file names are encoded
    const value = { list: [1, 2] };
    await a.set('k', value);
    value.list.push(3);
    await b.set('k', 'other');
    await a.set('gone', 1);
    await a.delete('gone');
    expect(await a.get('k')).toEqual({ list: [1, 2] });
    expect(store.stateStore('agent-a')).toBe(a);
    await store.close();

    store = await openDataStore({ dir });
    expect(await store.stateStore('agent-a').get('k')).toEqual({ list: [1, 2] });
    expect(await store.stateStore('agent-a').keys()).toEqual(['k']);
    expect(await store.stateStore('agent/b').get('k')).toBe('other');
    expect(await store.agentState.agents()).toEqual(['agent-a', 'agent/b']);
    await store.close();
  });
});
