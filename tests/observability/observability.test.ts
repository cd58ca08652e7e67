import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Envelope } from '@tradebus/core';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';

// A small paper-trading system as `tradebus run` starts it, on replayed Binance candles of the
// examples, with the REST API: its /metrics and /perf are what the Prometheus rules and the
// Grafana dashboard of deploy/observability are written against.
const root = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(root, 'deploy/observability/prometheus-rules.yml');
const DASHBOARD = join(root, 'deploy/observability/grafana-dashboard.json');
const RULE_TESTS = join(root, 'deploy/observability/prometheus-rules.test.yml');
const STAGES = ['candle_to_signal', 'signal_to_decision', 'decision_to_order', 'order_to_ack', 'cycle'] as const;
type Stage = (typeof STAGES)[number];

interface PerfBody {
  clock: string;
  stages: Record<Stage, { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null; thresholdMs: number }>;
  recentFlows: Array<{ clientOrderId: string; stagesMs: Record<Stage, number> }>;
  memory: { rss: number; heapUsed: number };
}

let running: RunningSystem;
let metricsText: string;
let perf: PerfBody;
const alerts: Array<Envelope<'system.alert', { code: string; level: string; details?: Record<string, unknown> }>> = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-observability-'));
  const file = join(dir, 'tradebus.yaml');
  const data = (symbol: string) => join(root, `examples/data/binance-${symbol.replace('/', '-')}-5m.csv`);
  writeFileSync(
    file,
    `
system: { name: observability, clock: market, heartbeatIntervalMs: 300000 }
log: { level: silent }
data: { dir: ./data, fsync: never }
api: { port: 0 }
providers:
  replay:
    kind: replay
    speed: max
    warmupBars: 200
    endAt: ${1515560100000 + 1_400 * 300_000}
    sources:
      - { type: candles, file: ${data('ETH/BTC')}, symbol: ETH/BTC, timeframe: 5m }
      - { type: candles, file: ${data('LTC/BTC')}, symbol: LTC/BTC, timeframe: 5m }
  paper: { kind: paper, venue: paper, quoteCurrency: BTC, balances: { BTC: 1 }, fees: { maker: 0.001, taker: 0.001 }, slippage: 5, marketData: replay, timeframe: 5m, symbols: [ETH/BTC, LTC/BTC] }
agents:
  - { id: prices, use: price-watchdog, config: { provider: replay, symbols: [ETH/BTC, LTC/BTC], timeframes: [5m], ticks: false } }
  - id: strategies
    use: strategy-runner
    dependsOn: [prices]
    config:
      provider: replay
      symbols: [ETH/BTC, LTC/BTC]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema-cross, params: { fast: 5, slow: 13 } }]
  - { id: manager, use: trade-manager, dependsOn: [strategies], config: { equity: { initial: 1 } } }
  - { id: executor, use: trade-executor, dependsOn: [manager], config: { provider: paper, mode: paper } }
  - { id: account, use: account-sync, dependsOn: [executor], config: { provider: paper, quoteCurrency: BTC } }
`,
  );
  running = await launchSystem(await prepareSystem(file, { env: {} }), { env: {}, startMarkets: false });
  running.system.bus.subscribe('system.alert', (e) => void alerts.push(e as never));
  running.startMarkets();
  // The launcher started the replay; starting it again hands back the same run, to wait for.
  await running.system.services.get<{ start(): Promise<unknown> }>('provider:replay').start();
  await until('the last fills to be reported', async () => ((await perfOf()).stages.order_to_ack.count > 0 ? true : undefined));
  metricsText = await (await fetch(`${running.apiUrl}/metrics`)).text();
  perf = await perfOf();
}, 120_000);

afterAll(async () => {
  await running?.stop();
});

async function perfOf(): Promise<PerfBody> {
  const res = await fetch(`${running.apiUrl}/perf`);
  expect(res.status).toBe(200);
  return (await res.json()) as PerfBody;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every metric family of a Prometheus text exposition, with the series names it stands for. */
function exportedNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m === null) continue;
    out.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m[1]! + s);
    if (m[2] === 'summary') for (const s of ['_sum', '_count']) out.add(m[1]! + s);
  }
  return out;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'le', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression: identifiers that are not functions (followed by '('),
 * label names (inside {...} or by(...) lists), keywords or string contents.
 */
function metricNamesIn(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '[]');
  const names: string[] = [];
  for (const m of cleaned.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = cleaned.slice(m.index! + word.length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(word.toLowerCase())) continue;
    // Durations like 5m are cut off by the [..] replacement; numbers like 1e4 start with a digit.
    names.push(word);
  }
  return names;
}

function dashboardExpressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) dashboardExpressions(n, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query') && typeof value === 'string') out.push(value);
      else dashboardExpressions(value, out);
    }
  }
  return out;
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
}

describe('observability of a running system', () => {
  it('every metric the Grafana dashboard and the Prometheus rules query is exported at /metrics', () => {
    const exported = exportedNames(metricsText);
    expect(exported.has('tradebus_agent_up')).toBe(true);
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: unknown[]; templating?: unknown };
    const rules = parseYaml(readFileSync(RULES, 'utf8')) as RuleFile;
    const fromDashboard = dashboardExpressions(dashboard).flatMap(metricNamesIn);
    const fromRules = rules.groups.flatMap((g) => g.rules.map((r) => r.expr)).flatMap(metricNamesIn);
    expect(fromDashboard.length).toBeGreaterThan(15);
    expect(fromRules.length).toBeGreaterThan(8);
    expect([...new Set(fromDashboard)].filter((n) => !exported.has(n))).toEqual([]);
    expect([...new Set(fromRules)].filter((n) => !exported.has(n))).toEqual([]);
    // The alerts the runbook names are all there.
    const alertNames = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const name of ['TradebusAgentDown', 'TradebusBreakerTripped', 'TradebusKillSwitchOn', 'TradebusOrderRejects', 'TradebusFeedStale', 'TradebusJournalLag', 'TradebusDailyLoss', 'TradebusSlippageHigh', 'TradebusPipelineSlow']) {
      expect(alertNames).toContain(name);
    }
  });

  it('the metrics follow what the system did: trading, risk state, slippage and stage histograms', () => {
    expect(metricsText).toMatch(/^tradebus_kill_switch 0$/m);
    expect(metricsText).toMatch(/^tradebus_daily_pnl -?\d/m);
    expect(metricsText).toMatch(/^tradebus_breaker_tripped\{breaker="[^"]+"\} [01]$/m);
    const slippage = [...metricsText.matchAll(/^tradebus_fill_slippage_bps\{symbol="([^"]+)"\} (\S+)$/gm)];
    expect(slippage.length).toBeGreaterThan(0);
    for (const [, , value] of slippage) expect(Number.isFinite(Number(value))).toBe(true);
    for (const stage of STAGES) expect(metricsText).toMatch(new RegExp(`^tradebus_pipeline_stage_seconds_count\\{stage="${stage}"\\} [1-9]`, 'm'));
    expect(metricsText).toMatch(/^tradebus_data_backlog_bytes \d+$/m);
  });

  it('GET /perf measures every stage of the pipeline, positive, and each flow in order', () => {
    expect(perf.clock).toMatch(/performance\.now/);
    for (const stage of STAGES) {
      const s = perf.stages[stage];
      expect(s.count, stage).toBeGreaterThan(0);
      expect(s.p50Ms!, stage).toBeGreaterThan(0);
      expect(s.p99Ms!, stage).toBeGreaterThanOrEqual(s.p50Ms!);
      expect(s.maxMs!, stage).toBeGreaterThanOrEqual(s.p99Ms!);
    }
    expect(perf.recentFlows.length).toBeGreaterThan(0);
    for (const flow of perf.recentFlows) {
      const st = flow.stagesMs;
      // Each stage starts where the one before ended: the times of one flow only go forward.
      for (const stage of STAGES) expect(st[stage], `${flow.clientOrderId} ${stage}`).toBeGreaterThan(0);
      expect(st.cycle).toBeCloseTo(st.candle_to_signal + st.signal_to_decision + st.decision_to_order + st.order_to_ack, 6);
    }
    expect(perf.memory.rss).toBeGreaterThan(perf.memory.heapUsed);
  });

  it('the default thresholds raise no PERF_SLOW on a small replay', () => {
    expect(alerts.filter((a) => a.payload.code === 'PERF_SLOW')).toEqual([]);
    for (const stage of STAGES) expect(perf.stages[stage].thresholdMs, stage).toBeGreaterThan(0);
  });
});

describe('Prometheus rules file', () => {
  it('passes promtool check rules (CI installs promtool: the Debian package prometheus)', () => {
    const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    expect(found.error, 'promtool is missing: apt-get install -y prometheus').toBeUndefined();
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fires each alert on the series of its unit tests (promtool test rules), and the tests cover every alert', () => {
    const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    expect(found.error, 'promtool is missing: apt-get install -y prometheus').toBeUndefined();
    const run = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).toMatch(/SUCCESS/);
    expect(run.status).toBe(0);
    const rules = parseYaml(readFileSync(RULES, 'utf8')) as RuleFile;
    const tests = parseYaml(readFileSync(RULE_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const firing = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    const untested = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a) => a !== undefined && !firing.has(a));
    expect(untested).toEqual([]);
  });
});
