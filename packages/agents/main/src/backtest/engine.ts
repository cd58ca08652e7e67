import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  LocalTransport,
  ReferenceStateStore,
  TradebusError,
  VirtualClock,
  createLogger,
  createSystem,
  formatMessage,
  type BuiltinEvents,
  type Logger,
  type StateStore,
  type TradebusSystem,
} from '@tradebus/core';
import {
  createProviders,
  registerProviders,
  timeframeToMs,
  type Candle,
  type DataGap,
  type PaperExchange,
  type Provider,
  type Tick,
  type TimelineSummary,
} from '@tradebus/providers';
import { IDLE_MAX_TURNS, busEvents, holdUntilIdle, quiescentProviders, waitUntilIdle } from '../pacing.js';
import { prepareSystem, type PreparedSystem } from '../prepare.js';
import type { BenchmarkPoint, ClosedTrade, EquityPoint } from './metrics.js';
import { applyOverrides } from './overrides.js';
import { buildReport, emptyOrderCounts, quoteOfSymbol, writeReport, type BacktestReport, type OpenTrade, type OrderCounts, type WrittenReport } from './report.js';

/**
 * The backtest engine: the agents of a config, unchanged, on a replayed (or synthetic) market and
 * a paper exchange, in one process on a virtual clock. Time moves only when the replay moves it,
 * and the replay hands out the next record only once every consumer has taken the previous one
 * and the work it caused has settled, so the run is deterministic and as fast as the machine.
 */

export interface BacktestProgress {
  /** Market data records played so far (bars and trades). */
  records: number;
  /** Records the run will play, when known from the data files. */
  total: number | undefined;
  /** Virtual time of the replay. */
  time: number;
  elapsedMs: number;
}

export interface BacktestOptions {
  /** Write report.json, report.html and trades.csv here. */
  outDir?: string;
  /** Annual risk-free rate as a fraction, for Sharpe, Sortino and alpha; 0 by default. */
  riskFreeRate?: number;
  /** Annualisation; by default 365-day years divided by the bar length. */
  periodsPerYear?: number;
  /**
   * Alpha and beta against: a symbol of the replayed data (its buy-and-hold), a CSV file
   * `timestamp,value`, or a series.
   */
  benchmark?: string | { name: string; series: BenchmarkPoint[] };
  /** Config values to change for this run: `agentId.path` or `providers.<name>.path` → value. */
  overrides?: Record<string, unknown>;
  /** Play only data after this time (epoch ms); earlier bars are history for warm-up. */
  from?: number;
  /** Play only data up to this time. */
  to?: number;
  /** Called at most every `progressEveryRecords` records, and once at the end. */
  onProgress?: (progress: BacktestProgress) => void;
  progressEveryRecords?: number;
  /** Logger for the run; one at `logLevel` on stderr by default. */
  logger?: Logger;
  /** Level of the default logger: warn, so a run prints problems, not routine. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  env?: Record<string, string | undefined>;
  /** Stops the replay early; the report then covers what was played, with a warning. */
  signal?: AbortSignal;
  /**
   * Keep agents' state the way a live system does (copied as it is stored, so an agent could be
   * restarted from it) instead of by reference. Slower; for testing recovery. Default false:
   * nothing crashes in a backtest, so state is kept by reference with no copy or serialisation.
   */
  recovery?: boolean;
}

export interface BacktestResult {
  report: BacktestReport;
  /** Where the report files went, when `outDir` was given. */
  files: WrittenReport | undefined;
  summary: TimelineSummary;
}

export class BacktestSetupError extends TradebusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BACKTEST_SETUP', message, options);
  }
}

/** A provider that plays a market on the virtual clock: replay or synthetic. */
export interface SimulatedMarket extends Provider {
  load?(): Promise<void>;
  start(): Promise<TimelineSummary>;
  stop(): void;
  pause(): void;
  resume(): void;
  gaps?(): DataGap[];
  readonly startTime?: number | undefined;
  /** Bars and trades the run will play, when known. */
  readonly recordsToPlay?: number | undefined;
}

function isSimulated(p: Provider): p is SimulatedMarket {
  return (p.kind === 'replay' || p.kind === 'synthetic') && typeof (p as Partial<SimulatedMarket>).start === 'function';
}

/** Runs a backtest of the config at `config` (a path or a prepared config) and builds its report. */
export async function runBacktest(config: string | PreparedSystem, options: BacktestOptions = {}): Promise<BacktestResult> {
  const started = performance.now();
  let prepared = typeof config === 'string' ? await prepareSystem(config, { env: options.env }) : config;
  prepared = applyOverrides(prepared, windowOverrides(prepared, options));
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? 'warn', name: prepared.config.system.name, destination: process.stderr });

  const setup = describeMarket(prepared);
  const clock = new VirtualClock(0);
  const providers = createProviders(prepared.config.providers, { clock, logger, env: options.env, configFile: prepared.source });
  const market = providers.get(setup.marketName) as SimulatedMarket;
  const paper = findPaper(providers);
  // Moves the clock to the end of the warm-up history before any agent starts a timer on it.
  await market.load?.();
  const startTime = clock.now();

  const system = createSystem({
    transport: new LocalTransport(),
    clock,
    logger,
    // Nobody watches a backtest live: an hourly (or per-bar) heartbeat is plenty, and agents decide nothing on it.
    heartbeatIntervalMs: Math.max(prepared.config.system.heartbeatIntervalMs, setup.barIntervalMs, 3_600_000),
    missedHeartbeats: prepared.config.system.missedHeartbeats,
    monitorHealth: false,
    stateStore: options.recovery === true ? undefined : referenceStores(),
  });
  registerProviders(system.services, providers);
  for (const agent of prepared.agents) {
    system.addAgent(
      {
        id: agent.entry.id,
        definition: agent.definition,
        config: agent.config,
        dependsOn: agent.entry.dependsOn.filter((d) => prepared.agents.some((a) => a.entry.id === d)),
        restart: agent.entry.restart,
      },
      `${agent.path}.config`,
    );
  }

  const collector = new Collector(system, (currency) => paper.rateToAccount(currency));
  const benchmarkSymbol = typeof options.benchmark === 'string' && !looksLikeFile(options.benchmark) ? options.benchmark : undefined;
  const benchmarkSeries: BenchmarkPoint[] = [];
  let records = 0;
  let lastRecordTime = Number.NEGATIVE_INFINITY;
  const total = market.recordsToPlay;
  const every = Math.max(1, options.progressEveryRecords ?? 4_096);
  const onRecord = (time: number): void => {
    records++;
    lastRecordTime = time;
    if (options.onProgress !== undefined && records % every === 0) {
      options.onProgress({ records, total, time, elapsedMs: performance.now() - started });
    }
  };
  const removeListener = market.feed!.addListener({
    candle: (c: Candle) => {
      // The replay has moved the clock to the moment this bar is played: its close.
      const time = clock.now();
      if (benchmarkSymbol !== undefined && c.symbol === benchmarkSymbol) benchmarkSeries.push({ timestamp: time, value: c.close });
      onRecord(time);
    },
    tick: (t: Tick) => onRecord(t.timestamp),
  });

  const equity: EquityPoint[] = [{ timestamp: startTime, equity: paper.equity(), exposed: false }];
  // The exchange has no prices before the first bar is played: balances in other currencies than
  // the account's are valued at the first prices it sees.
  const startBalances = (await paper.fetchBalances()).filter((b) => b.total !== 0);
  const startValuedLater = startBalances.some((b) => b.asset !== paper.accountSnapshot().quoteCurrency);
  const sample = (): void => {
    if (lastRecordTime === Number.NEGATIVE_INFINITY) return;
    const last = equity[equity.length - 1]!;
    if (equity.length === 1 && startValuedLater) last.equity = startBalances.reduce((sum, b) => sum + b.total * (paper.rateToAccount(b.asset) ?? 0), 0);
    const point: EquityPoint = { timestamp: lastRecordTime, equity: paper.equity(), exposed: false };
    if (point.timestamp > last.timestamp) equity.push(point);
    else if (equity.length === 1) {
      // The first bar closed at the start time itself: the starting equity belongs one bar earlier.
      last.timestamp = point.timestamp - setup.barIntervalMs;
      equity.push(point);
    } else equity[equity.length - 1] = point;
  };
  // A timer on a bar boundary fires when the replay moves the clock there, before the bar that
  // closes at that moment is played: the state it sees is the reaction to everything earlier.
  const sampler = clock.setInterval(sample, setup.barIntervalMs);

  const venues = quiescentProviders(providers.values());
  const gate = holdUntilIdle(market, system, venues);
  const stopEarly = (): void => market.stop();
  options.signal?.addEventListener('abort', stopEarly, { once: true });
  let summary: TimelineSummary;
  try {
    await system.start();
    if (options.signal?.aborted === true) market.stop();
    summary = await market.start();
    await waitUntilIdle(system, undefined, venues);
    sample();
  } finally {
    sampler.cancel();
    removeListener();
    gate.release();
    options.signal?.removeEventListener('abort', stopEarly);
    await system.stop(prepared.config.system.shutdownDeadlineMs).catch((err: unknown) => logger.error({ err }, 'stopping the backtest system failed'));
    for (const p of providers.values()) await p.close().catch(() => undefined);
  }
  const failed = collector.failedAgents();

  const warnings = [...collector.warnings];
  if (summary.stopped) warnings.push(`Stopped early at ${new Date(summary.lastTime ?? startTime).toISOString()}: the report covers the data played until then.`);
  const gaps = market.gaps?.() ?? [];
  if (gaps.length > 0) {
    const missing = gaps.reduce((n, g) => n + g.missingBars, 0);
    warnings.push(`${gaps.length} gap(s) in the data, ${missing} missing bar(s) in all (${[...new Set(gaps.map((g) => g.symbol))].join(', ')}); no trades could happen inside them.`);
  }
  if (failed.length > 0) warnings.push(`Agent(s) failed during the run: ${failed.join('; ')}. Results may be incomplete.`);
  if (gate.stalls > 0) warnings.push(`The system was still busy (pending I/O or agent work) ${gate.stalls} time(s) after waiting ${IDLE_MAX_TURNS} event-loop turns; the replay went on regardless, so some reactions may have come late.`);
  const unfilled = collector.unfilledMarketOrders();
  if (unfilled.size > 0) {
    const list = [...unfilled].map(([purpose, n]) => `${n} ${purpose}`).join(', ');
    warnings.push(
      `Market order(s) still waiting for a fill when the data ended (${list}): a market order fills at the next bar, and there was none. An entry among them is not in the results; an exit leaves its trade open.`,
    );
  }
  if (collector.orders.rejected > 0) warnings.push(`${collector.orders.rejected} order(s) were rejected (${collector.orderRejectionSummary()}).`);

  const wallMs = performance.now() - started;
  markExposure(equity, [...collector.closedTrades(), ...collector.openTrades().map((t) => ({ ...t, closedAt: Infinity }))]);
  const report = buildReport({
    name: prepared.config.system.name,
    config: prepared.source,
    quoteCurrency: paper.accountSnapshot().quoteCurrency,
    timeframe: setup.timeframe,
    barIntervalMs: setup.barIntervalMs,
    symbols: setup.symbols,
    equity,
    trades: collector.closedTrades(),
    rates: collector.rates,
    funding: paper.fundingBySymbol(),
    openTrades: collector.openTrades(),
    orders: collector.orders,
    signals: { ...collector.signals, topRejections: collector.topRejections() },
    fees: collector.totalFees(),
    riskFreeRate: options.riskFreeRate,
    periodsPerYear: options.periodsPerYear,
    benchmark: resolveBenchmark(options.benchmark, benchmarkSeries, prepared.baseDir),
    warnings,
    run: {
      candles: summary.candles,
      events: collector.events(),
      wallMs,
      candlesPerSecond: wallMs > 0 ? (summary.candles / wallMs) * 1_000 : 0,
      peakRssBytes: process.resourceUsage().maxRSS * 1_024,
      state: options.recovery === true ? 'recovery' : 'reference',
    },
  });
  options.onProgress?.({ records, total: records, time: summary.lastTime ?? startTime, elapsedMs: wallMs });
  const files = options.outDir !== undefined ? writeReport(report, options.outDir) : undefined;
  return { report, files, summary };
}

/** One store per agent that keeps values by reference: a backtest never reads its state back after a crash. */
function referenceStores(): (agentId: string) => StateStore {
  const stores = new Map<string, StateStore>();
  return (agentId) => {
    let store = stores.get(agentId);
    if (store === undefined) stores.set(agentId, (store = new ReferenceStateStore()));
    return store;
  };
}

/** `from` / `to` become the replay's startAt / endAt. */
export function windowOverrides(prepared: PreparedSystem, options: BacktestOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(options.overrides ?? {}) };
  if (options.from === undefined && options.to === undefined) return out;
  const name = describeMarket(prepared).marketName;
  const raw = prepared.config.providers[name] as Record<string, unknown>;
  if (raw.kind !== 'replay') throw new BacktestSetupError(`--from / --to need a replay provider; '${name}' is ${String(raw.kind)}.`);
  if (options.from !== undefined) {
    out[`providers.${name}.startAt`] = options.from;
    if (raw.warmupBars !== undefined) out[`providers.${name}.warmupBars`] = undefined;
  }
  if (options.to !== undefined) out[`providers.${name}.endAt`] = options.to;
  return out;
}

interface MarketSetup {
  marketName: string;
  timeframe: string;
  barIntervalMs: number;
  symbols: string[];
}

/** Finds the one simulated market of the config and the bar length its data comes in. */
export function describeMarket(prepared: PreparedSystem): MarketSetup {
  const entries = Object.entries(prepared.config.providers);
  const live = entries.filter(([, p]) => p.kind === 'ccxt').map(([n]) => n);
  const fail = (issues: Array<{ path: string; message: string }>): never => {
    throw new ConfigError(formatMessage(prepared.source, issues), issues);
  };
  if (live.length > 0) {
    fail(
      live.map((n) => ({
        path: `providers.${n}.kind`,
        message: 'ccxt is not allowed in a backtest, which never talks to a live venue: market data comes from a replay (or synthetic) provider and orders go to a paper provider',
      })),
    );
  }
  const simulated = entries.filter(([, p]) => p.kind === 'replay' || p.kind === 'synthetic');
  if (simulated.length === 0) fail([{ path: 'providers', message: 'a backtest needs market data to replay: add a provider of kind replay (data files) or synthetic' }]);
  if (simulated.length > 1) {
    fail([{ path: 'providers', message: `a backtest plays one market, but ${simulated.map(([n]) => n).join(', ')} are all replay/synthetic: merge their sources into one replay provider` }]);
  }
  if (!entries.some(([, p]) => p.kind === 'paper')) {
    fail([{ path: 'providers', message: 'a backtest fills orders on a paper exchange: add a provider of kind paper, with marketData naming the replay provider' }]);
  }
  const [marketName, raw] = simulated[0]!;
  const timeframes: string[] = [];
  const symbols: string[] = [];
  if (raw.kind === 'replay') {
    for (const s of (raw.sources as Array<{ type: string; timeframe?: string; symbol: string }> | undefined) ?? []) {
      if (s.timeframe !== undefined) timeframes.push(s.timeframe);
      if (!symbols.includes(s.symbol)) symbols.push(s.symbol);
    }
  } else {
    timeframes.push(typeof raw.timeframe === 'string' ? raw.timeframe : '1m');
    for (const s of (raw.symbols as Array<{ symbol: string }> | undefined) ?? []) symbols.push(s.symbol);
  }
  const finest = timeframes.map((tf) => ({ tf, ms: timeframeToMs(tf) })).sort((a, b) => a.ms - b.ms)[0] ?? { tf: '1m', ms: 60_000 };
  return { marketName, timeframe: finest.tf, barIntervalMs: finest.ms, symbols };
}

function findPaper(providers: ReadonlyMap<string, Provider>): PaperExchange {
  const papers = [...providers.values()].filter((p) => p.kind === 'paper');
  if (papers.length !== 1) throw new BacktestSetupError(`A backtest keeps one account: configure exactly one paper provider (found ${papers.length}).`);
  return papers[0] as PaperExchange;
}

/** Rejection reasons carry numbers (prices, percentages); counting them by their words groups alike ones. */
function reasonKey(reason: string): string {
  // Only standalone numbers: digits inside ids (order ids, symbols) stay as they are.
  return reason.replace(/(?<![\w.-])-?\d+(\.\d+)?(e-?\d+)?(?![\w])/g, '#').slice(0, 160);
}

function looksLikeFile(value: string): boolean {
  return /\.(csv|json)$/i.test(value);
}

function resolveBenchmark(
  option: BacktestOptions['benchmark'],
  fromReplay: BenchmarkPoint[],
  baseDir: string,
): { name: string; series: BenchmarkPoint[] } | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== 'string') return option;
  if (!looksLikeFile(option)) {
    if (fromReplay.length === 0) throw new BacktestSetupError(`Benchmark '${option}' is not a symbol of the replayed data; name one of its symbols or a CSV file timestamp,value.`);
    return { name: `${option} buy and hold`, series: fromReplay };
  }
  const path = isAbsolute(option) ? option : resolve(baseDir, option);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BacktestSetupError(`Cannot read the benchmark file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`, { cause: err });
  }
  const series: BenchmarkPoint[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    const [t, v] = line.split(',');
    const timestamp = Number(t);
    const value = Number(v);
    if (!Number.isFinite(timestamp) || !Number.isFinite(value)) {
      if (i === 0) continue; // header
      throw new BacktestSetupError(`${path} line ${i + 1}: expected timestamp,value (epoch ms and a number), got '${line}'.`);
    }
    series.push({ timestamp, value });
  }
  return { name: option, series };
}

/** Collects what the run produced from the bus: trades, orders, fees, failures. */
class Collector {
  readonly orders: OrderCounts = emptyOrderCounts();
  readonly warnings: string[] = [];
  readonly signals = { generated: 0, accepted: 0, rejected: 0 };
  private readonly rejections = new Map<string, number>();
  private readonly orderRejections = new Map<string, number>();
  private readonly closed = new Map<string, ClosedTrade>();
  private readonly open = new Map<string, OpenTrade>();
  private readonly orderFees = new Map<string, number>();
  private readonly orderStatus = new Map<string, string>();
  private readonly failures = new Map<string, string>();
  /** Market orders not finished yet, by purpose: at the end of the data they never filled. */
  private readonly workingMarketOrders = new Map<string, string>();

  /** Per closed trade: what one unit of its quote currency was worth in the account currency when it closed. */
  readonly rates = new Map<string, number>();

  constructor(
    private readonly system: TradebusSystem,
    private readonly rateToAccount: (currency: string) => number | undefined,
  ) {
    const bus = system.createBus('backtest');
    bus.subscribe('trade.opened', (e) => {
      this.open.set(e.payload.tradeId, e.payload);
    });
    bus.subscribe('trade.closed', (e) => {
      this.open.delete(e.payload.tradeId);
      this.closed.set(e.payload.tradeId, e.payload);
      const rate = this.rateToAccount(quoteOfSymbol(e.payload.symbol));
      if (rate !== undefined) this.rates.set(e.payload.tradeId, rate);
    });
    bus.subscribe('signal.generated', () => {
      this.signals.generated++;
    });
    bus.subscribe('signal.decided', (e) => {
      const d = e.payload;
      if (d.decision === 'accepted') this.signals.accepted++;
      else if (d.decision === 'rejected') {
        this.signals.rejected++;
        for (const reason of d.reasons) this.rejections.set(reasonKey(reason), (this.rejections.get(reasonKey(reason)) ?? 0) + 1);
      }
    });
    bus.subscribe('order.requested', (e) => {
      this.orders.requested++;
      if (e.payload.type === 'market') this.workingMarketOrders.set(e.payload.clientOrderId, e.payload.purpose);
    });
    bus.subscribe('order.updated', (e) => this.onOrder(e.payload));
    bus.subscribe('agent.status', (e) => {
      if (e.payload.to === 'failed') this.failures.set(e.payload.agentId, e.payload.reason ?? 'no reason given');
    });
    bus.subscribe('system.alert', (e) => {
      const a = e.payload;
      if ((a.level === 'error' || a.level === 'critical') && this.warnings.length < 50) this.warnings.push(`${a.agentId ?? 'system'}: ${a.code}: ${a.message}`);
    });
  }

  private onOrder(o: BuiltinEvents['order.updated']): void {
    this.orderFees.set(o.clientOrderId, o.fee);
    const previous = this.orderStatus.get(o.clientOrderId);
    if (previous === o.status) return;
    this.orderStatus.set(o.clientOrderId, o.status);
    if (o.status === 'filled' || o.status === 'cancelled' || o.status === 'rejected' || o.status === 'expired') this.workingMarketOrders.delete(o.clientOrderId);
    if (o.status === 'filled') this.orders.filled++;
    else if (o.status === 'partially_filled' && previous !== 'partially_filled') this.orders.partiallyFilled++;
    else if (o.status === 'cancelled') this.orders.cancelled++;
    else if (o.status === 'rejected') {
      this.orders.rejected++;
      const key = reasonKey(o.reason ?? 'no reason given');
      this.orderRejections.set(key, (this.orderRejections.get(key) ?? 0) + 1);
    }
    else if (o.status === 'expired') this.orders.expired++;
  }

  /** Market orders still working when the data ended, counted by purpose. */
  unfilledMarketOrders(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const purpose of this.workingMarketOrders.values()) counts.set(purpose, (counts.get(purpose) ?? 0) + 1);
    return counts;
  }

  /** Why orders were rejected, most frequent first, as one line. */
  orderRejectionSummary(limit = 3): string {
    return [...this.orderRejections]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([reason, count]) => `${reason} ×${count}`)
      .join('; ');
  }

  /** The most frequent reasons signals were rejected, most frequent first. */
  topRejections(limit = 8): Array<{ reason: string; count: number }> {
    return [...this.rejections]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([reason, count]) => ({ reason, count }));
  }



  closedTrades(): ClosedTrade[] {
    return [...this.closed.values()];
  }

  openTrades(): OpenTrade[] {
    return [...this.open.values()].sort((a, b) => a.openedAt - b.openedAt || (a.tradeId < b.tradeId ? -1 : 1));
  }

  totalFees(): number {
    let sum = 0;
    for (const fee of this.orderFees.values()) sum += fee;
    return sum;
  }

  failedAgents(): string[] {
    return [...this.failures].map(([id, reason]) => `${id} (${reason})`);
  }

  events(): number {
    return busEvents(this.system);
  }
}

/**
 * Marks each equity interval (previous sample, this sample] in which some trade was open for a
 * positive time, from the trades' market times: a trade filled at a bar's close is exposed from
 * the next bar on, and one filled at the next open counts in the bar it was held through, whenever
 * its fill was reported.
 */
export function markExposure(equity: EquityPoint[], trades: ReadonlyArray<{ openedAt: number; closedAt: number }>): void {
  const times = equity.map((p) => p.timestamp);
  // First sample index whose timestamp is > t.
  const after = (t: number): number => {
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (times[mid]! > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  for (const p of equity) p.exposed = false;
  for (const t of trades) {
    if (!(t.closedAt > t.openedAt)) continue;
    // Interval i is (times[i-1], times[i]]: it overlaps (openedAt, closedAt) when times[i] > openedAt and times[i-1] < closedAt.
    const first = Math.max(1, after(t.openedAt));
    for (let i = first; i < equity.length && times[i - 1]! < t.closedAt; i++) equity[i]!.exposed = true;
  }
}
