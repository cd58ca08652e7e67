import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATR, EMA } from '@tradebus/indicators';
import { ScreenSession, applyOverrides, prepareSystem, runBacktest, spearman, type PreparedSystem } from '@tradebus/agent-main';
import { fmt, type BenchModule, type BenchResult } from './types.js';

/**
 * Throughput of the sweep screen (`tradebus backtest --grid … --screen`) per parameter combination:
 * the strategies' signals over whole series plus the trade manager's and paper exchange's rules,
 * with no agents and no bus, against a plain loop computing the same indicators and cross
 * signals, and against the full agent pipeline on the same config.
 */

const here = dirname(fileURLToPath(import.meta.url));
const DATA = resolve(here, '..', '..', '..', 'shared', 'data', 'ohlcv');
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
];
const WARMUP_BARS = 100;
const FAST = [6, 8, 10, 12, 14, 16];
const SLOW = [26, 30];
const symbolOf = (file: string): string => file.replace(/^binance-/, '').replace(/-5m\.csv$/, '').replace('-', '/');

function configYaml(): string {
  const symbols = FILES.map(symbolOf).join(', ');
  return `
system: { name: screen-bench }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: ${WARMUP_BARS}
    sources:
${FILES.map((f) => `      - { type: candles, file: ${join(DATA, f)}, symbol: ${symbolOf(f)}, timeframe: 5m }`).join('\n')}
  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 10 }, slippage: 2 }
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
  - id: manager
    use: trade-manager
    config: { timeframe: 5m, equity: { initial: 10 }, aggregation: { useTrackRecord: false }, sizing: { kelly: { enabled: false }, maxPositionPct: 10 } }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`;
}

interface Bars {
  high: number[];
  low: number[];
  close: number[];
}

function loadBars(file: string): Bars {
  const rows = readFileSync(join(DATA, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map(Number));
  return { high: rows.map((r) => r[2]!), low: rows.map((r) => r[3]!), close: rows.map((r) => r[4]!) };
}

/**
 * The same signals with no framework: per symbol EMA fast, EMA slow and ATR 14 (the
 * @tradebus/indicators classes), the ema-cross rule with its confidence and ATR stop and target,
 * on the bars after the warm-up. No trades, no accounting.
 */
function bareLoop(series: Bars[], fast: number, slow: number): { signals: number; candles: number } {
  let signals = 0;
  let candles = 0;
  let checksum = 0;
  for (const x of series) {
    const f = new EMA(fast);
    const s = new EMA(slow);
    const atr = new ATR(14);
    let pf = Number.NaN;
    let ps = Number.NaN;
    for (let i = 0; i < x.close.length; i++) {
      const close = x.close[i]!;
      const vf = f.update(close);
      const vs = s.update(close);
      const va = atr.update({ high: x.high[i]!, low: x.low[i]!, close });
      if (i >= WARMUP_BARS) candles++;
      if (vf !== undefined && vs !== undefined && va !== undefined && i + 1 >= Math.max(slow, 14) + 1 && i >= WARMUP_BARS) {
        const up = pf <= ps && vf > vs;
        const down = pf >= ps && vf < vs;
        if (up || down) {
          const dir = up ? 1 : -1;
          const angle = va > 0 ? Math.abs(vf - vs - (pf - ps)) / va : 0;
          checksum += 0.35 + 0.6 * (1 - Math.exp(-angle * 6)) + close - dir * 2 * va + close + dir * 3 * va;
          signals++;
        }
      }
      if (vf !== undefined && vs !== undefined) {
        pf = vf;
        ps = vs;
      }
    }
  }
  if (Number.isNaN(checksum)) throw new Error('bare loop produced NaN');
  return { signals, candles };
}

const combos = FAST.flatMap((fast) => SLOW.map((slow) => ({ fast, slow })));
const overridesOf = (c: { fast: number; slow: number }): Record<string, unknown> => ({ 'strategy.strategies[0].params.fast': c.fast, 'strategy.strategies[0].params.slow': c.slow });

const bench: BenchModule = {
  title: 'Sweep screen (per parameter combination)',
  target: 'the screen ≥ 0.3× the bare loop per parameter combination, and its ranking of the combinations the same as the full runs’',
  description:
    `${FILES.length} symbols of real Binance 5-minute candles (the shared ohlcv files as they are, ${WARMUP_BARS} bars of each kept as warm-up history), ` +
    `an EMA-cross bot swept over fast ${FAST.join('/')} × slow ${SLOW.join('/')} (${combos.length} combinations). ` +
    '"Screen" is `--screen`\'s model in one thread, the market data loaded once (as each worker does): per combination the strategy\'s signals ' +
    "over every series, then the trade manager's rules and the paper exchange's fills over every bar. Its rate is candles per second per combination " +
    '(played candles × combinations ÷ time). The bare loop computes the same indicators (the @tradebus/indicators EMA and ATR) and cross signals with ' +
    "no trades at all; its signal count is checked against the screen's. The second line compares the screen with one full backtest of the same config " +
    '(`runBacktest`, every agent, same process) in combinations per second; the screen and the full run must agree on the trade count. ' +
    'The third line runs every combination through the full pipeline too and compares the two rankings by Sharpe ratio (Spearman’s rank correlation; 1 is the same order).',
  async run(): Promise<BenchResult[]> {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-screen-bench-'));
    try {
      const configPath = join(dir, 'screen.yaml');
      writeFileSync(configPath, configYaml());
      const base: PreparedSystem = await prepareSystem(configPath);
      const session = new ScreenSession();
      const loadStart = performance.now();
      const first = await session.run(applyOverrides(base, overridesOf(combos[0]!)));
      const loadMs = performance.now() - loadStart;
      const played = first.result.equity.length - 1;
      let screenSignals = 0;
      let best = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        screenSignals = 0;
        for (const c of combos) {
          const { result } = await session.run(applyOverrides(base, overridesOf(c)));
          screenSignals += result.signals;
        }
        best = Math.min(best, performance.now() - t0);
      }
      const perCombination = best / combos.length;

      const series = FILES.map(loadBars);
      let bareBest = Number.POSITIVE_INFINITY;
      let bareSignals = 0;
      let bareCandles = 0;
      for (let round = 0; round < 4; round++) {
        const t0 = performance.now();
        bareSignals = 0;
        bareCandles = 0;
        for (const c of combos) {
          const r = bareLoop(series, c.fast, c.slow);
          bareSignals += r.signals;
          bareCandles += r.candles;
        }
        if (round > 0) bareBest = Math.min(bareBest, performance.now() - t0);
      }
      const screenRate = (bareCandles / best) * 1000;
      const bareRate = (bareCandles / bareBest) * 1000;

      const fullStart = performance.now();
      const { report } = await runBacktest(applyOverrides(base, overridesOf(combos[0]!)), { logLevel: 'silent' });
      const fullMs = performance.now() - fullStart;
      const agrees = report.metrics.trades === first.result.metrics.trades;
      // Every combination through the agents as well: do the two rank them alike?
      const screenScores: Array<number | null> = [];
      const fullScores: Array<number | null> = [];
      let sameTrades = 0;
      for (const c of combos) {
        const screened = (await session.run(applyOverrides(base, overridesOf(c)))).result.metrics;
        const full = (await runBacktest(applyOverrides(base, overridesOf(c)), { logLevel: 'silent' })).report.metrics;
        screenScores.push(screened.sharpe);
        fullScores.push(full.sharpe);
        if (screened.trades === full.trades) sameTrades++;
      }
      const rho = spearman(screenScores, fullScores, 'sharpe') ?? Number.NaN;
      const signals = screenSignals === bareSignals ? `signals match the bare loop (${screenSignals})` : `signal counts differ: ${screenSignals} from the screen, ${bareSignals} from the bare loop`;
      return [
        {
          name: `screen, ${FILES.length} symbols, EMA cross, ${combos.length} combinations`,
          ours: screenRate,
          peer: bareRate,
          peerName: 'bare loop (same indicators and signals, no trades)',
          unit: 'candles/s',
          ratio: screenRate / bareRate,
          notes:
            `${(bareCandles / combos.length).toLocaleString('en')} played candles (${played.toLocaleString('en')} bar times) per combination, ` +
            `${perCombination.toFixed(1)} ms per combination (best of 3 rounds) after ${(loadMs / 1000).toFixed(2)} s for loading the data and the first combination; ${signals}.`,
        },
        {
          name: 'screen against the full agent pipeline, same config',
          ours: 1000 / perCombination,
          peer: 1000 / fullMs,
          peerName: 'runBacktest (every agent)',
          unit: 'combinations/s',
          ratio: fullMs / perCombination,
          notes: `one full run: ${(fullMs / 1000).toFixed(2)} s, ${report.metrics.trades} trades; the screen: ${first.result.metrics.trades} trades${agrees ? ' (the same)' : ' (they differ)'}, total return ${(first.result.metrics.totalReturn * 100).toFixed(3)} % against ${(report.metrics.totalReturn * 100).toFixed(3)} %.`,
        },
        {
          name: `ranking of the ${combos.length} combinations by Sharpe, screen against full runs`,
          ours: rho,
          peer: 1,
          peerName: 'the same order (Spearman ρ = 1)',
          unit: 'ρ',
          ratio: rho,
          notes: `the screen and the full run gave the same number of trades for ${sameTrades} of ${combos.length} combinations.`,
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
