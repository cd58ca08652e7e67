import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';
import { agent as watchdog, type ProfitWatchdogAgent, type ProfitWatchdogConfigInput } from '@tradebus/agent-profit-watchdog';
import { SPLIT, runScenario, type Recorded } from './watchdog-scenario.js';

/**
 * Auto-tune, the operator's way. A system with a trade manager serves the REST API; the watchdog
 * runs beside it on a bus of its own (as it would in its own process) and changes the manager's
 * minimum confidence through PATCH /config with the API token. It learns from the decisions
 * recorded on ten days of real candles with the threshold mis-set at 0.1; once it has changed the
 * threshold, the market turns against the change (every later trade loses one point more), and the
 * watchdog must undo it. Every change is an audited `watchdog.tuning` event and an alert, and no
 * value ever leaves the configured bounds.
 */

const TOKEN = 'watchdog-autotune-test-token-0000';
const MIS_SET = 0.1;
const BOUNDS = { min: 0.1, max: 0.5 };
const EVALUATE = 30;
const REPLAYED = new Set(['signal.generated', 'signal.decided', 'trade.opened', 'trade.closed']);

let recorded: Recorded[];
beforeAll(async () => {
  recorded = (await runScenario({ to: SPLIT, minConfidence: MIS_SET })).events;
}, 120_000);

const open: Array<{ stop(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.stop().catch(() => undefined);
});

async function apiSystem(): Promise<{ running: RunningSystem; dir: string; api(method: string, path: string, body?: unknown): Promise<any> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-autotune-'));
  const file = join(dir, 'tradebus.yaml');
  writeFileSync(
    file,
    `
system: { name: autotune }
log: { level: silent }
api: { enabled: true, port: 0, host: 127.0.0.1 }
data: { dir: ${join(dir, 'data')} }
agents:
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      equity: { initial: 1 }
      aggregation: { useTrackRecord: false, minConfidence: ${MIS_SET} }
`,
  );
  const env = { TRADEBUS_API_TOKEN: TOKEN };
  const running = await launchSystem(await prepareSystem(file, { env }), { env, startMarkets: false });
  open.push(running);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${running.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return res.json();
  };
  return { running, dir, api };
}

interface Fed {
  agent: ProfitWatchdogAgent;
  tuning: Array<BuiltinEvents['watchdog.tuning']>;
  alerts: Array<BuiltinEvents['system.alert']>;
  recommendations: Array<BuiltinEvents['watchdog.recommendation']>;
  /** The accepted outcomes, as the watchdog received them: signal time, result, and whether it came before the change. */
  accepted: Array<{ signalAt: number; pnlPct: number; beforeChange: boolean }>;
  /** The manager's minimum confidence (read through the API) after each change the watchdog made. */
  minConfidenceSeen: number[];
}

/**
 * Plays the recorded decisions into a watchdog on its own bus, waiting after each event until any
 * change it started has been answered by the API. After the first applied change, every trade
 * whose signal came later loses `penaltyPct` more, until the change is rolled back.
 */
async function feed(apiUrl: string, config: ProfitWatchdogConfigInput, penaltyPct: number, readMinConfidence: () => Promise<number>): Promise<Fed> {
  const clock = new VirtualClock(0);
  const store = new MemoryStateStore();
  const system: TradebusSystem = createSystem({
    clock,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    agents: [{ id: 'watchdog', definition: watchdog, config: { ...config, autoTune: { ...config.autoTune, enabled: true, apiUrl, apiToken: TOKEN } } }],
  });
  open.push(system);
  const out: Fed = { agent: undefined as never, tuning: [], alerts: [], recommendations: [], accepted: [], minConfidenceSeen: [] };
  system.bus.subscribe('watchdog.tuning', (e) => void out.tuning.push(e.payload));
  system.bus.subscribe('watchdog.recommendation', (e) => void out.recommendations.push(e.payload));
  system.bus.subscribe('system.alert', (e) => void out.alerts.push(e.payload));
  await system.start();
  out.agent = system.agent<ProfitWatchdogAgent>('watchdog');

  const signalAt = new Map<string, number>();
  const tradeSignal = new Map<string, string>();
  const accepted = new Set<string>();
  for (const e of recorded) {
    if (!REPLAYED.has(e.type)) continue;
    const p = e.payload as { timestamp?: number; closedAt?: number; openedAt?: number };
    clock.advanceTo(Math.max(clock.now(), p.timestamp ?? p.closedAt ?? p.openedAt ?? 0));
    if (e.type === 'signal.generated') signalAt.set((e.payload as BuiltinEvents['signal.generated']).id, clock.now());
    if (e.type === 'signal.decided' && (e.payload as BuiltinEvents['signal.decided']).decision === 'accepted') accepted.add((e.payload as BuiltinEvents['signal.decided']).signalId);
    if (e.type === 'trade.opened') tradeSignal.set((e.payload as BuiltinEvents['trade.opened']).tradeId, (e.payload as BuiltinEvents['trade.opened']).signalId!);
    if (e.type === 'trade.closed') {
      const t = e.payload as BuiltinEvents['trade.closed'];
      const sid = tradeSignal.get(t.tradeId)!;
      const applied = out.tuning.find((x) => x.action === 'applied');
      const rolledBack = out.tuning.some((x) => x.action === 'rolled_back');
      const penalised = applied !== undefined && !rolledBack && signalAt.get(sid)! >= applied.timestamp;
      const sent = penalised ? { ...t, pnlPct: t.pnlPct - penaltyPct, pnl: t.pnl - (penaltyPct / 100) * t.entryPrice * t.quantity } : t;
      if (accepted.has(sid) && signalAt.has(sid)) out.accepted.push({ signalAt: signalAt.get(sid)!, pnlPct: sent.pnlPct, beforeChange: applied === undefined });
      system.bus.publish('trade.closed', sent);
    } else {
      system.bus.publish(e.type as 'signal.generated', e.payload as BuiltinEvents['signal.generated']);
    }
    await out.agent.idle();
    if (e.type === 'trade.closed' && out.tuning.length > out.minConfidenceSeen.length) out.minConfidenceSeen.push(await readMinConfidence());
  }
  return out;
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('profit watchdog: guarded auto-tune', () => {
  it('changes nothing when the evidence is below its floor', async () => {
    const { api, running } = await apiSystem();
    const fed = await feed(running.apiUrl!, { reportEvery: 50, historySize: 5000, recommendations: { tunables: [{ agent: 'manager', current: MIS_SET, ...BOUNDS }], maxPValue: 0.5 }, autoTune: { maxPValue: 0.01, minSamples: 100 } }, 0, async () => 0);
    // It did recommend a higher value, just not with p ≤ 0.01.
    expect(fed.recommendations.length).toBeGreaterThan(0);
    expect(fed.recommendations.every((r) => r.test === null || r.test.p > 0.01)).toBe(true);
    expect(fed.tuning).toEqual([]);
    expect((await api('GET', '/config')).agents.find((a: { id: string }) => a.id === 'manager').config.aggregation.minConfidence).toBe(MIS_SET);
  }, 120_000);

  it('applies a significant recommendation through PATCH /config, audits it, and rolls it back when the next trades do worse, never leaving its bounds', async () => {
    const { api, running, dir } = await apiSystem();
    const managerMin = async (): Promise<number> => (await api('GET', '/config')).agents.find((a: { id: string }) => a.id === 'manager').config.aggregation.minConfidence;
    const config: ProfitWatchdogConfigInput = {
      reportEvery: 50,
      historySize: 5000,
      recommendations: { tunables: [{ agent: 'manager', current: MIS_SET, ...BOUNDS }], maxPValue: 0.5 },
      autoTune: { maxPValue: 0.5, minSamples: 100, maxStep: 0.1, periodMs: 30 * 24 * 3_600_000, evaluateTrades: EVALUATE },
    };
    const fed = await feed(running.apiUrl!, config, 1, managerMin);

    const [applied, rolledBack, ...rest] = fed.tuning;
    console.log(fed.tuning.map((t) => `${t.action} ${t.from} → ${t.to}: ${t.reason}`).join('\n'));
    expect(applied?.action).toBe('applied');
    expect(rolledBack?.action).toBe('rolled_back');
    // One change per period: nothing after the rollback within the 30 days.
    expect(rest).toEqual([]);

    // The change: one step of at most maxStep toward the recommendation, inside the bounds.
    const rec = applied!.evidence as unknown as BuiltinEvents['watchdog.recommendation'];
    expect(rec.recommended).toBeGreaterThan(MIS_SET);
    expect(rec.test!.p).toBeLessThanOrEqual(0.5);
    expect(rec.samples).toBeGreaterThanOrEqual(100);
    expect(applied!.from).toBe(MIS_SET);
    expect(applied!.to).toBeCloseTo(Math.min(rec.recommended, MIS_SET + 0.1), 9);
    for (const t of fed.tuning) for (const v of [t.from, t.to]) expect(v).toBeGreaterThanOrEqual(BOUNDS.min), expect(v).toBeLessThanOrEqual(BOUNDS.max);

    // The manager got it, through the API (validated against its live settings), then got the old value back.
    expect(fed.minConfidenceSeen).toEqual([applied!.to, MIS_SET]);
    expect(await managerMin()).toBe(MIS_SET);
    const overrides = JSON.parse(readFileSync(join(dir, 'data', 'config-overrides.json'), 'utf8'));
    expect(JSON.stringify(overrides)).toContain(`"minConfidence":${MIS_SET}`);

    // The rollback's evidence, recomputed: the first EVALUATE trades signalled after the change
    // against the last EVALUATE known when it was made.
    const before = fed.accepted.filter((a) => a.beforeChange).slice(-EVALUATE);
    const after = fed.accepted.filter((a) => a.signalAt >= applied!.timestamp).slice(0, EVALUATE);
    const ev = rolledBack!.evidence as { expectancyAfterPct: number; expectancyBeforePct: number; tradesAfter: number; tradesBefore: number };
    expect(ev.tradesBefore).toBe(EVALUATE);
    expect(ev.tradesAfter).toBe(EVALUATE);
    expect(ev.expectancyBeforePct).toBeCloseTo(avg(before.map((a) => a.pnlPct)), 9);
    expect(ev.expectancyAfterPct).toBeCloseTo(avg(after.map((a) => a.pnlPct)), 9);
    expect(ev.expectancyAfterPct).toBeLessThan(ev.expectancyBeforePct);
    expect(rolledBack!.from).toBe(applied!.to);
    expect(rolledBack!.to).toBe(MIS_SET);

    // Both alerted, with the numbers.
    const codes = fed.alerts.filter((a) => a.code.startsWith('WATCHDOG_AUTOTUNE')).map((a) => a.code);
    expect(codes).toEqual(['WATCHDOG_AUTOTUNE_APPLIED', 'WATCHDOG_AUTOTUNE_ROLLED_BACK']);
    expect(fed.alerts.find((a) => a.code === 'WATCHDOG_AUTOTUNE_ROLLED_BACK')!.details).toMatchObject({ action: 'rolled_back', from: applied!.to, to: MIS_SET });
    // The audit trail is in the report too.
    expect(fed.agent.snapshot().tuning.map((t) => t.action)).toEqual(['applied', 'rolled_back']);
  }, 120_000);
});
