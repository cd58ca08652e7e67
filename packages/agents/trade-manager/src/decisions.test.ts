import { afterEach, describe, expect, it } from 'vitest';
import { tradeManagerConfigSchema, type TradeManagerConfigInput } from './config.js';
import { BAR, startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function start(config: TradeManagerConfigInput, options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  h = await startHarness(config, options);
  return h;
}

describe('exit signals', () => {
  it('an opposite signal closes the open position however weak it is: minimum confidence is an entry rule', async () => {
    const x = await start({ aggregation: { minConfidence: 0.9 } });
    await x.signal({ side: 'long', confidence: 0.95, price: 100 });
    expect(x.of('trade.opened')).toHaveLength(1);
    const exit = await x.signal({ side: 'short', confidence: 0.2, price: 101 });
    expect(x.decision(exit.id)).toMatchObject({ decision: 'accepted' });
    expect(x.decision(exit.id)!.reasons.join(' ')).toMatch(/exit: entry rules do not apply/);
    expect(x.of('trade.closed')).toHaveLength(1);
    // The same weak signal with nothing to close is an entry, and minConfidence applies to it.
    const entry = await x.signal({ side: 'long', confidence: 0.2, price: 101 });
    expect(x.decision(entry.id)).toMatchObject({ decision: 'rejected' });
  });

  it('an opposite signal in a batch with entries on other symbols still closes its position', async () => {
    const x = await start({ aggregation: { minConfidence: 0.5, maxAccepted: 1 } });
    await x.signal({ side: 'long', confidence: 0.9, price: 100 });
    const [exit, other] = await x.signals([
      { side: 'short', confidence: 0.1, price: 99 },
      { side: 'long', confidence: 0.9, price: 50, symbol: 'ETH/USDT' },
    ]);
    expect(x.decision(exit!.id)!.decision).toBe('accepted');
    expect(x.decision(other!.id)!.decision).toBe('accepted');
    expect(x.of('trade.closed').map((t) => t.symbol)).toEqual(['BTC/USDT']);
  });

  it('with aggregation.exits: filter, weak exits face minConfidence as the user asked', async () => {
    const x = await start({ aggregation: { minConfidence: 0.9, exits: 'filter' } });
    await x.signal({ side: 'long', confidence: 0.95, price: 100 });
    const exit = await x.signal({ side: 'flat', confidence: 0.2, price: 101 });
    expect(x.decision(exit.id)!.decision).toBe('rejected');
    expect(x.of('trade.closed')).toHaveLength(0);
  });
});

describe('limits: 0 means no limit', () => {
  it('maxTradesPerDay 0 and maxOpenPositions 0 let every entry through', async () => {
    const x = await start({ limits: { maxTradesPerDay: 0, maxOpenPositions: 0 } });
    const symbols = ['A/USDT', 'B/USDT', 'C/USDT'];
    for (const symbol of symbols) await x.signal({ symbol, price: 100 });
    expect(x.of('trade.opened').map((t) => t.symbol)).toEqual(symbols);
  });

  it('percent caps at 0 do not cap', async () => {
    const x = await start({ sizing: { mode: 'fraction', fractionPct: 300, maxPositionPct: 0 }, limits: { maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0 } });
    const s = await x.signal({ price: 100 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(300, 9); // 300 % of 10 000 at 100
  });
});

describe('trade times in market time', () => {
  const REPLAY_T0 = Date.UTC(2018, 5, 1);

  /** A candle from the replayed past while the clock shows today. */
  const bar = (x: Harness, i: number, high: number, low: number, close: number) => {
    x.system.bus.publish('candle.closed', { symbol: 'BTC/USDT', timeframe: '5m', timestamp: REPLAY_T0 + i * BAR, open: close, high, low, close, volume: 1 });
    return x.idle();
  };

  it('a replay against a wall clock: the trade opens at its fill time and its stop and target still trigger', async () => {
    const x = await start({ timeframe: '5m', sizing: { rewardRisk: 2 } });
    x.venue.marketTime = () => REPLAY_T0 + 10 * BAR;
    await bar(x, 9, 100, 100, 100);
    await x.signal({ price: 100, stopLoss: 98 });
    const opened = x.of('trade.opened')[0]!;
    expect(opened.openedAt).toBe(REPLAY_T0 + 10 * BAR);
    expect(x.clock.now()).toBeGreaterThan(REPLAY_T0 + 365 * 24 * 3_600_000);
    // The fill bar itself is checked: its range came after the fill at its open.
    x.venue.marketTime = () => REPLAY_T0 + 11 * BAR;
    x.venue.price = 97.5;
    await bar(x, 10, 100.5, 97.5, 98.5);
    const closed = x.of('trade.closed');
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ exitReason: 'stop_loss', openedAt: REPLAY_T0 + 10 * BAR, closedAt: REPLAY_T0 + 11 * BAR });
  });

  it('a time stop counts market time, not the clock', async () => {
    const x = await start({ timeframe: '5m', exits: { timeStopMs: 3 * BAR } });
    x.venue.marketTime = () => REPLAY_T0 + 10 * BAR;
    await bar(x, 9, 100, 100, 100);
    await x.signal({ price: 100, stopLoss: 90 });
    await bar(x, 10, 101, 99, 100);
    await bar(x, 11, 101, 99, 100);
    expect(x.of('trade.closed')).toHaveLength(0);
    await bar(x, 12, 101, 99, 100);
    expect(x.of('trade.closed')).toMatchObject([{ exitReason: 'time_stop' }]);
  });
});

describe('sizing modes', () => {
  it('quantity: exactly the configured size, whatever the confidence or the stop', async () => {
    const x = await start({ sizing: { mode: 'quantity', quantity: 0.37, confidence: { enabled: true, floor: 0.1 } } });
    const s = await x.signal({ price: 100, stopLoss: 99.9, confidence: 0.3 });
    expect(x.decision(s.id)!.quantity).toBe(0.37);
  });

  it('notional: the configured value at the signal price', async () => {
    const x = await start({ sizing: { mode: 'notional', notional: 2_500 } });
    const s = await x.signal({ price: 125 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo(20, 12);
  });

  it('fraction: a share of equity, scaled by confidence', async () => {
    const x = await start({ sizing: { mode: 'fraction', fractionPct: 20, confidence: { enabled: true, floor: 0 } } });
    const s = await x.signal({ price: 100, confidence: 0.5 });
    expect(x.decision(s.id)!.quantity).toBeCloseTo((10_000 * 0.2 * 0.5) / 100, 12);
  });

  it('a strategy without a stop: no default stop, no protective level, a fixed size', async () => {
    const x = await start({ sizing: { mode: 'quantity', quantity: 2, defaultStopPct: 0, rewardRisk: 2 }, exits: { protectiveOrdersAtVenue: true } });
    await x.signal({ price: 100 });
    const opened = x.of('trade.opened')[0]!;
    expect(opened.stopLoss).toBeUndefined();
    expect(opened.takeProfit).toBeUndefined();
    expect(x.requests('stop_loss')).toHaveLength(0);
    await x.candle({ high: 101, low: 50, close: 60 });
    expect(x.of('trade.closed')).toHaveLength(0);
  });

  it('risk sizing without any stop is refused with what to change', async () => {
    const x = await start({ sizing: { defaultStopPct: 0 } });
    const s = await x.signal({ price: 100 });
    expect(x.decision(s.id)).toMatchObject({ decision: 'rejected' });
    expect(x.decision(s.id)!.reasons.join(' ')).toMatch(/risk sizing needs a stop.*sizing\.mode/);
  });

  it('a trade without a stop puts its whole value into portfolio heat', async () => {
    const x = await start({ sizing: { mode: 'notional', notional: 400, defaultStopPct: 0 }, limits: { maxPortfolioHeatPct: 6 } });
    await x.signal({ price: 100 });
    // 6 % of equity (after the first entry's fee of 0.4) allowed, 400 used: the second entry gets what is left.
    const second = await x.signal({ price: 100, symbol: 'ETH/USDT' });
    expect(x.decision(second.id)!.quantity).toBeCloseTo((0.06 * (10_000 - 0.4) - 400) / 100, 9);
    expect(x.decision(second.id)!.reasons.join(' ')).toMatch(/capped by max portfolio heat/);
  });

  it('per strategy: byStrategy overrides the shared sizing for that strategy only', async () => {
    const x = await start({ sizing: { riskPerTradePct: 1, byStrategy: { scalper: { mode: 'quantity', quantity: 3, defaultStopPct: 0 } } } });
    const own = await x.signal({ strategyId: 'scalper', price: 100 });
    const shared = await x.signal({ strategyId: 'alpha', price: 100, stopLoss: 95, symbol: 'ETH/USDT' });
    expect(x.decision(own.id)!.quantity).toBe(3);
    expect(x.decision(shared.id)!.quantity).toBeCloseTo((0.01 * (10_000 - 0.3)) / 5, 9); // after the scalper's fee
    expect(x.of('trade.opened').find((t) => t.symbol === 'BTC/USDT')!.stopLoss).toBeUndefined();
  });

  it('a fixed mode without its amount is a configuration error naming the key', () => {
    const bad = tradeManagerConfigSchema.safeParse({ sizing: { mode: 'quantity' } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]).toMatchObject({ path: ['sizing', 'quantity'] });
    expect(bad.error!.issues[0]!.message).toMatch(/set quantity/);
    const perStrategy = tradeManagerConfigSchema.safeParse({ sizing: { byStrategy: { s1: { mode: 'notional' } } } });
    expect(perStrategy.error!.issues[0]).toMatchObject({ path: ['sizing', 'byStrategy', 's1', 'notional'] });
  });
});

describe('an account in another currency than the symbol', () => {
  it('sizes in the symbol quote: equity converted at the last price of the pair between them', async () => {
    const x = await start({ sizing: { riskPerTradePct: 1 } });
    await x.account(20_000); // USDT
    await x.candle({ symbol: 'BTC/USDT', high: 20_000, low: 20_000, close: 20_000 });
    const s = await x.signal({ symbol: 'ETH/BTC', price: 0.05, stopLoss: 0.049 });
    // 1 % of 20 000 USDT is 200 USDT = 0.01 BTC at risk over a 0.001 BTC stop distance.
    expect(x.decision(s.id)!.quantity).toBeCloseTo((0.01 * 20_000) / 20_000 / 0.001, 9);
  });

  it('refuses an entry it cannot size, naming the pair it needs', async () => {
    const x = await start({});
    await x.account(20_000);
    const s = await x.signal({ symbol: 'ETH/BTC', price: 0.05, stopLoss: 0.049 });
    expect(x.decision(s.id)).toMatchObject({ decision: 'rejected' });
    expect(x.decision(s.id)!.reasons.join(' ')).toContain('BTC/USDT');
  });

  it('counts a closed trade of another quote in account currency in its internal equity', async () => {
    const x = await start({ equity: { source: 'internal', initial: 10_000, currency: 'USDT' }, sizing: { mode: 'quantity', quantity: 10 } });
    await x.candle({ symbol: 'BTC/USDT', high: 20_000, low: 20_000, close: 20_000 });
    x.venue.price = 0.05;
    await x.signal({ symbol: 'ETH/BTC', price: 0.05, stopLoss: 0.049 });
    x.venue.price = 0.051;
    await x.signal({ symbol: 'ETH/BTC', side: 'flat', price: 0.051 });
    const closed = x.of('trade.closed')[0]!;
    const risk = x.of('risk.state').at(-1)!;
    // The trade's P&L is in BTC; equity is USDT: 10 000 + pnl × 20 000.
    expect(risk.equity).toBeCloseTo(10_000 + closed.pnl * 20_000, 6);
  });
});

describe('reversal on an opposite signal', () => {
  it('closes the long, then opens the short the signal asked for, once the long is closed', async () => {
    const x = await start({ allowShort: true, reverseOnOppositeSignal: true });
    await x.signal({ side: 'long', price: 100 });
    x.venue.price = 99;
    const reverse = await x.signal({ side: 'short', price: 99, stopLoss: 101 });
    const trades = [...x.of('trade.opened').map((t) => ['opened', t.side] as const), ...x.of('trade.closed').map((t) => ['closed', t.side] as const)];
    expect(trades).toEqual([
      ['opened', 'long'],
      ['opened', 'short'],
      ['closed', 'long'],
    ]);
    // The exit went out before the new entry, and the entry only after the exit filled.
    const requests = x.requests().map((r) => r.purpose);
    expect(requests).toEqual(['entry', 'exit', 'entry']);
    const closedAt = x.events.findIndex((e) => e.type === 'trade.closed');
    const secondEntry = x.events.findIndex((e) => e.type === 'order.requested' && (e.payload as { side: string }).side === 'sell' && (e.payload as { purpose: string }).purpose === 'entry');
    expect(secondEntry).toBeGreaterThan(closedAt);
    expect(x.of('trade.opened')[1]).toMatchObject({ side: 'short', stopLoss: 101 });
    expect(x.decision(reverse.id)).toMatchObject({ decision: 'accepted' });
  });

  it('a strategy asks for it per signal; the new entry faces the entry rules', async () => {
    const x = await start({ allowShort: false });
    await x.signal({ side: 'long', price: 100 });
    const reverse = await x.signal({ side: 'short', price: 99, metadata: { reverse: true } });
    expect(x.of('trade.closed')).toHaveLength(1);
    expect(x.of('trade.opened')).toHaveLength(1);
    expect(x.decision(reverse.id)).toMatchObject({ decision: 'rejected' });
    expect(x.decision(reverse.id)!.reasons.join(' ')).toMatch(/short positions are disabled/);
  });

  it('without it, the opposite signal only closes', async () => {
    const x = await start({ allowShort: true });
    await x.signal({ side: 'long', price: 100 });
    await x.signal({ side: 'short', price: 99 });
    expect(x.of('trade.closed')).toHaveLength(1);
    expect(x.of('trade.opened')).toHaveLength(1);
  });
});
