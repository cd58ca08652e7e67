export {
  runBacktest,
  describeMarket,
  BacktestSetupError,
  type BacktestOptions,
  type BacktestProgress,
  type BacktestResult,
  type SimulatedMarket,
} from './engine.js';
export { holdUntilIdle, waitUntilIdle, quiescentProviders, type Quiescent } from '../pacing.js';
export {
  computeMetrics,
  drawdownStats,
  drawdownSeries,
  groupStats,
  tradeStats,
  alignBenchmark,
  benchmarkStats,
  periodReturns,
  periodsPerYearFor,
  sampleStd,
  MS_PER_YEAR,
  type BenchmarkPoint,
  type BenchmarkStats,
  type ClosedTrade,
  type DrawdownStats,
  type EquityPoint,
  type GroupStats,
  type MetricsOptions,
  type PerformanceMetrics,
  type TradeStats,
} from './metrics.js';
export { buildReport, writeReport, tradesToCsv, sortTrades, sha256, type BacktestReport, type BuildReportInput, type OrderCounts, type SignalCounts, type RunInfo, type WrittenReport, type OpenTrade } from './report.js';
export { renderHtml } from './html.js';
export { applyOverrides, parseAssignment, parsePath } from './overrides.js';
export { ProgressBar, formatProgressLine, type ProgressBarOptions } from './progress.js';
export {
  runSweep,
  runWalkForward,
  gridCombinations,
  parseGridArgument,
  rankRuns,
  walkForwardWindows,
  RANK_METRICS,
  SweepError,
  type RankMetric,
  type SweepOptions,
  type SweepParameter,
  type SweepResult,
  type SweepRun,
  type RunSummary,
  type WalkForwardOptions,
  type WalkForwardResult,
  type WalkForwardFold,
} from './sweep.js';
export {
  runScreenedSweep,
  spearman,
  type Disagreement,
  type ScreenedCandidate,
  type ScreenedRun,
  type ScreenedSweepOptions,
  type ScreenedSweepResult,
} from './screen/screened-sweep.js';
export { ScreenSession, type ScreenSummary, type ScreenRunOptions } from './screen/session.js';
export type { ModelResult as ScreenResult, ScreenTrade } from './screen/model.js';
export { ScreenUnsupportedError } from './screen/errors.js';
export { addBacktestCommand, formatScreenedSweep, formatSummary } from './command.js';
