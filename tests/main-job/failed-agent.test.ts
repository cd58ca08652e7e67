import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';

// An agent that cannot start, in a system run as `tradebus run` runs it, on a market clock that
// never moves (a replay that has not played yet, or stalled): the REST API, the metrics and the
// dashboard all show it failed with its error, /health is degraded, and the supervisor gives up
// on it after its restart budget, counted on wall time.
const here = dirname(fileURLToPath(import.meta.url));
const REASON = 'state file executor.json is truncated: 3 bytes missing at the end';
const TOKEN = 'failed-agent-test-token-0123';
let running: RunningSystem | undefined;

afterAll(async () => {
  await running?.stop();
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface AgentRow {
  agentId: string;
  status: string;
  state: string;
  lastError?: string;
  detail?: string;
  gaveUp?: boolean;
  restarts?: number;
}

describe('main job: an agent that cannot start', () => {
  it('is listed as failed with its error in the API, metrics and dashboard, and given up on in wall time', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-failed-agent-'));
    const file = join(dir, 'tradebus.yaml');
    writeFileSync(
      file,
      `
system: { name: failed-agent, clock: market, heartbeatIntervalMs: 60000 }
log: { level: silent }
data: { dir: ./data, fsync: never }
api: { port: 0, token: ${TOKEN} }
agents:
  - id: monitor
    use: trade-monitor
    config: { port: 0, backfill: false, pushIntervalMs: 100 }
  - id: steady
    use: ${join(here, 'fixtures', 'steady-agent.mjs')}
  - id: executor
    use: ${join(here, 'fixtures', 'unstartable-agent.mjs')}
    restart: { initialDelayMs: 20, maxDelayMs: 100, maxRestarts: 3, windowMs: 600000 }
    config: { reason: "${REASON}" }
`,
    );
    running = await launchSystem(await prepareSystem(file, { env: {} }), { env: {} });
    const api = running.apiUrl!;
    const clockAtStart = running.system.clock.now();

    // Restarts are paced by wall time: the budget runs out although market time stands still.
    const statusBody = await until('the supervisor to give up on the executor', async () => {
      const body = (await (await fetch(`${api}/agents/status`)).json()) as { status: string; agents: AgentRow[] };
      return body.agents.find((a) => a.agentId === 'executor')?.gaveUp === true ? body : undefined;
    });
    expect(running.system.clock.now()).toBe(clockAtStart);
    const executor = statusBody.agents.find((a) => a.agentId === 'executor')!;
    expect(executor).toMatchObject({ status: 'failed', state: 'failed', lastError: REASON, detail: REASON, gaveUp: true, restarts: 3 });
    expect(statusBody.agents.find((a) => a.agentId === 'steady')).toMatchObject({ status: 'ok' });
    expect(statusBody.status).toBe('degraded');

    const health = await fetch(`${api}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'degraded' });
    const system = (await (await fetch(`${api}/system/status`)).json()) as { status: string; agents: { total: number; byStatus: Record<string, number> } };
    expect(system.status).toBe('degraded');
    expect(system.agents).toEqual({ total: 3, byStatus: { failed: 1, ok: 2 } });

    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/tradebus_agent_up\{agent="executor",kind="unstartable"\} 0/);
    expect(metrics).toMatch(/tradebus_agent_status\{agent="executor",kind="unstartable",status="failed"\} 1/);
    expect(metrics).toMatch(/tradebus_agent_up\{agent="steady",kind="steady"\} 1/);
    expect(metrics).toMatch(/tradebus_alerts_total\{level="critical",code="AGENT_RESTART_BUDGET_EXHAUSTED"\} 1/);

    // The dashboard, which builds its own view from heartbeats, shows it the same way.
    const dashboard = running.system
      .agent('monitor')
      .links()
      .find((l) => l.name.toLowerCase() === 'dashboard')!.url;
    const snapshot = await until('the dashboard to show the executor failed', async () => {
      const body = (await (await fetch(new URL('/api/snapshot', dashboard))).json()) as { system: { status: string; agents: AgentRow[] } };
      return body.system.agents.find((a) => a.agentId === 'executor')?.status === 'failed' ? body : undefined;
    });
    expect(snapshot.system.agents.find((a) => a.agentId === 'executor')).toMatchObject({ status: 'failed', lastError: REASON });
    expect(snapshot.system.status).toBe('degraded');
  });
});
