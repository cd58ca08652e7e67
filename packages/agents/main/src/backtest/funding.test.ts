import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary } from './command.js';
import { runBacktest } from './engine.js';

const T0 = Date.UTC(2024, 0, 1);
const BAR = 300_000;
const BARS = 12 * 24 * 2;
const RATE = 0.0001;

/** A perpetual that falls for 60 bars, then rises for two days: one golden cross, held to the end. */
const price = (i: number): number => (i < 60 ? 1 - 0.002 * i : 0.88 + 0.0005 * (i - 60));

describe('a backtest of a perpetual with funding', () => {
  it('charges the held long at every funding time, in the equity and the report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-funding-backtest-'));
    const rows = Array.from({ length: BARS }, (_, i) => `${T0 + i * BAR},${price(i)},${price(i) * 1.0001},${price(i) * 0.9999},${price(i)},1000000000`);
    writeFileSync(join(dir, 'xrp.csv'), ['timestamp,open,high,low,close,volume', ...rows].join('\n'));
    const file = join(dir, 'backtest.yaml');
    writeFileSync(
      file,
      `
system: { name: funding }
log: { level: warn }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: 30
    sources: [{ type: candles, file: xrp.csv, symbol: XRP/USDT:USDT, timeframe: 5m }]
  paper:
    kind: paper
    marketData: market
    quoteCurrency: USDT
    balances: { USDT: 10000 }
    fees: { maker: 0, taker: 0 }
    spreadBps: 0
    funding: { rate: ${RATE} }
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [XRP/USDT:USDT], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [XRP/USDT:USDT]
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
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
    );
    const { report } = await runBacktest(file, { logLevel: 'silent' });
    expect(report.trades).toHaveLength(0);
    expect(report.openTrades).toHaveLength(1);
    const held = report.openTrades[0]!;
    // Every funding time after the entry, at the open of the bar that starts there, computed from the data.
    let expected = 0;
    for (let i = 0; i < BARS; i++) {
      const time = T0 + i * BAR;
      if (time > held.openedAt && time % (8 * 3_600_000) === 0) expected += -held.quantity * price(i) * RATE;
    }
    expect(expected).toBeLessThan(0);
    expect(report.funding['XRP/USDT:USDT']).toBeCloseTo(expected, 10);
    // The equity at the end: the wallet after funding plus the position's P&L at the last close.
    const last = report.equity.at(-1)!;
    expect(last[1]).toBeCloseTo(10_000 + expected + held.quantity * (price(BARS - 1) - held.entryPrice), 8);
    expect(formatSummary(report)).toMatch(/Funding XRP\/USDT:USDT\s+paid [\d.]+ USDT/);
  }, 60_000);
});
