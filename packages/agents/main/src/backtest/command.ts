import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, EXIT } from '@tradebus/core';
import { runBacktest, type BacktestOptions } from './engine.js';
import { formatDuration, formatMoney, formatNumber, formatPct } from './html.js';
import { parseAssignment } from './overrides.js';
import { ProgressBar } from './progress.js';
import { quoteOfSymbol, type BacktestReport } from './report.js';
import { runScreenedSweep, type ScreenedSweepResult } from './screen/screened-sweep.js';
import { parseGridArgument, RANK_METRICS, runSweep, runWalkForward, type RankMetric, type SweepParameter, type SweepResult, type WalkForwardResult } from './sweep.js';

interface BacktestCommandOptions {
  config: string;
  out?: string;
  json: boolean;
  benchmark?: string;
  riskFree?: number;
  periodsPerYear?: number;
  from?: number;
  to?: number;
  set: string[];
  grid: string[];
  rank: string;
  folds?: number;
  inSample?: number;
  anchored: boolean;
  workers?: number;
  screen: boolean;
  top?: number;
  logLevel: NonNullable<BacktestOptions['logLevel']>;
  recovery: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];


function parseNumberOption(name: string, check: (n: number) => boolean, what: string) {
  return (value: string): number => {
    const n = Number(value);
    // InvalidArgumentError makes commander print the message before it exits with the usage code.
    if (!Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`--${name} must be ${what}.`);
    return n;
  };
}

function parseDate(name: string) {
  return (value: string): number => {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(ms)) throw new InvalidArgumentError(`--${name} must be a date (2018-01-20, 2018-01-20T12:00:00Z) or epoch milliseconds.`);
    return ms;
  };
}

/**
 * `tradebus backtest`: the config's agents on its replay and paper providers, on a virtual clock,
 * ending in a report; with `--grid` a parameter sweep, with `--folds` a walk-forward analysis.
 */
export function addBacktestCommand(program: Command): Command {
  return program
    .command('backtest')
    .description('run the agents of a config on replayed data and a paper exchange, as fast as the machine allows, and write a report')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON) with a replay and a paper provider')
    .option('-o, --out <dir>', 'write report.json, report.html and trades.csv here (default ./backtest-report; with --json only when given)')
    .option('--json', 'print the result as one JSON document on stdout, nothing else', false)
    .option('--benchmark <symbol|file>', 'alpha and beta against buy-and-hold of a replayed symbol, or a CSV of timestamp,value')
    .addOption(new Option('--risk-free <rate>', 'annual risk-free rate as a fraction, e.g. 0.02 (default 0)').argParser(parseNumberOption('risk-free', (n) => n > -1 && n < 1, 'a fraction between -1 and 1')))
    .addOption(new Option('--periods-per-year <n>', 'annualisation (default: 365-day years / bar length; 252 for daily stock bars)').argParser(parseNumberOption('periods-per-year', (n) => n > 0, 'a positive number')))
    .addOption(new Option('--from <date>', 'play data after this time; earlier bars are warm-up history').argParser(parseDate('from')))
    .addOption(new Option('--to <date>', 'play data up to this time').argParser(parseDate('to')))
    .option('--set <path=value>', 'change a config value for this run, e.g. strategy.strategies[0].params.fast=9 (repeatable)', collect, [])
    .option('--grid <path=values>', 'sweep a parameter: path=5,9,12 or path=5..20:5 (repeatable; runs every combination)', collect, [])
    .option('--rank <metric>', `rank sweep runs by ${RANK_METRICS.join(', ')}`, 'sharpe')
    .addOption(new Option('--folds <n>', 'walk-forward: fit the grid on rolling in-sample windows, test each winner out of sample').argParser(parseNumberOption('folds', (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1')))
    .addOption(new Option('--in-sample <fraction>', 'walk-forward: share of each window used for fitting (default 0.7)').argParser(parseNumberOption('in-sample', (n) => n > 0 && n < 1, 'a fraction between 0 and 1')))
    .option('--anchored', 'walk-forward: in-sample windows all start at the beginning of the data', false)
    .option('--screen', 'sweep: screen every --grid combination with a fast signals-and-fills model, then run the best --top through the agents', false)
    .addOption(new Option('--top <k>', 'with --screen: combinations run through the full agent pipeline (default 5)').argParser(parseNumberOption('top', (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1')))
    .addOption(new Option('--workers <n>', 'worker threads for sweeps (default and maximum: the number of CPUs)').argParser(parseNumberOption('workers', (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1')))
    .option('--recovery', "keep agents' state copied as a live system does (restarts possible; slower), for testing recovery", false)
    .addOption(new Option('--log-level <level>', 'log level of the agents during the run (logs go to stderr)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
    .action(async (opts: BacktestCommandOptions, command: Command) => {
      const overrides = Object.fromEntries(opts.set.map(parseAssignment));
      const common = {
        riskFreeRate: opts.riskFree,
        periodsPerYear: opts.periodsPerYear,
        benchmark: opts.benchmark,
        logLevel: opts.logLevel,
        recovery: opts.recovery,
      };
      if (!(RANK_METRICS as readonly string[]).includes(opts.rank)) {
        throw new ConfigError(`--rank '${opts.rank}' is not a metric: use one of ${RANK_METRICS.join(', ')}.`, [{ path: '--rank', message: 'unknown metric' }]);
      }
      // command.error prints the message (and the usage) before commander exits with the usage code.
      if (opts.top !== undefined && !opts.screen) command.error('error: --top needs --screen (it says how many screened combinations run through the agents)', { exitCode: EXIT.USAGE, code: 'tradebus.top' });
      if (opts.screen && opts.grid.length === 0) command.error('error: --screen needs at least one --grid parameter to sweep', { exitCode: EXIT.USAGE, code: 'tradebus.screen' });
      if (opts.screen && opts.folds !== undefined) command.error('error: --screen and --folds cannot be combined: screen a sweep, or run a walk-forward analysis', { exitCode: EXIT.USAGE, code: 'tradebus.screen' });
      if (opts.grid.length > 0 || opts.folds !== undefined) {
        if (opts.grid.length === 0) command.error('error: --folds needs at least one --grid parameter to fit', { exitCode: EXIT.USAGE, code: 'tradebus.folds' });
        const parameters: SweepParameter[] = opts.grid.map(parseGridArgument);
        const bar = !opts.json && process.stdout.isTTY ? new ProgressBar({ stream: process.stdout, label: opts.folds ? 'walk-forward' : 'sweep', unit: 'runs', showTime: false }) : undefined;
        const started = performance.now();
        const onRun = (done: number, total: number): void => bar?.update({ records: done, total, time: Date.now(), elapsedMs: performance.now() - started });
        const sweepOptions = { ...common, parameters, rankBy: opts.rank as RankMetric, workers: opts.workers, overrides, from: opts.from, to: opts.to, onRun };
        if (opts.screen) {
          const result = await runScreenedSweep(resolve(opts.config), { ...sweepOptions, top: opts.top });
          bar?.finish();
          const outDir = opts.out ?? (opts.json ? undefined : 'backtest-report');
          const file = outDir === undefined ? undefined : writeScreenReport(result, outDir);
          process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${formatScreenedSweep(result)}${file === undefined ? '' : `\nReport: ${file}\n`}`);
        } else if (opts.folds !== undefined) {
          const result = await runWalkForward(resolve(opts.config), { ...sweepOptions, folds: opts.folds, inSample: opts.inSample ?? 0.7, anchored: opts.anchored });
          bar?.finish();
          process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : formatWalkForward(result));
        } else {
          const result = await runSweep(resolve(opts.config), sweepOptions);
          bar?.finish();
          process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : formatSweep(result));
        }
        return;
      }
      const bar = !opts.json && process.stdout.isTTY ? new ProgressBar({ stream: process.stdout }) : undefined;
      const outDir = opts.out ?? (opts.json ? undefined : 'backtest-report');
      // Ctrl-C ends the replay where it is and still writes the report of what ran; twice quits.
      const abort = new AbortController();
      const onSignal = (): void => {
        if (abort.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping the backtest: the report will cover the data played so far (Ctrl-C again to quit)\n');
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      const result = await runBacktest(resolve(opts.config), {
        signal: abort.signal,
        ...common,
        overrides,
        from: opts.from,
        to: opts.to,
        outDir,
        // The bar redraws at most ten times a second whatever the rate; asking often keeps it smooth on slow runs.
        progressEveryRecords: 256,
        onProgress: bar === undefined ? undefined : (p) => bar.update(p),
      }).finally(() => process.off('SIGINT', onSignal));
      bar?.finish();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result.report)}\n`);
        return;
      }
      process.stdout.write(formatSummary(result.report));
      if (result.files !== undefined) process.stdout.write(`\nReport: ${result.files.html}\n        ${result.files.json}\n        ${result.files.csv}\n`);
    });
}

function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

export function formatSummary(report: BacktestReport): string {
  const m = report.metrics;
  const q = report.quoteCurrency;
  const lines = [
    `Backtest '${report.name}': ${report.symbols.join(', ')} on ${report.timeframe} bars, ${new Date(m.start).toISOString().slice(0, 16)} → ${new Date(m.end).toISOString().slice(0, 16)} UTC`,
    table([
      ['Total return', formatPct(m.totalReturn)],
      ['CAGR', formatPct(m.cagr)],
      ['Sharpe / Sortino', `${formatNumber(m.sharpe)} / ${formatNumber(m.sortino)}`],
      ['Max drawdown', `${formatPct(m.maxDrawdown)} over ${formatDuration(m.maxDrawdownDurationMs)}`],
      ['Trades', `${m.trades} (win rate ${formatPct(m.winRate)}, profit factor ${formatNumber(m.profitFactor)})`],
      ['Final equity', `${formatMoney(m.endEquity)} ${q} (fees ${formatMoney(m.fees)} ${q})`],
      ...Object.entries(report.currencies ?? {})
        .filter(([currency]) => currency !== q)
        .map(([currency, c]): [string, string] => [
          `Trades in ${currency}`,
          `${c.trades}: P&L ${formatMoney(c.pnl)} ${currency} = ${formatMoney(c.pnlInAccount)} ${q}, fees ${formatMoney(c.fees)} ${currency} = ${formatMoney(c.feesInAccount)} ${q}`,
        ]),
      ...Object.entries(report.funding ?? {}).map(([symbol, amount]): [string, string] => [`Funding ${symbol}`, `${amount >= 0 ? 'received' : 'paid'} ${formatMoney(Math.abs(amount))} ${quoteOfSymbol(symbol)}`]),
      ['Run', `${report.run.candles.toLocaleString('en-US')} candles in ${(report.run.wallMs / 1000).toFixed(2)} s (${Math.round(report.run.candlesPerSecond).toLocaleString('en-US')}/s)`],
    ]),
  ];
  for (const w of report.warnings) lines.push(`  ! ${w}`);
  return `${lines.join('\n')}\n`;
}

function paramsText(params: Record<string, unknown> | undefined): string {
  if (params === undefined) return '–';
  return Object.entries(params)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
}

export function formatSweep(result: SweepResult): string {
  const lines = [`Sweep of ${result.runs.length} run(s) on ${result.workers} worker(s) in ${(result.wallMs / 1000).toFixed(1)} s, ranked by ${result.rankBy}:`];
  for (const run of result.runs) {
    const m = run.result?.metrics;
    lines.push(
      `  ${String(run.rank).padStart(3)}. ${result.rankBy} ${formatNumber(run.score, 3).padStart(9)}  return ${formatPct(m?.totalReturn).padStart(9)}  maxDD ${formatPct(m?.maxDrawdown).padStart(8)}  trades ${String(m?.trades ?? '–').padStart(4)}  ${paramsText(run.params)}${run.error ? `  FAILED: ${run.error}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes the screened sweep as `sweep-screen.json` in `outDir`; returns the file. */
export function writeScreenReport(result: ScreenedSweepResult, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'sweep-screen.json');
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function formatScreenedSweep(result: ScreenedSweepResult): string {
  const perCombination = result.screened.length > 0 ? result.screenWallMs / result.screened.length : 0;
  const lines = [
    `Screened sweep of ${result.screened.length} combination(s) on ${result.workers} worker(s), ranked by ${result.rankBy}: screen ${(result.screenWallMs / 1000).toFixed(1)} s (${Math.round(perCombination)} ms per combination), full runs of the best ${result.top}: ${(result.fullWallMs / 1000).toFixed(1)} s.`,
    'Screen ranking:',
  ];
  for (const run of result.screened) {
    const m = run.result?.metrics;
    lines.push(
      `  ${String(run.rank).padStart(3)}. ${result.rankBy} ${formatNumber(run.score, 3).padStart(9)}  return ${formatPct(m?.totalReturn).padStart(9)}  maxDD ${formatPct(m?.maxDrawdown).padStart(8)}  trades ${String(m?.trades ?? '–').padStart(4)}  ${paramsText(run.params)}${run.error ? `  FAILED: ${run.error}` : ''}`,
    );
  }
  lines.push(`Full runs of the best ${result.top} (full ranking; screen rank, and full minus screen):`);
  for (const c of result.candidates) {
    const m = c.full?.metrics;
    const d = c.disagreement;
    const signed = (x: number | null, text: string): string => (x === null ? '–' : `${x > 0 ? '+' : ''}${text}`);
    lines.push(
      `  ${String(c.fullRank).padStart(3)}. ${result.rankBy} ${formatNumber(c.fullScore, 3).padStart(9)}  screen #${String(c.screenRank).padEnd(3)}  return ${formatPct(m?.totalReturn).padStart(9)} (${signed(d.totalReturn, formatPct(d.totalReturn))})  trades ${String(m?.trades ?? '–').padStart(4)} (${signed(d.trades, String(d.trades))})  ${paramsText(c.params)}${c.error ? `  FAILED: ${c.error}` : ''}`,
    );
  }
  lines.push(`  Spearman rank correlation, screen vs full, over ${result.candidates.filter((c) => c.full !== undefined).length} run(s): ${formatNumber(result.spearman, 2)}`);
  for (const w of result.warnings) lines.push(`  ! screen: ${w}`);
  return `${lines.join('\n')}\n`;
}

export function formatWalkForward(result: WalkForwardResult): string {
  const day = (t: number): string => new Date(t).toISOString().slice(0, 16);
  const lines = [`Walk-forward, ${result.folds.length} fold(s), fitted on ${result.rankBy}, ${result.workers} worker(s), ${(result.wallMs / 1000).toFixed(1)} s:`];
  for (const f of result.folds) {
    const m = f.result?.metrics;
    lines.push(
      `  fold ${f.fold}: in ${day(f.inSample.from)} → ${day(f.inSample.to)}  best ${paramsText(f.best)} (${result.rankBy} ${formatNumber(f.inSampleScore, 3)})`,
      `          out ${day(f.outOfSample.from)} → ${day(f.outOfSample.to)}  return ${formatPct(m?.totalReturn)}  ${result.rankBy} ${formatNumber(m === undefined ? null : (m[result.rankBy] as number | null), 3)}  trades ${m?.trades ?? '–'}${f.error ? `  FAILED: ${f.error}` : ''}`,
    );
  }
  const o = result.outOfSample;
  lines.push(`  out of sample, chained: return ${formatPct(o.totalReturn)}, mean ${result.rankBy} ${formatNumber(o.meanScore, 3)}, ${o.trades} trades, efficiency ${formatNumber(o.efficiency, 2)}`);
  return `${lines.join('\n')}\n`;
}
