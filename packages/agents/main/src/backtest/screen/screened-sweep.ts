import { ConfigError } from '@tradebus/core';
import { prepareSystem } from '../../prepare.js';
import {
  checkRankBy,
  gridCombinations,
  rankRuns,
  runPool,
  runWorkerPool,
  scoreOf,
  validateCombinations,
  workerCount,
  type RankMetric,
  type RunSummary,
  type SweepOptions,
} from '../sweep.js';
import type { ScreenSummary } from './session.js';
import type { ScreenRequest } from './worker.js';

/**
 * A screened sweep: every combination of the grid through the screen (the fast signals-and-fills
 * model, in worker threads), then the best `top` of them through the full agent pipeline, with
 * how far the screen was from each full run and how well its ranking held.
 */

export interface ScreenedSweepOptions extends SweepOptions {
  /** Combinations run through the full pipeline, best screened first; 5 by default. */
  top?: number;
}

export interface ScreenedRun {
  params: Record<string, unknown>;
  /** Position in the screen's ranking, 1 = best. */
  rank: number;
  score: number | null;
  result?: ScreenSummary;
  error?: string;
}

/** Full run minus screen, per measure; null where either side has no value. */
export interface Disagreement {
  totalReturn: number | null;
  trades: number | null;
  score: number | null;
}

export interface ScreenedCandidate {
  params: Record<string, unknown>;
  screenRank: number;
  screenScore: number | null;
  screen: ScreenSummary;
  /** Position among the candidates run fully, by the full runs' metric, 1 = best. */
  fullRank: number;
  fullScore: number | null;
  full?: RunSummary;
  error?: string;
  disagreement: Disagreement;
}

export interface ScreenedSweepResult {
  rankBy: RankMetric;
  workers: number;
  top: number;
  wallMs: number;
  screenWallMs: number;
  fullWallMs: number;
  /** Every combination, best screened first. */
  screened: ScreenedRun[];
  /** The combinations run fully, best full run first. */
  candidates: ScreenedCandidate[];
  /** Spearman rank correlation of screen and full scores over the candidates run fully; null for fewer than two. */
  spearman: number | null;
  /** What the screen could not model for this config. */
  warnings: string[];
}

function screenWorkerUrl(): URL {
  // From the TypeScript sources (tests) the worker is the built file in dist.
  return import.meta.url.endsWith('.ts') ? new URL('../../../dist/backtest/screen/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url);
}

export async function runScreenedSweep(configPath: string, options: ScreenedSweepOptions): Promise<ScreenedSweepResult> {
  const started = performance.now();
  const rankBy = checkRankBy(options.rankBy ?? 'sharpe');
  const top = options.top ?? 5;
  if (!Number.isInteger(top) || top < 1) throw new ConfigError(`--top must be a whole number of at least 1, got ${top}.`, [{ path: 'top', message: 'not a positive integer' }]);
  const prepared = await prepareSystem(configPath, { env: options.env });
  const combos = gridCombinations(options.parameters);
  const base = options.overrides ?? {};
  validateCombinations(prepared, combos, base);
  const workers = workerCount(options.workers, combos.length);
  const fullCount = Math.min(top, combos.length);
  const total = combos.length + fullCount;
  let done = 0;
  const onRun = (): void => options.onRun?.(++done, total);

  const screenJobs: Array<Omit<ScreenRequest, 'id'>> = combos.map((c) => ({
    configPath: prepared.source,
    overrides: { ...base, ...c },
    from: options.from,
    to: options.to,
    riskFreeRate: options.riskFreeRate,
    periodsPerYear: options.periodsPerYear,
    env: options.env,
  }));
  const screenStarted = performance.now();
  const screenResults = await runWorkerPool<Omit<ScreenRequest, 'id'>, ScreenSummary>(screenWorkerUrl(), screenJobs, workers, onRun);
  const screenWallMs = performance.now() - screenStarted;
  const screened: ScreenedRun[] = rankRuns(
    combos.map((params, i) => {
      const r = screenResults[i]!;
      return r instanceof Error ? { params, score: null, error: r.message } : { params, score: scoreOf(r.metrics, rankBy), result: r };
    }),
    rankBy,
  );

  const chosen = screened.filter((r) => r.result !== undefined).slice(0, fullCount);
  const fullStarted = performance.now();
  const fullResults = await runPool(
    prepared.source,
    chosen.map((r) => ({ overrides: { ...base, ...r.params }, from: options.from, to: options.to })),
    { ...options, workers: Math.min(workers, Math.max(1, chosen.length)), onRun },
  );
  const fullWallMs = performance.now() - fullStarted;
  const fullRanked = rankRuns(
    chosen.map((r, i) => {
      const f = fullResults[i]!;
      return f instanceof Error ? { params: r.params, score: null, error: f.message } : { params: r.params, score: scoreOf(f.metrics, rankBy), result: f };
    }),
    rankBy,
  );
  const candidates: ScreenedCandidate[] = fullRanked.map((f) => {
    const s = chosen.find((r) => r.params === f.params)!;
    const screen = s.result!;
    const full = f.result;
    return {
      params: f.params,
      screenRank: s.rank,
      screenScore: s.score,
      screen,
      fullRank: f.rank,
      fullScore: f.score,
      ...(full !== undefined ? { full } : {}),
      ...(f.error !== undefined ? { error: f.error } : {}),
      disagreement: {
        totalReturn: full === undefined ? null : full.metrics.totalReturn - screen.metrics.totalReturn,
        trades: full === undefined ? null : full.metrics.trades - screen.metrics.trades,
        score: full === undefined || f.score === null || s.score === null ? null : f.score - s.score,
      },
    };
  });
  const judged = candidates.filter((c) => c.full !== undefined);
  const warnings = [...new Set(screened.flatMap((r) => r.result?.warnings ?? []))];
  return {
    rankBy,
    workers,
    top: fullCount,
    wallMs: performance.now() - started,
    screenWallMs,
    fullWallMs,
    screened,
    candidates,
    spearman: spearman(
      judged.map((c) => c.screenScore),
      judged.map((c) => c.fullScore),
      rankBy,
    ),
    warnings,
  };
}

/**
 * Spearman's rank correlation of two scorings of the same items: Pearson's correlation of their
 * ranks, tied scores sharing the mean of their ranks (missing scores tie for last). Null for fewer
 * than two items, or when one side ranks everything equal.
 */
export function spearman(a: ReadonlyArray<number | null>, b: ReadonlyArray<number | null>, rankBy: RankMetric = 'sharpe'): number | null {
  if (a.length !== b.length) throw new RangeError('spearman needs two scorings of the same items');
  if (a.length < 2) return null;
  const lowerIsBetter = rankBy === 'maxDrawdown' || rankBy === 'volatility';
  const ra = ranks(a, lowerIsBetter);
  const rb = ranks(b, lowerIsBetter);
  const n = ra.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n;
  const mb = rb.reduce((s, x) => s + x, 0) / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (ra[i]! - ma) * (rb[i]! - mb);
    va += (ra[i]! - ma) ** 2;
    vb += (rb[i]! - mb) ** 2;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : null;
}

/** 1 = best; ties get the mean of the ranks they span. */
function ranks(scores: ReadonlyArray<number | null>, lowerIsBetter: boolean): number[] {
  const order = scores.map((s, i) => ({ s, i }));
  const key = (s: number | null): number => (s === null ? Number.POSITIVE_INFINITY : lowerIsBetter ? s : -s);
  order.sort((x, y) => (key(x.s) === key(y.s) ? 0 : key(x.s) < key(y.s) ? -1 : 1));
  const out = new Array<number>(scores.length);
  for (let k = 0; k < order.length; ) {
    let end = k;
    while (end + 1 < order.length && key(order[end + 1]!.s) === key(order[k]!.s)) end++;
    const mean = (k + end) / 2 + 1;
    for (let j = k; j <= end; j++) out[order[j]!.i] = mean;
    k = end + 1;
  }
  return out;
}
