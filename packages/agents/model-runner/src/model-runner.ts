import { join, resolve } from 'node:path';
import {
  BaseAgent,
  DATA_STORE_SERVICE,
  candleSchema,
  errorMessage,
  fastSafeParse,
  sleepUnlessAborted,
  toError,
  type AgentContext,
  type CandleEvent,
  type DataStore,
  type Envelope,
} from '@tradebus/core';
import {
  FeatureInputError,
  FeaturePipeline,
  ModelRegistry,
  OipModelSource,
  OnnxModelSource,
  PageHinkley,
  ScheduledCalibrator,
  TrackRecord,
  createEnsemble,
  parseFeatureConfig,
  promotionDecision,
  type Ensemble,
  type EnsembleDecision,
  type ModelPrediction,
  type ModelSource,
  type ModelStatus,
} from '@tradebus/models';
import { resolveMarketData, type MarketDataProvider } from '@tradebus/providers';
import { barCloseTime, type StrategyCandle } from '@tradebus/strategies';
import type { ModelConfig, ModelRunnerConfig } from './config.js';
import type { ModelEvents, ModelRunnerEvents } from './events.js';

const parseCandle = fastSafeParse(candleSchema);
const HISTORY_MARGIN = 10;

type Side = 'long' | 'short' | 'flat';

/** One configured version of a model, as the runner runs it. */
interface Version {
  config: ModelConfig;
  name: string;
  version: string;
  key: string;
  source: ModelSource;
  status: ModelStatus;
  track: TrackRecord;
  drift: PageHinkley | undefined;
  calibrator: ScheduledCalibrator | undefined;
  /** True while it keeps failing: its first failure is alerted, not every bar's. */
  failing: boolean;
  /**
   * Outcomes scored since a version of this name last changed status. The gate counts only
   * these, so a version just replaced cannot win its place back on the same outcomes (the
   * versions would swap on every wobble of their scores).
   */
  sinceChange: number;
}

interface Answer {
  version: Version;
  raw: number;
  probability: number;
  latencyMs: number;
}

/** The predictions of one bar, waiting for the bar `horizon` later that scores them. */
interface Pending {
  index: number;
  close: number;
  answers: Answer[];
  votes: ModelPrediction[];
}

interface Series {
  symbol: string;
  pipeline: FeaturePipeline;
  ensemble: Ensemble;
  ready: boolean;
  buffer: Array<{ candle: StrategyCandle; envelope: Envelope | undefined }>;
  lastBar: number | undefined;
  /** Bars fed to the pipeline (history and live): what a prediction's horizon counts in. */
  index: number;
  pending: Pending[];
  /** Side of the last signal published; flat before the first. */
  side: Side;
  predictions: number;
  signals: number;
}

/** What `series()` reports for one symbol. */
export interface ModelSeriesReport {
  symbol: string;
  ready: boolean;
  bars: number;
  predictions: number;
  signals: number;
  side: Side;
  lastBar: number | undefined;
}

/** What `versions()` reports for one model version. */
export interface ModelVersionReport {
  name: string;
  version: string;
  kind: 'onnx' | 'oip';
  status: ModelStatus;
  outcomes: number;
  accuracy: number;
  brier: number;
}

/**
 * Turns closed candles into model signals. Per symbol it feeds a feature pipeline (warmed from
 * history), asks every active and shadow model version for p(up), combines the active ones with
 * the configured ensemble and publishes `signal.generated` when the side changes, with every
 * vote and weight in the reason and metadata. `model.prediction` records every bar.
 *
 * Inference is asynchronous, so bars go through one queue: a bar is predicted only once the one
 * before it (of any symbol) is done, which keeps each symbol's order and makes a backtest give
 * the same signals every run. The queue reports itself through `isIdle`/`whenIdle`, so a replay
 * waits for it before the next bar.
 */
export class ModelRunnerAgent extends BaseAgent<ModelRunnerConfig, ModelRunnerEvents> {
  private provider: MarketDataProvider | undefined;
  private registry!: ModelRegistry;
  private readonly versionList: Version[] = [];
  private readonly seriesBySymbol = new Map<string, Series>();
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private outcomesSinceSave = 0;
  private featureNames: readonly string[] = [];
  private readonly unsubscribers: Array<() => void> = [];

  constructor(context: AgentContext<ModelRunnerConfig, ModelRunnerEvents>) {
    super(context);
  }

  /** True when no bar is waiting or being predicted. */
  isIdle(): boolean {
    return this.queued === 0;
  }

  async whenIdle(): Promise<void> {
    while (this.queued > 0) await this.queue;
  }

  series(): ModelSeriesReport[] {
    return [...this.seriesBySymbol.values()].map((s) => ({ symbol: s.symbol, ready: s.ready, bars: s.index, predictions: s.predictions, signals: s.signals, side: s.side, lastBar: s.lastBar }));
  }

  versions(): ModelVersionReport[] {
    return this.versionList.map((v) => ({ name: v.name, version: v.version, kind: v.source.kind, status: v.status, ...v.track.summary() }));
  }

  /** The registry the runner keeps its versions in. */
  get modelRegistry(): ModelRegistry {
    return this.registry;
  }

  protected override async initialize(): Promise<void> {
    const config = this.config;
    this.provider = config.provider === undefined ? undefined : resolveMarketData(this.services, config.provider);
    const features = parseFeatureConfig(config.features, { path: 'features' });
    this.featureNames = new FeaturePipeline(features).names;
    this.registry = await this.openRegistry();
    this.versionList.length = 0;
    for (const [i, model] of config.models.entries()) {
      const record = await this.registry.register(
        { name: model.name, version: model.version, features: this.featureNames, status: model.status, source: describeSource(model) },
        this.clock.now(),
      );
      const source = await this.load(model, i);
      const version: Version = {
        config: model,
        name: model.name,
        version: model.version,
        key: `${model.name}@${model.version}`,
        source,
        status: record.status,
        track: new TrackRecord(config.registry.window),
        drift: config.registry.drift.enabled ? new PageHinkley({ delta: config.registry.drift.delta, lambda: config.registry.drift.lambda, minOutcomes: config.registry.drift.minOutcomes }) : undefined,
        calibrator: model.calibration === undefined ? undefined : new ScheduledCalibrator(model.calibration, { path: `models[${i}].calibration` }),
        failing: false,
        sinceChange: 0,
      };
      this.versionList.push(version);
      if (source instanceof OipModelSource) {
        this.unsubscribers.push(source.client.onHealth((h) => this.publishHealth(version, h)));
      }
    }
    this.seriesBySymbol.clear();
    for (const symbol of config.symbols) {
      this.seriesBySymbol.set(symbol, {
        symbol,
        pipeline: new FeaturePipeline(features),
        ensemble: createEnsemble(config.ensemble, { path: 'ensemble' }),
        ready: false,
        buffer: [],
        lastBar: undefined,
        index: 0,
        pending: [],
        side: 'flat',
        predictions: 0,
        signals: 0,
      });
    }
    for (const name of new Set(this.versionList.map((v) => v.name))) {
      if (!this.versionList.some((v) => v.name === name && v.status === 'active')) {
        const active = this.registry.active(name);
        this.logger.warn({ model: name, registryActive: active?.version }, active === undefined ? 'no active version of this model: it is run in shadow only' : 'the active version in the registry is not configured here: add it to models to let it trade');
      }
    }
  }

  protected run(): void {
    this.subscribe('candle.closed', (envelope) => this.onClosed(envelope.payload, envelope));
    for (const series of this.seriesBySymbol.values()) this.background(`warmup ${series.symbol}`, (signal) => this.warmUp(series, signal));
    for (const v of this.versionList) if (v.source instanceof OipModelSource) void v.source.client.ready();
    const { intervalMs } = this.config.health;
    if (intervalMs > 0) {
      this.every(intervalMs, () => {
        for (const v of this.versionList) if (v.source instanceof OipModelSource && v.status !== 'retired') void v.source.client.ready();
      });
    }
  }

  protected override async cleanup(): Promise<void> {
    await this.whenIdle();
    for (const off of this.unsubscribers.splice(0)) off();
    await this.saveMetrics();
    for (const v of this.versionList) await v.source.close().catch(() => undefined);
  }

  private async openRegistry(): Promise<ModelRegistry> {
    const { file } = this.config.registry;
    if (file !== undefined) return ModelRegistry.open(file);
    if (this.services.has(DATA_STORE_SERVICE)) return ModelRegistry.open(join(this.services.get<DataStore>(DATA_STORE_SERVICE).dir, 'models.json'));
    return ModelRegistry.inMemory();
  }

  private async load(model: ModelConfig, i: number): Promise<ModelSource> {
    const source = model.source;
    const name = `${model.name}@${model.version}`;
    if (source.kind === 'onnx') {
      const { kind: _kind, file, ...options } = source;
      // Relative to the working directory, resolved here so an error shows where it looked.
      return OnnxModelSource.load(name, resolve(file), options);
    }
    const { kind: _kind, ...options } = source;
    this.logger.debug({ model: name, index: i, url: options.url }, 'model server configured');
    // The breaker's cool-down runs on the agent's clock: wall time live, the replay's time in a backtest.
    return new OipModelSource(name, options, { now: () => this.clock.now() });
  }

  private onClosed(payload: CandleEvent, envelope: Envelope | undefined): void {
    if (payload.timeframe !== this.config.timeframe) return;
    const series = this.seriesBySymbol.get(payload.symbol);
    if (series === undefined) return;
    const parsed = parseCandle(payload);
    if (!parsed.success || parsed.data.high < parsed.data.low) {
      this.recordError(new Error(`invalid candle on ${payload.symbol}`));
      return;
    }
    if (!series.ready) {
      series.buffer.push({ candle: parsed.data, envelope });
      return;
    }
    this.enqueue(series, parsed.data, envelope);
  }

  private enqueue(series: Series, candle: StrategyCandle, envelope: Envelope | undefined): void {
    this.queued++;
    this.queue = this.queue
      .then(() => this.step(series, candle, envelope))
      .catch((err: unknown) => {
        this.recordError(err);
        this.logger.error({ err: toError(err), symbol: series.symbol, bar: candle.timestamp }, 'model step failed; the bar is skipped');
      })
      .finally(() => {
        this.queued--;
      });
  }

  private async step(series: Series, candle: StrategyCandle, envelope: Envelope | undefined): Promise<void> {
    if (series.lastBar !== undefined && candle.timestamp <= series.lastBar) return;
    await this.score(series, candle);
    const vector = this.feed(series, candle);
    if (vector === undefined) return;
    const bad = vector.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      // A model fed NaN answers NaN or worse, a confident number: the bar is left out instead.
      this.recordError(new Error(`feature ${this.featureNames[bad]} is ${vector[bad]} on ${series.symbol} at ${candle.timestamp}`));
      this.logger.warn({ symbol: series.symbol, bar: candle.timestamp, feature: this.featureNames[bad], value: vector[bad] }, 'feature not a finite number: no prediction on this bar');
      return;
    }
    const running = this.versionList.filter((v) => v.status !== 'retired');
    const results = await Promise.all(running.map((v) => this.ask(v, vector)));
    const answers: Answer[] = [];
    const failed: ModelEvents['model.prediction']['failed'] = [];
    results.forEach((r, i) => {
      if ('error' in r) failed.push({ model: running[i]!.name, version: running[i]!.version, error: r.error });
      else answers.push(r);
    });
    const active = answers.filter((a) => a.version.status === 'active');
    const votes: ModelPrediction[] = active.map((a) => ({
      model: a.version.name,
      side: a.probability >= 0.5 ? 'long' : 'short',
      confidence: a.probability >= 0.5 ? a.probability : 1 - a.probability,
      // A measured latency differs from run to run: only a configured penalty lets it change a decision.
      ...(this.config.ensemble.method === 'weighted-vote' && this.config.ensemble.latencyPenalty !== undefined ? { latencyMs: a.latencyMs } : {}),
    }));
    const decision = votes.length === 0 ? undefined : series.ensemble.combine(votes);
    if (votes.length === 0 && running.some((v) => v.status === 'active')) this.degrade('no active model answered: no model signals until one does');
    else if (votes.length > 0) this.recover();
    series.pending.push({ index: series.index, close: candle.close, answers, votes });
    series.predictions++;

    const features = Object.fromEntries(this.featureNames.map((name, i) => [name, vector[i]!]));
    const side = this.sideOf(decision);
    const probability = decision === undefined ? null : probabilityUp(decision);
    const weights = new Map(decision?.members.map((m) => [m.model, m.weight]) ?? []);
    const cause = envelope === undefined ? undefined : { cause: envelope };
    const timestamp = barCloseTime(candle.timestamp, this.config.timeframe) ?? this.clock.now();
    this.publish(
      'model.prediction',
      {
        symbol: series.symbol,
        timeframe: this.config.timeframe,
        barTime: candle.timestamp,
        features,
        probability,
        side,
        confidence: decision?.confidence ?? 0,
        votes: answers.map((a) => ({
          model: a.version.name,
          version: a.version.version,
          status: a.version.status === 'active' ? 'active' : 'shadow',
          probability: a.probability,
          weight: a.version.status === 'active' ? (weights.get(a.version.name) ?? 0) : null,
          latencyMs: a.latencyMs,
        })),
        failed,
        timestamp,
      },
      cause,
    );
    if (decision === undefined || side === series.side) return;
    series.side = side;
    series.signals++;
    const explained = decision.members.map((m) => {
      const a = active.find((x) => x.version.name === m.model)!;
      return `${a.version.key} p(up) ${a.probability.toFixed(3)} weight ${m.weight.toFixed(3)}`;
    });
    this.publish(
      'signal.generated',
      {
        id: `${this.config.strategyId}:${series.symbol}:${this.config.timeframe}:${candle.timestamp}:${side}`,
        strategyId: this.config.strategyId,
        symbol: series.symbol,
        timeframe: this.config.timeframe,
        side,
        confidence: decision.confidence,
        price: candle.close,
        reason: `${this.config.ensemble.method} of ${explained.join('; ')} → ${decision.side} ${decision.confidence.toFixed(3)}${side !== decision.side ? ` (below minConfidence ${this.config.signals.minConfidence} or short not allowed: flat)` : ''}`,
        metadata: {
          barTime: candle.timestamp,
          featureBar: candle.timestamp,
          features,
          ensemble: this.config.ensemble.method,
          probabilityUp: probability,
          score: decision.score,
          votes: decision.members.map((m) => ({ ...m, version: active.find((x) => x.version.name === m.model)!.version.version })),
        },
        timestamp,
      },
      cause,
    );
  }

  /** Feeds the pipeline; the vector once it is warm. A bar the pipeline refuses is dropped with its reason. */
  private feed(series: Series, candle: StrategyCandle): readonly number[] | undefined {
    try {
      const vector = series.pipeline.update(candle);
      series.lastBar = candle.timestamp;
      series.index++;
      return vector;
    } catch (err) {
      if (!(err instanceof FeatureInputError)) throw err;
      this.recordError(err);
      this.logger.warn({ symbol: series.symbol, bar: candle.timestamp, err: toError(err) }, 'bar refused by the feature pipeline');
      return undefined;
    }
  }

  private sideOf(decision: EnsembleDecision | undefined): Side {
    if (decision === undefined || decision.side === 'flat') return 'flat';
    if (decision.confidence < this.config.signals.minConfidence) return 'flat';
    if (decision.side === 'short' && !this.config.signals.allowShort) return 'flat';
    return decision.side;
  }

  private async ask(version: Version, vector: readonly number[]): Promise<Answer | { error: string }> {
    const started = performance.now();
    try {
      const { probability: raw } = await version.source.predict(vector);
      const probability = version.calibrator === undefined ? raw : version.calibrator.calibrate(raw);
      if (version.failing) {
        version.failing = false;
        this.logger.info({ model: version.key }, 'model answers again');
      }
      return { version, raw, probability, latencyMs: performance.now() - started };
    } catch (err) {
      this.recordError(err);
      if (!version.failing) {
        version.failing = true;
        this.alert('warning', 'MODEL_FAILED', `Model ${version.key} did not answer: ${errorMessage(err)}. Its vote is left out until it answers again.`, { model: version.name, version: version.version });
      }
      return { error: errorMessage(err) };
    }
  }

  /** Scores the predictions made `horizon` bars before this one, then reviews the versions. */
  private async score(series: Series, candle: StrategyCandle): Promise<void> {
    const horizon = this.config.signals.horizon;
    const touched = new Set<string>();
    while (series.pending.length > 0 && series.index + 1 - series.pending[0]!.index >= horizon) {
      const pending = series.pending.shift()!;
      const up = candle.close > pending.close;
      for (const a of pending.answers) {
        a.version.track.record(a.probability, up);
        a.version.sinceChange++;
        a.version.calibrator?.record({ confidence: a.raw, outcome: up ? 1 : 0 }, candle.timestamp);
        touched.add(a.version.name);
        if (a.version.status === 'active' && a.version.drift?.update((a.probability - (up ? 1 : 0)) ** 2)) {
          await this.demote(a.version);
        }
      }
      if (pending.votes.length > 0) series.ensemble.record(pending.votes, up);
      this.outcomesSinceSave++;
    }
    for (const name of touched) await this.review(name);
    if (this.outcomesSinceSave >= this.config.registry.saveEvery) await this.saveMetrics();
  }

  private async demote(version: Version): Promise<void> {
    const summary = version.track.summary();
    const reason = `drift: Page-Hinkley found its loss rising (Brier ${summary.brier.toFixed(4)}, accuracy ${summary.accuracy.toFixed(4)} over the last ${summary.outcomes} outcomes)`;
    await this.registry.setStatus(version.name, version.version, 'shadow', reason, this.clock.now());
    version.status = 'shadow';
    for (const v of this.versionList) if (v.name === version.name) v.sinceChange = 0;
    this.alert('warning', 'MODEL_DEMOTED', `Model ${version.key} was moved from active to shadow: ${reason}. It keeps being scored and can be promoted again.`, { model: version.name, version: version.version });
  }

  /** Promotes the best shadow version of `name` that passes the gate. */
  private async review(name: string): Promise<void> {
    if (!this.config.registry.autoPromote) return;
    const active = this.versionList.find((v) => v.name === name && v.status === 'active');
    const activeSummary = active?.track.summary();
    let best: { version: Version; reason: string } | undefined;
    for (const v of this.versionList) {
      if (v.name !== name || v.status !== 'shadow' || v === active) continue;
      const summary = v.track.summary();
      const decision = promotionDecision({ ...summary, outcomes: Math.min(summary.outcomes, v.sinceChange) }, activeSummary, this.config.registry.promotion);
      if (!decision.promote) continue;
      const metric = this.config.registry.promotion.metric;
      if (best === undefined || better(v.track.summary()[metric], best.version.track.summary()[metric], metric)) best = { version: v, reason: decision.reason };
    }
    if (best === undefined) return;
    const at = this.clock.now();
    await this.registry.setStatus(name, best.version.version, 'active', best.reason, at);
    if (active !== undefined) {
      active.status = 'shadow';
      active.drift?.reset();
    }
    best.version.status = 'active';
    best.version.drift?.reset();
    for (const v of this.versionList) if (v.name === name) v.sinceChange = 0;
    this.alert('info', 'MODEL_PROMOTED', `Model ${best.version.key} is now active${active ? ` in place of ${active.key}` : ''}: ${best.reason}.`, { model: name, version: best.version.version });
  }

  private async saveMetrics(): Promise<void> {
    if (this.registry === undefined) return;
    this.outcomesSinceSave = 0;
    const entries = this.versionList.map((v) => {
      const s = v.track.summary();
      return {
        name: v.name,
        version: v.version,
        metrics: { outcomes: s.outcomes, accuracy: Number.isFinite(s.accuracy) ? s.accuracy : null, brier: Number.isFinite(s.brier) ? s.brier : null, total: v.track.total },
      };
    });
    try {
      await this.registry.saveMetrics(entries);
    } catch (err) {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'could not save the model scores to the registry');
    }
  }

  private publishHealth(version: Version, health: { breaker: 'closed' | 'open' | 'half-open'; ready: boolean | undefined; consecutiveFailures: number; lastError: string | undefined }): void {
    if (this.state !== 'running' && this.state !== 'degraded' && this.state !== 'starting') return;
    this.publish('model.health', {
      model: version.name,
      version: version.version,
      kind: version.source.kind,
      breaker: health.breaker,
      ready: health.ready ?? null,
      consecutiveFailures: health.consecutiveFailures,
      lastError: health.lastError ?? null,
      timestamp: this.clock.now(),
    });
  }

  private async warmUp(series: Series, signal: AbortSignal): Promise<void> {
    const history = await this.fetchHistory(series, signal);
    if (signal.aborted) return;
    const firstLive = series.buffer[0]?.candle.timestamp ?? Number.POSITIVE_INFINITY;
    // Warm-up only fills the pipeline: predictions start on the first live bar.
    for (const candle of history) if (candle.timestamp < firstLive) this.feed(series, candle);
    series.ready = true;
    this.logger.info({ symbol: series.symbol, bars: series.index, warm: series.pipeline.isReady }, 'features warmed up from history');
    const buffered = series.buffer;
    series.buffer = [];
    for (const { candle, envelope } of buffered) this.enqueue(series, candle, envelope);
  }

  private historyLength(): number {
    if (this.config.warmup.bars !== undefined) return this.config.warmup.bars;
    const needed = new FeaturePipeline(parseFeatureConfig(this.config.features)).warmupPeriod;
    // Exponential averages keep a trace of their seed: more history brings them closer to a chart's values.
    return Math.min(5_000, Math.max(100, needed * 3));
  }

  private async fetchHistory(series: Series, signal: AbortSignal): Promise<StrategyCandle[]> {
    if (this.provider === undefined) return [];
    const { retries, retryDelayMs } = this.config.warmup;
    const wanted = this.historyLength();
    for (let attempt = 0; ; attempt++) {
      try {
        const raw = await this.provider.fetchOHLCV(series.symbol, this.config.timeframe, undefined, wanted + HISTORY_MARGIN);
        const now = this.clock.now();
        const bars: StrategyCandle[] = [];
        for (const c of [...raw].sort((a, b) => a.timestamp - b.timestamp)) {
          // Only finished bars, and none from the future of a replay whose provider knows more than the clock.
          if (!c.closed || (barCloseTime(c.timestamp, this.config.timeframe) ?? Number.POSITIVE_INFINITY) > now) continue;
          const parsed = parseCandle({ ...c, symbol: series.symbol, timeframe: this.config.timeframe });
          if (parsed.success && (bars.length === 0 || parsed.data.timestamp > bars.at(-1)!.timestamp)) bars.push(parsed.data);
        }
        return bars.slice(-wanted);
      } catch (err) {
        this.recordError(err);
        if (signal.aborted) return [];
        if (attempt >= retries) {
          this.alert('warning', 'WARMUP_HISTORY_UNAVAILABLE', `No history for ${series.symbol} ${this.config.timeframe} from '${this.config.provider}' (${errorMessage(err)}): features warm up on live bars, so the first predictions come later.`, { symbol: series.symbol });
          return [];
        }
        if (!(await sleepUnlessAborted(this.clock, retryDelayMs * (attempt + 1), signal))) return [];
      }
    }
  }
}

/** Where a version is served from, for the registry: never its headers, which may hold a token. */
function describeSource(model: ModelConfig): Record<string, unknown> {
  const source = model.source;
  return source.kind === 'onnx' ? { kind: 'onnx', file: source.file } : { kind: 'oip', url: source.url, model: source.model, ...(source.version === undefined ? {} : { version: source.version }) };
}

/** The ensemble's decision read as a probability of a rise. */
function probabilityUp(decision: EnsembleDecision): number {
  if (decision.side === 'long') return decision.confidence;
  if (decision.side === 'short') return 1 - decision.confidence;
  return 0.5 + decision.score / 2;
}

function better(a: number, b: number, metric: 'brier' | 'accuracy'): boolean {
  return metric === 'brier' ? a < b : a > b;
}
