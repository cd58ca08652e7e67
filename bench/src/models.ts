import { createSystem, type AgentDefinition, type BuiltinEvents } from '@tradebus/core';
import { resolveAgentDefinition } from '@tradebus/agent-main';
import { OipModelSource, OnnxModelSource, logisticRegressionOnnx, serveOip } from '@tradebus/models';
import { percentile, readCandleCsv, type BenchModule, type BenchResult, type CsvBar } from './types.js';

/**
 * Model inference and the model runner. Inference: one feature row through the example logistic
 * regression (5 features), in-process with onnxruntime-web (WASM) and over the Open Inference
 * Protocol to a server on 127.0.0.1 in the same process (HTTP/JSON, keep-alive). The runner: the
 * time from publishing `candle.closed` on the in-process bus to receiving the `signal.generated`
 * it causes, for the model runner (features, the ONNX model, the ensemble) and for the strategy
 * runner with EMA-cross (its peer: a synchronous strategy), on the same 2,000 real ETH/BTC bars.
 */

const CALLS = 3_000;
const WARM_CALLS = 300;
/** The example model's weights (examples/model-server/src/model.ts). */
const MODEL = { weights: [-250, -80, 20, -40, 0.04], bias: 0 };
const FEATURES = { returns: [1, 3, 12], volatility: [20], volumeZScore: [20] };

type Bar = CsvBar & { symbol: string; timeframe: string };

function loadBars(): Bar[] {
  return readCandleCsv('examples/model-bot/data/binance-ETH-BTC-5m.csv').map((bar) => ({ symbol: 'ETH/BTC', timeframe: '5m', ...bar }));
}

/** Milliseconds per call of `predict`, sorted. */
async function inferenceLatencies(predict: (x: number[]) => Promise<unknown>): Promise<Float64Array> {
  const rows = Array.from({ length: 64 }, (_, i) => [Math.sin(i) * 0.003, Math.cos(i) * 0.005, Math.sin(i * 3) * 0.01, 0.003 + (i % 5) * 0.001, (i % 7) - 3]);
  for (let i = 0; i < WARM_CALLS; i++) await predict(rows[i % rows.length]!);
  const out = new Float64Array(CALLS);
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await predict(rows[i % rows.length]!);
    out[i] = performance.now() - t0;
  }
  return out.sort();
}

/** Candle→signal.generated latencies (ms, sorted) of one runner over the bars, and how many bars it predicted on. */
async function runnerLatencies(definition: AgentDefinition<unknown, any>, config: unknown, bars: Bar[]): Promise<{ signals: Float64Array; perBar: Float64Array }> {
  // A venue with no history: both runners warm up on the live bars.
  const none = { id: 'none', fetchOHLCV: async () => [], loadMarkets: async () => [], fetchTicker: async () => ({}), fetchOrderBookTop: async () => ({}), watchTicks: () => { throw new Error('not used'); }, watchCandles: () => { throw new Error('not used'); } };
  const system = createSystem({ heartbeatIntervalMs: 3_600_000, services: { 'provider:none': none }, agents: [{ id: 'runner', definition, config }] });
  const signals: number[] = [];
  const perBar: number[] = [];
  let t0 = 0;
  system.bus.subscribe('signal.generated', () => void signals.push(performance.now() - t0));
  await system.start();
  // Warm-up (an empty history) finishes before the first bar.
  await new Promise((r) => setTimeout(r, 50));
  const runner = system.agent('runner') as unknown as { whenIdle?: () => Promise<void> };
  for (const bar of bars) {
    t0 = performance.now();
    system.bus.publish('candle.closed', bar as BuiltinEvents['candle.closed']);
    await runner.whenIdle?.();
    // Synchronous handlers have run by now; an awaited one has finished with whenIdle.
    perBar.push(performance.now() - t0);
  }
  await system.stop();
  return { signals: Float64Array.from(signals).sort(), perBar: Float64Array.from(perBar).sort() };
}

let breakdown = '';

async function run(): Promise<BenchResult[]> {
  const bytes = logisticRegressionOnnx(MODEL);
  const local = await OnnxModelSource.load('reversal', bytes);
  const server = await serveOip([local]);
  const remote = new OipModelSource('reversal', { url: server.url, model: 'reversal', timeoutMs: 5_000 });
  const inProcess = await inferenceLatencies((x) => local.predict(x));
  const loopback = await inferenceLatencies((x) => remote.predict(x));
  await server.close();

  const bars = loadBars();
  const modelRunner = await resolveAgentDefinition('model-runner', { baseDir: process.cwd(), path: 'bench' });
  const strategyRunner = await resolveAgentDefinition('strategy-runner', { baseDir: process.cwd(), path: 'bench' });
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'bench-models-')), 'reversal.onnx');
  writeFileSync(file, bytes);
  const model = await runnerLatencies(
    modelRunner,
    { provider: 'none', symbols: ['ETH/BTC'], timeframe: '5m', features: FEATURES, models: [{ name: 'reversal', source: { kind: 'onnx', file } }], signals: { minConfidence: 0.55 } },
    bars,
  );
  const rule = await runnerLatencies(strategyRunner, { provider: 'none', symbols: ['ETH/BTC'], timeframes: ['5m'], strategies: [{ type: 'ema-cross', id: 'ema-cross' }], indicatorUpdates: { mode: 'off' }, warmup: { bars: 1, retries: 0 } }, bars);
  if (model.signals.length === 0 || rule.signals.length === 0) throw new Error('a runner published no signal');

  const us = (ms: number) => ms * 1_000;
  breakdown = [
    '| measured | p50 | p99 | samples |',
    '|---|---|---|---|',
    `| inference in-process (ONNX, WASM) | ${us(percentile(inProcess, 50)).toFixed(0)} µs | ${us(percentile(inProcess, 99)).toFixed(0)} µs | ${CALLS} |`,
    `| inference over loopback OIP (HTTP/JSON) | ${us(percentile(loopback, 50)).toFixed(0)} µs | ${us(percentile(loopback, 99)).toFixed(0)} µs | ${CALLS} |`,
    `| model runner, candle→signal.generated | ${us(percentile(model.signals, 50)).toFixed(0)} µs | ${us(percentile(model.signals, 99)).toFixed(0)} µs | ${model.signals.length} signals |`,
    `| model runner, candle→bar done (every bar) | ${us(percentile(model.perBar, 50)).toFixed(0)} µs | ${us(percentile(model.perBar, 99)).toFixed(0)} µs | ${model.perBar.length} bars |`,
    `| strategy runner (EMA cross), candle→signal.generated | ${us(percentile(rule.signals, 50)).toFixed(0)} µs | ${us(percentile(rule.signals, 99)).toFixed(0)} µs | ${rule.signals.length} signals |`,
  ].join('\n');
  const latency = (name: string, ours: Float64Array, peer: Float64Array, p: number, peerName: string, notes?: string): BenchResult => {
    const o = us(percentile(ours, p));
    const q = us(percentile(peer, p));
    return { name, ours: o, peer: q, peerName, unit: 'µs', ratio: q / o, ...(notes === undefined ? {} : { notes }) };
  };
  return [
    latency('inference p50, in-process ONNX vs over loopback OIP', inProcess, loopback, 50, 'loopback OIP server'),
    latency('inference p99, in-process ONNX vs over loopback OIP', inProcess, loopback, 99, 'loopback OIP server'),
    latency('candle→signal.generated p50, model runner vs strategy runner', model.signals, rule.signals, 50, 'strategy runner (EMA cross)'),
    latency('candle→signal.generated p99, model runner vs strategy runner', model.signals, rule.signals, 99, 'strategy runner (EMA cross)'),
  ];
}

const module: BenchModule = {
  title: 'Models: inference and the model runner',
  description:
    'One row of five features through the example logistic regression, in-process (onnxruntime-web, WASM, one thread) and over the Open Inference Protocol to a server on 127.0.0.1 in the same process; then the time from `candle.closed` to the `signal.generated` it causes, model runner against strategy runner, on 2,000 real ETH/BTC 5-minute bars on the in-process bus. Latencies: a ratio below 1 means ours is slower.',
  run,
  markdown: () => breakdown,
};
export default module;
