import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATR, EMA } from '@tradebus/indicators';
import type { PipelineRun } from './pipeline-child.js';
import { fmt, type BenchModule, type BenchResult } from './types.js';

/**
 * Candles per second through the whole agent pipeline of a backtest, against a plain loop that
 * computes the same indicators and signals with no framework. The pipeline: replay provider →
 * price-watchdog (candle.closed) → strategy-runner (EMA 12/26 cross, ATR 14) → trade-manager
 * (aggregation, risk, sizing, order intents, exits) → trade-executor → paper exchange, on a
 * virtual clock, the replay held after every bar time until the agents are idle.
 */

const here = dirname(fileURLToPath(import.meta.url));
const DATA = resolve(here, '..', '..', '..', 'shared', 'data', 'ohlcv');
const BAR_MS = 300_000;
const BARS_PER_SYMBOL = 100_000;
const WARMUP_BARS = 100;
/** Wall-time budgets of the two runs; each rate is measured over what was played by then. */
const PIPELINE_BUDGET_MS = Number(process.env.PIPELINE_BUDGET_MS ?? 60_000);
const DATA_PATH_BUDGET_MS = Number(process.env.DATA_PATH_BUDGET_MS ?? 30_000);
const FILES = [
  'binance-ADA-BTC-5m.csv',
  'binance-DASH-BTC-5m.csv',
  'binance-ETC-BTC-5m.csv',
  'binance-ETH-BTC-5m.csv',
  'binance-LTC-BTC-5m.csv',
  'binance-TRX-BTC-5m.csv',
  'binance-XLM-BTC-5m.csv',
  'binance-XMR-BTC-5m.csv',
  'binance-ZEC-BTC-5m.csv',
  'binance-XRP-ETH-5m.csv',
];

interface Series {
  symbol: string;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

/**
 * The real bars of a file laid end to end until `length`: every other copy runs backwards
 * (open and close swapped), so the series stays continuous, stays in the market's own price
 * range and keeps its real bar-to-bar moves.
 */
function loadSeries(file: string, length: number): Series {
  const rows = readFileSync(join(DATA, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
  const n = rows.length;
  const s: Series = {
    symbol: file.replace(/^binance-/, '').replace(/-5m\.csv$/, '').replace('-', '/'),
    open: new Float64Array(length),
    high: new Float64Array(length),
    low: new Float64Array(length),
    close: new Float64Array(length),
    volume: new Float64Array(length),
  };
  for (let i = 0; i < length; i++) {
    const copy = Math.floor(i / n);
    const k = i % n;
    const backwards = copy % 2 === 1;
    const r = rows[backwards ? n - 1 - k : k]!;
    s.open[i] = backwards ? r[4]! : r[1]!;
    s.high[i] = r[2]!;
    s.low[i] = r[3]!;
    s.close[i] = backwards ? r[1]! : r[4]!;
    s.volume[i] = r[5]!;
  }
  return s;
}

function writeCsv(dir: string, s: Series, start: number): string {
  const file = join(dir, `${s.symbol.replace('/', '-')}.csv`);
  const lines = ['timestamp,open,high,low,close,volume'];
  for (let i = 0; i < s.close.length; i++) lines.push(`${start + i * BAR_MS},${s.open[i]},${s.high[i]},${s.low[i]},${s.close[i]},${s.volume[i]}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function configYaml(files: Array<{ file: string; symbol: string }>, trading: boolean): string {
  const symbols = files.map((f) => f.symbol).join(', ');
  return `
system: { name: pipeline-bench }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: ${WARMUP_BARS}
    sources:
${files.map((f) => `      - { type: candles, file: ${f.file}, symbol: ${f.symbol}, timeframe: 5m }`).join('\n')}
  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 10, ETH: 10 } }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [${symbols}], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [${symbols}]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema, params: { fast: 12, slow: 26 } }]
      indicatorUpdates: { mode: 'off' }
${
  trading
    ? `  - id: manager
    use: trade-manager
    config: { timeframe: 5m, equity: { initial: 10 }, aggregation: { useTrackRecord: false }, sizing: { kelly: { enabled: false }, maxPositionPct: 10 } }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }`
    : ''
}
`;
}

/**
 * Each pipeline run gets a process of its own: the numbers of one configuration do not depend on
 * what the JIT and the heap kept from another. The child prints its PipelineRun as JSON.
 */
function runPipeline(configPath: string, budgetMs: number): Promise<PipelineRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(here, 'pipeline-child.js'), configPath, String(budgetMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pipeline run of ${configPath} exited with ${code}`));
      try {
        resolvePromise(JSON.parse(out.trim().split('\n').at(-1)!) as PipelineRun);
      } catch (err) {
        reject(new Error(`pipeline run of ${configPath} printed no result: ${out.slice(-500)}`, { cause: err }));
      }
    });
  });
}

function bestBareRate(series: Series[], candles: number): { rate: number; signals: number } {
  bareLoop(series, candles); // lets the JIT compile it first
  let best = 0;
  let signals = 0;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const r = bareLoop(series, candles);
    best = Math.max(best, r.candles / ((performance.now() - t0) / 1000));
    signals = r.signals;
  }
  return { rate: best, signals };
}

function describeRun(r: PipelineRun, budgetMs: number, bareSignals: number): string {
  const all = FILES.length * (BARS_PER_SYMBOL - WARMUP_BARS);
  const signals =
    r.signals === bareSignals ? `signals match the bare loop (${r.signals})` : `signal counts differ: ${r.signals} from the strategy-runner, ${bareSignals} from the bare loop`;
  return (
    `${r.played.toLocaleString('en')} candles played${r.complete ? '' : ` (stopped at the ${budgetMs / 1000} s budget, of ${all.toLocaleString('en')})`} ` +
    `in ${(r.wallMs / 1000).toFixed(1)} s wall including ${(r.startMs / 1000).toFixed(1)} s of loading and start-up (playing alone: ${fmt(r.playRate)} candles/s); ${r.events.toLocaleString('en')} bus events (${(r.events / Math.max(1, r.played)).toFixed(1)} per candle), ` +
    `${r.trades} trades, ${r.orders} orders; peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB; ${signals}.`
  );
}

/**
 * The same work without the framework: bars in time order (bar i of every symbol, then i + 1),
 * EMA 12, EMA 26 and ATR 14 per symbol, the ema-cross rule with its confidence and ATR stop and
 * target. Returns the signals of the played bars (after the warm-up), up to `candles` candles.
 */
function bareLoop(series: Series[], candles: number): { signals: number; candles: number } {
  const state = series.map(() => ({ fast: new EMA(12), slow: new EMA(26), atr: new ATR(14), bars: 0, pf: Number.NaN, ps: Number.NaN }));
  let signals = 0;
  let done = 0;
  let checksum = 0;
  const length = series[0]!.close.length;
  for (let i = 0; i < length && done < candles; i++) {
    for (let s = 0; s < series.length && done < candles; s++) {
      const x = series[s]!;
      const st = state[s]!;
      const close = x.close[i]!;
      const fast = st.fast.update(close);
      const slow = st.slow.update(close);
      const atr = st.atr.update({ high: x.high[i]!, low: x.low[i]!, close });
      st.bars++;
      if (i >= WARMUP_BARS) done++;
      if (fast !== undefined && slow !== undefined && atr !== undefined && st.bars >= 27 && i >= WARMUP_BARS) {
        const up = st.pf <= st.ps && fast > slow;
        const down = st.pf >= st.ps && fast < slow;
        if (up || down) {
          const dir = up ? 1 : -1;
          const angle = atr > 0 ? Math.abs(fast - slow - (st.pf - st.ps)) / atr : 0;
          const confidence = 0.35 + 0.6 * (1 - Math.exp(-angle * 6));
          const stop = close - dir * 2 * atr;
          const target = close + dir * 3 * atr;
          checksum += confidence + stop + target;
          signals++;
        }
      }
      if (fast !== undefined && slow !== undefined) {
        st.pf = fast;
        st.ps = slow;
      }
    }
  }
  if (Number.isNaN(checksum)) throw new Error('bare loop produced NaN');
  return { signals, candles: done };
}

const bench: BenchModule = {
  title: 'Backtest pipeline (candles through every agent)',
  target: '≥ 1M candles/s through the agents; ≥ 0.1× the bare loop',
  description:
    `${FILES.length} symbols of real Binance 5-minute candles (the shared ohlcv files, each laid end to end, every other copy backwards, ` +
    `to ${BARS_PER_SYMBOL.toLocaleString('en')} bars per symbol: ${(FILES.length * BARS_PER_SYMBOL).toLocaleString('en')} candles), ` +
    'one EMA-cross strategy, run by `runBacktest`: replay provider → price-watchdog → strategy-runner → trade-manager → trade-executor → paper exchange ' +
    `on a virtual clock, the replay held after every bar time (ten candles) until the agents are idle. Each configuration runs in a process of its own. The rate counts the whole runBacktest call, loading the files included; the notes give the playing rate alone. The run stops after ${PIPELINE_BUDGET_MS / 1000} s of wall time and the rate is ` +
    'measured over the candles played by then. The peer is a plain loop over the same candles computing the same indicators (the @tradebus/indicators ' +
    'EMA and ATR) and the same cross signals, with no bus, agents, orders or accounting; its signal count over the same candles is checked against ' +
    "the strategy-runner's. Peak memory is the process RSS sampled during the pipeline run.",
  async run(): Promise<BenchResult[]> {
    const start = Date.UTC(2020, 0, 1);
    const series = FILES.map((f) => loadSeries(f, BARS_PER_SYMBOL));
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-pipeline-bench-'));
    try {
      const files = series.map((s) => ({ file: writeCsv(dir, s, start), symbol: s.symbol }));
      const fullPath = join(dir, 'full.yaml');
      writeFileSync(fullPath, configYaml(files, true));
      const dataPath = join(dir, 'data-path.yaml');
      writeFileSync(dataPath, configYaml(files, false));

      const full = await runPipeline(fullPath, PIPELINE_BUDGET_MS);
      const fullBare = bestBareRate(series, full.played);
      const data = await runPipeline(dataPath, DATA_PATH_BUDGET_MS);
      const dataBare = bestBareRate(series, data.played);
      return [
        {
          name: `full agent pipeline, ${FILES.length} symbols, EMA cross`,
          ours: full.rate,
          peer: fullBare.rate,
          peerName: 'bare loop (same indicators and signals)',
          unit: 'candles/s',
          ratio: full.rate / fullBare.rate,
          notes: describeRun(full, PIPELINE_BUDGET_MS, fullBare.signals),
        },
        {
          name: 'market data path only (replay → price-watchdog → strategy-runner)',
          ours: data.rate,
          peer: dataBare.rate,
          peerName: 'bare loop (same indicators and signals)',
          unit: 'candles/s',
          ratio: data.rate / dataBare.rate,
          notes: `no trade-manager, trade-executor or orders: the cost of the data path and the strategy alone. ${describeRun(data, DATA_PATH_BUDGET_MS, dataBare.signals)}`,
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
