import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, silentLogger, type BuiltinEvents } from '@tradebus/core';
import type { ReplayProvider } from '@tradebus/providers';
import { beforeAll, describe, expect, it } from 'vitest';
import { launchSystem } from '../launcher.js';
import { prepareSystem } from '../prepare.js';
import { waitUntilIdle } from '../pacing.js';
import { markExposure, runBacktest, type BacktestProgress, type BacktestResult } from './engine.js';
import { sha256, sortTrades, tradesToCsv } from './report.js';
import type { EquityPoint } from './metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const data = resolve(here, '../../../../../examples/backtest/data');
const TO = Date.UTC(2018, 0, 14);

/** The example's bot on its three pairs, cut to the first days so a run takes about a second. */
function configFile(extraProviders = '', providers = true, endAt = TO): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-backtest-'));
  const file = join(dir, 'backtest.yaml');
  const symbols = ['ETH/BTC', 'LTC/BTC', 'XMR/BTC'];
  writeFileSync(
    file,
    `
system: { name: engine-test, heartbeatIntervalMs: 300000 }
data: { fsync: never }
log: { level: warn }
api: { enabled: false }
providers:
${
  providers
    ? `  market:
    kind: replay
    warmupBars: 100
    endAt: ${endAt}
    sources:
${symbols.map((s) => `      - { type: candles, file: ${data}/binance-${s.split('/')[0]}-BTC-5m.csv, symbol: ${s}, timeframe: 5m }`).join('\n')}
  paper:
    kind: paper
    marketData: market
    quoteCurrency: BTC
    balances: { BTC: 1 }
    slippage: 2
${extraProviders}`
    : '  {}'
}
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [${symbols.join(', ')}], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [${symbols.join(', ')}]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema, params: { fast: 12, slow: 26 } }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      equity: { initial: 1 }
      aggregation: { useTrackRecord: false }
      sizing: { riskPerTradePct: 1, maxPositionPct: 30, kelly: { enabled: false } }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

describe('runBacktest', () => {
  let file: string;
  let first: BacktestResult;
  let second: BacktestResult;
  const progress: BacktestProgress[] = [];

  beforeAll(async () => {
    file = configFile();
    first = await runBacktest(file, { logLevel: 'silent', benchmark: 'ETH/BTC', onProgress: (p) => progress.push(p), progressEveryRecords: 500 });
    // The second run keeps agents' state as a live system does: the result must not depend on it.
    second = await runBacktest(file, { logLevel: 'silent', recovery: true });
  }, 120_000);

  it('trades: the agents ran on the replay and filled orders on the paper exchange', () => {
    const { report } = first;
    expect(report.metrics.trades).toBeGreaterThan(5);
    // An entry and an exit per trade, each filled at least in part (a protective order may fill partly before the other level closes the rest).
    expect(report.orders.filled + report.orders.partiallyFilled).toBeGreaterThanOrEqual(2 * report.metrics.trades);
    expect(report.signals.generated).toBeGreaterThan(report.metrics.trades);
    expect(report.metrics.fees).toBeGreaterThan(0);
    expect(report.symbols).toEqual(['ETH/BTC', 'LTC/BTC', 'XMR/BTC']);
    expect(new Set(report.trades.map((t) => t.symbol)).size).toBeGreaterThan(1);
  });

  it('is deterministic: the same backtest twice, state by reference or copied for recovery, gives byte-identical trade logs', () => {
    expect([first.report.run.state, second.report.run.state]).toEqual(['reference', 'recovery']);
    const a = tradesToCsv(first.report.trades);
    const b = tradesToCsv(second.report.trades);
    expect(sha256(a)).toBe(sha256(b));
    expect(a).toBe(b);
    expect(first.report.tradeLogSha256).toBe(second.report.tradeLogSha256);
    expect(second.report.equity).toEqual(first.report.equity);
    const { benchmark: _b, ...withoutBenchmark } = first.report.metrics;
    expect(second.report.metrics).toEqual(withoutBenchmark);
  });

  it('books every unit of P&L: equity change = sum of closed trades when none is left open', () => {
    const { report } = first;
    expect(report.openTrades).toEqual([]);
    const pnl = report.trades.reduce((s, t) => s + t.pnl, 0);
    expect(report.metrics.endEquity - report.metrics.startEquity).toBeCloseTo(pnl, 10);
    expect(report.metrics.fees).toBeCloseTo(report.trades.reduce((s, t) => s + t.fees, 0), 10);
  });

  it('samples equity once per bar inside the played window', () => {
    const { report } = first;
    const times = report.equity.map(([t]) => t);
    expect(times.every((t, i) => i === 0 || t - times[i - 1]! >= 300_000)).toBe(true);
    expect(times[times.length - 1]).toBe(TO);
    // About 3.5 days of 5-minute bars after the warm-up.
    expect(report.equity.length).toBeGreaterThan(900);
    expect(report.equity.length).toBeLessThan(1_100);
    expect(report.metrics.exposureTime).toBeGreaterThan(0);
  });

  it('exposure time: the share of bar intervals in which some trade was open for a while, from the trade list', () => {
    const { report } = first;
    const points = report.equity.map(([t]) => t);
    let exposed = 0;
    for (let i = 1; i < points.length; i++) {
      const [from, to] = [points[i - 1]!, points[i]!];
      // A trade counts when its (openedAt, closedAt) overlaps (from, to] for a positive time.
      const overlaps = [...report.trades, ...report.openTrades.map((t) => ({ ...t, closedAt: Infinity }))].some((t) => t.openedAt < to && t.closedAt > from);
      if (overlaps) exposed++;
    }
    expect(report.metrics.exposureTime).toBeCloseTo(exposed / (points.length - 1), 12);
  });

  it('reports progress with a total counted from the data files', () => {
    expect(progress.length).toBeGreaterThan(3);
    const last = progress[progress.length - 1]!;
    expect(last.records).toBe(first.summary.candles);
    expect(progress[0]!.total).toBe(first.summary.candles);
    expect(progress.map((p) => p.records)).toEqual([...progress.map((p) => p.records)].sort((x, y) => x - y));
  });

  it('measures alpha and beta against a replayed symbol', () => {
    expect(first.report.benchmark).toEqual({ name: 'ETH/BTC buy and hold' });
    expect(first.report.metrics.benchmark?.beta).toEqual(expect.any(Number));
    expect(second.report.metrics.benchmark).toBeUndefined();
  });

  it('parity: a paper-trading run started by the launcher on the same replay produces exactly the backtest trades', async () => {
    // A shorter window: the paper run keeps its state in files, as a live one does.
    const parityFile = configFile('', true, Date.UTC(2018, 0, 11, 18));
    const backtest = await runBacktest(parityFile, { logLevel: 'silent' });
    expect(backtest.report.metrics.trades).toBeGreaterThan(5);
    // The same file, started the way `tradebus run` starts it: the launcher builds the providers,
    // opens the data store on disk, starts the agents and plays the replay at full speed on
    // market time (system.clock: market), holding it after each record until the agents are idle.
    const prepared = await prepareSystem(parityFile);
    const paper = { ...prepared, config: { ...prepared.config, system: { ...prepared.config.system, clock: 'market' as const } } };
    const running = await launchSystem(paper, { api: false, logger: silentLogger() });
    const trades: Array<BuiltinEvents['trade.closed']> = [];
    running.system.bus.subscribe('trade.closed', (e) => void trades.push(e.payload));
    try {
      const replay = running.system.services.get<ReplayProvider>('provider:market');
      expect(replay.done).toBeDefined();
      await replay.done;
      expect(await waitUntilIdle(running.system)).toBe(true);
    } finally {
      await running.stop();
    }
    expect(trades.length).toBe(backtest.report.trades.length);
    expect(sortTrades(trades)).toEqual(backtest.report.trades);
    expect(sha256(tradesToCsv(sortTrades(trades)))).toBe(backtest.report.tradeLogSha256);
  }, 60_000);

  it('warns when the data ends with a market order waiting for the next bar it would fill at', async () => {
    // A trade's entry filled at the open of the bar after its signal: end the data just before that bar.
    const trade = first.report.trades[3]!;
    const result = await runBacktest(file, { logLevel: 'silent', to: trade.openedAt - 1 });
    expect(result.report.trades.some((t) => t.openedAt === trade.openedAt)).toBe(false);
    expect(result.report.warnings.join(' ')).toMatch(/Market order\(s\) still waiting for a fill when the data ended \(1 entry\)/);
    expect(first.report.warnings.join(' ')).not.toMatch(/still waiting for a fill/);
  }, 60_000);

  it('writes the report files when asked', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tradebus-backtest-out-'));
    const result = await runBacktest(file, { logLevel: 'silent', outDir: out, to: Date.UTC(2018, 0, 11, 12) });
    expect(result.files?.dir).toBe(out);
    expect(readFileSync(join(out, 'trades.csv'), 'utf8')).toBe(tradesToCsv(result.report.trades));
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).metrics.trades).toBe(result.report.metrics.trades);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg id="chart"');
    expect(result.report.metrics.end).toBeLessThanOrEqual(Date.UTC(2018, 0, 11, 12));
  }, 60_000);
});

describe('stopping early', () => {
  it('an aborted run reports what was played, with a warning', async () => {
    const abort = new AbortController();
    const result = await runBacktest(configFile(), {
      logLevel: 'silent',
      signal: abort.signal,
      progressEveryRecords: 300,
      onProgress: (p) => {
        if (p.records >= 600) abort.abort();
      },
    });
    expect(result.summary.stopped).toBe(true);
    expect(result.summary.candles).toBeGreaterThanOrEqual(600);
    expect(result.summary.candles).toBeLessThan(700);
    expect(result.report.warnings.join(' ')).toMatch(/Stopped early at 2018-01-1/);
    expect(result.report.metrics.end).toBe(result.summary.lastTime);
  }, 60_000);
});

describe('backtest setup errors', () => {
  it('refuses a config with a live (ccxt) provider, naming it', async () => {
    const file = configFile('  live:\n    kind: ccxt\n    exchange: binance\n');
    await expect(runBacktest(file, { logLevel: 'silent' })).rejects.toThrow(ConfigError);
    await expect(runBacktest(file, { logLevel: 'silent' })).rejects.toThrow(/providers\.live\.kind: ccxt is not allowed in a backtest, which never talks to a live venue/);
  });

  it('needs a replay provider', async () => {
    await expect(runBacktest(configFile('', false), { logLevel: 'silent' })).rejects.toThrow(/providers: a backtest needs market data to replay/);
  });

  it('names the path of an override the agent refuses', async () => {
    const err = await runBacktest(configFile(), { logLevel: 'silent', overrides: { 'strategy.strategies[0].params.fast': 50 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('agents[1].config.strategies[0].params.fast');
  });

  it('names an unknown agent in an override path', async () => {
    await expect(runBacktest(configFile(), { logLevel: 'silent', overrides: { 'nobody.x': 1 } })).rejects.toThrow(/'nobody' is not the id of an enabled agent.*prices, strategy, manager, executor/);
  });
});

describe('markExposure', () => {
  it('a trade opened at a bar close counts from the next bar on, and one bar held is one bar exposed', () => {
    const equity: EquityPoint[] = [0, 300, 600, 900, 1200].map((timestamp) => ({ timestamp, equity: 1 }));
    markExposure(equity, [{ openedAt: 300, closedAt: 600 }]);
    expect(equity.map((p) => p.exposed)).toEqual([false, false, true, false, false]);
    markExposure(equity, [{ openedAt: 450, closedAt: 700 }, { openedAt: 1000, closedAt: Infinity }]);
    expect(equity.map((p) => p.exposed)).toEqual([false, false, true, true, true]);
  });
});
