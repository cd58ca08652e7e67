import { afterEach, describe, expect, it } from 'vitest';
import type { TradeManagerConfigInput } from './config.js';
import { DAY_MS } from './risk.js';
import { T0, startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function start(config: TradeManagerConfigInput, options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  h = await startHarness(config, options);
  return h;
}

/** Opens a long at 100 (stop 98) and closes it at `exit`, returning the closing P&L. */
async function roundTrip(x: Harness, exit: number, symbol = 'BTC/USDT'): Promise<number> {
  x.venue.price = 100;
  await x.signal({ symbol, price: 100, stopLoss: 98 });
  x.venue.price = exit;
  await x.signal({ symbol, side: 'flat', price: exit });
  return x.of('trade.closed').at(-1)!.pnl;
}

const rejectedWith = (x: Harness, signalId: string, pattern: RegExp): boolean => {
  const d = x.decision(signalId);
  return d?.decision === 'rejected' && d.reasons.some((r) => pattern.test(r));
};

describe('sizing rules', () => {
  it('fixed-fractional: risks the configured share of equity to the stop', async () => {
    const x = await start({ sizing: { riskPerTradePct: 2 } });
    const s = await x.signal({ price: 100, stopLoss: 95 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(40, 9); // 200 at risk over 5 points
  });

  it('fixed-fractional: a signal without a stop gets the default stop distance', async () => {
    const x = await start({ sizing: { riskPerTradePct: 1, defaultStopPct: 4 } });
    const s = await x.signal({ price: 100 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(25, 9);
    expect(x.of('trade.opened')[0]!.stopLoss).toBeCloseTo(96, 9);
  });

  /** `n` closed trades of strategy alpha, 3 wins for every 2 losses. */
  async function withHistory(n: number): Promise<Harness> {
    const x = await start({ sizing: { kelly: { enabled: true, minTrades: 20, fraction: 0.5, maxRiskPct: 5 } } });
    for (let i = 0; i < n; i++) await roundTrip(x, i % 5 < 3 ? 103 : 99);
    return x;
  }

  /** The Kelly risk recomputed from the published trade records. */
  function kellyRiskPct(x: Harness): number {
    const closed = x.of('trade.closed');
    const wins = closed.filter((t) => t.pnl > 0);
    const losses = closed.filter((t) => t.pnl <= 0);
    const w = wins.length / closed.length;
    const payoff = wins.reduce((s, t) => s + t.pnlPct, 0) / wins.length / (losses.reduce((s, t) => s - t.pnlPct, 0) / losses.length);
    return Math.min(5, 0.5 * (w - (1 - w) / payoff) * 100);
  }

  it('kelly: sizes by the fractional Kelly bet once a strategy has 20 closed trades', async () => {
    const x = await withHistory(20);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    const equity = 10_000 + x.of('trade.closed').reduce((sum, t) => sum + t.pnl, 0);
    expect(x.decision(s.id)!.quantity).toBeCloseTo((equity * kellyRiskPct(x)) / 100 / 2, 6);
    expect(x.decision(s.id)!.reasons.some((r) => r.startsWith('kelly'))).toBe(true);
  });

  it('kelly: stays out of it below 20 trades', async () => {
    const x = await withHistory(19);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    const equity = 10_000 + x.of('trade.closed').reduce((sum, t) => sum + t.pnl, 0);
    expect(x.decision(s.id)!.quantity).toBeCloseTo((equity * 1) / 100 / 2, 6);
    expect(x.decision(s.id)!.reasons.some((r) => r.startsWith('kelly'))).toBe(false);
  });

  it('confidence: scales the size down and rejects below the minimum', async () => {
    const x = await start({ sizing: { confidence: { enabled: true, min: 0.3, floor: 0.1 } } });
    const half = await x.signal({ price: 100, stopLoss: 98, confidence: 0.5 });
    expect(x.decision(half.id)!.quantity).toBeCloseTo(25, 9);
    const low = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98, confidence: 0.2 });
    expect(rejectedWith(x, low.id, /confidence 0.2 is below the minimum 0.3/)).toBe(true);
  });

  it('confidence: a fully confident signal keeps its size', async () => {
    const x = await start({ sizing: { confidence: { enabled: true, min: 0.3 } } });
    const s = await x.signal({ price: 100, stopLoss: 98, confidence: 1 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(50, 9);
  });

  async function withAtr(range: number): Promise<Harness> {
    const x = await start({ sizing: { volatility: { enabled: true, atrPeriod: 3, targetAtrPct: 1, minMultiplier: 0.1, maxMultiplier: 1 } } });
    for (let i = 0; i < 4; i++) await x.candle({ high: 100 + range / 2, low: 100 - range / 2, close: 100 });
    return x;
  }

  it('volatility: shrinks the size when the ATR is above its target', async () => {
    const x = await withAtr(4); // ATR 4 % of price, target 1 %
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(50 / 4, 9);
  });

  it('volatility: leaves the size alone at the target ATR', async () => {
    const x = await withAtr(1);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(50, 9);
  });
});

describe('exposure rules', () => {
  it('max open positions: rejects the entry beyond the limit', async () => {
    const x = await start({ limits: { maxOpenPositions: 1 } });
    await x.signal({ price: 100, stopLoss: 98 });
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /1 positions open, the limit is 1/)).toBe(true);
  });

  it('max open positions: quiet below the limit', async () => {
    const x = await start({ limits: { maxOpenPositions: 2 } });
    await x.signal({ price: 100, stopLoss: 98 });
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('max exposure per symbol: caps the position value', async () => {
    const x = await start({ limits: { maxExposurePerSymbolPct: 10 } });
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)).toMatchObject({ decision: 'accepted', quantity: 10 });
    expect(x.decision(s.id)!.reasons).toContain('capped by max exposure per symbol');
  });

  it('max exposure per symbol: quiet when the position fits', async () => {
    const x = await start({ limits: { maxExposurePerSymbolPct: 60 } });
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)).toMatchObject({ decision: 'accepted', quantity: 50, reasons: [] });
  });

  it('max total exposure: caps the next position to what is left, and rejects when nothing is', async () => {
    const x = await start({ limits: { maxTotalExposurePct: 60 } });
    x.venue.feeRate = 0;
    await x.signal({ price: 100, stopLoss: 98 }); // 5 000 of 6 000
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(10, 6);
    const t = await x.signal({ symbol: 'XRP/USDT', price: 100, stopLoss: 98 });
    expect(rejectedWith(x, t.id, /max total exposure leaves no room/)).toBe(true);
  });

  it('max total exposure: quiet under the limit', async () => {
    const x = await start({ limits: { maxTotalExposurePct: 100 } });
    x.venue.feeRate = 0;
    await x.signal({ price: 100, stopLoss: 98 });
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(50, 6);
  });

  it('max portfolio heat: caps the risk of the next trade to what the budget has left', async () => {
    const x = await start({ limits: { maxPortfolioHeatPct: 1.5 } });
    await x.signal({ price: 100, stopLoss: 98 }); // 100 at risk of a 150 budget
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.reasons).toContain('capped by max portfolio heat');
    expect(x.decision(s.id)!.quantity! * 2).toBeLessThanOrEqual(50 + 1e-6);
    expect(x.of('risk.state').at(-1)!.heat).toBeCloseTo(1.5, 1);
  });

  it('max portfolio heat: quiet while the budget has room', async () => {
    const x = await start({ limits: { maxPortfolioHeatPct: 3 } });
    await x.signal({ price: 100, stopLoss: 98 });
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.reasons).not.toContain('capped by max portfolio heat');
  });
});

describe('circuit breakers', () => {
  it('daily loss: trips on the day’s loss and resets on a new UTC day', async () => {
    const x = await start({ breakers: { dailyLossPct: 5 } });
    await x.account(10_000);
    await x.account(9_400);
    const breaker = x.of('risk.state').at(-1)!.breakers.find((b) => b.name === 'dailyLoss')!;
    expect(breaker).toMatchObject({ tripped: true, until: T0 + DAY_MS });
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /dailyLoss breaker tripped/)).toBe(true);
    x.clock.advanceTo(T0 + DAY_MS + 1);
    await x.account(9_400);
    const t = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(t.id)!.decision).toBe('accepted');
  });

  it('daily loss: quiet on a smaller loss', async () => {
    const x = await start({ breakers: { dailyLossPct: 5 } });
    await x.account(10_000);
    await x.account(9_600);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('max drawdown: trips below the peak and, after its cooldown, measures from the equity then', async () => {
    const x = await start({ breakers: { maxDrawdownPct: 10, drawdownCooldownMs: 3_600_000 } });
    await x.account(12_000);
    await x.account(10_700);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /drawdown breaker tripped: drawdown 10.83% reached the 10% limit/)).toBe(true);
    x.clock.advanceBy(3_600_000);
    await x.account(10_700);
    expect(x.of('risk.state').at(-1)).toMatchObject({ peakEquity: 10_700, drawdownPct: 0 });
    const t = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(t.id)!.decision).toBe('accepted');
  });

  it('max drawdown: quiet within the limit', async () => {
    const x = await start({ breakers: { maxDrawdownPct: 10 } });
    await x.account(12_000);
    await x.account(11_000);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('consecutive losses: trips after the limit and lifts after its cooldown', async () => {
    const x = await start({ breakers: { maxConsecutiveLosses: 3, consecutiveLossCooldownMs: 600_000 } });
    for (let i = 0; i < 3; i++) expect(await roundTrip(x, 99)).toBeLessThan(0);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /consecutiveLosses breaker tripped: 3 losing trades in a row/)).toBe(true);
    x.clock.advanceBy(600_000);
    const t = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(t.id)!.decision).toBe('accepted');
  });

  it('consecutive losses: a win in between resets the streak', async () => {
    const x = await start({ breakers: { maxConsecutiveLosses: 3 } });
    await roundTrip(x, 99);
    await roundTrip(x, 99);
    expect(await roundTrip(x, 103)).toBeGreaterThan(0);
    await roundTrip(x, 99);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });
});

describe('pacing rules', () => {
  it('symbol cooldown: a loss blocks that symbol for a while, other symbols trade', async () => {
    const x = await start({ limits: { symbolCooldownAfterLossMs: 3_600_000 } });
    await roundTrip(x, 99);
    const same = await x.signal({ price: 100, stopLoss: 98 });
    expect(rejectedWith(x, same.id, /BTC\/USDT cooling down after a loss/)).toBe(true);
    const other = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(other.id)!.decision).toBe('accepted');
    x.clock.advanceBy(3_600_000);
    const later = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(later.id)!.decision).toBe('accepted');
  });

  it('symbol cooldown: quiet after a win', async () => {
    const x = await start({ limits: { symbolCooldownAfterLossMs: 3_600_000 } });
    await roundTrip(x, 101);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('trades per day: refuses entries beyond the daily count until the next day', async () => {
    const x = await start({ limits: { maxTradesPerDay: 2 } });
    await roundTrip(x, 100);
    await roundTrip(x, 100);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /2 trades today, the limit is 2/)).toBe(true);
    x.clock.advanceTo(T0 + DAY_MS);
    const t = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(t.id)!.decision).toBe('accepted');
  });

  it('trades per day: quiet under the count', async () => {
    const x = await start({ limits: { maxTradesPerDay: 3 } });
    await roundTrip(x, 100);
    await roundTrip(x, 100);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('minimum time between trades: refuses an entry too soon after the last', async () => {
    const x = await start({ limits: { minTimeBetweenTradesMs: 600_000 } });
    await x.signal({ price: 100, stopLoss: 98 });
    x.clock.advanceBy(300_000);
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /last entry 300000 ms ago, the minimum gap is 600000 ms/)).toBe(true);
  });

  it('minimum time between trades: quiet once the gap has passed', async () => {
    const x = await start({ limits: { minTimeBetweenTradesMs: 600_000 } });
    await x.signal({ price: 100, stopLoss: 98 });
    x.clock.advanceBy(600_000);
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });
});

describe('operator switches', () => {
  it('kill switch: cancels working entries, keeps protective stops, refuses entries until resumed', async () => {
    const x = await start({ exits: { protectiveOrdersAtVenue: true } });
    await x.signal({ price: 100, stopLoss: 98 });
    const [stop] = x.requests('stop_loss');
    x.venue.autoFill = false;
    await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    const pendingEntry = x.requests('entry')[1]!;
    await x.command('kill');
    expect(x.of('order.cancel_requested').map((c) => c.clientOrderId)).toEqual([pendingEntry.clientOrderId]);
    expect(x.venue.orders.get(stop!.clientOrderId)!.status).toBe('accepted');
    expect(x.of('risk.state').at(-1)!.killSwitch).toBe(true);
    const s = await x.signal({ symbol: 'XRP/USDT', price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /kill switch is on/)).toBe(true);
    // Exits still go through while halted.
    x.venue.autoFill = true;
    const flat = await x.signal({ side: 'flat' });
    expect(x.decision(flat.id)!.decision).toBe('accepted');
    await x.command('resume');
    const t = await x.signal({ symbol: 'XRP/USDT', price: 100, stopLoss: 98 });
    expect(x.decision(t.id)!.decision).toBe('accepted');
  });

  it('kill switch: off by default', async () => {
    const x = await start({});
    expect(x.of('risk.state').at(-1)!.killSwitch).toBe(false);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('reducing-only: refuses entries, lets exits through, leaves working orders alone', async () => {
    const x = await start({});
    await x.signal({ price: 100, stopLoss: 98 });
    await x.command('reducing_only');
    const s = await x.signal({ symbol: 'ETH/USDT', price: 100, stopLoss: 98 });
    expect(rejectedWith(x, s.id, /reducing-only mode/)).toBe(true);
    const flat = await x.signal({ side: 'flat' });
    expect(x.decision(flat.id)!.decision).toBe('accepted');
    expect(x.of('trade.closed')).toHaveLength(1);
    expect(x.of('order.cancel_requested')).toHaveLength(0);
  });

  it('reset_breakers: clears tripped breakers and measures from the equity now', async () => {
    const x = await start({ breakers: { maxConsecutiveLosses: 2, maxDrawdownPct: 10 } });
    await roundTrip(x, 99);
    await roundTrip(x, 99);
    await x.account(12_000);
    await x.account(10_000);
    expect(x.of('risk.state').at(-1)!.breakers.filter((b) => b.tripped).map((b) => b.name).sort()).toEqual(['consecutiveLosses', 'drawdown']);
    await x.command('reset_breakers');
    expect(x.of('risk.state').at(-1)).toMatchObject({ peakEquity: 10_000, drawdownPct: 0 });
    expect(x.of('risk.state').at(-1)!.breakers.every((b) => !b.tripped)).toBe(true);
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });

  it('reducing-only: lifted by resume', async () => {
    const x = await start({});
    await x.command('reducing_only');
    await x.command('resume');
    const s = await x.signal({ price: 100, stopLoss: 98 });
    expect(x.decision(s.id)!.decision).toBe('accepted');
  });
});
