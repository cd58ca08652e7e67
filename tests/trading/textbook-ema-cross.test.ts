import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBacktest } from '@tradebus/agent-main';

/**
 * The EMA-cross bot against a textbook event-driven simulation written here from the definitions
 * alone (no project code): EMA seeded with the simple average of its first `period` closes, then
 * ema += 2 / (period + 1) × (close − ema); a long on the bar where the fast EMA closes above the
 * slow one after being at or below it, closed on the bar where it closes below after being at or
 * above; a fixed quantity, no stop, no target, a taker fee on each fill's value and a spread of
 * which a taker pays half. Fills at the signal bar's close, or at the next bar's open.
 */

const DATA = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../examples/backtest/data');
const SYMBOLS = ['ETH/BTC', 'LTC/BTC', 'XMR/BTC'];
const FAST = 12;
const SLOW = 26;
const WARMUP = 100;
const QUANTITY = 0.5;
const FEE = 0.001;
const SPREAD_BPS = 4;

interface Bar {
  time: number;
  open: number;
  close: number;
}

interface TextbookTrade {
  symbol: string;
  openedAt: number;
  closedAt: number;
  entryPrice: number;
  exitPrice: number;
  quantity: number;
  pnl: number;
  fees: number;
}

function readBars(symbol: string): Bar[] {
  const file = join(DATA, `binance-${symbol.split('/')[0]}-BTC-5m.csv`);
  const [, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  return rows.map((row) => {
    const [time, open, , , close] = row.split(',').map(Number);
    return { time: time!, open: open!, close: close! };
  });
}

class Ema {
  private sum = 0;
  private count = 0;
  value: number | undefined;
  constructor(private readonly period: number) {}
  push(x: number): void {
    if (this.value === undefined) {
      this.sum += x;
      if (++this.count === this.period) this.value = this.sum / this.period;
      return;
    }
    this.value += (2 / (this.period + 1)) * (x - this.value);
  }
}

function textbook(symbol: string, fill: 'close' | 'next_open', barMs: number): { closed: TextbookTrade[]; open: number } {
  const bars = readBars(symbol);
  const fast = new Ema(FAST);
  const slow = new Ema(SLOW);
  const half = SPREAD_BPS / 20_000;
  let previous: { fast: number; slow: number } | undefined;
  let position: { at: number; price: number; fee: number } | undefined;
  let pending: 'buy' | 'sell' | undefined;
  const closed: TextbookTrade[] = [];
  const execute = (side: 'buy' | 'sell', mid: number, at: number): void => {
    const price = side === 'buy' ? mid * (1 + half) : mid * (1 - half);
    const fee = QUANTITY * price * FEE;
    if (side === 'buy') position = { at, price, fee };
    else if (position !== undefined) {
      const fees = position.fee + fee;
      closed.push({ symbol, openedAt: position.at, closedAt: at, entryPrice: position.price, exitPrice: price, quantity: QUANTITY, pnl: (price - position.price) * QUANTITY - fees, fees });
      position = undefined;
    }
  };
  bars.forEach((bar, index) => {
    // An order decided on the previous bar fills at this bar's open.
    if (pending !== undefined) {
      execute(pending, bar.open, bar.time);
      pending = undefined;
    }
    fast.push(bar.close);
    slow.push(bar.close);
    if (fast.value === undefined || slow.value === undefined) return;
    const now = { fast: fast.value, slow: slow.value };
    const before = previous;
    previous = now;
    if (before === undefined || index < WARMUP) return;
    const up = before.fast <= before.slow && now.fast > now.slow;
    const down = before.fast >= before.slow && now.fast < now.slow;
    const side = up && position === undefined ? 'buy' : down && position !== undefined ? 'sell' : undefined;
    if (side === undefined) return;
    if (fill === 'close') execute(side, bar.close, bar.time + barMs);
    else pending = side;
  });
  return { closed, open: position === undefined ? 0 : 1 };
}

function configFile(fill: 'close' | 'next_open'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-textbook-'));
  const file = join(dir, 'backtest.yaml');
  writeFileSync(
    file,
    `
system: { name: textbook-ema-cross }
log: { level: warn }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: ${WARMUP}
    sources:
${SYMBOLS.map((s) => `      - { type: candles, file: ${DATA}/binance-${s.split('/')[0]}-BTC-5m.csv, symbol: ${s}, timeframe: 5m }`).join('\n')}
  paper:
    kind: paper
    marketData: market
    quoteCurrency: BTC
    balances: { BTC: 10 }
    fees: { maker: ${FEE}, taker: ${FEE} }
    slippage: 0
    spreadBps: ${SPREAD_BPS}
    participation: 0
    marketFillOnCandle: ${fill}
agents:
  - id: prices
    use: price-watchdog
    config: { provider: market, symbols: [${SYMBOLS.join(', ')}], timeframes: [5m], ticks: false, publishForming: false }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [${SYMBOLS.join(', ')}]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema-cross, params: { fast: ${FAST}, slow: ${SLOW}, stopAtr: 0, takeProfitAtr: 0 } }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      aggregation: { minConfidence: 0, useTrackRecord: false }
      sizing: { mode: quantity, quantity: ${QUANTITY}, defaultStopPct: 0, rewardRisk: 0 }
      limits: { maxOpenPositions: 0, maxTradesPerDay: 0, maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0 }
      breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 }
  - id: executor
    use: trade-executor
    config: { provider: paper, mode: paper }
`,
  );
  return file;
}

const key = (t: { symbol: string; openedAt: number }): string => `${t.symbol} ${t.openedAt}`;

describe('the EMA-cross bot against a textbook simulation', () => {
  for (const fill of ['close', 'next_open'] as const) {
    it(`trade for trade, filling at ${fill === 'close' ? "the signal bar's close" : "the next bar's open"}`, { timeout: 120_000 }, async () => {
      const { report } = await runBacktest(configFile(fill), { logLevel: 'silent' });
      const expected = SYMBOLS.map((s) => textbook(s, fill, 300_000));
      const want = expected.flatMap((e) => e.closed).sort((a, b) => key(a).localeCompare(key(b)));
      const got = [...report.trades].sort((a, b) => key(a).localeCompare(key(b)));

      expect(want.length).toBeGreaterThan(100);
      expect(got.map(key)).toEqual(want.map(key));
      for (let i = 0; i < want.length; i++) {
        const [w, g] = [want[i]!, got[i]!];
        expect(g.side).toBe('long');
        expect(g.closedAt).toBe(w.closedAt);
        expect(g.quantity).toBe(w.quantity);
        expect(g.entryPrice).toBeCloseTo(w.entryPrice, 12);
        expect(g.exitPrice).toBeCloseTo(w.exitPrice, 12);
        expect(g.fees).toBeCloseTo(w.fees, 12);
        expect(g.pnl).toBeCloseTo(w.pnl, 12);
      }
      expect(report.openTrades).toHaveLength(expected.reduce((n, e) => n + e.open, 0));
    });
  }
});
