import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '..', '..', 'packages', 'agents', 'main', 'dist', 'cli.js');

describe('examples/backtest', () => {
  it('runs with the documented command and writes a consistent report', () => {
    const out = mkdtempSync(join(tmpdir(), 'tradebus-example-backtest-'));
    const run = spawnSync(process.execPath, [cli, 'backtest', '--config', join(here, 'backtest.yaml'), '--out', out, '--json', '--benchmark', 'ETH/BTC'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.stderr).not.toMatch(/"level":(50|60)/);
    expect(run.status).toBe(0);
    // --json: stdout is exactly one JSON document.
    const report = JSON.parse(run.stdout) as {
      format: string;
      symbols: string[];
      metrics: { trades: number; fees: number; benchmark?: { beta: number } };
      trades: Array<{ pnl: number; fees: number }>;
      openTrades: unknown[];
      warnings: string[];
      tradeLogSha256: string;
      run: { candles: number };
    };
    expect(report.format).toBe('tradebus-backtest-report');
    expect(report.symbols).toEqual(['ETH/BTC', 'LTC/BTC', 'XMR/BTC']);
    // Three files of about 5,760 bars, minus 100 warm-up bars each.
    expect(report.run.candles).toBe(5_760 + 5_760 + 5_758 - 300);
    expect(report.metrics.trades).toBeGreaterThan(50);
    expect(report.metrics.benchmark?.beta).toEqual(expect.any(Number));
    expect(report.warnings.join(' ')).toMatch(/2 gap\(s\).*XMR\/BTC/);
    // Fees of every order, including entries of trades still open at the end.
    expect(report.metrics.fees).toBeGreaterThanOrEqual(report.trades.reduce((s, t) => s + t.fees, 0) - 1e-12);
    const csv = readFileSync(join(out, 'trades.csv'), 'utf8');
    expect(createHash('sha256').update(csv).digest('hex')).toBe(report.tradeLogSha256);
    expect(csv.trim().split('\r\n')).toHaveLength(report.metrics.trades + 1);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).tradeLogSha256).toBe(report.tradeLogSha256);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('Backtest: ema-cross-backtest');
    // The README's first row is this run.
    const readme = readFileSync(join(here, 'README.md'), 'utf8');
    const row = /\| defaults \| −([\d.]+) % \| (\d+) \|/.exec(readme);
    expect(row, 'README.md has a defaults row').not.toBeNull();
    expect(Number(row![1])).toBeCloseTo(-(report as unknown as { metrics: { totalReturn: number } }).metrics.totalReturn * 100, 2);
    expect(Number(row![2])).toBe(report.metrics.trades);
  }, 150_000);
});
