import { BaseAgent, errorMessage, refuseColdChanges, toError, type AgentContext, type BuiltinEvents } from '@tradebus/core';
import { RegimeDetector } from '@tradebus/strategies';
import type { ProfitWatchdogConfig, Tunable } from './config.js';
import { hotSettings } from './hot-settings.js';
import { WindowSet, groupQuality, recommend, type DecisionRecord, type Recommendation } from './quality.js';
import { emptyPageHinkley, mean, pageHinkleyUpdate, type PageHinkleyState } from './stats.js';
import { ApiSettingApplier, stepToward, type SettingApplier } from './tuner.js';

type Report = BuiltinEvents['watchdog.report'];
type Tuning = BuiltinEvents['watchdog.tuning'];

/** A signal followed from its generation to its outcome. */
interface Pending extends Pick<DecisionRecord, 'signalId' | 'strategyId' | 'symbol' | 'regime' | 'side' | 'confidence' | 'signalAt'>, Partial<Pick<DecisionRecord, 'decision' | 'byConfidence'>> {
  tradeId?: string;
}

interface DriftState {
  test: PageHinkleyState;
  trades: number;
  statistic: number;
  lastAlarmAt?: number;
}

interface Evaluation {
  change: Tuning;
  key: string;
  at: number;
  baselineTrades: number;
  baselineExpectancyPct: number | null;
}

interface TuningState {
  current: Record<string, number>;
  lastChangeAt?: number;
  evaluation?: Evaluation;
  log: Tuning[];
}

interface Meta {
  outcomes: number;
  seq: number;
}

const PENDING = 'p:';
const RECORD = 'r:';
const DRIFT = 'drift:';
const TUNING = 'tuning';
const META = 'meta';
const TUNING_LOG = 50;

const tunableKey = (t: Tunable): string => `${t.agent}:${t.path}:${(t.strategies ?? ['*']).join(',')}`;
const recordKey = (r: { strategyId: string }, seq: number): string => `${RECORD}${r.strategyId}:${String(seq).padStart(12, '0')}`;

function valueAt(obj: unknown, path: string): unknown {
  let v = obj;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Watches whether the system's decisions make money. It follows every entry signal from
 * `signal.generated` through `signal.decided` to its outcome (the closed trade, or for a rejected
 * signal the counterfactual the trade manager reports), keeps the outcomes per strategy in its
 * durable state, and every `reportEvery` outcomes works out decision quality over rolling
 * windows, alerts on underperformance and missed opportunities, replays the decisions under other
 * thresholds to recommend one, and (when allowed) applies it through the system API. Each closed
 * trade also feeds a Page-Hinkley test of its strategy's returns against the strategy's history.
 */
export class ProfitWatchdogAgent extends BaseAgent<ProfitWatchdogConfig> {
  private readonly pending = new Map<string, Pending>();
  private readonly byTrade = new Map<string, string>();
  /** Per strategy, outcomes in the order they became known, with their state keys. */
  private readonly history = new Map<string, Array<{ key: string; record: DecisionRecord }>>();
  private readonly drift = new Map<string, DriftState>();
  private windows = new WindowSet(50);
  private tuning: TuningState = { current: {}, log: [] };
  private meta: Meta = { outcomes: 0, seq: 0 };
  private regime = new RegimeDetector();
  private readonly alertedAt = new Map<string, number>();
  private latest: Report | undefined;
  private applier: SettingApplier | undefined;
  private applying: Promise<void> | undefined;
  private recommendationSeq = 0;

  constructor(context: AgentContext<ProfitWatchdogConfig>) {
    super(context);
  }

  protected override async initialize(): Promise<void> {
    this.pending.clear();
    this.byTrade.clear();
    this.history.clear();
    this.drift.clear();
    this.windows = new WindowSet(this.config.windowSize);
    this.regime = new RegimeDetector(this.config.regime, { path: 'regime' });
    this.meta = (await this.store.get<Meta>(META)) ?? { outcomes: 0, seq: 0 };
    this.tuning = (await this.store.get<TuningState>(TUNING)) ?? { current: {}, log: [] };
    for (const t of this.config.recommendations.tunables) this.tuning.current[tunableKey(t)] ??= t.current;
    const keys = (await this.store.keys()).sort();
    for (const key of keys) {
      if (key.startsWith(PENDING)) {
        const p = await this.store.get<Pending>(key);
        if (p === undefined) continue;
        this.pending.set(p.signalId, p);
        if (p.tradeId !== undefined) this.byTrade.set(p.tradeId, p.signalId);
      } else if (key.startsWith(RECORD)) {
        const record = await this.store.get<DecisionRecord>(key);
        if (record !== undefined) this.historyOf(record.strategyId).push({ key, record });
      } else if (key.startsWith(DRIFT)) {
        const d = await this.store.get<DriftState>(key);
        if (d !== undefined) this.drift.set(key.slice(DRIFT.length), d);
      }
    }
    // Keys sort by strategy, then in the order the outcomes came: the windows come back as they were.
    for (const h of this.history.values()) for (const { record } of h) this.windows.add(record);
    this.applier = applierFor(this.config);
  }

  protected override onReconfigure(next: ProfitWatchdogConfig, previous: ProfitWatchdogConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    // Switching auto-tune off while running is the operator's brake: it takes effect at once.
    this.applier = applierFor(next);
  }

  protected run(): void {
    this.subscribe('candle.closed', (e) => void this.regime.update(e.payload));
    this.subscribe('signal.generated', (e) => this.onSignal(e.payload));
    this.subscribe('signal.decided', (e) => this.onDecided(e.payload));
    this.subscribe('trade.opened', (e) => this.onOpened(e.payload));
    this.subscribe('trade.closed', (e) => this.onClosed(e.payload));
    this.subscribe('config.changed', (e) => this.onConfigChanged(e.payload));
  }

  /** The latest report (also published as `watchdog.report`); undefined before the first. */
  get report(): Report | undefined {
    return this.latest;
  }

  /**
   * The figures as of now, from the outcomes received so far: decision quality per window, drift,
   * recommendations. Publishes nothing (see `evaluate`).
   */
  snapshot(): Report {
    const now = this.clock.now();
    const all = this.records();
    const groups = this.windows.list().map((w) => groupQuality(w.records, w.key, this.config.confidenceLevel));
    const recommendations: Recommendation[] = [];
    for (const t of this.config.recommendations.tunables) {
      const rec = recommend(all, { ...t, current: this.currentOf(t) }, this.config.recommendations, now, `${this.id}-${now}-${++this.recommendationSeq}`);
      if (rec !== undefined) recommendations.push(rec);
    }
    const report: Report = {
      agentId: this.id,
      outcomes: this.meta.outcomes,
      windowSize: this.config.windowSize,
      groups,
      drift: [...this.drift.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([strategyId, d]) => ({
        strategyId,
        trades: d.trades,
        statistic: d.statistic,
        threshold: this.config.drift.lambda,
        drifting: d.lastAlarmAt !== undefined && d.test.n < this.config.drift.minTrades,
        ...(d.lastAlarmAt !== undefined ? { since: d.lastAlarmAt } : {}),
      })),
      recommendations,
      tuning: [...this.tuning.log],
      timestamp: now,
    };
    this.latest = report;
    return report;
  }

  /** The outcomes kept: strategy by strategy (by id), each in the order they became known. */
  records(): DecisionRecord[] {
    return [...this.history.entries()].sort(([a], [b]) => a.localeCompare(b)).flatMap(([, h]) => h.map((x) => x.record));
  }

  /** Works the figures out, raises the alerts they call for, publishes them and acts on them (auto-tune). */
  evaluate(): Report {
    const report = this.snapshot();
    this.raiseAlerts(report.groups);
    for (const rec of report.recommendations) if (rec.recommended !== rec.current) this.publish('watchdog.recommendation', rec);
    this.publish('watchdog.report', report);
    this.autoTune(report.recommendations, report.timestamp);
    return report;
  }

  // ---------------------------------------------------------------- following signals

  private onSignal(s: BuiltinEvents['signal.generated']): void {
    if (s.side === 'flat' || this.pending.has(s.id)) return;
    const p: Pending = {
      signalId: s.id,
      strategyId: s.strategyId,
      symbol: s.symbol,
      regime: this.regime.regime(s.symbol) ?? 'unknown',
      side: s.side,
      confidence: s.confidence,
      signalAt: s.timestamp,
    };
    this.pending.set(p.signalId, p);
    const writes: Array<[string, unknown]> = [[PENDING + p.signalId, p]];
    // Signals that never reach an outcome (a reversal not taken, counterfactuals switched off) must not pile up.
    if (this.pending.size > this.config.maxPending) {
      const oldest = this.pending.keys().next().value as string;
      const gone = this.pending.get(oldest);
      this.pending.delete(oldest);
      if (gone?.tradeId !== undefined) this.byTrade.delete(gone.tradeId);
      writes.push([PENDING + oldest, undefined]);
    }
    this.save(writes);
  }

  private onDecided(d: BuiltinEvents['signal.decided']): void {
    const p = this.pending.get(d.signalId);
    if (p === undefined) return;
    if (d.decision === 'outcome') {
      if (p.decision !== 'rejected' || d.outcome === undefined) return;
      this.finish(p, d.outcome.pnlPct, d.outcome.closedAt);
      return;
    }
    if (p.decision !== undefined) return;
    if (d.decision === 'accepted' && d.reasons.some((r) => r.startsWith('merged into '))) {
      // Merged into another signal's trade: that signal's outcome stands for both, so this one waits for nothing.
      this.pending.delete(p.signalId);
      this.save([[PENDING + p.signalId, undefined]]);
      return;
    }
    p.decision = d.decision;
    // The aggregator's reason for a confidence rejection names the minimum ("below the minimum 0.50").
    p.byConfidence = d.decision === 'rejected' && d.reasons.some((r) => /confidence/i.test(r) && /minimum/i.test(r));
    this.save([[PENDING + p.signalId, p]]);
  }

  private onOpened(t: BuiltinEvents['trade.opened']): void {
    if (t.signalId === undefined) return;
    const p = this.pending.get(t.signalId);
    if (p === undefined) return;
    p.tradeId = t.tradeId;
    // A reversal's trade opens after an 'accepted' that only closed the opposite position.
    p.decision ??= 'accepted';
    this.byTrade.set(t.tradeId, p.signalId);
    this.save([[PENDING + p.signalId, p]]);
  }

  private onClosed(t: BuiltinEvents['trade.closed']): void {
    const signalId = this.byTrade.get(t.tradeId);
    if (signalId === undefined) return;
    this.byTrade.delete(t.tradeId);
    const p = this.pending.get(signalId);
    if (p === undefined || p.decision !== 'accepted') return;
    this.finish(p, t.pnlPct, t.closedAt);
  }

  private finish(p: Pending, pnlPct: number, closedAt: number): void {
    this.pending.delete(p.signalId);
    const record: DecisionRecord = {
      signalId: p.signalId,
      strategyId: p.strategyId,
      symbol: p.symbol,
      regime: p.regime,
      side: p.side,
      confidence: p.confidence,
      signalAt: p.signalAt,
      decision: p.decision!,
      byConfidence: p.byConfidence === true,
      pnlPct,
      closedAt,
    };
    this.meta.outcomes++;
    const key = recordKey(record, ++this.meta.seq);
    const history = this.historyOf(record.strategyId);
    history.push({ key, record });
    this.windows.add(record);
    const writes: Array<[string, unknown]> = [
      [PENDING + p.signalId, undefined],
      [key, record],
      [META, this.meta],
    ];
    while (history.length > this.config.historySize) writes.push([history.shift()!.key, undefined]);
    if (record.decision === 'accepted' && this.config.drift.enabled) writes.push(this.testDrift(record));
    this.save(writes);
    if (record.decision === 'accepted') this.checkEvaluation(closedAt);
    if (this.meta.outcomes % this.config.reportEvery === 0) this.evaluate();
  }

  private historyOf(strategyId: string): Array<{ key: string; record: DecisionRecord }> {
    let h = this.history.get(strategyId);
    if (h === undefined) this.history.set(strategyId, (h = []));
    return h;
  }

  // ---------------------------------------------------------------- drift and alerts

  private testDrift(record: DecisionRecord): [string, unknown] {
    const { delta, lambda, minTrades, clip } = this.config.drift;
    let d = this.drift.get(record.strategyId);
    if (d === undefined) this.drift.set(record.strategyId, (d = { test: emptyPageHinkley(), trades: 0, statistic: 0 }));
    const before = { n: d.test.n, mean: d.test.mean };
    d.trades++;
    d.statistic = pageHinkleyUpdate(d.test, record.pnlPct, { delta, lambda, minObservations: minTrades, clip });
    if (d.statistic > lambda) {
      d.lastAlarmAt = record.closedAt;
      this.alert('warning', 'WATCHDOG_DRIFT', `${record.strategyId}: its trade returns fell away from its own history (Page-Hinkley ${d.statistic.toFixed(2)} > ${lambda} after ${before.n + 1} trades; history average ${before.mean.toFixed(3)} %). The strategy's edge may be gone: check it before it trades on.`, {
        strategyId: record.strategyId,
        statistic: d.statistic,
        lambda,
        delta,
        tradesTested: before.n + 1,
        historyMeanPct: before.mean,
        tradesSinceStart: d.trades,
        at: record.closedAt,
      });
      // The test starts again from here: the returns after the change are the new history.
      d.test = emptyPageHinkley();
      d.statistic = 0;
    }
    return [DRIFT + record.strategyId, d];
  }

  private raiseAlerts(groups: BuiltinEvents['watchdog.report']['groups']): void {
    const a = this.config.alerts;
    const label = (g: (typeof groups)[number]): string => [g.strategyId, g.symbol, g.regime].filter((x) => x !== undefined).join(' · ');
    for (const g of groups) {
      if (
        a.underperformance.enabled &&
        g.accepted >= this.config.minWindow &&
        g.expectancyHighPct !== null &&
        g.expectancyHighPct < a.underperformance.maxExpectancyPct &&
        this.mayAlert('WATCHDOG_UNDERPERFORMANCE', label(g))
      ) {
        this.alert('warning', 'WATCHDOG_UNDERPERFORMANCE', `${label(g)}: the last ${g.accepted} trades lost ${g.expectancyPct!.toFixed(3)} % each on average (${(this.config.confidenceLevel * 100).toFixed(0)} % interval ${g.expectancyLowPct!.toFixed(3)} … ${g.expectancyHighPct.toFixed(3)} %, below ${a.underperformance.maxExpectancyPct} %).`, { ...g });
      }
      const missedRate = g.rejectionQuality === null ? null : 1 - g.rejectionQuality;
      if (
        a.missedOpportunities.enabled &&
        g.rejected >= this.config.minWindow &&
        missedRate !== null &&
        missedRate > a.missedOpportunities.maxRate &&
        g.missedExpectancyPct !== null &&
        g.missedExpectancyPct > a.missedOpportunities.minExpectancyPct &&
        this.mayAlert('WATCHDOG_MISSED_OPPORTUNITIES', label(g))
      ) {
        this.alert('warning', 'WATCHDOG_MISSED_OPPORTUNITIES', `${label(g)}: ${(missedRate * 100).toFixed(0)} % of the last ${g.rejected} rejected signals would have won (${g.missedExpectancyPct.toFixed(3)} % each on average). The entry rules may be too strict.`, { ...g, missedRate });
      }
    }
  }

  /** Once per group and code until `cooldownOutcomes` more outcomes came in. */
  private mayAlert(code: string, group: string): boolean {
    const key = `${code}\u0000${group}`;
    const last = this.alertedAt.get(key);
    if (last !== undefined && this.meta.outcomes - last < this.config.alerts.cooldownOutcomes) return false;
    this.alertedAt.set(key, this.meta.outcomes);
    return true;
  }

  // ---------------------------------------------------------------- tuning

  private currentOf(t: Tunable): number {
    return this.tuning.current[tunableKey(t)] ?? t.current;
  }

  private onConfigChanged(c: BuiltinEvents['config.changed']): void {
    let changed = false;
    for (const t of this.config.recommendations.tunables) {
      const v = valueAt(c.changes[`agents.${t.agent}.config`], t.path);
      if (typeof v === 'number' && this.tuning.current[tunableKey(t)] !== v) {
        this.tuning.current[tunableKey(t)] = v;
        changed = true;
      }
    }
    if (changed) this.saveTuning();
  }

  private autoTune(recommendations: Recommendation[], now: number): void {
    const a = this.config.autoTune;
    if (!a.enabled || this.applier === undefined || this.applying !== undefined || this.tuning.evaluation !== undefined) return;
    if (this.tuning.lastChangeAt !== undefined && now - this.tuning.lastChangeAt < a.periodMs) return;
    for (const t of this.config.recommendations.tunables) {
      const rec = recommendations.find((r) => r.agent === t.agent && r.setting === t.path && (t.strategies === undefined || r.strategies.join() === [...t.strategies].sort().join()));
      if (rec === undefined || !rec.significant || rec.test === null || rec.test.p > a.maxPValue || rec.samples < a.minSamples) continue;
      const from = this.currentOf(t);
      const to = stepToward(from, rec.recommended, a.maxStep, t);
      if (to === from) continue;
      const scope = this.scoped(t).filter((r) => r.decision === 'accepted');
      const baseline = scope.slice(-a.evaluateTrades).map((r) => r.pnlPct);
      const change: Tuning = {
        id: `${this.id}-tune-${now}`,
        action: 'applied',
        agent: t.agent,
        setting: t.path,
        from,
        to,
        reason: `recommended ${rec.recommended} from ${rec.samples} decisions: expectancy ${fmt(rec.expectancyBeforePct)} → ${fmt(rec.expectancyAfterPct)} % per trade, total ${fmt(rec.totalBeforePct)} → ${fmt(rec.totalAfterPct)} %, Welch p = ${rec.test.p.toFixed(4)}`,
        recommendationId: rec.id,
        evidence: { ...rec },
        timestamp: now,
      };
      this.apply(t, change, { key: tunableKey(t), at: now, baselineTrades: baseline.length, baselineExpectancyPct: baseline.length > 0 ? mean(baseline) : null });
      return;
    }
  }

  private apply(t: Tunable, change: Tuning, evaluation: Omit<Evaluation, 'change'> | undefined): void {
    const done = this.applier!.apply(t.agent, t.path, change.to).then(
      () => {
        this.applying = undefined;
        this.tuning.current[tunableKey(t)] = change.to;
        this.tuning.lastChangeAt = change.timestamp;
        this.tuning.evaluation = evaluation === undefined ? undefined : { ...evaluation, change };
        this.logTuning(change);
        const what = change.action === 'rolled_back' ? 'rolled back' : 'changed';
        this.alert(change.action === 'rolled_back' ? 'warning' : 'info', change.action === 'rolled_back' ? 'WATCHDOG_AUTOTUNE_ROLLED_BACK' : 'WATCHDOG_AUTOTUNE_APPLIED', `Auto-tune ${what} agents.${t.agent}.config.${t.path}: ${change.from} → ${change.to} (${change.reason}).`, { ...change });
      },
      (err: unknown) => {
        this.applying = undefined;
        this.recordError(err);
        this.logger.error({ err: toError(err) }, 'auto-tune could not change the setting');
        const failed: Tuning = { ...change, id: `${change.id}-failed`, action: 'failed', reason: `${change.action === 'rolled_back' ? 'rollback' : 'change'} refused: ${errorMessage(err)}` };
        this.logTuning(failed);
        this.alert('error', 'WATCHDOG_AUTOTUNE_FAILED', `Auto-tune could not set agents.${t.agent}.config.${t.path} to ${change.to}: ${errorMessage(err)}`, { ...failed });
      },
    );
    this.applying = done;
  }

  /** Resolves once no change is on its way to the system API (for a clean hand-over, or a test). */
  async idle(): Promise<void> {
    while (this.applying !== undefined) await this.applying;
  }

  /** After a change, the next `evaluateTrades` trades decide: worse than the same number before it, and it is undone. */
  private checkEvaluation(now: number): void {
    const ev = this.tuning.evaluation;
    if (ev === undefined || this.applying !== undefined) return;
    const t = this.config.recommendations.tunables.find((x) => tunableKey(x) === ev.key);
    if (t === undefined) {
      this.tuning.evaluation = undefined;
      this.saveTuning();
      return;
    }
    const after = this.scoped(t)
      .filter((r) => r.decision === 'accepted' && r.signalAt >= ev.at)
      .map((r) => r.pnlPct);
    const n = this.config.autoTune.evaluateTrades;
    if (after.length < n) return;
    const afterMean = mean(after.slice(0, n));
    const evidence = { tradesAfter: n, expectancyAfterPct: afterMean, tradesBefore: ev.baselineTrades, expectancyBeforePct: ev.baselineExpectancyPct, changeId: ev.change.id };
    const worse = ev.baselineExpectancyPct !== null && afterMean < ev.baselineExpectancyPct;
    this.tuning.evaluation = undefined;
    if (!worse) {
      this.logTuning({ ...ev.change, id: `${ev.change.id}-kept`, action: 'kept', reason: `the ${n} trades after the change made ${afterMean.toFixed(3)} % each, the ${ev.baselineTrades} before it ${fmt(ev.baselineExpectancyPct)} %`, evidence, timestamp: now });
      this.alert('info', 'WATCHDOG_AUTOTUNE_KEPT', `Auto-tune keeps agents.${t.agent}.config.${t.path} = ${ev.change.to}: the ${n} trades after the change made ${afterMean.toFixed(3)} % each (before: ${fmt(ev.baselineExpectancyPct)} %).`, evidence);
      return;
    }
    this.saveTuning();
    const back: Tuning = {
      id: `${ev.change.id}-rollback`,
      action: 'rolled_back',
      agent: t.agent,
      setting: t.path,
      from: ev.change.to,
      to: ev.change.from,
      reason: `the ${n} trades after the change made ${afterMean.toFixed(3)} % each, worse than the ${fmt(ev.baselineExpectancyPct)} % of the ${ev.baselineTrades} before it`,
      recommendationId: ev.change.recommendationId,
      evidence,
      timestamp: now,
    };
    this.apply(t, back, undefined);
  }

  private scoped(t: Tunable): DecisionRecord[] {
    const scope = t.strategies === undefined ? undefined : new Set(t.strategies);
    return this.records()
      .filter((r) => scope === undefined || scope.has(r.strategyId))
      .sort((a, b) => a.closedAt - b.closedAt);
  }

  private logTuning(entry: Tuning): void {
    this.tuning.log.push(entry);
    if (this.tuning.log.length > TUNING_LOG) this.tuning.log.splice(0, this.tuning.log.length - TUNING_LOG);
    this.saveTuning();
    this.publish('watchdog.tuning', entry);
  }

  private saveTuning(): void {
    this.save([[TUNING, this.tuning]]);
  }

  private save(entries: Array<[string, unknown]>): void {
    this.store.setMany(entries).catch((err: unknown) => {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'could not store the watchdog state');
    });
  }
}

function applierFor(config: ProfitWatchdogConfig): SettingApplier | undefined {
  const a = config.autoTune;
  return a.enabled && a.apiUrl !== undefined && a.apiToken !== undefined ? new ApiSettingApplier({ url: a.apiUrl, token: a.apiToken, timeoutMs: a.timeoutMs }) : undefined;
}

const fmt = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(3));
