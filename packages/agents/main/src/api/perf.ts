import { performance } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { perfSettingsSchema, type Envelope, type Subscription, type TradebusSystem } from '@tradebus/core';

/** The decision pipeline's stages, in the order a candle goes through them. */
export const PERF_STAGES = ['candle_to_signal', 'signal_to_decision', 'decision_to_order', 'order_to_ack', 'cycle'] as const;
export type PerfStage = (typeof PERF_STAGES)[number];


/** The settings of `api.perf`, defined with the rest of the system config. */
export const perfConfigSchema = perfSettingsSchema;
export type PerfConfig = z.output<typeof perfConfigSchema>;
export type PerfConfigInput = z.input<typeof perfConfigSchema>;

const THRESHOLD_KEY: Record<PerfStage, keyof PerfConfig['thresholdsMs']> = {
  candle_to_signal: 'candleToSignal',
  signal_to_decision: 'signalToDecision',
  decision_to_order: 'decisionToOrder',
  order_to_ack: 'orderToAck',
  cycle: 'cycle',
};

/** Order states that only the venue's answer produces: `requested` and `submitted` are the executor's own. */
const VENUE_ANSWER = new Set(['accepted', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired']);

/** One candle's way to the venue: how long each stage took, in ms. */
export interface PerfFlow {
  symbol: string;
  clientOrderId: string;
  stagesMs: Record<PerfStage, number>;
}

export interface StageSummary {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  thresholdMs: number;
  slow: boolean;
}

export interface PerfSnapshot {
  clock: 'monotonic wall time of the API process (performance.now()), at delivery of each event to it';
  windowMs: number;
  stages: Record<PerfStage, StageSummary>;
  /** The last complete flows (candle to venue answer), newest last. */
  recentFlows: PerfFlow[];
  memory: ProcessMemory;
}

/** Process memory in bytes, as process.memoryUsage() gives it. */
export interface ProcessMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Nearest-rank percentile of ascending values. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/** A Map that forgets its oldest entries past `limit`: flows that never finish must not pile up. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.set(key, value);
  if (map.size > limit) map.delete(map.keys().next().value as K);
}

const TRACKED = 4_096;
const MAX_SAMPLES = 20_000;
const RECENT_FLOWS = 20;

interface SignalTimes {
  candleAt: number | undefined;
  signalAt: number;
  decidedAt?: number;
}

interface OrderTimes {
  symbol: string;
  candleAt: number | undefined;
  signalAt: number | undefined;
  /** The trade manager's decision: on the signal, or the order request itself when it has none. */
  decidedAt: number;
  fromSignal: boolean;
  submittedAt?: number;
}

/**
 * Timings of the decision pipeline as this process sees it. Every event is stamped with the
 * monotonic clock when it reaches this process, not with its envelope's `ts`: publishers' clocks
 * differ between processes, and on a market clock (replays) `ts` is market time, which does not
 * move while the agents think. A stage therefore includes the bus delivery to this process.
 */
export class PipelinePerf {
  readonly config: PerfConfig;
  private readonly histogram: Histogram<'stage'>;
  private readonly samples = new Map<PerfStage, Array<{ at: number; ms: number }>>(PERF_STAGES.map((s) => [s, []]));
  private readonly slow = new Set<PerfStage>();
  private readonly causes = new Map<string, number>();
  private readonly signals = new Map<string, SignalTimes>();
  private readonly orders = new Map<string, OrderTimes>();
  private readonly flows: PerfFlow[] = [];
  private readonly subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly system: TradebusSystem,
    registry: Registry,
    config: PerfConfigInput = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.config = perfConfigSchema.parse(config);
    this.histogram = new Histogram({
      name: 'tradebus_pipeline_stage_seconds',
      help: "Decision pipeline stage durations as the API process sees the events: candle_to_signal (strategies), signal_to_decision (trade manager), decision_to_order (executor, to 'submitted'), order_to_ack (venue, to its first answer), cycle (candle to venue answer)",
      labelNames: ['stage'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  start(): void {
    // One subscription per type, not '>': in one process the bus hands an event to its type's
    // subscribers before the wildcard ones, and an agent's handler publishes what the event caused
    // during that hand-out. Subscribed before the agents start (the launcher does), this sees each
    // cause before its effects; a cause seen late only loses its sample.
    for (const type of ['candle.closed', 'price.tick', 'signal.generated', 'signal.decided', 'order.requested', 'order.updated'] as const) {
      this.subscriptions.push(this.system.bus.subscribe(type, (e) => this.observe(e)));
    }
    this.timer = setInterval(() => this.check(), this.config.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions.length = 0;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  observe(e: Envelope): void {
    const at = this.now();
    switch (e.type) {
      case 'candle.closed':
      case 'price.tick':
        remember(this.causes, e.id, at, TRACKED);
        return;
      case 'signal.generated': {
        const p = e.payload as { id: string };
        const candleAt = e.causationId === undefined ? undefined : this.causes.get(e.causationId);
        if (candleAt !== undefined) this.sample('candle_to_signal', at - candleAt, at);
        remember(this.signals, p.id, { candleAt, signalAt: at }, TRACKED);
        return;
      }
      case 'signal.decided': {
        const p = e.payload as { signalId: string; decision: string };
        if (p.decision !== 'outcome') this.decided(p.signalId, at);
        return;
      }
      case 'order.requested': {
        // The trade manager publishes an entry's order before the signal.decided that names it.
        const p = e.payload as { clientOrderId: string; symbol: string; signalId?: string };
        const signal = p.signalId === undefined ? undefined : this.decided(p.signalId, at);
        remember(
          this.orders,
          p.clientOrderId,
          { symbol: p.symbol, candleAt: signal?.candleAt, signalAt: signal?.signalAt, decidedAt: signal?.decidedAt ?? at, fromSignal: signal !== undefined },
          TRACKED,
        );
        return;
      }
      case 'order.updated': {
        const p = e.payload as { clientOrderId: string; status: string; restated?: boolean };
        const order = p.restated === true ? undefined : this.orders.get(p.clientOrderId);
        if (order === undefined) return;
        if (p.status === 'submitted') {
          if (order.submittedAt !== undefined) return;
          order.submittedAt = at;
          this.sample('decision_to_order', at - order.decidedAt, at);
          return;
        }
        if (!VENUE_ANSWER.has(p.status)) return;
        this.orders.delete(p.clientOrderId);
        // An order the executor never announced as submitted (refused before the venue) has no venue time.
        if (order.submittedAt === undefined) return;
        const ack = at - order.submittedAt;
        this.sample('order_to_ack', ack, at);
        if (!order.fromSignal || order.candleAt === undefined || order.signalAt === undefined) return;
        const cycle = at - order.candleAt;
        this.sample('cycle', cycle, at);
        this.flows.push({
          symbol: order.symbol,
          clientOrderId: p.clientOrderId,
          stagesMs: {
            candle_to_signal: order.signalAt - order.candleAt,
            signal_to_decision: order.decidedAt - order.signalAt,
            decision_to_order: order.submittedAt - order.decidedAt,
            order_to_ack: ack,
            cycle,
          },
        });
        if (this.flows.length > RECENT_FLOWS) this.flows.shift();
        return;
      }
      default:
    }
  }

  /** Marks the trade manager's decision on a signal the first time it shows; returns the signal's times. */
  private decided(signalId: string, at: number): SignalTimes | undefined {
    const signal = this.signals.get(signalId);
    if (signal === undefined || signal.decidedAt !== undefined) return signal;
    signal.decidedAt = at;
    this.sample('signal_to_decision', at - signal.signalAt, at);
    return signal;
  }

  private sample(stage: PerfStage, durationMs: number, at: number): void {
    this.histogram.observe({ stage }, durationMs / 1000);
    const list = this.samples.get(stage)!;
    list.push({ at, ms: durationMs });
    if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
  }

  /** Per-stage figures over the window (older samples are dropped here). */
  summary(): Record<PerfStage, StageSummary> {
    const from = this.now() - this.config.windowMs;
    const out = {} as Record<PerfStage, StageSummary>;
    for (const stage of PERF_STAGES) {
      const list = this.samples.get(stage)!;
      const firstKept = list.findIndex((s) => s.at >= from);
      list.splice(0, firstKept === -1 ? list.length : firstKept);
      const sorted = list.map((s) => s.ms).sort((a, b) => a - b);
      out[stage] = {
        count: sorted.length,
        p50Ms: percentile(sorted, 0.5),
        p90Ms: percentile(sorted, 0.9),
        p99Ms: percentile(sorted, 0.99),
        maxMs: sorted.length === 0 ? null : sorted[sorted.length - 1]!,
        thresholdMs: this.config.thresholdsMs[THRESHOLD_KEY[stage]],
        slow: this.slow.has(stage),
      };
    }
    return out;
  }

  snapshot(): PerfSnapshot {
    return {
      clock: 'monotonic wall time of the API process (performance.now()), at delivery of each event to it',
      windowMs: this.config.windowMs,
      stages: this.summary(),
      recentFlows: this.flows.map((f) => ({ ...f, stagesMs: { ...f.stagesMs } })),
      memory: process.memoryUsage(),
    };
  }

  /**
   * Compares each stage's p99 with its threshold: PERF_SLOW when it goes over (once, until it
   * comes back under: an alert per check would drown the others), PERF_RECOVERED when it does.
   */
  check(): void {
    const stages = this.summary();
    for (const stage of PERF_STAGES) {
      const s = stages[stage];
      const over = s.count >= this.config.minSamples && s.p99Ms !== null && s.p99Ms > s.thresholdMs;
      if (over === this.slow.has(stage)) continue;
      const details = { stage, p99Ms: s.p99Ms, thresholdMs: s.thresholdMs, samples: s.count, windowMs: this.config.windowMs };
      if (over) {
        this.slow.add(stage);
        this.alert(
          'warning',
          'PERF_SLOW',
          `The ${stage} stage of the decision pipeline took ${s.p99Ms!.toFixed(1)} ms at the 99th percentile over the last ${this.config.windowMs} ms (threshold ${s.thresholdMs} ms, ${s.count} samples). See GET /perf; a busy machine, a slow venue or a heavy strategy are the usual causes.`,
          details,
        );
      } else {
        this.slow.delete(stage);
        this.alert('info', 'PERF_RECOVERED', `The ${stage} stage of the decision pipeline is back under ${s.thresholdMs} ms at the 99th percentile.`, details);
      }
    }
  }

  private alert(level: 'info' | 'warning', code: string, message: string, details: Record<string, unknown>): void {
    try {
      this.system.bus.publish('system.alert', { level, code, message, details, timestamp: this.system.clock.now() });
    } catch {
      // The bus is going away while the system stops: nobody is left to tell.
    }
  }
}
