import { MemoryStateStore, type BuiltinEvents } from '@tradebus/core';
import { afterEach, describe, expect, it } from 'vitest';
import { tradeManagerConfigSchema, type TradeManagerConfigInput } from './config.js';
import { merge, permissive, startHarness, type Harness } from './test-support/harness.js';

type Decided = BuiltinEvents['signal.decided'];

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** The published definition: expected return per trade (percent) × confidence / risk to the stop (percent of entry). */
const bidOf = (edgePct: number, confidence: number, entry: number, stop: number) => (edgePct * confidence) / ((Math.abs(entry - stop) / entry) * 100);

const EQUITY = 10_000;
const PRIOR = 0.5;

/** Four entries of one round: strategy, symbol, confidence, stop and risk per trade (percent of equity). */
const round = [
  { strategyId: 'a', symbol: 'A/USDT', confidence: 0.9, stop: 98, riskPct: 1 },
  { strategyId: 'b', symbol: 'B/USDT', confidence: 0.8, stop: 99, riskPct: 1.2 },
  { strategyId: 'c', symbol: 'C/USDT', confidence: 1, stop: 96, riskPct: 0.3 },
  { strategyId: 'd', symbol: 'D/USDT', confidence: 0.6, stop: 99.5, riskPct: 1 },
];

function config(allocation: TradeManagerConfigInput['allocation']): TradeManagerConfigInput {
  return {
    equity: { initial: EQUITY },
    allocation,
    sizing: { byStrategy: Object.fromEntries(round.map((r) => [r.strategyId, { riskPerTradePct: r.riskPct }])) },
  };
}

describe('allocation auction', () => {
  it('fills the highest bids first until the risk budget is used, skipping what does not fit, as computed by hand', async () => {
    const budgetPct = 2.5;
    h = await startHarness(config({ enabled: true, budgetPct, priorEdgePct: PRIOR }), { autoFill: false });
    const signals = await h.signals(round.map((r) => ({ strategyId: r.strategyId, symbol: r.symbol, confidence: r.confidence, price: 100, stopLoss: r.stop })));

    // By hand: bids, order, and each entry's risk (risk sizing: riskPct of equity at the stop).
    const byHand = round.map((r, i) => ({ ...r, id: signals[i]!.id, bid: bidOf(PRIOR, r.confidence, 100, r.stop), cost: (EQUITY * r.riskPct) / 100 }));
    const order = [...byHand].sort((x, y) => y.bid - x.bid);
    expect(order.map((x) => x.symbol)).toEqual(['D/USDT', 'B/USDT', 'A/USDT', 'C/USDT']);
    let left = (EQUITY * budgetPct) / 100;
    const filled: string[] = [];
    const leftAfter = new Map<string, number>();
    for (const x of order) {
      if (x.cost <= left + 1e-9) {
        left -= x.cost;
        filled.push(x.symbol);
        leftAfter.set(x.id, left);
      }
    }
    expect(filled).toEqual(['D/USDT', 'B/USDT', 'C/USDT']);

    expect(h.requests('entry').map((r) => r.symbol)).toEqual(filled);
    order.forEach((x, index) => {
      const d = h!.decision(x.id)!;
      expect(d.allocation).toMatchObject({ rank: index + 1, candidates: 4, budget: (EQUITY * budgetPct) / 100 });
      expect(d.allocation!.bid).toBeCloseTo(x.bid, 12);
      expect(d.allocation!.cost).toBeCloseTo(x.cost, 9);
      if (filled.includes(x.symbol)) {
        expect(d.decision).toBe('accepted');
        expect(d.allocation!.budgetLeft).toBeCloseTo(leftAfter.get(x.id)!, 9);
        expect(d.quantity! * Math.abs(100 - x.stop)).toBeCloseTo(x.cost, 9);
      } else {
        expect(d.decision).toBe('rejected');
        expect(d.reasons.join(' ')).toMatch(/needs 100 of the risk budget, 30 of 250 left/);
      }
    });
  });

  it('open positions use the budget; a strategy with enough trades bids its own expectancy', async () => {
    // Without the track-record factor the confidence bid is the signal's own.
    h = await startHarness({ ...config({ enabled: true, budgetPct: 1.5, priorEdgePct: PRIOR, minTrades: 1 }), aggregation: { useTrackRecord: false } });
    // One trade of strategy d, closed at +1 % (before fees): its expectancy replaces the prior.
    const opened = await h.signal({ strategyId: 'd', symbol: 'D/USDT', confidence: 1, price: 100, stopLoss: 99.5 });
    expect(h.decision(opened.id)!.allocation!.edgePct).toBe(PRIOR);
    h.venue.price = 101;
    await h.signal({ strategyId: 'd', symbol: 'D/USDT', side: 'flat', price: 101 });
    const closed = h.of('trade.closed')[0]!;
    h.venue.price = 100;
    // An open position of a: risk 100 of the budget of 150 (1.5 % of equity).
    await h.signal({ strategyId: 'a', symbol: 'A/USDT', confidence: 1, price: 100, stopLoss: 98 });
    // The account reports the equity the budget is a share of.
    await h.account(EQUITY);
    const equity = EQUITY;
    const [d] = await h.signals([{ strategyId: 'd', symbol: 'D/USDT', confidence: 0.8, price: 100, stopLoss: 99.5 }]);
    const decided = h.decision(d!.id)!;
    expect(decided.allocation!.edgePct).toBeCloseTo(closed.pnlPct, 12);
    expect(decided.allocation!.bid).toBeCloseTo(bidOf(closed.pnlPct, 0.8, 100, 99.5), 12);
    const aRisk = h.of('trade.opened').find((t) => t.symbol === 'A/USDT')!.quantity * (h.of('trade.opened').find((t) => t.symbol === 'A/USDT')!.entryPrice - 98);
    expect(decided.allocation!.budget).toBeCloseTo((equity * 1.5) / 100, 6);
    // d's risk is 1 % of equity: more than the budget left after a's position.
    expect(decided.decision).toBe('rejected');
    expect(decided.allocation!.budgetLeft).toBeCloseTo((equity * 1.5) / 100 - aRisk, 6);
  });

  it('minBid refuses the entries bidding less, whatever budget is left', async () => {
    h = await startHarness(config({ enabled: true, budgetPct: 0, priorEdgePct: PRIOR, minBid: 0.3 }), { autoFill: false });
    const signals = await h.signals(round.map((r) => ({ strategyId: r.strategyId, symbol: r.symbol, confidence: r.confidence, price: 100, stopLoss: r.stop })));
    const expected = round.filter((r) => bidOf(PRIOR, r.confidence, 100, r.stop) >= 0.3).sort((x, y) => bidOf(PRIOR, y.confidence, 100, y.stop) - bidOf(PRIOR, x.confidence, 100, x.stop));
    expect(expected.map((r) => r.symbol)).toEqual(['D/USDT', 'B/USDT']);
    expect(h.requests('entry').map((r) => r.symbol)).toEqual(expected.map((r) => r.symbol));
    const refused = h.decision(signals[0]!.id)!;
    expect(refused.decision).toBe('rejected');
    expect(refused.reasons.join(' ')).toMatch(/below allocation\.minBid 0\.3000/);
    // No budget: the bids only order the entries.
    expect(h.decision(signals[3]!.id)!.allocation!.budget).toBeUndefined();
  });

  it('an exposure budget counts position values: the three highest bids of 1,000 each fill 3,000', async () => {
    h = await startHarness({ equity: { initial: EQUITY }, sizing: { mode: 'fraction', fractionPct: 10 }, allocation: { enabled: true, budget: 'exposure', budgetPct: 35, priorEdgePct: PRIOR } }, { autoFill: false });
    const signals = await h.signals(round.map((r) => ({ strategyId: r.strategyId, symbol: r.symbol, confidence: r.confidence, price: 100, stopLoss: r.stop })));
    const bids = round.map((r, i) => ({ id: signals[i]!.id, symbol: r.symbol, bid: bidOf(PRIOR, r.confidence, 100, r.stop) })).sort((x, y) => y.bid - x.bid);
    // Each position is worth 10 % of equity: 1,000 of a budget of 3,500.
    const fits = Math.floor(3_500 / 1_000);
    expect(h.requests('entry').map((r) => r.symbol)).toEqual(bids.slice(0, fits).map((b) => b.symbol));
    const last = h.decision(bids[fits]!.id)!;
    expect(last.decision).toBe('rejected');
    expect(last.reasons.join(' ')).toMatch(/needs 1000 of the exposure budget, 500 of 3500 left/);
    expect(h.decision(bids[fits - 1]!.id)!.allocation!.budgetLeft).toBeCloseTo(3_500 - fits * 1_000, 9);
  });

  it('off (the default): entries go in the aggregator order and signal.decided has no allocation', async () => {
    h = await startHarness(config(undefined), { autoFill: false });
    const signals = await h.signals(round.map((r) => ({ strategyId: r.strategyId, symbol: r.symbol, confidence: r.confidence, price: 100, stopLoss: r.stop })));
    // Aggregation ranks by confidence.
    expect(h.requests('entry').map((r) => r.symbol)).toEqual(['C/USDT', 'A/USDT', 'B/USDT', 'D/USDT']);
    for (const s of signals) expect(h.decision(s.id)!.allocation).toBeUndefined();
  });
});

describe('allocation while running', () => {
  it('is switched on by a live change: the next round is auctioned', async () => {
    const base = config(undefined);
    h = await startHarness(base, { autoFill: false });
    const pair = [round[0]!, round[3]!];
    const send = (tag: string) => h!.signals(pair.map((r) => ({ id: `${tag}-${r.strategyId}`, strategyId: r.strategyId, symbol: r.symbol, confidence: r.confidence, price: 100, stopLoss: r.stop })));
    await send('before');
    // By confidence: A (0.9) before D (0.6).
    expect(h.requests('entry').map((r) => r.symbol)).toEqual(['A/USDT', 'D/USDT']);
    await h.tm.reconfigure(tradeManagerConfigSchema.parse(merge(permissive, { ...base, allocation: { enabled: true, budgetPct: 0 } })));
    // The pending entries are cancelled, so the symbols are free again.
    await h.signals(pair.map((r) => ({ side: 'flat' as const, strategyId: r.strategyId, symbol: r.symbol, price: 100 })));
    await send('after');
    // By bid: D (0.5 × 0.6 / 0.5 = 0.6) before A (0.5 × 0.9 / 2 = 0.225).
    expect(h.requests('entry').slice(2).map((r) => r.symbol)).toEqual(['D/USDT', 'A/USDT']);
  });
});

describe('replacing the weakest open position', () => {
  /** Two open positions: X bids 0.5 × 0.5 / 2 = 0.125, Y bids 0.5 × 1 / 2 = 0.25; together they use 200 of a budget of 250. */
  async function twoOpen(allocation: TradeManagerConfigInput['allocation']): Promise<Harness> {
    h = await startHarness({ equity: { initial: EQUITY }, allocation: { enabled: true, budgetPct: 2.5, priorEdgePct: PRIOR, ...allocation } });
    await h.signal({ strategyId: 'x', symbol: 'X/USDT', confidence: 0.5, price: 100, stopLoss: 98 });
    await h.signal({ strategyId: 'y', symbol: 'Y/USDT', confidence: 1, price: 100, stopLoss: 98 });
    expect(h.of('trade.opened').map((t) => t.symbol)).toEqual(['X/USDT', 'Y/USDT']);
    return h;
  }

  it('closes exactly the weakest (exit reason reallocated) and opens the entry once it is closed', async () => {
    const x = await twoOpen({ replaceWeakest: true, replaceMargin: 0.1 });
    const weakest = x.of('trade.opened').find((t) => t.symbol === 'X/USDT')!;
    const z = await x.signal({ strategyId: 'z', symbol: 'Z/USDT', confidence: 0.9, price: 100, stopLoss: 99 });
    const zBid = bidOf(PRIOR, 0.9, 100, 99);
    expect(zBid).toBeGreaterThan(bidOf(PRIOR, 0.5, 100, 98) + 0.1);
    const closed = x.of('trade.closed');
    expect(closed.map((t) => [t.tradeId, t.exitReason])).toEqual([[weakest.tradeId, 'reallocated']]);
    const decisions = x.of('signal.decided').filter((d): d is Decided => d.signalId === z.id);
    expect(decisions[0]).toMatchObject({ decision: 'accepted', allocation: { replacedTradeId: weakest.tradeId } });
    expect(decisions[0]!.clientOrderId).toBeUndefined();
    expect(decisions[0]!.reasons.join(' ')).toMatch(/replaces trade .* the weakest open position with bid 0\.1250/);
    // Once X is closed, Z is decided again and opens in the budget X left.
    expect(decisions.at(-1)).toMatchObject({ decision: 'accepted' });
    expect(decisions.at(-1)!.clientOrderId).toBeDefined();
    expect(x.of('trade.opened').map((t) => t.symbol)).toEqual(['X/USDT', 'Y/USDT', 'Z/USDT']);
    const entries = x.requests('entry').map((r) => r.symbol);
    const exitOfX = x.events.findIndex((e) => e.type === 'order.requested' && (e.payload as { purpose: string; symbol: string }).purpose === 'exit');
    const entryOfZ = x.events.findIndex((e) => e.type === 'order.requested' && (e.payload as { symbol: string }).symbol === 'Z/USDT');
    expect(entries).toEqual(['X/USDT', 'Y/USDT', 'Z/USDT']);
    expect(exitOfX).toBeLessThan(entryOfZ);
    expect(x.tm.snapshot().book.trades[x.of('trade.opened')[1]!.tradeId]!.status).toBe('open');
  });

  it('an entry waiting for the trade it replaces survives a restart', async () => {
    const store = new MemoryStateStore();
    const settings = { equity: { initial: EQUITY }, allocation: { enabled: true, budgetPct: 2.5, priorEdgePct: PRIOR, replaceWeakest: true } };
    h = await startHarness(settings, { store });
    await h.signal({ strategyId: 'x', symbol: 'X/USDT', confidence: 0.5, price: 100, stopLoss: 98 });
    await h.signal({ strategyId: 'y', symbol: 'Y/USDT', confidence: 1, price: 100, stopLoss: 98 });
    const weakest = h.of('trade.opened')[0]!;
    // The exit of the replaced trade is not filled before the restart.
    h.venue.autoFill = false;
    const z = await h.signal({ strategyId: 'z', symbol: 'Z/USDT', confidence: 0.9, price: 100, stopLoss: 99 });
    expect(h.decision(z.id)!.allocation!.replacedTradeId).toBe(weakest.tradeId);
    expect(h.requests('exit')).toHaveLength(1);
    const clock = h.clock;
    await h.stop();
    // On start the manager sends the unfinished exit again; this venue fills it.
    h = await startHarness(settings, { store, clock });
    expect(h.of('trade.closed').map((t) => [t.tradeId, t.exitReason])).toEqual([[weakest.tradeId, 'reallocated']]);
    expect(h.of('trade.opened').map((t) => t.symbol)).toEqual(['Z/USDT']);
    expect(h.decision(z.id)).toMatchObject({ decision: 'accepted' });
  });

  it('never closes anything when replaceWeakest is off, or when the entry does not outbid by the margin', async () => {
    const off = await twoOpen({ replaceWeakest: false });
    const z = await off.signal({ strategyId: 'z', symbol: 'Z/USDT', confidence: 0.9, price: 100, stopLoss: 99 });
    expect(off.decision(z.id)).toMatchObject({ decision: 'rejected' });
    expect(off.decision(z.id)!.allocation!.replacedTradeId).toBeUndefined();
    expect(off.of('trade.closed')).toEqual([]);
    expect(off.requests('exit')).toEqual([]);
    await off.stop();
    h = undefined;

    // Bid 0.5 × 0.9 / 2 = 0.225: above X's 0.125 but not by the margin 0.15.
    const narrow = await twoOpen({ replaceWeakest: true, replaceMargin: 0.15 });
    const w = await narrow.signal({ strategyId: 'w', symbol: 'W/USDT', confidence: 0.9, price: 100, stopLoss: 98 });
    expect(bidOf(PRIOR, 0.9, 100, 98)).toBeLessThan(bidOf(PRIOR, 0.5, 100, 98) + 0.15);
    expect(narrow.decision(w.id)).toMatchObject({ decision: 'rejected' });
    expect(narrow.decision(w.id)!.reasons.join(' ')).toMatch(/not outbid by margin 0\.15/);
    expect(narrow.of('trade.closed')).toEqual([]);
  });
});
