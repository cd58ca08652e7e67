import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createSystem, type BuiltinEvents, type Envelope, type TradebusSystem } from '@tradebus/core';
import { PERF_STAGES, PipelinePerf, type PerfConfigInput } from './perf.js';

let system: TradebusSystem;
let wall = 0;
let alerts: Array<{ code: string; level: string; details?: Record<string, unknown> }>;

beforeEach(async () => {
  system = createSystem({ agents: [] });
  await system.start();
  wall = 1_000;
  alerts = [];
  system.bus.subscribe('system.alert', (e) => void alerts.push(e.payload));
});

afterEach(async () => {
  await system.stop();
});

function perfWith(config: PerfConfigInput = {}): { perf: PipelinePerf; registry: Registry } {
  const registry = new Registry();
  const perf = new PipelinePerf(system, registry, config, () => wall);
  perf.start();
  return { perf, registry };
}

/**
 * One candle's way to the venue as the agents publish it, the wall clock moved by the given ms
 * before each step: strategy, trade manager (order first, then signal.decided), executor, venue.
 */
function flow(n: number, gaps: { signal: number; decision: number; submitted: number; ack: number }, status: 'filled' | 'accepted' = 'filled'): void {
  const bus = system.bus;
  const candle = bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '5m', timestamp: n * 300_000, open: 1, high: 1, low: 1, close: 1, volume: 1 });
  wall += gaps.signal;
  bus.publish(
    'signal.generated',
    { id: `s${n}`, strategyId: 'ema', symbol: 'BTC/USDT', side: 'long', confidence: 1, price: 1, reason: 'cross', timestamp: n },
    { cause: candle as Envelope },
  );
  wall += gaps.decision;
  const order = { clientOrderId: `o${n}`, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', signalId: `s${n}`, timestamp: n } as const;
  bus.publish('order.requested', order);
  wall += 0.25; // the decision counts from the first of the two: this gap is in no stage
  bus.publish('signal.decided', { signalId: `s${n}`, strategyId: 'ema', symbol: 'BTC/USDT', side: 'long', decision: 'accepted', reasons: [], clientOrderId: `o${n}`, timestamp: n });
  wall += gaps.submitted - 0.25;
  const update: Omit<BuiltinEvents['order.updated'], 'status'> = { clientOrderId: `o${n}`, symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 1, filledQuantity: 0, fills: [], fee: 0, timestamp: n };
  bus.publish('order.updated', { ...update, status: 'submitted' });
  wall += gaps.ack;
  bus.publish('order.updated', { ...update, status });
  // Later updates of the same order are not a second answer.
  wall += 1_000;
  bus.publish('order.updated', { ...update, status: 'filled' });
}

describe('decision pipeline timings', () => {
  it('measures each stage from the arrival of its events, and a flow adds up to its cycle', async () => {
    const { perf, registry } = perfWith();
    flow(1, { signal: 2, decision: 3, submitted: 5, ack: 40 });
    const snap = perf.snapshot();
    expect(snap.recentFlows).toEqual([
      { symbol: 'BTC/USDT', clientOrderId: 'o1', stagesMs: { candle_to_signal: 2, signal_to_decision: 3, decision_to_order: 5, order_to_ack: 40, cycle: 50 } },
    ]);
    expect(snap.stages.order_to_ack).toMatchObject({ count: 1, p50Ms: 40, p99Ms: 40, maxMs: 40, thresholdMs: 5_000, slow: false });
    expect(snap.memory.rss).toBeGreaterThan(0);
    const text = await registry.metrics();
    for (const [stage, seconds] of [['candle_to_signal', 0.002], ['cycle', 0.05]] as const) {
      expect(text).toContain(`tradebus_pipeline_stage_seconds_sum{stage="${stage}"} ${seconds}`);
      expect(text).toContain(`tradebus_pipeline_stage_seconds_count{stage="${stage}"} 1`);
    }
    perf.stop();
  });

  it('takes the p99 by nearest rank over the window only', () => {
    const { perf } = perfWith({ windowMs: 1_000_000 });
    const acks = Array.from({ length: 150 }, (_, i) => ((i * 37) % 150) + 1);
    for (const [i, ack] of acks.entries()) flow(i, { signal: 1, decision: 1, submitted: 1, ack });
    // Independent nearest-rank p99 and p50 of the 150 acks: the ceil(0.99·n)-th and ceil(0.5·n)-th smallest.
    const sorted = [...acks].sort((a, b) => a - b);
    const s = perf.summary().order_to_ack;
    expect(s.count).toBe(150);
    expect(s.p99Ms).toBe(sorted[Math.ceil(0.99 * 150) - 1]);
    expect(s.p50Ms).toBe(sorted[Math.ceil(0.5 * 150) - 1]);
    wall += 1_000_001;
    expect(perf.summary().order_to_ack).toMatchObject({ count: 0, p99Ms: null });
    perf.stop();
  });

  it('raises PERF_SLOW once per stage whose p99 is over a threshold of 0, and PERF_RECOVERED when it is back under', () => {
    const zero = { candleToSignal: 0, signalToDecision: 0, decisionToOrder: 0, orderToAck: 0, cycle: 0 };
    const { perf } = perfWith({ minSamples: 1, windowMs: 60_000, thresholdsMs: zero });
    perf.check();
    expect(alerts).toEqual([]);
    flow(1, { signal: 2, decision: 3, submitted: 5, ack: 40 });
    perf.check();
    perf.check();
    const slow = alerts.filter((a) => a.code === 'PERF_SLOW');
    expect(slow.map((a) => a.details?.stage).sort()).toEqual([...PERF_STAGES].sort());
    expect(slow.every((a) => a.level === 'warning' && a.details?.thresholdMs === 0)).toBe(true);
    expect(slow.find((a) => a.details?.stage === 'cycle')?.details).toMatchObject({ p99Ms: 50, samples: 1 });
    expect(perf.snapshot().stages.cycle.slow).toBe(true);
    wall += 60_001;
    perf.check();
    expect(alerts.filter((a) => a.code === 'PERF_RECOVERED').map((a) => a.details?.stage).sort()).toEqual([...PERF_STAGES].sort());
    perf.stop();
  });

  it('raises nothing under the thresholds or with fewer samples than minSamples', () => {
    const { perf } = perfWith({ minSamples: 3, thresholdsMs: { orderToAck: 30 } });
    flow(1, { signal: 1, decision: 1, submitted: 1, ack: 100 });
    flow(2, { signal: 1, decision: 1, submitted: 1, ack: 100 });
    perf.check();
    expect(alerts).toEqual([]);
    flow(3, { signal: 1, decision: 1, submitted: 1, ack: 10 });
    perf.check();
    expect(alerts.map((a) => [a.code, a.details?.stage])).toEqual([['PERF_SLOW', 'order_to_ack']]);
    perf.stop();
  });

  it('times orders of no signal from their request, and keeps an unknown cause out of the stages', () => {
    const { perf } = perfWith();
    const bus = system.bus;
    bus.publish('signal.generated', { id: 'orphan', strategyId: 'ema', symbol: 'BTC/USDT', side: 'long', confidence: 1, price: 1, reason: 'x', timestamp: 1 }, { causationId: 'not-seen' });
    bus.publish('order.requested', { clientOrderId: 'stop1', symbol: 'BTC/USDT', side: 'sell', type: 'stop_market', quantity: 1, stopPrice: 0.9, reduceOnly: true, purpose: 'stop_loss', timestamp: 1 });
    wall += 7;
    const update: Omit<BuiltinEvents['order.updated'], 'status'> = { clientOrderId: 'stop1', symbol: 'BTC/USDT', side: 'sell', type: 'stop_market', quantity: 1, filledQuantity: 0, fills: [], fee: 0, timestamp: 1 };
    bus.publish('order.updated', { ...update, status: 'submitted' });
    wall += 11;
    bus.publish('order.updated', { ...update, status: 'accepted' });
    const s = perf.summary();
    expect([s.candle_to_signal.count, s.signal_to_decision.count, s.cycle.count]).toEqual([0, 0, 0]);
    expect([s.decision_to_order.p50Ms, s.order_to_ack.p50Ms]).toEqual([7, 11]);
    expect(perf.snapshot().recentFlows).toEqual([]);
    perf.stop();
  });

  it('rejects an invalid setting with the key that is wrong', () => {
    expect(() => new PipelinePerf(system, new Registry(), { thresholdsMs: { cycle: -1 } })).toThrow(/cycle/);
    expect(() => new PipelinePerf(system, new Registry(), { windowMs: 0 })).toThrow(/windowMs/);
  });
});
