import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltinEvents } from '@tradebus/core';
import { AGENT_IDS, API_TOKEN, SYMBOLS, startStack, type Stack } from './stack.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** Bars replayed before the screenshot: both symbols then hold an open position. */
const PLAYED_BARS = 245;

/**
 * The dashboard in a real headless Chromium against a running system: replayed Binance candles
 * through the real price-watchdog, strategy-runner, trade-manager, trade-executor (paper
 * exchange) and account-sync, the main REST API with its token check, and the trade-monitor
 * agent serving the page.
 */
describe('dashboard in Chromium', () => {
  let stack: Stack;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let reportsDir: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
    reportsDir = mkdtempSync(join(tmpdir(), 'tradebus-reports-'));
    stack = await startStack({ monitor: { reportsDir } });
    userDataDir = mkdtempSync(join(tmpdir(), 'tradebus-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1600, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  });

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
  });

  const payloads = <K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]> =>
    stack.journal.filter((e) => e.type === type).map((e) => e.payload as BuiltinEvents[K]);

  it('loads without console errors, connects live and shows every agent ok', async () => {
    const response = await page.goto(stack.monitor.dashboardUrl!);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.locator('#connection[data-state="live"]').waitFor();
    await expect.poll(() => page.locator('#agents tbody tr[data-agent][data-status="ok"]').count()).toBe(AGENT_IDS.length);
    const agents = await page.locator('#agents tbody tr[data-agent]').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-agent'), r.getAttribute('data-status')]));
    expect(agents).toEqual(AGENT_IDS.map((id) => [id, 'ok']));
    await expect.poll(() => page.locator('#system-status').getAttribute('data-status')).toBe('ok');
    expect(consoleErrors).toEqual([]);
  });

  it('shows candles, trade markers, positions, trades and equity as the system trades', async () => {
    await stack.play(PLAYED_BARS);
    const closed = payloads('trade.closed');
    const opened = payloads('trade.opened');
    expect(closed.length).toBeGreaterThan(0);

    // Every trade the manager closed is in the trades table, marked closed, with its P&L.
    await expect.poll(() => page.locator('#trades tbody tr[data-status="closed"]').count()).toBe(closed.length);
    const first = closed[0]!;
    const row = await page.locator(`#trades tbody tr[data-trade="${first.tradeId}"] td`).allTextContents();
    expect(row[1]).toBe(first.symbol);
    expect(row[2]).toBe(first.side);
    expect(row[6]).toBe(`${first.pnl > 0 ? '+' : ''}${first.pnl.toFixed(6).replace(/^-?0\.000000$/, '0.000000')}`);

    // Each symbol is charted with every replayed bar, and carries one marker per entry and per exit.
    await expect.poll(() => page.locator('.chart-card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-symbol')))).toEqual([...SYMBOLS]);
    for (const symbol of SYMBOLS) {
      const markers = opened.filter((t) => t.symbol === symbol).length + closed.filter((t) => t.symbol === symbol).length;
      expect(markers).toBeGreaterThan(0);
      await expect.poll(() => page.locator(`.chart-card[data-symbol="${symbol}"]`).getAttribute('data-markers')).toBe(String(markers));
    }
    expect(stack.monitor.snapshot().charts.map((c) => c.candles.length)).toEqual([PLAYED_BARS, PLAYED_BARS]);

    // Open positions are those whose latest update is not flat; equity is the latest account update.
    const latest = new Map<string, BuiltinEvents['position.updated']>();
    for (const p of payloads('position.updated')) latest.set(p.symbol, p);
    const open = [...latest.values()].filter((p) => p.side !== 'flat' && p.quantity > 0).map((p) => p.symbol).sort();
    expect(open.length).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#positions tbody tr[data-symbol]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-symbol')))).toEqual(open);
    const equity = payloads('account.updated').at(-1)!.equity;
    await expect.poll(() => page.locator('#kpi-equity').textContent()).toBe(`${equity.toFixed(6)} BTC`);
    // Risk rules configured in the manager show in the risk panel, with the risk state's numbers.
    const risk = payloads('risk.state').at(-1)!;
    const stat = (name: string) => page.locator('#risk-stats div', { has: page.locator('dt', { hasText: name }) }).locator('dd').textContent();
    await expect.poll(() => stat('Entry size')).toBe('× 1.00');
    expect(risk.portfolio?.groups?.alts).toBeDefined();
    await expect.poll(() => stat('Group alts')).toBe(risk.portfolio!.groups!.alts!.toFixed(6));

    // The event stream filters by type.
    await page.selectOption('#event-type', 'trade.closed');
    await expect.poll(() => page.locator('#events .event-row').evaluateAll((rows) => [...new Set(rows.map((r) => r.getAttribute('data-type')))])).toEqual(['trade.closed']);
    await page.selectOption('#event-type', '');

    // Still every agent ok: the replay is paused, not finished.
    await expect.poll(() => page.locator('#agents tbody tr[data-agent][data-status="ok"]').count()).toBe(AGENT_IDS.length);
    expect(consoleErrors).toEqual([]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('shows event text as text, never as markup', async () => {
    const message = '<img src="x" onerror="document.title=\'pwned\'"><b>bold</b>';
    stack.system.bus.publish('system.alert', { level: 'warning', code: 'MARKUP_PROBE', message, timestamp: stack.clock.now() });
    const alert = page.locator('#alerts li', { hasText: 'MARKUP_PROBE' });
    await expect.poll(() => alert.locator('.alert-message').textContent()).toBe(message);
    expect(await page.locator('#alerts img, #alerts b, #events img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    expect(consoleErrors).toEqual([]);
  });

  it("shows the profit watchdog's recommendation with its evidence and its alerts, and keeps it for a page opened later", async () => {
    const now = stack.clock.now();
    expect(await page.locator('#watchdog-panel').isHidden()).toBe(true);
    const recommendation: BuiltinEvents['watchdog.recommendation'] = {
      id: 'watchdog-1',
      agent: 'manager',
      setting: 'aggregation.minConfidence',
      strategies: ['ema'],
      current: 0.1,
      recommended: 0.45,
      samples: 638,
      tradesBefore: 638,
      tradesAfter: 395,
      expectancyBeforePct: -0.177,
      expectancyAfterPct: -0.069,
      totalBeforePct: -112.8,
      totalAfterPct: -27.2,
      changedDecisions: 243,
      test: { name: 'welch-t', t: -1.227, df: 417.3, p: 0.2206 },
      significant: false,
      outcomesUntil: now,
      timestamp: now,
    };
    stack.system.bus.publish('watchdog.report', { agentId: 'watchdog', outcomes: 638, windowSize: 50, groups: [], drift: [], recommendations: [recommendation], tuning: [], timestamp: now });
    stack.system.bus.publish('system.alert', { level: 'warning', code: 'WATCHDOG_DRIFT', message: 'ema: its trade returns fell away from its own history', agentId: 'watchdog', timestamp: now });
    const row = page.locator('#watchdog-recommendations tbody tr').first();
    await expect.poll(() => row.textContent()).toContain('0.45');
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 7)).toEqual(['manager · aggregation.minConfidence', 'ema', '0.10', '0.45', '638 → 395', '-0.177 → -0.069', '0.221']);
    expect(cells[7]).toContain('not significant');
    expect(await page.locator('#watchdog-alerts li', { hasText: 'WATCHDOG_DRIFT' }).count()).toBe(1);
    // The monitor keeps the latest report: a page opened now shows it from the snapshot.
    const res = await fetch(new URL('api/snapshot', stack.monitor.dashboardUrl!));
    const snapshot = (await res.json()) as { watchdog: { recommendations: unknown[] } | null };
    expect(snapshot.watchdog?.recommendations).toEqual([recommendation]);
    expect(consoleErrors).toEqual([]);
  });

  it('refuses the kill switch without the token or with a wrong one, and flips the risk state with it', async () => {
    await expect.poll(() => page.locator('#risk-banner').getAttribute('data-kill')).toBe('off');
    const send = async (token: string) => {
      await page.click('#kill-button');
      await page.locator('#kill-dialog[open]').waitFor();
      await page.fill('#kill-token', token);
      await page.fill('#kill-reason', 'browser test');
      await page.locator('#kill-result').evaluate((node) => node.setAttribute('data-status', ''));
      await page.click('#kill-confirm');
      await page.locator('#kill-result:is([data-status="ok"], [data-status="error"])').waitFor();
      return page.locator('#kill-result');
    };

    const missing = await send('');
    expect(await missing.getAttribute('data-status')).toBe('error');
    expect(await missing.textContent()).toContain('401');
    await page.click('#kill-cancel');

    const wrong = await send('not-the-token-at-all');
    expect(await wrong.getAttribute('data-status')).toBe('error');
    expect(await wrong.textContent()).toMatch(/403.*token is wrong/);
    await page.click('#kill-cancel');
    expect(payloads('risk.command')).toEqual([]);
    expect(await page.locator('#risk-banner').getAttribute('data-kill')).toBe('off');

    const right = await send(API_TOKEN);
    expect(await right.getAttribute('data-status')).toBe('ok');
    await expect.poll(() => page.locator('#risk-banner').getAttribute('data-kill')).toBe('on');
    expect(payloads('risk.command')).toMatchObject([{ action: 'kill', by: 'dashboard', reason: 'browser test' }]);
    expect(payloads('risk.state').at(-1)?.killSwitch).toBe(true);
    await expect.poll(() => page.locator('#kill-button').getAttribute('data-action')).toBe('resume');
    await page.locator('#kill-dialog[open]').waitFor({ state: 'detached' }).catch(() => undefined);
    await expect.poll(() => page.locator('#kill-dialog').getAttribute('open')).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-kill-switch.png'), fullPage: false });

    // The only console errors are the browser's own reports of the two refused requests.
    expect(consoleErrors).toHaveLength(2);
    expect(consoleErrors[0]).toMatch(/401.*\/api\/kill-switch/);
    expect(consoleErrors[1]).toMatch(/403.*\/api\/kill-switch/);
    consoleErrors.length = 0;
  });

  it('opens a report in the snapshot format from the reports folder, without the live stream or kill switch', async () => {
    const { system: _health, mode: _mode, ...snapshot } = stack.monitor.snapshot();
    writeFileSync(join(reportsDir, 'replay-run.json'), JSON.stringify({ ...snapshot, title: 'Replay run', metrics: { Trades: snapshot.trades.length } }));
    await page.goto(`${stack.monitor.dashboardUrl}?report=/reports/replay-run.json`);
    await page.locator('#connection[data-state="report"]').waitFor();
    await expect.poll(() => page.locator('#trades tbody tr[data-trade]').count()).toBe(snapshot.trades.length);
    expect(await page.locator('#report-title').textContent()).toBe('Replay run');
    expect(await page.locator('#kill-button').isHidden()).toBe(true);
    expect(await page.locator('#agents-panel').isHidden()).toBe(true);
    for (const symbol of SYMBOLS) expect(Number(await page.locator(`.chart-card[data-symbol="${symbol}"]`).getAttribute('data-markers'))).toBeGreaterThan(0);
    expect(consoleErrors).toEqual([]);
    await page.goto(stack.monitor.dashboardUrl!);
    await page.locator('#connection[data-state="live"]').waitFor();
  });

  it('flattens from the dashboard: the command goes through the API and every open trade gets its close at market', async () => {
    const closed = new Set(payloads('trade.closed').map((t) => t.tradeId));
    const open = payloads('trade.opened').filter((t) => !closed.has(t.tradeId));
    await page.click('#flatten-button');
    await page.locator('#kill-dialog[open]').waitFor();
    expect(await page.locator('#kill-title').textContent()).toBe('Flatten every position');
    await page.fill('#kill-token', API_TOKEN);
    await page.fill('#kill-reason', 'browser flatten');
    await page.locator('#kill-result').evaluate((node) => node.setAttribute('data-status', ''));
    await page.click('#kill-confirm');
    await page.locator('#kill-result[data-status="ok"]').waitFor();
    expect(payloads('risk.command').at(-1)).toMatchObject({ action: 'flatten', by: 'dashboard', reason: 'browser flatten' });
    await expect.poll(() => payloads('system.alert').some((a) => a.code === 'FLATTEN')).toBe(true);
    expect(payloads('system.alert').find((a) => a.code === 'FLATTEN')!.message).toContain(`closing ${open.length} position(s)`);
    // The replay has ended, so a market close waits at the paper venue for a next price: what
    // the operator sees is a reduce-only market close per open trade, its stops cancelled first.
    await expect
      .poll(() => open.filter((t) => payloads('order.requested').some((r) => r.tradeId === t.tradeId && r.purpose === 'exit' && r.type === 'market' && r.reduceOnly)).length)
      .toBe(open.length);
    await page.locator('#kill-dialog[open]').waitFor({ state: 'detached' }).catch(() => undefined);
    expect(consoleErrors).toEqual([]);
  });

  it("changes the trade manager's risk limits from the risk panel's form, through the API", async () => {
    const settings = () => (stack.manager as unknown as { config: { limits: { maxOpenPositions: number; maxExposurePerSymbolPct: number }; breakers: { dailyLossPct: number }; sizing: { riskPerTradePct: number } } }).config;
    expect(settings().limits.maxOpenPositions).toBe(2);
    await page.click('#limits-edit summary');
    await page.fill('#limit-max-open', '1');
    await page.fill('#limit-daily-loss', '4');
    await page.fill('#limits-token', API_TOKEN);
    await page.click('#limits-apply');
    await page.locator('#limits-result[data-status="ok"]').waitFor();
    expect(settings().limits).toMatchObject({ maxOpenPositions: 1, maxExposurePerSymbolPct: 45 });
    expect(settings().breakers.dailyLossPct).toBe(4);
    expect(settings().sizing.riskPerTradePct).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-risk-limits.png'), fullPage: false });
    expect(consoleErrors).toEqual([]);
  });

  it('shows "reconnecting" when the stream drops and resyncs by itself', async () => {
    const url = stack.monitor.dashboardUrl;
    await stack.system.supervisor.stopAgent('monitor');
    await page.locator('#connection:is([data-state="reconnecting"], [data-state="offline"])').waitFor();
    await stack.system.supervisor.startAgent('monitor');
    expect(stack.monitor.dashboardUrl).toBe(url);
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 15_000 });
    // The resync snapshot still carries the trades and the engaged kill switch.
    await expect.poll(() => page.locator('#trades tbody tr[data-status="closed"]').count()).toBe(payloads('trade.closed').length);
    expect(await page.locator('#risk-banner').getAttribute('data-kill')).toBe('on');
    expect(consoleErrors.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|api\/stream/.test(e))).toEqual([]);
  });
});
