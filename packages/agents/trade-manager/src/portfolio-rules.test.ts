import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { TradeManagerConfigInput } from './config.js';
import { BAR, startHarness, type Harness } from './test-support/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const closesOf = (file: string, n: number): number[] =>
  readFileSync(resolve(here, '../../../../examples/backtest/data', file), 'utf8')
    .trim()
    .split('\n')
    .slice(1, n + 1)
    .map((line) => Number(line.split(',')[4]));

const BARS = 200;
// Real closes (quoted in BTC in the files) played as two USDT pairs, so equity needs no conversion.
const ETH = closesOf('binance-ETH-BTC-5m.csv', BARS);
const LTC = closesOf('binance-LTC-BTC-5m.csv', BARS);

/** Pearson's r from its definition, over the simple returns of two aligned close series. */
function pearson(a: number[], b: number[]): number {
  const ra = a.slice(1).map((c, i) => c / a[i]! - 1);
  const rb = b.slice(1).map((c, i) => c / b[i]! - 1);
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < ra.length; i++) {
    cov += (ra[i]! - ma) * (rb[i]! - mb);
    va += (ra[i]! - ma) ** 2;
    vb += (rb[i]! - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const base: TradeManagerConfigInput = {
  timeframe: '5m',
  equity: { source: 'account', initial: 10_000 },
  sizing: { mode: 'fraction', fractionPct: 10, confidence: { enabled: false }, defaultStopPct: 0, atrStopMultiple: 0, rewardRisk: 0 },
  limits: { maxPortfolioHeatPct: 0, maxOpenPositions: 0 },
};

async function played(portfolio: TradeManagerConfigInput['portfolio']): Promise<Harness> {
  h = await startHarness({ ...base, portfolio });
  const x = h;
  await x.account(10_000);
  const t0 = Math.floor(x.clock.now() / BAR) * BAR;
  for (let i = 0; i < BARS; i++) {
    x.clock.advanceTo(t0 + (i + 1) * BAR);
    for (const [symbol, closes] of [['ETH/USDT', ETH], ['LTC/USDT', LTC]] as const) {
      const close = closes[i]!;
      x.system.bus.publish('candle.closed', { symbol, timeframe: '5m', timestamp: t0 + i * BAR, open: close, high: close, low: close, close, volume: 1 });
    }
    await x.idle();
  }
  return x;
}

async function enter(x: Harness, symbol: string, price: number) {
  x.venue.price = price;
  return x.signal({ symbol, price });
}

describe('portfolio rules in the trade manager, on real closes', () => {
  it('a second entry correlated with the open one is sized down by max(floor, 1 − strength × ρ), ρ measured on the bars the manager saw', async () => {
    const x = await played({ correlation: { enabled: true, strength: 5, floor: 0.25, minBars: 30 } });
    const first = await enter(x, 'ETH/USDT', ETH.at(-1)!);
    expect(x.decision(first.id)!.quantity).toBeCloseTo((0.1 * 10_000) / ETH.at(-1)!, 9);
    const second = await enter(x, 'LTC/USDT', LTC.at(-1)!);
    const rho = pearson(ETH, LTC);
    expect(rho).toBeGreaterThan(0.03);
    const factor = Math.max(0.25, 1 - 5 * rho);
    expect(factor).toBeLessThan(0.9);
    expect(x.decision(second.id)!.quantity).toBeCloseTo((0.1 * 10_000 * factor) / LTC.at(-1)!, 9);
    expect(x.decision(second.id)!.reasons.join(' ')).toContain(`correlation ${rho.toFixed(2)} with ETH/USDT: size × ${factor.toFixed(3)}`);
  });

  it('a group over its cap refuses the entry with its reason, and risk.state shows the group and the CVaR', async () => {
    const x = await played({
      groups: { map: { 'ETH/USDT': 'alts', 'LTC/USDT': 'alts' }, maxExposurePct: { alts: 15 } },
      cvar: { enabled: true, confidence: 0.95, maxPct: 50, minBars: 50 },
    });
    await enter(x, 'ETH/USDT', ETH.at(-1)!);
    const second = await enter(x, 'LTC/USDT', LTC.at(-1)!);
    expect(x.decision(second.id)!.decision).toBe('rejected');
    expect(x.decision(second.id)!.reasons.join(' ')).toMatch(/group alts: exposure 2000 \(20\.00% of equity\) with this entry is over its cap of 15% of equity \(1500\)/);
    const state = x.of('risk.state').at(-1)!;
    expect(state.portfolio?.groups).toEqual({ alts: expect.closeTo(1000, 6) });
    // CVaR of the one open position, by sorting its P&L per bar: 1000 × return.
    const pnl = ETH.slice(1).map((c, i) => 1000 * (c / ETH[i]! - 1)).sort((a, b) => a - b);
    const tail = pnl.slice(0, Math.ceil(0.05 * pnl.length - 1e-9));
    const cvar = (-tail.reduce((s, v) => s + v, 0) / tail.length / 10_000) * 100;
    expect(state.portfolio?.cvar95Pct).toBeCloseTo(cvar, 9);
  });

  it('a CVaR limit refuses an entry that takes the tail loss over it', async () => {
    const x = await played({ cvar: { enabled: true, confidence: 0.95, maxPct: 0.05, minBars: 50 } });
    const first = await enter(x, 'ETH/USDT', ETH.at(-1)!);
    expect(x.decision(first.id)!.decision).toBe('rejected');
    expect(x.decision(first.id)!.reasons.join(' ')).toMatch(/CVaR-95 of the positions with this entry would be \d+\.\d\d% of equity, over the 0\.05% limit/);
  });
});
