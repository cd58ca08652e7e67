import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary } from './command.js';
import { runBacktest } from './engine.js';

const T0 = Date.UTC(2024, 0, 1);
const BAR = 300_000;
const BARS = 600;

/** XRP/ETH swinging around 0.001 (so EMAs cross often) and ETH/BTC drifting from 0.05 to 0.06. */
function writeData(dir: string): void {
  const rows = (price: (i: number) => number): string =>
    ['timestamp,open,high,low,close,volume', ...Array.from({ length: BARS }, (_, i) => {
      const open = price(i - 1 < 0 ? 0 : i - 1);
      const close = price(i);
      return `${T0 + i * BAR},${open},${Math.max(open, close) * 1.0005},${Math.min(open, close) * 0.9995},${close},100000`;
    })].join('\n');
  writeFileSync(join(dir, 'xrp-eth.csv'), rows((i) => 0.001 * (1 + 0.03 * Math.sin(i / 9) + 0.01 * Math.sin(i / 2.3))));
  writeFileSync(join(dir, 'eth-btc.csv'), rows((i) => 0.05 + (0.01 * i) / BARS));
}

function config(dir: string): string {
  const file = join(dir, 'backtest.yaml');
  writeFileSync(
    file,
    `
system: { name: two-currencies }
log: { level: warn }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: 30
    sources:
      - { type: candles, file: xrp-eth.csv, symbol: XRP/ETH, timeframe: 5m }
      - { type: candles, file: eth-btc.csv, symbol: ETH/BTC, timeframe: 5m }
  paper:
    kind: paper
    marketData: market
    quoteCurrency: BTC
    balances: { BTC: 1, ETH: 10 }
    participation: 0
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [XRP/ETH, ETH/BTC], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [XRP/ETH]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema, params: { fast: 5, slow: 13, stopAtr: 0, takeProfitAtr: 0 } }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      aggregation: { minConfidence: 0, useTrackRecord: false }
      sizing: { mode: quantity, quantity: 1000, defaultStopPct: 0, rewardRisk: 0 }
      limits: { maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0 }
      breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

describe('a backtest with symbols quoted in another currency than the account', () => {
  it('reports P&L per currency and counts it in the account currency at the rate of each close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-currencies-'));
    writeData(dir);
    const { report } = await runBacktest(config(dir), { logLevel: 'silent' });
    expect(report.quoteCurrency).toBe('BTC');
    const eth = report.currencies.ETH!;
    expect(report.trades.length).toBeGreaterThan(5);
    expect(eth.trades).toBe(report.trades.length);
    // Each trade's P&L converted at the ETH/BTC close of the bar its exit filled in (at that bar's
    // open: the exchange books the moment the bar is played), recomputed from the data here.
    const ethBtcAt = (time: number): number => 0.05 + (0.01 * Math.floor((time - T0) / BAR)) / BARS;
    const converted = report.trades.reduce((s, t) => s + t.pnl * ethBtcAt(t.closedAt), 0);
    expect(eth.pnl).toBeCloseTo(report.trades.reduce((s, t) => s + t.pnl, 0), 12);
    expect(eth.pnlInAccount).toBeCloseTo(converted, 9);
    // The statistics add trades in the account currency.
    expect(report.metrics.netProfit).toBeCloseTo(eth.pnlInAccount, 12);
    // The starting balances (1 BTC, 10 ETH) valued at the first bar played, the one after the 30 warm-up bars.
    expect(report.metrics.startEquity).toBeCloseTo(1 + 10 * (0.05 + (0.01 * 30) / BARS), 12);
    expect(formatSummary(report)).toMatch(/Trades in ETH\s+\d+: P&L .* ETH = .* BTC/);
  }, 60_000);
});
