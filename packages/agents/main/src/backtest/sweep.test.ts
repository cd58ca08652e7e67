import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@tradebus/core';
import { describe, expect, it } from 'vitest';
import { runBacktest } from './engine.js';
import type { PerformanceMetrics } from './metrics.js';
import { gridCombinations, parseGridArgument, rankRuns, runSweep, runWalkForward, walkForwardWindows, workerCount } from './sweep.js';

const here = dirname(fileURLToPath(import.meta.url));
const data = resolve(here, '../../../../../examples/backtest/data');
const FAST = 'strategy.strategies[0].params.fast';

function configFile(endAt: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-sweep-'));
  const file = join(dir, 'sweep.yaml');
  writeFileSync(
    file,
    `
system: { name: sweep-test }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: 100
    endAt: ${endAt}
    sources:
      - { type: candles, file: ${data}/binance-ETH-BTC-5m.csv, symbol: ETH/BTC, timeframe: 5m }
      - { type: candles, file: ${data}/binance-LTC-BTC-5m.csv, symbol: LTC/BTC, timeframe: 5m }
  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 1 } }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [ETH/BTC, LTC/BTC], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [ETH/BTC, LTC/BTC]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema, params: { fast: 12, slow: 26 } }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config: { timeframe: 5m, equity: { initial: 1 }, aggregation: { useTrackRecord: false }, sizing: { kelly: { enabled: false }, maxPositionPct: 30 } }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

function run(score: number | null, label: string) {
  return { params: { label }, score, result: { metrics: {} as PerformanceMetrics, tradeLogSha256: '', candles: 0, wallMs: 0, warnings: [] } };
}

describe('grid', () => {
  it('runs every combination, first parameter slowest', () => {
    expect(
      gridCombinations([
        { path: 'a', values: [1, 2] },
        { path: 'b', values: ['x', 'y', 'z'] },
      ]),
    ).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 1, b: 'z' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
      { a: 2, b: 'z' },
    ]);
  });

  it('parses lists and ranges', () => {
    expect(parseGridArgument(`${FAST}=5, 9,12`)).toEqual({ path: FAST, values: [5, 9, 12] });
    expect(parseGridArgument('s.p=5..20:5')).toEqual({ path: 's.p', values: [5, 10, 15, 20] });
    expect(parseGridArgument('s.p=0.1..0.3:0.1')).toEqual({ path: 's.p', values: [0.1, 0.2, 0.3] });
    expect(parseGridArgument('s.mode=close,hl2,true')).toEqual({ path: 's.mode', values: ['close', 'hl2', true] });
    expect(() => parseGridArgument('s.p')).toThrow(/path=v1,v2/);
    expect(() => parseGridArgument('s.p=9..5')).toThrow(/start ≤ end/);
  });

  it('refuses a parameter without values', () => {
    expect(() => gridCombinations([{ path: 'a', values: [] }])).toThrow(ConfigError);
  });
});

describe('ranking', () => {
  it('puts the highest first for return-like metrics, undefined scores last, ties in grid order', () => {
    const ranked = rankRuns([run(1, 'a'), run(null, 'b'), run(3, 'c'), run(1, 'd')], 'sharpe');
    expect(ranked.map((r) => [r.params.label, r.rank])).toEqual([
      ['c', 1],
      ['a', 2],
      ['d', 3],
      ['b', 4],
    ]);
  });

  it('puts the lowest first for drawdown and volatility', () => {
    expect(rankRuns([run(0.2, 'a'), run(0.1, 'b'), run(null, 'c')], 'maxDrawdown').map((r) => r.params.label)).toEqual(['b', 'a', 'c']);
  });

  it('uses at most os.availableParallelism() workers, and no more than there are runs', () => {
    expect(workerCount(undefined, 100)).toBe(availableParallelism());
    expect(workerCount(1_000, 100)).toBe(availableParallelism());
    expect(workerCount(undefined, 1)).toBe(1);
    expect(() => workerCount(0, 5)).toThrow(/at least 1/);
  });
});

describe('walk-forward windows', () => {
  /*
   * Span 600, 3 folds, 75 % in-sample: IS = 3 × OOS and IS + 3 × OOS = 600, so OOS = 100, IS = 300.
   * Rolling: IS [0,300) OOS [300,400); IS [100,400) OOS [400,500); IS [200,500) OOS [500,600].
   */
  it('rolls in-sample windows forward, out-of-sample windows back to back', () => {
    expect(walkForwardWindows(0, 600, 3, 0.75, false, 1)).toEqual([
      { inSample: { from: 0, to: 300 }, outOfSample: { from: 300, to: 400 } },
      { inSample: { from: 100, to: 400 }, outOfSample: { from: 400, to: 500 } },
      { inSample: { from: 200, to: 500 }, outOfSample: { from: 500, to: 600 } },
    ]);
  });

  it('anchors in-sample windows at the start when asked', () => {
    expect(walkForwardWindows(0, 600, 3, 0.75, true, 1).map((w) => w.inSample)).toEqual([
      { from: 0, to: 300 },
      { from: 0, to: 400 },
      { from: 0, to: 500 },
    ]);
  });

  it('puts window edges on bar boundaries', () => {
    const windows = walkForwardWindows(1_000, 1_000 + 100 * 300, 3, 0.7, false, 300);
    for (const w of windows) for (const t of [w.inSample.from, w.inSample.to, w.outOfSample.from]) expect((t - 1_000) % 300).toBe(0);
  });

  it('refuses windows shorter than a bar', () => {
    expect(() => walkForwardWindows(0, 10, 20, 0.7, false, 1)).toThrow(/fewer folds/);
    expect(() => walkForwardWindows(0, 600, 3, 1.2, false, 1)).toThrow(/between 0 and 1/);
  });
});

describe('sweeps in worker threads', () => {
  it('ranks every combination; each run is the same backtest as one run in this thread', async () => {
    const file = configFile(Date.UTC(2018, 0, 12, 12));
    const sweep = await runSweep(file, { parameters: [{ path: FAST, values: [8, 12] }], rankBy: 'totalReturn', logLevel: 'silent' });
    expect(sweep.workers).toBeLessThanOrEqual(availableParallelism());
    expect(sweep.runs).toHaveLength(2);
    expect(sweep.runs.every((r) => r.error === undefined)).toBe(true);
    expect(sweep.runs[0]!.score!).toBeGreaterThanOrEqual(sweep.runs[1]!.score!);
    for (const r of sweep.runs) expect(r.score).toBe(r.result!.metrics.totalReturn);
    const direct = await runBacktest(file, { logLevel: 'silent', overrides: { [FAST]: 8 } });
    const swept = sweep.runs.find((r) => r.params[FAST] === 8)!;
    expect(swept.result!.tradeLogSha256).toBe(direct.report.tradeLogSha256);
    expect(swept.result!.metrics).toEqual(direct.report.metrics);
  }, 120_000);

  it('checks every combination against the agent schema before running any', async () => {
    const file = configFile(Date.UTC(2018, 0, 12));
    await expect(runSweep(file, { parameters: [{ path: FAST, values: [8, 40] }], logLevel: 'silent' })).rejects.toThrow(/strategies\[0\]\.params\.fast/);
  });

  it('walk-forward: fits on in-sample windows and reports out-of-sample results', async () => {
    const file = configFile(Date.UTC(2018, 0, 13));
    const wf = await runWalkForward(file, { parameters: [{ path: FAST, values: [8, 12] }], folds: 2, inSample: 0.6, rankBy: 'sharpe', logLevel: 'silent' });
    expect(wf.folds).toHaveLength(2);
    expect(wf.folds[0]!.outOfSample.to).toBe(wf.folds[1]!.outOfSample.from);
    for (const f of wf.folds) {
      expect(f.inSample.to).toBe(f.outOfSample.from);
      expect([8, 12]).toContain(f.best?.[FAST]);
      expect(f.result?.metrics.start).toBeGreaterThanOrEqual(f.outOfSample.from - 300_000);
      expect(f.result?.metrics.end).toBeLessThanOrEqual(f.outOfSample.to);
    }
    const chained = wf.folds.reduce((acc, f) => acc * (1 + f.result!.metrics.totalReturn), 1) - 1;
    expect(wf.outOfSample.totalReturn).toBeCloseTo(chained, 12);
    expect(wf.outOfSample.trades).toBe(wf.folds.reduce((n, f) => n + f.result!.metrics.trades, 0));
  }, 120_000);
});
