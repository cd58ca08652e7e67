import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, TradebusError } from '@tradebus/core';
import { timeframeToMs } from '@tradebus/providers';
import { prepareSystem, type PreparedSystem } from '../prepare.js';
import { describeMarket, type BacktestOptions } from './engine.js';
import type { PerformanceMetrics } from './metrics.js';
import { applyOverrides } from './overrides.js';

/**
 * Parameter sweeps: every combination of a grid of config values, each a full backtest of the
 * unchanged agents, run in worker threads (one system per run, so runs never share state) and
 * ranked by a metric. Walk-forward analysis repeats the sweep on rolling in-sample windows and
 * judges the winner of each on the out-of-sample window that follows it.
 */

export interface SweepParameter {
  /** Config path: `agentId.path` or `providers.<name>.path`, e.g. `strategy.strategies[0].params.fast`. */
  path: string;
  values: unknown[];
}

export const RANK_METRICS = [
  'sharpe',
  'sortino',
  'calmar',
  'totalReturn',
  'cagr',
  'profitFactor',
  'winRate',
  'expectancy',
  'netProfit',
  'maxDrawdown',
  'volatility',
] as const;
export type RankMetric = (typeof RANK_METRICS)[number];

/** Metrics where less is better. */
const LOWER_IS_BETTER: ReadonlySet<RankMetric> = new Set<RankMetric>(['maxDrawdown', 'volatility']);

/** The settings of a single run that a sweep passes through to every backtest. */
export type SweepRunOptions = Pick<BacktestOptions, 'riskFreeRate' | 'periodsPerYear' | 'benchmark' | 'logLevel' | 'env'>;

export interface SweepOptions extends SweepRunOptions {
  parameters: SweepParameter[];
  rankBy?: RankMetric;
  /** Worker threads; at most os.availableParallelism(), and never more than there are runs. */
  workers?: number;
  /** Values set in every run, before the grid's. */
  overrides?: Record<string, unknown>;
  from?: number;
  to?: number;
  /** Called after each finished run. */
  onRun?: (done: number, total: number) => void;
}

/** The part of a backtest's result a sweep keeps per run. */
export interface RunSummary {
  metrics: PerformanceMetrics;
  tradeLogSha256: string;
  candles: number;
  wallMs: number;
  warnings: string[];
}

export interface SweepRun {
  /** The grid values of this run, by path. */
  params: Record<string, unknown>;
  /** Position in the ranking, 1 = best; runs whose metric is undefined come last. */
  rank: number;
  score: number | null;
  result?: RunSummary;
  error?: string;
}

export interface SweepResult {
  rankBy: RankMetric;
  workers: number;
  wallMs: number;
  /** Best first. */
  runs: SweepRun[];
}

export class SweepError extends TradebusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BACKTEST_SWEEP', message, options);
  }
}

/** Every combination of the parameters' values, first parameter slowest. */
export function gridCombinations(parameters: readonly SweepParameter[]): Array<Record<string, unknown>> {
  let combos: Array<Record<string, unknown>> = [{}];
  for (const p of parameters) {
    if (p.values.length === 0) throw new ConfigError(`Sweep parameter ${p.path} has no values: list at least one.`, [{ path: p.path, message: 'no values' }]);
    const next: Array<Record<string, unknown>> = [];
    for (const combo of combos) for (const v of p.values) next.push({ ...combo, [p.path]: v });
    combos = next;
  }
  return combos;
}

/** `path=1,2,3` or `path=5..20:5` (start..end:step, end included). */
export function parseGridArgument(text: string): SweepParameter {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--grid '${text}': write path=v1,v2,... or path=start..end:step, e.g. strategy.strategies[0].params.fast=5,9,12.`, [{ path: text, message: 'not path=values' }]);
  const path = text.slice(0, eq).trim();
  const spec = text.slice(eq + 1).trim();
  const range = /^(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/.exec(spec);
  if (range !== null) {
    const [start, end, step] = [Number(range[1]), Number(range[2]), Number(range[3] ?? 1)];
    if (!(step > 0) || end < start) throw new ConfigError(`--grid ${path}: a range needs start ≤ end and a positive step, got '${spec}'.`, [{ path, message: 'bad range' }]);
    const values: number[] = [];
    for (let i = 0; start + i * step <= end + step * 1e-9; i++) values.push(Number((start + i * step).toPrecision(12)));
    if (values.length > 10_000) throw new ConfigError(`--grid ${path}: the range has ${values.length} values; use a larger step.`, [{ path, message: 'range too long' }]);
    return { path, values };
  }
  return {
    path,
    values: spec.split(',').map((v) => {
      const t = v.trim();
      try {
        return JSON.parse(t) as unknown;
      } catch {
        return t;
      }
    }),
  };
}

export function scoreOf(metrics: PerformanceMetrics, rankBy: RankMetric): number | null {
  const v = metrics[rankBy];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Sorts best first; undefined scores last; ties keep grid order so a ranking is reproducible. */
export function rankRuns<T extends { score: number | null }>(runs: T[], rankBy: RankMetric): Array<T & { rank: number }> {
  const sign = LOWER_IS_BETTER.has(rankBy) ? 1 : -1;
  const indexed = runs.map((r, i) => ({ r, i }));
  indexed.sort((a, b) => {
    const x = a.r.score;
    const y = b.r.score;
    if (x === null || y === null) return x === null && y === null ? a.i - b.i : x === null ? 1 : -1;
    return sign * (x - y) || a.i - b.i;
  });
  return indexed.map(({ r }, i) => ({ ...r, rank: i + 1 }));
}

export interface SweepJob {
  overrides: Record<string, unknown>;
  from?: number | undefined;
  to?: number | undefined;
}

/** What the worker thread receives for one run, and sends back. */
export interface WorkerRequest extends SweepJob, SweepRunOptions {
  id: number;
  configPath: string;
}
export type WorkerResponse = { id: number; ok: true; result: RunSummary } | { id: number; ok: false; error: string };

function workerUrl(): URL {
  // Run from the TypeScript sources (tests), the worker is the built file in dist.
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/backtest/sweep-worker.js', import.meta.url) : new URL('./sweep-worker.js', import.meta.url);
}

export function workerCount(requested: number | undefined, jobs: number): number {
  const limit = availableParallelism();
  const wanted = requested ?? limit;
  if (!Number.isInteger(wanted) || wanted < 1) throw new ConfigError(`--workers must be a whole number of at least 1, got ${wanted}.`, [{ path: 'workers', message: 'not a positive integer' }]);
  return Math.max(1, Math.min(wanted, limit, jobs));
}

/** Runs backtests in a pool of worker threads; results come back in the order of `jobs`. */
export async function runPool(configPath: string, jobs: SweepJob[], options: SweepRunOptions & { workers: number; onRun?: ((done: number, total: number) => void) | undefined }): Promise<Array<RunSummary | Error>> {
  const base: SweepRunOptions = { riskFreeRate: options.riskFreeRate, periodsPerYear: options.periodsPerYear, benchmark: options.benchmark, logLevel: options.logLevel ?? 'error', env: options.env };
  return runWorkerPool<Omit<WorkerRequest, 'id'>, RunSummary>(
    workerUrl(),
    jobs.map((job) => ({ configPath, ...base, ...job })),
    options.workers,
    options.onRun,
  );
}

/**
 * Runs `jobs` in a pool of worker threads running the module at `url`: each worker gets one job
 * (`{ id, ...job }`) at a time and answers `{ id, ok, result }` or `{ id, ok: false, error }`.
 * Results come back in the order of `jobs`, a failed job as an Error.
 */
export async function runWorkerPool<J extends object, R>(url: URL, jobs: J[], workerCount: number, onDone?: (done: number, total: number) => void): Promise<Array<R | Error>> {
  const results: Array<R | Error> = new Array(jobs.length);
  if (jobs.length === 0) return results;
  try {
    readFileSync(fileURLToPath(url));
  } catch {
    throw new SweepError(`The sweep worker ${fileURLToPath(url)} is missing: build Tradebus first (npx tsc -b).`);
  }
  let next = 0;
  let done = 0;
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: workerCount }, () => {
        // Workers run the built code: resolving workspace packages to their TypeScript sources (as
        // the test runner asks the parent to) would not load there.
        const worker = new Worker(url, { execArgv: process.execArgv.filter((a, i, all) => !/@tradebus\/source/.test(a) && !(/^(-C|--conditions)$/.test(a) && /@tradebus\/source/.test(all[i + 1] ?? ''))) });
        workers.push(worker);
        return new Promise<void>((resolvePool, rejectPool) => {
          const feed = (): void => {
            if (next >= jobs.length) {
              resolvePool();
              return;
            }
            const id = next++;
            worker.postMessage({ id, ...jobs[id]! });
          };
          worker.on('message', (msg: { id: number; ok: true; result: R } | { id: number; ok: false; error: string }) => {
            results[msg.id] = msg.ok ? msg.result : new SweepError(msg.error);
            done++;
            onDone?.(done, jobs.length);
            feed();
          });
          worker.on('error', (err) => rejectPool(new SweepError(`A sweep worker crashed: ${err.message}`, { cause: err })));
          worker.on('exit', (code) => {
            if (next < jobs.length || done < jobs.length) rejectPool(new SweepError(`A sweep worker exited early (code ${code}).`));
          });
          feed();
        });
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

export function checkRankBy(rankBy: string): RankMetric {
  if (!(RANK_METRICS as readonly string[]).includes(rankBy)) {
    throw new ConfigError(`Cannot rank by '${rankBy}': use one of ${RANK_METRICS.join(', ')}.`, [{ path: 'rank', message: 'unknown metric' }]);
  }
  return rankBy as RankMetric;
}

/** Checks every combination against the agents' schemas before any run starts. */
export function validateCombinations(prepared: PreparedSystem, combos: Array<Record<string, unknown>>, base: Record<string, unknown>): void {
  for (const combo of combos) applyOverrides(prepared, { ...base, ...combo });
}

export async function runSweep(configPath: string, options: SweepOptions): Promise<SweepResult> {
  const started = performance.now();
  const rankBy = checkRankBy(options.rankBy ?? 'sharpe');
  const prepared = await prepareSystem(configPath, { env: options.env });
  const combos = gridCombinations(options.parameters);
  const base = options.overrides ?? {};
  validateCombinations(prepared, combos, base);
  const workers = workerCount(options.workers, combos.length);
  const results = await runPool(
    prepared.source,
    combos.map((c) => ({ overrides: { ...base, ...c }, from: options.from, to: options.to })),
    { ...options, workers },
  );
  const runs = combos.map((params, i) => {
    const r = results[i]!;
    return r instanceof Error ? { params, score: null, error: r.message } : { params, score: scoreOf(r.metrics, rankBy), result: r };
  });
  return { rankBy, workers, wallMs: performance.now() - started, runs: rankRuns(runs, rankBy) };
}

// ---------------------------------------------------------------- walk-forward

export interface WalkForwardOptions extends SweepOptions {
  folds: number;
  /** Share of each fold's window used for fitting (in-sample); the rest tests it. 0.7 by default. */
  inSample?: number;
  /** In-sample windows all start at the beginning of the data instead of rolling forward. */
  anchored?: boolean;
}

export interface Window {
  from: number;
  to: number;
}

export interface WalkForwardFold {
  fold: number;
  inSample: Window;
  outOfSample: Window;
  /** The in-sample winner. */
  best: Record<string, unknown> | undefined;
  inSampleScore: number | null;
  /** The winner's run on the out-of-sample window. */
  result?: RunSummary;
  error?: string;
}

export interface WalkForwardResult {
  rankBy: RankMetric;
  workers: number;
  wallMs: number;
  folds: WalkForwardFold[];
  /** The out-of-sample windows chained together. */
  outOfSample: {
    /** Product of (1 + fold return) − 1. */
    totalReturn: number;
    /** Mean of the folds' out-of-sample rank metric (those that have one). */
    meanScore: number | null;
    trades: number;
    /** Mean out-of-sample return per fold ÷ mean in-sample return of the winners; near 1 means the fit carries over. */
    efficiency: number | null;
  };
}

/**
 * Rolling windows over [start, end]: out-of-sample windows follow one another without gaps, each
 * preceded by its in-sample window, so isLength / (isLength + oosLength) = inSample and
 * isLength + folds × oosLength = end − start. Anchored windows start in-sample at `start`.
 */
export function walkForwardWindows(start: number, end: number, folds: number, inSample: number, anchored: boolean, barMs: number): Array<{ inSample: Window; outOfSample: Window }> {
  if (!Number.isInteger(folds) || folds < 1) throw new ConfigError(`--folds must be a whole number of at least 1, got ${folds}.`, [{ path: 'folds', message: 'not a positive integer' }]);
  if (!(inSample > 0 && inSample < 1)) throw new ConfigError(`--in-sample must be a fraction between 0 and 1 (exclusive), got ${inSample}.`, [{ path: 'inSample', message: 'not in (0, 1)' }]);
  const span = end - start;
  const oos = span / (inSample / (1 - inSample) + folds);
  const is = span - folds * oos;
  // Window edges on bar boundaries, so every run plays whole bars.
  const snap = (t: number): number => start + Math.round((t - start) / barMs) * barMs;
  const out: Array<{ inSample: Window; outOfSample: Window }> = [];
  for (let k = 0; k < folds; k++) {
    const oosFrom = snap(start + is + k * oos);
    const oosTo = k === folds - 1 ? end : snap(start + is + (k + 1) * oos);
    const isFrom = anchored ? start : snap(start + k * oos);
    if (oosTo - oosFrom < barMs || oosFrom - isFrom < barMs) {
      throw new ConfigError(`Walk-forward windows of ${folds} fold(s) are shorter than one bar on this data: use fewer folds.`, [{ path: 'folds', message: 'windows too short' }]);
    }
    out.push({ inSample: { from: isFrom, to: oosFrom }, outOfSample: { from: oosFrom, to: oosTo } });
  }
  return out;
}

/** Time span the replay would play: after the warm-up bars, to the last bar (or endAt). */
export function playedSpan(prepared: PreparedSystem): { start: number; end: number; barMs: number } {
  const { marketName, barIntervalMs } = describeMarket(prepared);
  const raw = prepared.config.providers[marketName] as Record<string, unknown>;
  if (raw.kind !== 'replay') throw new SweepError(`Walk-forward needs a replay provider; '${marketName}' is ${String(raw.kind)}.`);
  const baseDir = typeof raw.baseDir === 'string' ? resolve(prepared.baseDir, raw.baseDir) : prepared.baseDir;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const warmupEnds: number[] = [];
  for (const source of (raw.sources as Array<{ file: string; timeframe?: string; format?: string }> | undefined) ?? []) {
    const path = isAbsolute(source.file) ? source.file : resolve(baseDir, source.file);
    if (source.format === 'json' || path.toLowerCase().endsWith('.json')) throw new SweepError(`Walk-forward reads the time span from CSV files; ${path} is JSON.`);
    const span = source.timeframe !== undefined ? timeframeToMs(source.timeframe) : 0;
    const times: number[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const t = Number(line.slice(0, line.indexOf(',')));
      if (line.indexOf(',') > 0 && Number.isFinite(t)) times.push(t + span);
    }
    times.sort((a, b) => a - b);
    if (times.length === 0) continue;
    first = Math.min(first, times[0]!);
    last = Math.max(last, times[times.length - 1]!);
    if (typeof raw.warmupBars === 'number' && raw.warmupBars > 0) warmupEnds.push(times[Math.min(raw.warmupBars, times.length) - 1]!);
  }
  const toMs = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : undefined);
  const start = toMs(raw.startAt) ?? (warmupEnds.length > 0 ? Math.max(...warmupEnds) : first - barIntervalMs);
  const end = Math.min(last, toMs(raw.endAt) ?? Number.POSITIVE_INFINITY);
  if (!(end > start)) throw new SweepError('The replay has no data to play after its warm-up: nothing to split into walk-forward windows.');
  return { start, end, barMs: barIntervalMs };
}

export async function runWalkForward(configPath: string, options: WalkForwardOptions): Promise<WalkForwardResult> {
  const started = performance.now();
  const rankBy = checkRankBy(options.rankBy ?? 'sharpe');
  const prepared = await prepareSystem(configPath, { env: options.env });
  const combos = gridCombinations(options.parameters);
  const base = options.overrides ?? {};
  validateCombinations(prepared, combos, base);
  const span = playedSpan(prepared);
  const windows = walkForwardWindows(
    Math.max(span.start, options.from ?? Number.NEGATIVE_INFINITY),
    Math.min(span.end, options.to ?? Number.POSITIVE_INFINITY),
    options.folds,
    options.inSample ?? 0.7,
    options.anchored ?? false,
    span.barMs,
  );
  const workers = workerCount(options.workers, combos.length * windows.length);
  const total = combos.length * windows.length + windows.length;
  let done = 0;
  const onRun = (): void => options.onRun?.(++done, total);
  // Every in-sample run of every fold at once keeps all workers busy.
  const isJobs = windows.flatMap((w) => combos.map((c) => ({ overrides: { ...base, ...c }, from: w.inSample.from, to: w.inSample.to })));
  const isResults = await runPool(prepared.source, isJobs, { ...options, workers, onRun });
  const folds: WalkForwardFold[] = windows.map((w, k) => {
    const runs = combos.map((params, i) => {
      const r = isResults[k * combos.length + i]!;
      return r instanceof Error ? { params, score: null, error: r.message } : { params, score: scoreOf(r.metrics, rankBy), result: r };
    });
    const best = rankRuns(runs, rankBy)[0];
    const usable = best !== undefined && best.result !== undefined;
    return {
      fold: k + 1,
      inSample: w.inSample,
      outOfSample: w.outOfSample,
      best: usable ? best.params : undefined,
      inSampleScore: usable ? best.score : null,
      ...(usable ? {} : { error: `no in-sample run succeeded${best?.error ? `: ${best.error}` : ''}` }),
    };
  });
  // In-sample return of each fold's winner, for the efficiency ratio.
  const bestIsReturns = folds.map((f, k) => {
    const i = combos.indexOf(f.best as Record<string, unknown>);
    const r = i < 0 ? undefined : isResults[k * combos.length + i];
    return r === undefined || r instanceof Error ? undefined : r.metrics.totalReturn;
  });
  const oosJobs = folds.filter((f) => f.best !== undefined).map((f) => ({ overrides: { ...base, ...f.best }, from: f.outOfSample.from, to: f.outOfSample.to }));
  const oosResults = await runPool(prepared.source, oosJobs, { ...options, workers: Math.min(workers, Math.max(1, oosJobs.length)), onRun });
  let j = 0;
  for (const f of folds) {
    if (f.best === undefined) continue;
    const r = oosResults[j++]!;
    if (r instanceof Error) f.error = r.message;
    else f.result = r;
  }
  const oos = folds.filter((f) => f.result !== undefined).map((f) => f.result!);
  const scores = oos.map((r) => scoreOf(r.metrics, rankBy)).filter((s): s is number => s !== null);
  const judged = folds.flatMap((f, k) => (f.result !== undefined && bestIsReturns[k] !== undefined ? [{ f, is: bestIsReturns[k]! }] : []));
  const isMean = mean(judged.map(({ f, is }) => is / lengthOf(f.inSample)));
  const oosMean = mean(judged.map(({ f }) => f.result!.metrics.totalReturn / lengthOf(f.outOfSample)));
  return {
    rankBy,
    workers,
    wallMs: performance.now() - started,
    folds,
    outOfSample: {
      totalReturn: oos.reduce((acc, r) => acc * (1 + r.metrics.totalReturn), 1) - 1,
      meanScore: scores.length > 0 ? mean(scores) : null,
      trades: oos.reduce((n, r) => n + r.metrics.trades, 0),
      // Returns per unit of time, so windows of different lengths compare.
      efficiency: isMean !== null && oosMean !== null && isMean !== 0 ? oosMean / isMean : null,
    },
  };
}

function lengthOf(w: Window): number {
  return w.to - w.from;
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}
