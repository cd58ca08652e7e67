import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { downsample, escapeHtml, formatDuration, renderHtml } from './html.js';
import type { ClosedTrade } from './metrics.js';
import { buildReport, sha256, tradesToCsv, writeReport, type BacktestReport } from './report.js';

const T0 = Date.UTC(2018, 0, 10);
const BAR = 300_000;

function trade(id: string, closedAt: number, pnl: number, extra: Partial<ClosedTrade> = {}): ClosedTrade {
  return {
    tradeId: id,
    symbol: 'ETH/BTC',
    side: 'long',
    quantity: 0.5,
    entryPrice: 0.1,
    exitPrice: 0.1 + pnl / 0.5,
    pnl,
    pnlPct: pnl * 10,
    fees: 0.0001,
    strategyId: 'ema',
    exitReason: 'signal',
    openedAt: closedAt - 3 * BAR,
    closedAt,
    ...extra,
  };
}

function sampleReport(): BacktestReport {
  const equity = Array.from({ length: 50 }, (_, i) => ({ timestamp: T0 + i * BAR, equity: 1 + 0.01 * Math.sin(i / 5) + i * 0.001, exposed: i % 3 === 0 }));
  return buildReport({
    name: 'demo <&> "bot"',
    config: '/tmp/backtest.yaml',
    quoteCurrency: 'BTC',
    timeframe: '5m',
    barIntervalMs: BAR,
    symbols: ['ETH/BTC'],
    equity,
    trades: [trade('t2', T0 + 20 * BAR, -0.002), trade('t1', T0 + 10 * BAR, 0.003, { exitReason: 'stop, "hard"\nline' })],
    openTrades: [{ tradeId: 't3', symbol: 'ETH/BTC', side: 'long', quantity: 1, entryPrice: 0.1, fees: 0, openedAt: T0 + 40 * BAR }],
    benchmark: { name: 'ETH/BTC buy and hold', series: equity.map((p, i) => ({ timestamp: p.timestamp, value: 100 + i })) },
    warnings: ['2 gaps in ETH/BTC 5m <script>'],
    run: { candles: 50, events: 500, wallMs: 12, candlesPerSecond: 4166 },
  });
}

describe('buildReport', () => {
  it('orders trades by close time and hashes the trade log', () => {
    const report = sampleReport();
    expect(report.trades.map((t) => t.tradeId)).toEqual(['t1', 't2']);
    expect(report.tradeLogSha256).toBe(sha256(tradesToCsv(report.trades)));
    expect(report.metrics.trades).toBe(2);
    expect(report.byStrategy.ema?.trades).toBe(2);
    expect(report.benchmark).toEqual({ name: 'ETH/BTC buy and hold' });
    expect(report.metrics.benchmark?.beta).not.toBeNull();
    expect(report.equity[3]).toEqual([T0 + 3 * BAR, expect.any(Number), 1]);
  });
});

describe('tradesToCsv', () => {
  it('writes RFC 4180 CSV: quotes fields with commas, quotes and line breaks; ISO times', () => {
    const csv = tradesToCsv([trade('t1', T0, 0.003, { exitReason: 'stop, "hard"\nline', strategyId: undefined, exitPrice: 0.106, pnlPct: 3 })]);
    const [header, row] = csv.split('\r\n');
    expect(header).toBe('tradeId,strategyId,symbol,side,quantity,entryPrice,exitPrice,openedAt,closedAt,pnl,pnlPct,fees,exitReason');
    expect(csv.endsWith('"stop, ""hard""\nline"\r\n')).toBe(true);
    expect(row!.startsWith('t1,,ETH/BTC,long,0.5,0.1,0.106,2018-01-09T23:45:00.000Z,2018-01-10T00:00:00.000Z,0.003,3,0.0001,')).toBe(true);
  });

  it('keeps every digit of a double', () => {
    const csv = tradesToCsv([trade('t1', T0, 0.1 + 0.2)]);
    expect(csv).toContain(',0.30000000000000004,');
  });
});

describe('html', () => {
  it('escapes text', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('formats durations', () => {
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 4h');
    expect(formatDuration(90 * 60_000)).toBe('1h 30m');
    expect(formatDuration(0)).toBe('0');
  });

  it('downsampling keeps the extremes of every column', () => {
    const points = Array.from({ length: 10_000 }, (_, i) => ({ t: i, e: i === 5_123 ? -50 : i === 7_777 ? 500 : Math.sin(i), dd: i === 2_222 ? -0.9 : 0 }));
    const out = downsample(points, 100);
    expect(out.length).toBeLessThanOrEqual(500);
    expect(out.some((p) => p.e === -50)).toBe(true);
    expect(out.some((p) => p.e === 500)).toBe(true);
    expect(out.some((p) => p.dd === -0.9)).toBe(true);
    expect(out.map((p) => p.t)).toEqual([...out.map((p) => p.t)].sort((a, b) => a - b));
  });

  it('is one self-contained page: no external resources, user text escaped', () => {
    const html = renderHtml(sampleReport());
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toContain('<script>\n(function(){\n</script>');
    expect(html).toContain('demo &lt;&amp;&gt; &quot;bot&quot;');
    expect(html).toContain('2 gaps in ETH/BTC 5m &lt;script&gt;');
    expect(html).toContain('<svg id="chart"');
  });

  it('renders in Chromium without network requests or script errors; the trade table sorts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-report-'));
    const files = writeReport(sampleReport(), dir);
    expect(JSON.parse(readFileSync(files.json, 'utf8')).format).toBe('tradebus-backtest-report');
    expect(readFileSync(files.csv, 'utf8').split('\r\n')[1]).toMatch(/^t1,/);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`file://${files.html}`);
      expect(errors).toEqual([]);
      expect(requests).toEqual([`file://${files.html}`]);
      expect(await page.locator('#chart path.equity').count()).toBe(1);
      const firstPnl = async (): Promise<string> => (await page.locator('#trades tbody tr').first().locator('td').nth(9).textContent()) ?? '';
      expect(await firstPnl()).toBe('0.00300000');
      await page.locator('#trades th[data-col="9"]').click();
      expect(await firstPnl()).toBe('-0.00200000');
      await page.locator('#chart').hover();
      expect(await page.locator('#tip').textContent()).toMatch(/equity/);
    } finally {
      await browser.close();
    }
  }, 30_000);
});
