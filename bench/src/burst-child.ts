import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_STORE_SERVICE, WallClock, createSystem, openDataStore } from '@tradebus/core';
import { PaperExchange, type OrderRequest } from '@tradebus/providers';
import { agent as tradeManager } from '@tradebus/agent-trade-manager';
import { agent as tradeExecutor } from '@tradebus/agent-trade-executor';

/**
 * A burst: `symbols` signals decided at the same moment (the bars of that many symbols closing in
 * the same second), through the trade manager, the trade executor and a paper venue, with state
 * durable in a data directory (default policy). Run as `node burst-child.js <symbols>`; prints a
 * BurstRun as JSON. Times are from the first signal's publish.
 */

export interface BurstRun {
  symbols: number;
  /** When the last decision (signal.decided), order request, venue call and first order update came. */
  lastDecisionMs: number;
  lastRequestMs: number;
  lastVenueCallMs: number;
  lastUpdateMs: number;
  decisions: number;
  venueCalls: number;
  stateSyncs: number;
  stateAppends: number;
}

async function burst(n: number): Promise<BurstRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-burst-'));
  const data = await openDataStore({ dir, fsync: 'batch', journal: { enabled: false } });
  const clock = new WallClock();
  const symbols = Array.from({ length: n }, (_, i) => `C${String(i).padStart(3, '0')}/USDT`);
  const paper = new PaperExchange({ id: 'paper', clock, quoteCurrency: 'USDT', balances: { USDT: 1e12 }, store: data.stateLog.namespace('venue:paper') });
  await paper.open();
  const now = clock.now();
  for (const symbol of symbols) paper.onCandle({ symbol, timeframe: '5m', timestamp: now - 300_000, open: 100, high: 101, low: 99, close: 100, volume: 1e9, closed: true });
  const system = createSystem({
    clock,
    stateStore: data.stateStore,
    services: { 'provider:paper': paper, [DATA_STORE_SERVICE]: data },
    agents: [
      {
        id: 'manager',
        definition: tradeManager,
        config: {
          equity: { initial: 1e9 },
          aggregation: { minConfidence: 0 },
          sizing: { riskPerTradePct: 0.01, confidence: { enabled: false }, kelly: { enabled: false } },
          limits: { maxOpenPositions: n, maxTradesPerDay: n * 2, maxExposurePerSymbolPct: 100, maxTotalExposurePct: 10_000, maxPortfolioHeatPct: 100 },
          counterfactual: { enabled: false },
        },
      },
      // The venue's request limits do not apply to a paper venue in the same process.
      { id: 'executor', definition: tradeExecutor, dependsOn: ['manager'], config: { provider: 'paper', mode: 'paper', rateLimit: { capacity: n, refillPerSecond: n } } },
    ],
  });
  await system.start();
  const times = { decided: [] as number[], requested: [] as number[], venue: [] as number[], updated: new Map<string, number>() };
  let t0 = 0;
  system.bus.subscribe('signal.decided', () => void times.decided.push(performance.now() - t0));
  system.bus.subscribe('order.requested', () => void times.requested.push(performance.now() - t0));
  system.bus.subscribe('order.updated', (e) => {
    if (!times.updated.has(e.payload.clientOrderId)) times.updated.set(e.payload.clientOrderId, performance.now() - t0);
  });
  const createOrder = paper.createOrder.bind(paper);
  paper.createOrder = (request: OrderRequest) => {
    times.venue.push(performance.now() - t0);
    return createOrder(request);
  };
  const syncsBefore = data.stats().state.syncs;
  const appendsBefore = data.stats().state.appends;
  t0 = performance.now();
  for (const symbol of symbols) {
    system.bus.publish('signal.generated', { id: `burst:${symbol}`, strategyId: 'burst', symbol, side: 'long', confidence: 1, price: 100, stopLoss: 98, reason: 'burst', timestamp: clock.now() });
  }
  const deadline = performance.now() + 60_000;
  while (times.venue.length < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  await (system.agent('executor') as unknown as { whenIdle(): Promise<void> }).whenIdle();
  const state = data.stats().state;
  await system.stop();
  await data.close();
  rmSync(dir, { recursive: true, force: true });
  const last = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));
  return {
    symbols: n,
    lastDecisionMs: last(times.decided),
    lastRequestMs: last(times.requested),
    lastVenueCallMs: last(times.venue),
    lastUpdateMs: last([...times.updated.values()]),
    decisions: times.decided.length,
    venueCalls: times.venue.length,
    stateSyncs: state.syncs - syncsBefore,
    stateAppends: state.appends - appendsBefore,
  };
}

const [count] = process.argv.slice(2);
if (count !== undefined) {
  const run = await burst(Number(count));
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}
