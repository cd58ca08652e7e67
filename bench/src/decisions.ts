import { MemoryStateStore, VirtualClock, createSystem } from '@tradebus/core';
import { agent as tradeManager, type TradeManagerConfigInput } from '@tradebus/agent-trade-manager';
import type { BenchModule, BenchResult } from './types.js';

const T0 = Date.UTC(2024, 0, 1);
const SYMBOLS = 20;
const MANAGER_ROUNDS = 200;

/**
 * The trade manager deciding rounds of 60 entry signals on 20 symbols (per symbol two strategies
 * just below the minimum confidence, so second chance is asked about them, and one strong), the
 * entries filled at once by a stand-in venue, then 20 exits.
 */
async function managerRate(settings: Pick<TradeManagerConfigInput, 'aggregation' | 'allocation'>): Promise<number> {
  const clock = new VirtualClock(T0);
  const system = createSystem({
    clock,
    heartbeatIntervalMs: 24 * 3_600_000,
    stateStore: () => new MemoryStateStore(),
    agents: [
      {
        id: 'tm',
        definition: tradeManager,
        config: {
          equity: { initial: 1e9 },
          ...settings,
          sizing: { riskPerTradePct: 0.01, confidence: { enabled: false }, kelly: { enabled: false } },
          limits: { maxOpenPositions: 0, maxTradesPerDay: 0, maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0 },
          breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 },
          exits: { protectiveOrdersAtVenue: false },
          counterfactual: { enabled: false },
          positionSnapshotIntervalMs: 0,
        },
      },
    ],
  });
  let fill = 0;
  system.bus.subscribe('order.requested', (e) => {
    const r = e.payload;
    system.bus.publish('order.updated', {
      clientOrderId: r.clientOrderId,
      symbol: r.symbol,
      side: r.side,
      type: r.type,
      status: 'filled',
      quantity: r.quantity,
      filledQuantity: r.quantity,
      averagePrice: 100,
      reduceOnly: r.reduceOnly,
      purpose: r.purpose,
      tradeId: r.tradeId,
      fills: [{ tradeId: `f${++fill}`, price: 100, quantity: r.quantity, fee: 0, feeCurrency: 'USDT', liquidity: 'taker', timestamp: clock.now() }],
      fee: 0,
      timestamp: clock.now(),
    });
  });
  await system.start();
  const tm = system.agent('tm') as unknown as { whenIdle(): Promise<void> };
  let opened = 0;
  system.bus.subscribe('trade.opened', () => void opened++);
  const start = performance.now();
  for (let round = 0; round < MANAGER_ROUNDS; round++) {
    for (let s = 0; s < SYMBOLS; s++) {
      const base = { symbol: `S${s}/USDT`, price: 100, stopLoss: 98 + (s % 3) * 0.5, reason: 'bench', timestamp: clock.now() };
      system.bus.publish('signal.generated', { ...base, id: `a:${round}:${s}`, strategyId: 'a', side: 'long', confidence: 0.46, metadata: { adx: 20 + (s % 20) } });
      system.bus.publish('signal.generated', { ...base, id: `b:${round}:${s}`, strategyId: 'b', side: s % 3 === 0 ? 'short' : 'long', confidence: 0.44, stopLoss: s % 3 === 0 ? 102 : base.stopLoss });
      system.bus.publish('signal.generated', { ...base, id: `c:${round}:${s}`, strategyId: 'c', side: 'long', confidence: 0.5 + (s % 10) / 20 });
    }
    await tm.whenIdle();
    for (let s = 0; s < SYMBOLS; s++) {
      system.bus.publish('signal.generated', { id: `x:${round}:${s}`, strategyId: 'c', symbol: `S${s}/USDT`, side: 'flat', confidence: 1, price: 100, reason: 'bench', timestamp: clock.now() });
    }
    await tm.whenIdle();
    clock.advanceTo(clock.now() + 300_000);
  }
  const seconds = (performance.now() - start) / 1000;
  await system.stop();
  if (opened !== MANAGER_ROUNDS * SYMBOLS) throw new Error(`expected ${MANAGER_ROUNDS * SYMBOLS} trades opened, saw ${opened}`);
  return MANAGER_ROUNDS / seconds;
}

const AGREEMENT_ONLY = { minConfidence: 0.5, secondChance: { enabled: true } };
const EVERY_FACTOR = {
  minConfidence: 0.5,
  secondChance: {
    enabled: true,
    agreement: { boost: 0.02 },
    trend: { enabled: true },
    adx: { enabled: true },
    pattern: { enabled: true },
    disagreement: { enabled: true },
    weak: { types: ['b'] },
  },
};

const module: BenchModule = {
  title: 'Decisions: second chance and allocation',
  description:
    'The trade manager deciding rounds of 60 entry signals on 20 symbols (per symbol two strategies just below the minimum confidence, so second chance weighs them, and one strong one) and 20 exits, with a stand-in venue that fills at once and state in memory: every second-chance factor on (regime, ADX, learned pattern, disagreement, weak types) against agreement alone, and the allocation auction on against off.',
  async run(): Promise<BenchResult[]> {
    let base = 0;
    let factors = 0;
    let allocation = 0;
    for (let i = 0; i < 3; i++) {
      base = Math.max(base, await managerRate({ aggregation: AGREEMENT_ONLY }));
      factors = Math.max(factors, await managerRate({ aggregation: EVERY_FACTOR }));
      allocation = Math.max(allocation, await managerRate({ aggregation: AGREEMENT_ONLY, allocation: { enabled: true, budgetPct: 50 } }));
    }
    return [
      { name: 'rounds, every second-chance factor', ours: factors, peer: base, peerName: 'agreement only', unit: 'rounds/s', ratio: factors / base },
      { name: 'rounds, allocation auction on', ours: allocation, peer: base, peerName: 'allocation off', unit: 'rounds/s', ratio: allocation / base },
    ];
  },
};

export default module;
