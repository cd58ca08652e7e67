import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStrategies, type Signal, type StrategyCandle } from '@tradebus/strategies';
import { describe, expect, it } from 'vitest';
import { prepareSystem, type PreparedAgent } from '../../prepare.js';
import { runBacktest } from '../engine.js';
import { applyOverrides } from '../overrides.js';
import { loadScreenMarket, seriesKey } from './data.js';
import { runScreenedSweep, spearman, type ScreenedSweepResult } from './screened-sweep.js';
import { screenWith } from './session.js';
import { ColumnCache, computeSignals } from './signals.js';

const here = dirname(fileURLToPath(import.meta.url));
const data = resolve(here, '../../../../../../examples/backtest/data');
const cli = resolve(here, '../../../dist/cli.js');
const FAST = 'strategy.strategies[0].params.fast';
const BAR = 300_000;
const FIRST_BAR = 1_515_560_100_000;
/** 100 bars of warm-up history, then 1,200 played bars per symbol. */
const END_AT = FIRST_BAR + 1_300 * BAR;
const SYMBOLS = [
  { symbol: 'ETH/BTC', file: 'binance-ETH-BTC-5m.csv' },
  { symbol: 'LTC/BTC', file: 'binance-LTC-BTC-5m.csv' },
];

/**
 * The plainest EMA cross: long on a cross up, out on the cross down, nothing else. Stops sit 90 %
 * away (never hit here), no targets, every signal accepted, no breaker and no daily limit, so the
 * trades are what a textbook says they are.
 */
function simpleConfig(extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-screen-'));
  const file = join(dir, 'screen.yaml');
  writeFileSync(
    file,
    `
system: { name: screen-test }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: 100
    endAt: ${END_AT}
    sources:
${SYMBOLS.map((s) => `      - { type: candles, file: ${data}/${s.file}, symbol: ${s.symbol}, timeframe: 5m }`).join('\n')}
  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 1 }, fees: { maker: 0.001, taker: 0.001 }, slippage: 2, spreadBps: 0, participation: 0${extra.includes('marketFillOnCandle') ? '' : ', marketFillOnCandle: close'}${extra} }
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
      strategies: [{ type: ema-cross, id: ema, params: { fast: 12, slow: 26, stopAtr: 0, takeProfitAtr: 0 } }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      equity: { initial: 1 }
      aggregation: { useTrackRecord: false, minConfidence: 0 }
      sizing: { defaultStopPct: 90, rewardRisk: 0, maxPositionPct: 30, kelly: { enabled: false } }
      limits: { maxTradesPerDay: 1000 }
      breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

interface Bar {
  open: number;
  close: number;
  /** Open time. */
  time: number;
}

function readBars(file: string): Bar[] {
  return readFileSync(join(data, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').map(Number))
    .map(([time, open, , , close]) => ({ time: time!, open: open!, close: close! }))
    .filter((b) => b.time + BAR <= END_AT);
}

/** EMA as the textbook has it: seeded with the first value, then αx + (1 − α)·previous, α = 2/(n + 1). */
function ema(values: readonly number[], period: number): number[] {
  const alpha = 2 / (period + 1);
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(i === 0 ? values[0]! : alpha * values[i]! + (1 - alpha) * out[i - 1]!);
  return out;
}

interface Expected {
  symbol: string;
  side: 'long';
  openedAt: number;
  closedAt: number;
}

/**
 * The trades of a long-only EMA cross, worked out from the price files: a cross up on a played
 * bar opens at that bar's close; the next cross down closes it. Bars before the 100th are warm-up
 * history, and no cross counts before both averages have `slow` values and the strategy's
 * warm-up (slow + 1 bars) is over.
 */
function textbookTrades(fast: number, slow: number): Expected[] {
  const out: Expected[] = [];
  for (const { symbol, file } of SYMBOLS) {
    const bars = readBars(file);
    const closes = bars.map((b) => b.close);
    const f = ema(closes, fast);
    const s = ema(closes, slow);
    let open: number | undefined;
    for (let i = Math.max(100, slow); i < bars.length; i++) {
      const closeTime = bars[i]!.time + BAR;
      const up = f[i - 1]! <= s[i - 1]! && f[i]! > s[i]!;
      const down = f[i - 1]! >= s[i - 1]! && f[i]! < s[i]!;
      if (up && open === undefined) open = closeTime;
      else if (down && open !== undefined) {
        out.push({ symbol, side: 'long', openedAt: open, closedAt: closeTime });
        open = undefined;
      }
    }
  }
  return sortTrades(out);
}

function sortTrades<T extends { symbol: string; openedAt: number }>(trades: T[]): T[] {
  return [...trades].sort((a, b) => a.openedAt - b.openedAt || a.symbol.localeCompare(b.symbol));
}

const shape = (t: { symbol: string; side: string; openedAt: number; closedAt: number }): Expected => ({ symbol: t.symbol, side: t.side as 'long', openedAt: t.openedAt, closedAt: t.closedAt });

describe('the screen', () => {
  it('agrees with full runs and with a textbook EMA cross on trade count, direction and timing', { timeout: 120_000 }, async () => {
    const base = await prepareSystem(simpleConfig());
    const market = await loadScreenMarket(base);
    const cache = new ColumnCache();
    for (const fast of [8, 12]) {
      const expected = textbookTrades(fast, 26);
      expect(expected.length).toBeGreaterThan(20);
      const prepared = applyOverrides(base, { [FAST]: fast });
      const screened = screenWith(prepared, market, cache);
      expect(screened.warnings).toEqual([]);
      expect(sortTrades(screened.result.trades).map(shape)).toEqual(expected);
      const { report } = await runBacktest(prepared, { logLevel: 'silent' });
      expect(sortTrades(report.trades).map(shape)).toEqual(expected);
      // Same fills, same fees: the money agrees too.
      expect(screened.result.metrics.totalReturn).toBeCloseTo(report.metrics.totalReturn, 9);
    }
  });

  it('fills at the next bar open when the paper exchange says so', { timeout: 120_000 }, async () => {
    const prepared = await prepareSystem(simpleConfig(', marketFillOnCandle: next_open'));
    const screened = screenWith(prepared, await loadScreenMarket(prepared), new ColumnCache());
    const { report } = await runBacktest(prepared, { logLevel: 'silent' });
    const bars = new Map(SYMBOLS.map(({ symbol, file }) => [symbol, new Map(readBars(file).map((b) => [b.time, b]))]));
    // Each trade fills at the open of the bar after its signal: the same market moment as the
    // signal bar's close, at that next bar's price. A cross on the last bar has no bar to fill in.
    const closedInTime = textbookTrades(12, 26).filter((t) => t.closedAt < END_AT);
    expect(sortTrades(screened.result.trades).map(shape)).toEqual(closedInTime);
    expect(sortTrades(report.trades).map(shape)).toEqual(closedInTime);
    for (const t of screened.result.trades) {
      const entryBar = bars.get(t.symbol)!.get(t.openedAt)!;
      expect(t.entryPrice).toBeCloseTo(entryBar.open * (1 + 2 / 10_000), 12);
    }
  });

  it('matches full runs of the example bot trade for trade, stops, targets and breakers included', { timeout: 180_000 }, async () => {
    const example = await prepareSystem(resolve(here, '../../../../../../examples/backtest/backtest.yaml'));
    const cache = new ColumnCache();
    const market = await loadScreenMarket(example);
    // The shipped fill model (next open, spread, volume cap, stops at the venue) and each way out of it.
    const variants: Array<Record<string, unknown>> = [
      {},
      { 'providers.paper.marketFillOnCandle': 'close', 'providers.paper.spreadBps': 0, 'providers.paper.participation': 0 },
      { 'providers.paper.intrabar': 'path', 'providers.paper.latencyMs': 1000 },
      { 'manager.exits.protectiveOrdersAtVenue': false },
    ];
    for (const overrides of variants) {
      const prepared = applyOverrides(example, overrides);
      const { result, warnings } = screenWith(prepared, market, cache);
      expect(warnings).toEqual([]);
      const { report } = await runBacktest(prepared, { logLevel: 'silent' });
      const key = (t: { symbol: string; side: string; openedAt: number; closedAt: number; exitReason: string; quantity: number; pnl: number }): string =>
        `${t.symbol} ${t.side} ${t.openedAt} ${t.closedAt} ${t.exitReason} ${t.quantity.toPrecision(10)} ${t.pnl.toPrecision(10)}`;
      expect(report.trades.length).toBeGreaterThan(100);
      expect(new Set(report.trades.map((t) => t.exitReason)).size).toBeGreaterThan(1);
      expect(result.trades.map(key).sort()).toEqual(report.trades.map(key).sort());
      expect(result.metrics.totalReturn).toBeCloseTo(report.metrics.totalReturn, 12);
      expect(result.metrics.fees).toBeCloseTo(report.metrics.fees, 12);
    }
  });

  it('says what it leaves out: reversals, funding, and P&L in another currency than the account', { timeout: 60_000 }, async () => {
    const base = await prepareSystem(simpleConfig());
    const market = await loadScreenMarket(base);
    const prepared = applyOverrides(base, {
      'manager.reverseOnOppositeSignal': true,
      'providers.paper.funding': { rate: 0.0001 },
      'providers.paper.quoteCurrency': 'ETH',
    });
    const { warnings } = screenWith(prepared, market, new ColumnCache());
    expect(warnings).toEqual([
      'agents[2].config.reverseOnOppositeSignal: reversals are not modelled; an opposite signal only closes the position.',
      'providers.paper.funding: perpetual funding is not modelled.',
      'providers.paper.balances: only the ETH balance is modelled (BTC left out).',
      "ETH/BTC, LTC/BTC: quoted in another currency than the account's ETH; the screen adds their P&L unconverted.",
    ]);
  });

  it('computes the same signals as the strategies themselves, for every built-in strategy', async () => {
    const prepared = await prepareSystem(simpleConfig());
    const market = await loadScreenMarket(prepared);
    const strategies = [
      { type: 'ema-cross', id: 'ema', params: { fast: 5, slow: 21 } },
      { type: 'macd-cross', id: 'macd' },
      { type: 'rsi-reversion', id: 'rsi' },
      { type: 'bollinger-reversion', id: 'bb' },
      { type: 'donchian-breakout', id: 'donchian' },
      { type: 'adx-trend', id: 'adx' },
      { type: 'rsi-divergence', id: 'div' },
    ];
    const runner: PreparedAgent = {
      ...prepared.agents.find((a) => a.entry.id === 'strategy')!,
      config: { symbols: ['ETH/BTC', 'LTC/BTC'], timeframes: ['5m'], strategies, indicators: {}, warmup: {}, formingSignals: false, ticks: false },
    };
    const screened = [...computeSignals([runner], market, new ColumnCache(), []).values()].flat();

    // The strategies as a runner drives them: warmed up on the history, then bar by bar.
    const direct: Signal[] = [];
    for (const { symbol } of SYMBOLS) {
      const instances = createStrategies(strategies);
      const history = market.history.get(seriesKey(symbol, '5m'))!;
      expect(history).toHaveLength(100);
      for (const s of instances) s.warmUp(history as StrategyCandle[]);
      for (const moment of market.moments) {
        for (const bar of moment.bars) if (bar.symbol === symbol) for (const s of instances) direct.push(...s.onCandle(bar as StrategyCandle));
      }
    }
    const key = (s: Signal): string => `${s.id} ${s.confidence} ${s.price} ${s.stopLoss} ${s.takeProfit}`;
    expect(direct.length).toBeGreaterThan(100);
    expect(new Set(direct.map((s) => s.strategyId)).size).toBe(strategies.length);
    expect(screened.map(key).sort()).toEqual(direct.map(key).sort());
  });

  it('ranks by Spearman with mean ranks for ties and missing scores last', () => {
    expect(spearman([3, 2, 1], [30, 20, 10])).toBe(1);
    expect(spearman([3, 2, 1], [10, 20, 30])).toBe(-1);
    // Worked by hand: ranks (1, 2, 3, 4) against (2, 1, 4, 3): d² sums to 4, ρ = 1 − 6·4 / (4·15) = 0.6.
    expect(spearman([4, 3, 2, 1], [3, 4, 1, 2])).toBeCloseTo(0.6, 12);
    // A tie shares ranks 1.5 and 1.5; null is last.
    expect(spearman([5, 5, 1, null], [9, 8, 7, 6])).toBeCloseTo(0.9486832980505138, 12);
    expect(spearman([1], [1])).toBeNull();
    expect(spearman([1, 1], [1, 2])).toBeNull();
    // Lower is better for drawdown, and a missing score is last either way.
    expect(spearman([null, 0.1, 0.3], [0.1, 0.2, 0.3], 'maxDrawdown')).toBeCloseTo(-0.5, 12);
    expect(spearman([null, 0.1, 0.3], [0.1, 0.2, 0.3], 'sharpe')).toBe(1);
  });
});

describe('a screened sweep', () => {
  it('screens every combination, runs the best ones fully and reports both rankings', { timeout: 180_000 }, async () => {
    const result = await runScreenedSweep(simpleConfig(), { parameters: [{ path: FAST, values: [8, 12, 16] }], top: 2, workers: 2, logLevel: 'silent' });
    expect(result.screened.map((r) => r.rank)).toEqual([1, 2, 3]);
    expect(result.screened.every((r) => r.result !== undefined && r.error === undefined)).toBe(true);
    expect(result.candidates).toHaveLength(2);
    // The two best screened combinations are the ones run fully.
    expect(new Set(result.candidates.map((c) => c.screenRank))).toEqual(new Set([1, 2]));
    for (const c of result.candidates) {
      const fast = c.params[FAST] as number;
      const expected = textbookTrades(fast, 26).length;
      expect(c.screen.metrics.trades).toBe(expected);
      expect(c.full?.metrics.trades).toBe(expected);
      expect(c.disagreement.trades).toBe(0);
      expect(Math.abs(c.disagreement.totalReturn!)).toBeLessThan(1e-9);
    }
    expect(result.spearman).toBe(1);
    expect(result.warnings).toEqual([]);
  });
});

describe('tradebus backtest --screen', () => {
  function tradebus(args: string[]) {
    return spawnSync(process.execPath, [cli, 'backtest', ...args], { encoding: 'utf8', timeout: 120_000 });
  }

  it('prints both rankings and writes them to sweep-screen.json', { timeout: 180_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), 'tradebus-screen-cli-'));
    const run = tradebus(['-c', simpleConfig(), '--grid', `${FAST}=8,12`, '--screen', '--top', '2', '--workers', '2', '--log-level', 'error', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Screen ranking:');
    expect(run.stdout).toContain('Full runs of the best 2');
    expect(run.stdout).toContain('Spearman rank correlation');
    expect(run.stdout).toContain(`Report: ${join(out, 'sweep-screen.json')}`);
    const report = JSON.parse(readFileSync(join(out, 'sweep-screen.json'), 'utf8')) as ScreenedSweepResult;
    expect(report.screened.map((r) => r.params[FAST]).sort()).toEqual([12, 8].sort());
    expect(report.candidates.map((c) => c.fullRank)).toEqual([1, 2]);
    for (const c of report.candidates) expect(c.full?.metrics.trades).toBe(c.screen.metrics.trades);
  });

  it('names a bad option and exits 64', () => {
    const config = simpleConfig();
    const top = tradebus(['-c', config, '--grid', `${FAST}=8,12`, '--screen', '--top', '0']);
    expect(top.status).toBe(64);
    expect(top.stderr).toContain('--top must be a whole number ≥ 1');
    const alone = tradebus(['-c', config, '--grid', `${FAST}=8,12`, '--top', '2']);
    expect(alone.status).toBe(64);
    expect(alone.stderr).toContain('--top needs --screen');
    const noGrid = tradebus(['-c', config, '--screen']);
    expect(noGrid.status).toBe(64);
    expect(noGrid.stderr).toContain('--screen needs at least one --grid parameter');
  });
});
