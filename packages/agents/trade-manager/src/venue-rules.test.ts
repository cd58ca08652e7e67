import { afterEach, describe, expect, it } from 'vitest';
import type { BuiltinEvents } from '@tradebus/core';
import type { TradeManagerConfigInput } from './config.js';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function start(config: TradeManagerConfigInput = {}): Promise<Harness> {
  h = await startHarness(config);
  return h;
}

const PERP = 'BTC/USDT:USDT';
const alerts = (x: Harness, code: string) => x.of('system.alert').filter((a) => a.code === code);

async function account(x: Harness, equity: number, free: number, margin?: { used: number; maintenance: number }): Promise<void> {
  x.system.bus.publish('account.updated', {
    venue: 'paper',
    quoteCurrency: 'USDT',
    equity,
    balances: [{ asset: 'USDT', free, used: equity - free, total: equity }],
    ...(margin !== undefined ? { margin } : {}),
    timestamp: x.clock.now(),
  });
  await x.idle();
}

function snapshot(x: Harness, universe: string[], markets: Array<Partial<BuiltinEvents['market.snapshot']['markets'][number]> & { symbol: string }>): Promise<void> {
  x.system.bus.publish('market.snapshot', {
    timestamp: x.clock.now(),
    venue: 'binance',
    universe,
    added: [],
    removed: [],
    markets: markets.map((m) => ({ base: m.symbol.split('/')[0]!, quote: 'USDT', active: true, tradable: universe.includes(m.symbol), reasons: [], ...m })),
  });
  return x.idle();
}

const perps: TradeManagerConfigInput = {
  equity: { source: 'account', initial: 10_000 },
  sizing: { mode: 'notional', notional: 20_000, confidence: { enabled: false }, maxPositionPct: 0 },
  limits: { maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0, maxOpenPositions: 0 },
  breakers: { dailyLossPct: 0, maxDrawdownPct: 0 },
};

describe('margin and leverage', () => {
  it('refuses a perpetual entry whose initial margin and buffer do not fit in the free balance, naming the numbers', async () => {
    const x = await start({ ...perps, margin: { initialMarginRate: 0.1, bufferPct: 10 } });
    await account(x, 10_000, 2_500);
    // 20 000 × 0.1 = 2 000 of initial margin + 1 000 of buffer > 2 500 free.
    const s = await x.signal({ symbol: PERP, price: 100, stopLoss: 95 });
    expect(x.decision(s.id)!.decision).toBe('rejected');
    expect(x.decision(s.id)!.reasons.join(' ')).toContain('initial margin 2000 (20000 × rate 0.1 from margin.initialMarginRate) plus the buffer 1000 (margin.bufferPct 10 % of equity) needs 3000 free, 2500 is');
    await account(x, 10_000, 3_000);
    const ok = await x.signal({ symbol: PERP, price: 100, stopLoss: 95 });
    expect(x.decision(ok.id)!.decision).toBe('accepted');
  });

  it('caps account leverage when asked, for spot symbols too', async () => {
    const x = await start({ ...perps, margin: { maxLeverage: 1.5 } });
    await account(x, 10_000, 10_000);
    const s = await x.signal({ symbol: 'BTC/USDT', price: 100, stopLoss: 95 });
    expect(x.decision(s.id)!.reasons.join(' ')).toContain('account leverage after the entry would be 2× (20000 of positions on 10000 equity), above margin.maxLeverage 1.5');
  });

  it('warns and stops entries at the warning level; at the critical level closes the largest risk first until the projection is under the target', async () => {
    const x = await start({ ...perps, margin: { initialMarginRate: 0.1, bufferPct: 0, marginMode: 'cross' } });
    await account(x, 10_000, 10_000);
    const wide = await x.signal({ symbol: PERP, price: 100, stopLoss: 90 }); // risk 2 000
    const tight = await x.signal({ symbol: 'ETH/USDT:USDT', price: 100, stopLoss: 98 }); // risk 400
    expect([x.decision(wide.id)!.decision, x.decision(tight.id)!.decision]).toEqual(['accepted', 'accepted']);

    // Cross margin: utilisation = maintenance ÷ equity. 5 500 / 10 000 = 55 %: warning.
    await account(x, 10_000, 6_000, { used: 4_000, maintenance: 5_500 });
    expect(alerts(x, 'MARGIN_WARNING')).toHaveLength(1);
    expect(x.of('risk.state').at(-1)!.marginUse).toBeCloseTo(55, 9);
    const held = await x.signal({ symbol: 'SOL/USDT:USDT', price: 100, stopLoss: 95 });
    expect(x.decision(held.id)!.reasons.join(' ')).toMatch(/margin utilisation 55\.0% is at or above margin\.utilisation\.warningPct 50%/);
    expect(x.requests('exit')).toHaveLength(0);

    // 8 500 / 10 000 = 85 %: critical. Both positions have the same notional, so each needs half
    // the maintenance: closing the wider-stopped one leaves 4 250 / 10 000 = 42.5 % < 60 %.
    await account(x, 10_000, 1_000, { used: 4_000, maintenance: 8_500 });
    const [critical] = alerts(x, 'MARGIN_CRITICAL');
    expect(critical!.message).toContain(`closing long ${PERP} at market to get under 60%`);
    expect(x.requests('exit').map((r) => r.symbol)).toEqual([PERP]);
    expect(x.of('trade.closed').map((t) => [t.symbol, t.exitReason])).toEqual([[PERP, 'margin']]);

    await account(x, 10_000, 5_000, { used: 2_000, maintenance: 4_250 });
    expect(alerts(x, 'MARGIN_OK')).toHaveLength(1);
    const again = await x.signal({ symbol: 'SOL/USDT:USDT', price: 100, stopLoss: 95 });
    expect(x.decision(again.id)!.decision).toBe('accepted');
  });
});

describe('the tradable universe and the venue precision', () => {
  it('with universe.follow, refuses entries on symbols outside the latest universe with the watchdog reasons; exits still go', async () => {
    const x = await start({ universe: { follow: true } });
    const before = await x.signal({ symbol: 'BTC/USDT', price: 100 });
    expect(x.decision(before.id)!.decision).toBe('accepted');
    await snapshot(x, ['ETH/USDT', 'BTC/USDT'], [{ symbol: 'ETH/USDT' }, { symbol: 'BTC/USDT' }]);
    await snapshot(x, ['ETH/USDT'], [{ symbol: 'ETH/USDT' }, { symbol: 'BTC/USDT', tradable: false, reasons: ['spread 45 bps above 30'] }]);
    const entry = await x.signal({ symbol: 'XRP/USDT', price: 1 });
    expect(x.decision(entry.id)!.reasons.join(' ')).toContain('XRP/USDT is not in the tradable universe of binance');
    const exit = await x.signal({ symbol: 'BTC/USDT', side: 'flat', price: 101 });
    expect(x.decision(exit.id)!.decision).toBe('accepted');
    expect(x.of('trade.closed').map((t) => t.symbol)).toEqual(['BTC/USDT']);
    const back = await x.signal({ symbol: 'BTC/USDT', price: 100 });
    expect(x.decision(back.id)!.reasons.join(' ')).toContain('BTC/USDT left the tradable universe of binance (spread 45 bps above 30)');
  });

  it("sizes with the venue's step and minimum order value from market.snapshot when the config sets none", async () => {
    const x = await start({ sizing: { mode: 'notional', notional: 1_234.5, confidence: { enabled: false } } });
    await snapshot(x, ['BTC/USDT', 'ETH/USDT'], [{ symbol: 'BTC/USDT', stepSize: 0.5 }, { symbol: 'ETH/USDT', minNotional: 5_000 }]);
    const s = await x.signal({ symbol: 'BTC/USDT', price: 100 });
    expect(x.decision(s.id)!.quantity).toBe(12); // 12.345 rounded down to a multiple of 0.5
    const small = await x.signal({ symbol: 'ETH/USDT', price: 100 });
    expect(x.decision(small.id)!.reasons.join(' ')).toMatch(/below the venue minimum \(quantity 0, value 5000\)/);
  });
});
