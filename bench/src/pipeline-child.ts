import { runBacktest } from '@tradebus/agent-main';

/**
 * One backtest of the pipeline benchmark, in a process of its own:
 * `node pipeline-child.js <config> <budget ms>` prints a PipelineRun as JSON on its last line.
 */

export interface PipelineRun {
  played: number;
  wallMs: number;
  /** Wall time before the first progress report: loading the files and starting the agents. */
  startMs: number;
  /** Candles per second from the first progress report to the end: playing only. */
  playRate: number;
  rate: number;
  events: number;
  trades: number;
  orders: number;
  signals: number;
  peakRss: number;
  complete: boolean;
}

async function runPipeline(configPath: string, budgetMs: number): Promise<PipelineRun> {
  let peakRss = process.memoryUsage().rss;
  const abort = new AbortController();
  const budget = setTimeout(() => abort.abort(), budgetMs);
  const wallStart = performance.now();
  let first: { records: number; at: number } | undefined;
  try {
    const { report, summary } = await runBacktest(configPath, {
      logLevel: 'error',
      signal: abort.signal,
      progressEveryRecords: 10_000,
      onProgress: (p) => {
        first ??= { records: p.records, at: performance.now() };
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    });
    const end = performance.now();
    return {
      played: summary.candles,
      wallMs: end - wallStart,
      startMs: (first?.at ?? end) - wallStart,
      playRate: first === undefined || end <= first.at ? 0 : ((summary.candles - first.records) / (end - first.at)) * 1_000,
      // Candles played over the whole runBacktest call: loading the files and starting the agents included.
      rate: report.run.candlesPerSecond,
      events: report.run.events,
      trades: report.metrics.trades,
      orders: report.orders.requested,
      signals: report.signals.generated,
      peakRss: Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1_024),
      complete: !summary.stopped,
    };
  } finally {
    clearTimeout(budget);
  }
}

const [configPath, budget] = process.argv.slice(2);
if (configPath !== undefined) {
  const run = await runPipeline(configPath, Number(budget ?? 60_000));
  process.stdout.write(`${JSON.stringify(run)}\n`);
}
