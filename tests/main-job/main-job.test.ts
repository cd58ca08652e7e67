import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The README's main job, as a user runs it (`npm start` runs exactly this command after the build),
// with the replay at full speed and free ports so it can run beside anything else.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const config = join(root, 'examples', 'paper-replay', 'tradebus.yaml');
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('main job: paper trading on replayed real candles', () => {
  it('starts every agent, trades, records history, serves the API and the dashboard, and stops cleanly', { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tradebus-main-job-'));
    child = spawn(process.execPath, [cli, 'run', '--config', config], {
      env: { ...process.env, REPLAY_SPEED: 'max', TRADEBUS_API_PORT: '0', TRADEBUS_MONITOR_PORT: '0', TRADEBUS_DATA_DIR: dataDir, TRADEBUS_API_TOKEN: 'main-job-test-token-0123456789' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const api = await until('the REST API address', async () => /REST API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]);
    const dashboard = await until('the dashboard address', async () => /Dashboard\s+(http:\/\/127\.0\.0\.1:\d+\S*)/i.exec(out)?.[1]);

    const agents = await until('every agent to report', async () => {
      const body = (await (await fetch(`${api}/agents/status`)).json()) as { agents: Array<{ agentId: string; status: string }> };
      return body.agents.length >= 6 ? body.agents : undefined;
    });
    expect(agents.map((a) => a.agentId).sort()).toEqual(['account', 'executor', 'manager', 'monitor', 'prices', 'strategies']);

    const trades = await until('a closed trade', async () => {
      const body = (await (await fetch(`${api}/trades`)).json()) as { trades: Array<{ symbol: string; pnl: number }> };
      return body.trades.length > 0 ? body.trades : undefined;
    }, 120_000);
    expect(['ETH/BTC', 'LTC/BTC', 'XLM/BTC']).toContain(trades[0]!.symbol);
    const orders = (await (await fetch(`${api}/orders`)).json()) as { orders: unknown[] };
    expect(orders.orders.length).toBeGreaterThan(0);
    const events = (await (await fetch(`${api}/events/history?type=order.updated&limit=5`)).json()) as { count: number };
    expect(events.count).toBeGreaterThan(0);
    // The state log's group commits: agents' decisions were made durable, and shared syncs.
    const metrics = await (await fetch(`${api}/metrics`, { headers: { authorization: 'Bearer main-job-test-token-0123456789' } })).text();
    const appends = Number(/^tradebus_state_appends (\d+)/m.exec(metrics)?.[1]);
    const syncs = Number(/^tradebus_state_syncs (\d+)/m.exec(metrics)?.[1]);
    expect(appends).toBeGreaterThan(0);
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThanOrEqual(appends);
    expect(/^tradebus_state_queue_fill \d/m.test(metrics)).toBe(true);
    const page = await fetch(dashboard);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);

    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
