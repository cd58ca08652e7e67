import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuiltinEvents } from '@tradebus/core';
import { launchSystem, prepareSystem, type RunningSystem } from '@tradebus/agent-main';

/**
 * GET /watchdog/report: a system started from a config file with `use: profit-watchdog` serves the
 * watchdog's latest report, as published on the bus, and says why when there is none yet.
 */

let running: RunningSystem | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('GET /watchdog/report', () => {
  it('serves the latest report of the profit watchdog, 404 before the first, 400 on an unknown parameter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-watchdog-api-'));
    const file = join(dir, 'tradebus.yaml');
    writeFileSync(
      file,
      `
system: { name: watchdog-api }
log: { level: silent }
api: { enabled: true, port: 0, host: 127.0.0.1 }
data: { dir: ${join(dir, 'data')} }
agents:
  - id: watchdog
    use: profit-watchdog
    config: { reportEvery: 10, recommendations: { tunables: [{ agent: manager, current: 0.3 }] } }
`,
    );
    running = await launchSystem(await prepareSystem(file, { env: {} }), { env: {}, startMarkets: false });
    const get = async (path: string) => {
      const res = await fetch(`${running!.apiUrl}${path}`);
      return { status: res.status, body: (await res.json()) as any };
    };

    const none = await get('/watchdog/report');
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe('WATCHDOG_REPORT_NONE');
    expect((await get('/watchdog/report?since=1')).status).toBe(400);

    const reports: Array<BuiltinEvents['watchdog.report']> = [];
    const bus = running.system.bus;
    bus.subscribe('watchdog.report', (e) => void reports.push(e.payload));
    const now = running.system.clock.now();
    for (let i = 0; i < 25; i++) {
      const id = `sig-${i}`;
      const common = { strategyId: 'ema', symbol: 'ETH/BTC', side: 'long' as const };
      bus.publish('signal.generated', { id, ...common, confidence: 0.3 + (i % 6) / 10, price: 0.1, reason: 'test', timestamp: now });
      bus.publish('signal.decided', { signalId: id, ...common, decision: 'accepted', reasons: [], timestamp: now });
      bus.publish('trade.opened', { tradeId: `t-${i}`, symbol: 'ETH/BTC', side: 'long', quantity: 1, entryPrice: 0.1, signalId: id, strategyId: 'ema', fees: 0, openedAt: now });
      const pnlPct = i % 3 === 0 ? -1 : 0.8;
      bus.publish('trade.closed', { tradeId: `t-${i}`, symbol: 'ETH/BTC', side: 'long', quantity: 1, entryPrice: 0.1, exitPrice: 0.1 * (1 + pnlPct / 100), pnl: pnlPct / 1000, pnlPct, fees: 0, strategyId: 'ema', exitReason: 'take_profit', openedAt: now, closedAt: now });
    }
    // 25 outcomes, a report every 10.
    await expect.poll(() => reports.length).toBe(2);
    const served = await get('/watchdog/report');
    expect(served.status).toBe(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(reports[1])));
    expect(served.body.outcomes).toBe(20);
    expect(served.body.groups.find((g: { symbol?: string }) => g.symbol === undefined).accepted).toBe(20);
    expect((await get('/watchdog/report?agent=watchdog')).body).toEqual(served.body);
    expect((await get('/watchdog/report?agent=other')).status).toBe(404);

    const openapi = (await get('/openapi.json')).body;
    expect(openapi.paths['/watchdog/report'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['agent']);
  }, 60_000);
});
