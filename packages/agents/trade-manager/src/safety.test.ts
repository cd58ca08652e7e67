import { afterEach, describe, expect, it } from 'vitest';
import type { TradeManagerConfigInput } from './config.js';
import { riskTransitions } from './risk-alerts.js';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function start(config: TradeManagerConfigInput = {}, options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  h = await startHarness(config, options);
  return h;
}

const alerts = (x: Harness, code: string) => x.of('system.alert').filter((a) => a.code === code);

describe('flatten', () => {
  it('cancels the protective orders first, closes every position at market reduce-only, halts entries and reports each close', async () => {
    const x = await start({ exits: { protectiveOrdersAtVenue: true }, limits: { maxOpenPositions: 0 } });
    await x.signal({ symbol: 'BTC/USDT', price: 100, stopLoss: 95 });
    await x.signal({ symbol: 'ETH/USDT', side: 'long', price: 100, stopLoss: 90 });
    expect(x.of('trade.opened')).toHaveLength(2);
    const stops = x.requests('stop_loss');
    expect(stops).toHaveLength(2);

    await x.command('flatten');
    const exits = x.requests('exit');
    expect(exits.map((r) => r.symbol).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    for (const r of exits) expect(r).toMatchObject({ type: 'market', side: 'sell', reduceOnly: true });
    // Each stop was cancelled before its close was sent: the two cannot both fill.
    for (const stop of stops) expect(x.venue.orders.get(stop.clientOrderId)!.status).toBe('cancelled');
    const closed = x.of('trade.closed');
    expect(closed.map((t) => [t.symbol, t.exitReason]).sort()).toEqual([
      ['BTC/USDT', 'flatten'],
      ['ETH/USDT', 'flatten'],
    ]);
    expect(x.of('position.updated').filter((p) => p.side !== 'flat').at(-1)?.timestamp ?? 0).toBeLessThanOrEqual(x.clock.now());
    expect(alerts(x, 'FLATTEN')).toHaveLength(1);
    expect(alerts(x, 'FLATTEN')[0]!.message).toMatch(/closing 2 position\(s\)/);

    const after = await x.signal({ symbol: 'BTC/USDT', price: 100 });
    expect(x.decision(after.id)).toMatchObject({ decision: 'rejected' });
    expect(x.decision(after.id)!.reasons.join(' ')).toMatch(/kill switch is on/);
    expect(x.of('risk.state').at(-1)).toMatchObject({ killSwitch: true, openPositions: 0 });
  });

  it('an entry not yet filled is cancelled, and what it filled meanwhile is closed', async () => {
    const x = await start({}, { autoFill: false });
    await x.signal({ price: 100 });
    const [entry] = x.requests('entry');
    x.venue.fill(entry!.clientOrderId, 100, entry!.quantity / 2);
    await x.idle();
    await x.command('flatten');
    expect(x.venue.orders.get(entry!.clientOrderId)!.status).toBe('cancelled');
    const [exit] = x.requests('exit');
    expect(exit!.quantity).toBeCloseTo(entry!.quantity / 2, 12);
  });

  it('the kill switch flattens only when configured to', async () => {
    const keep = await start();
    await keep.signal({ price: 100 });
    await keep.command('kill');
    expect(keep.requests('exit')).toHaveLength(0);
    expect(keep.of('trade.closed')).toHaveLength(0);
    await keep.stop();
    h = undefined;

    const x = await start({ killSwitch: { flatten: true } });
    await x.signal({ price: 100 });
    await x.command('kill');
    expect(x.of('trade.closed').map((t) => t.exitReason)).toEqual(['flatten']);
  });
});

describe('drawdown ladder', () => {
  const ladder = { breakers: { maxDrawdownPct: 0, dailyLossPct: 0, drawdownLadder: [{ drawdownPct: 10, sizeMultiplier: 0.5 }, { drawdownPct: 15, sizeMultiplier: 0 }] } };

  it('sizes entries down at its first step, halts at the second, and says so once per step', async () => {
    const x = await start({ ...ladder, equity: { source: 'account', initial: 10_000 }, sizing: { mode: 'fraction', fractionPct: 10, confidence: { enabled: false } } });
    await x.account(10_000);
    const full = await x.signal({ symbol: 'A/USDT', price: 100 });
    expect(x.decision(full.id)!.quantity).toBeCloseTo(10, 12); // 10 % of 10 000 at 100

    await x.account(8_900); // 11 % below the peak
    const half = await x.signal({ symbol: 'B/USDT', price: 100 });
    expect(x.decision(half.id)!.quantity).toBeCloseTo((0.1 * 8_900 * 0.5) / 100, 12);
    expect(x.of('risk.state').at(-1)!.sizeMultiplier).toBe(0.5);
    expect(alerts(x, 'DRAWDOWN_STEP').map((a) => a.level)).toEqual(['warning']);

    await x.account(8_400); // 16 %
    const none = await x.signal({ symbol: 'C/USDT', price: 100 });
    expect(x.decision(none.id)!.decision).toBe('rejected');
    expect(x.decision(none.id)!.reasons.join(' ')).toMatch(/16\.00% reached the 15% step of breakers\.drawdownLadder/);
    expect(alerts(x, 'DRAWDOWN_STEP').map((a) => a.level)).toEqual(['warning', 'warning']);
    expect(alerts(x, 'DRAWDOWN_STEP')[1]!.message).toBe('The drawdown ladder halted new entries.');

    await x.account(10_500); // a new peak: full size again
    expect(alerts(x, 'DRAWDOWN_STEP').map((a) => a.level)).toEqual(['warning', 'warning', 'info']);
    expect(x.of('risk.state').at(-1)!.sizeMultiplier).toBe(1);
  });
});

describe('breaker alerts', () => {
  it('a breaker that trips is a warning that says what still happens and how to lift it; clearing it is news too', async () => {
    const x = await start({ equity: { source: 'account', initial: 10_000 }, breakers: { maxDrawdownPct: 10, dailyLossPct: 0 } });
    await x.account(10_000);
    await x.account(8_900);
    const [tripped] = alerts(x, 'BREAKER_TRIPPED');
    expect(tripped).toMatchObject({ level: 'warning', details: { breaker: 'drawdown' } });
    expect(tripped!.message).toMatch(/drawdown 11\.00% reached the 10% limit.*reset_breakers/);
    await x.command('reset_breakers');
    expect(alerts(x, 'BREAKER_CLEARED').map((a) => a.details?.breaker)).toEqual(['drawdown']);
    expect(alerts(x, 'BREAKER_TRIPPED')).toHaveLength(1);
  });

  it('transitions: nothing on the first state seen (a restart is not news), one alert per change', () => {
    const quiet = { killSwitch: false, reducingOnly: false, sizeMultiplier: 1, breakers: [{ name: 'dailyLoss', tripped: false }] };
    const tripped = { ...quiet, breakers: [{ name: 'dailyLoss', tripped: true, reason: 'daily loss 6%' }] };
    expect(riskTransitions(quiet, quiet)).toEqual([]);
    expect(riskTransitions(quiet, tripped).map((a) => a.code)).toEqual(['BREAKER_TRIPPED']);
    expect(riskTransitions(tripped, tripped)).toEqual([]);
    expect(riskTransitions(tripped, quiet).map((a) => a.code)).toEqual(['BREAKER_CLEARED']);
  });
});
