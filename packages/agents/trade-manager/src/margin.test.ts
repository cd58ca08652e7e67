import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import { PaperExchange, type Candle, type Market } from '@tradebus/providers';
import {
  initialMarginRateFor,
  levelOf,
  marginBlocker,
  marginCollateral,
  marginConfigSchema,
  reductionPlan,
  utilisation,
  type MarginEntryInput,
  type ReductionCandidate,
} from './margin.js';

const config = (input: Record<string, unknown> = {}) => marginConfigSchema.parse(input);

describe('marginConfigSchema', () => {
  it('defaults to no leverage cap, a 10 % buffer, isolated margin and utilisation levels 50 / 80 / 60', () => {
    expect(config()).toEqual({
      maxLeverage: 0,
      maxLeverageBySymbol: {},
      bufferPct: 10,
      marginMode: 'isolated',
      utilisation: { warningPct: 50, criticalPct: 80, targetPct: 60 },
    });
    for (const key of ['maxLeverage', 'maxLeverageBySymbol', 'initialMarginRate', 'bufferPct', 'marginMode', 'utilisation'] as const) {
      expect(marginConfigSchema.shape[key].description, key).toBeTruthy();
    }
  });

  it('refuses levels out of order and unknown keys, naming the key', () => {
    const target = marginConfigSchema.safeParse({ utilisation: { criticalPct: 70, targetPct: 75 } });
    expect(target.success).toBe(false);
    expect(target.error!.issues[0]!.path).toEqual(['utilisation', 'targetPct']);
    const warning = marginConfigSchema.safeParse({ utilisation: { warningPct: 90 } });
    expect(warning.error!.issues[0]!.path).toEqual(['utilisation', 'warningPct']);
    expect(marginConfigSchema.safeParse({ maxLeverge: 3 }).success).toBe(false);
    expect(marginConfigSchema.safeParse({ initialMarginRate: 1.5 }).success).toBe(false);
  });
});

describe('initial margin rate', () => {
  it("takes the venue's rate, then the configured one, then 1 ÷ the symbol's cap, then 1", () => {
    const c = config({ maxLeverageBySymbol: { 'BTC/USDT:USDT': 5 } });
    expect(initialMarginRateFor(c, 'BTC/USDT:USDT', { initialMarginRate: 0.04 })).toBe(0.04);
    expect(initialMarginRateFor(c, 'BTC/USDT:USDT')).toBe(1 / 5);
    expect(initialMarginRateFor(c, 'ETH/USDT:USDT')).toBe(1);
    expect(initialMarginRateFor(config({ initialMarginRate: 0.25, maxLeverageBySymbol: { 'BTC/USDT:USDT': 5 } }), 'BTC/USDT:USDT')).toBe(0.25);
  });
});

describe('marginBlocker', () => {
  const base = (over: Partial<MarginEntryInput> = {}): MarginEntryInput => ({
    config: config(),
    symbol: 'BTC/USDT:USDT',
    notional: 20_000,
    equity: 10_000,
    freeBalance: 10_000,
    positions: [],
    market: { initialMarginRate: 0.1 },
    ...over,
  });

  it('lets an entry through when its initial margin and the buffer fit in the free balance and no cap is set', () => {
    // 20 000 × 0.1 + 10 % of 10 000 = 3 000 ≤ 10 000, at 2× leverage with no cap.
    expect(marginBlocker(base())).toBeUndefined();
  });

  it('caps account leverage after the entry: total notional ÷ equity', () => {
    const c = config({ maxLeverage: 3 });
    const positions = [
      { symbol: 'ETH/USDT:USDT', notional: 15_000 },
      { symbol: 'SOL/USDT:USDT', notional: -10_000 },
    ];
    const over = marginBlocker(base({ config: c, positions, notional: 6_000 }));
    const leverage = (15_000 + 10_000 + 6_000) / 10_000;
    expect(leverage).toBeGreaterThan(3);
    expect(over).toContain(`${leverage}×`);
    expect(over).toContain('margin.maxLeverage 3');
    // Exactly at the cap is allowed.
    expect(marginBlocker(base({ config: c, positions, notional: 5_000 }))).toBeUndefined();
  });

  it("caps the symbol's leverage after the entry and leaves other symbols alone", () => {
    const c = config({ maxLeverageBySymbol: { 'BTC/USDT:USDT': 2 } });
    const positions = [
      { symbol: 'BTC/USDT:USDT', notional: 15_000 },
      { symbol: 'ETH/USDT:USDT', notional: 30_000 },
    ];
    const reason = marginBlocker(base({ config: c, positions, notional: 6_000 }));
    expect(reason).toContain(`${(15_000 + 6_000) / 10_000}×`);
    expect(reason).toContain('margin.maxLeverageBySymbol.BTC/USDT:USDT 2');
    expect(marginBlocker(base({ config: c, positions, notional: 5_000 }))).toBeUndefined();
    expect(marginBlocker(base({ config: c, positions, symbol: 'ETH/USDT:USDT', notional: 6_000 }))).toBeUndefined();
  });

  it('needs the initial margin plus the buffer free, and says how much of each', () => {
    const initial = 20_000 * 0.1;
    const buffer = 0.1 * 10_000;
    const reason = marginBlocker(base({ freeBalance: initial + buffer - 1 }));
    expect(reason).toContain(`initial margin ${initial}`);
    expect(reason).toContain(`buffer ${buffer}`);
    expect(reason).toContain(`needs ${initial + buffer} free, ${initial + buffer - 1} is`);
    expect(reason).toContain('margin.bufferPct 10');
    expect(reason).toContain('the venue');
    expect(marginBlocker(base({ freeBalance: initial + buffer }))).toBeUndefined();
  });

  it("without a venue rate uses 1 ÷ the symbol's cap, and names the configuration path it is given", () => {
    const c = config({ maxLeverageBySymbol: { 'BTC/USDT:USDT': 4 }, bufferPct: 0 });
    // 6 000 at 1 ÷ 4 needs 1 500: 1 499 is not enough.
    const reason = marginBlocker(base({ config: c, market: undefined, notional: 6_000, freeBalance: 1_499, configPath: 'risk.margin' }));
    expect(reason).toContain(`initial margin ${6_000 / 4}`);
    expect(reason).toContain('1 ÷ risk.margin.maxLeverageBySymbol.BTC/USDT:USDT');
    expect(reason).toContain('risk.margin.bufferPct');
    expect(marginBlocker(base({ config: c, market: undefined, notional: 6_000, freeBalance: 1_500 }))).toBeUndefined();
  });

  it('refuses every entry while equity is not positive', () => {
    expect(marginBlocker(base({ equity: 0 }))).toMatch(/equity is 0/);
  });
});

describe('utilisation', () => {
  /** The share of the margin above maintenance that losses used up: 0 at entry, 100 at liquidation. */
  const consumed = (used: number, maintenance: number, collateral: number) => Math.min(100, Math.max(0, ((used - collateral) / (used - maintenance)) * 100));

  it('on cross margin is maintenance margin ÷ equity, with levels from the thresholds', () => {
    const levels = config().utilisation;
    for (const [maintenance, equity] of [
      [100, 1_000],
      [500, 1_000],
      [799, 1_000],
      [800, 1_000],
    ] as const) {
      const pct = (maintenance / equity) * 100;
      const u = utilisation({ used: 3_000, maintenance }, equity, levels, 'cross');
      expect(u.pct).toBeCloseTo(pct, 12);
      expect(u.level).toBe(pct >= 80 ? 'critical' : pct >= 50 ? 'warning' : 'ok');
    }
    expect(utilisation({ used: 3_000, maintenance: 1_200 }, 1_000, levels, 'cross').pct).toBe(100);
    expect(levelOf(49.999, levels)).toBe('ok');
    expect(levelOf(50, levels)).toBe('warning');
  });

  it('on isolated margin is the share of the margin above maintenance that losses used up', () => {
    const levels = config().utilisation;
    // 2 000 of margin, 100 needed: no P&L 0 %, half of the 1 900 lost 50 %, all of it 100 %, a profit 0 %.
    for (const [collateral, pct] of [
      [2_000, 0],
      [1_050, 50],
      [480, 80],
      [100, 100],
      [2_500, 0],
      [50, 100],
    ] as const) {
      expect(consumed(2_000, 100, collateral)).toBeCloseTo(pct, 12);
      expect(utilisation({ used: 2_000, maintenance: 100 }, collateral, levels, 'isolated').pct).toBeCloseTo(pct, 12);
    }
    expect(utilisation({ used: 2_000, maintenance: 100 }, 480, levels).level).toBe('critical');
  });

  it('is 0 without maintenance, and 100 % (critical) once nothing is left to cover it', () => {
    expect(utilisation({ used: 0, maintenance: 0 }, 0)).toEqual({ pct: 0, level: 'ok' });
    expect(utilisation({ used: 10, maintenance: 5 }, -3)).toEqual({ pct: 100, level: 'critical' });
    expect(utilisation({ used: 10, maintenance: 5 }, -3, undefined, 'cross')).toEqual({ pct: 100, level: 'critical' });
  });

  it('measures against equity on cross margin and against equity less the free balance on isolated margin', () => {
    expect(marginCollateral('cross', 10_000, 7_000)).toBe(10_000);
    expect(marginCollateral('isolated', 10_000, 7_000)).toBe(3_000);
  });
});

describe('reductionPlan', () => {
  const positions: ReductionCandidate[] = [
    { id: 'a', symbol: 'A', risk: 300, margin: 400, maintenance: 200, unrealizedPnl: -100 },
    { id: 'b', symbol: 'B', risk: 500, margin: 300, maintenance: 100, unrealizedPnl: -50 },
    { id: 'c', symbol: 'C', risk: 100, margin: 500, maintenance: 300, unrealizedPnl: 20 },
  ];
  const maintenance = 200 + 100 + 300;

  it('on cross margin closes the largest risk first until maintenance ÷ equity is under the target', () => {
    const equity = 800;
    expect((maintenance / equity) * 100).toBe(75);
    // After b: (600 − 100) ÷ 800 = 62.5 % ≥ 60; after a too: 300 ÷ 800 = 37.5 %.
    expect(((maintenance - 100) / equity) * 100).toBeGreaterThanOrEqual(60);
    expect(((maintenance - 100 - 200) / equity) * 100).toBeLessThan(60);
    expect(reductionPlan(positions, { used: 1_200, maintenance }, equity, { mode: 'cross' })).toEqual(['b', 'a']);
    expect(reductionPlan(positions, { used: 1_200, maintenance }, equity, { mode: 'cross', targetPct: 65 })).toEqual(['b']);
  });

  it('on isolated margin takes the closed position’s margin, maintenance and P&L out with it', () => {
    const collateral = 1_200 - 100 - 50 + 20;
    const pct = (used: number, m: number, c: number) => Math.max(0, ((used - c) / (used - m)) * 100);
    // 130 of the 600 above maintenance lost: 21.7 %.
    expect(pct(1_200, maintenance, collateral)).toBeCloseTo((130 / 600) * 100, 12);
    // Target 20: after b, (900 − 820) ÷ (900 − 500) = 20 % is not under it; after a, 500 − 520 < 0: 0 %.
    expect(pct(900, 500, collateral - 250)).toBeCloseTo(20, 12);
    expect(pct(500, 300, collateral - 250 - 300)).toBe(0);
    expect(reductionPlan(positions, { used: 1_200, maintenance }, collateral, { mode: 'isolated', targetPct: 20 })).toEqual(['b', 'a']);
    expect(reductionPlan(positions, { used: 1_200, maintenance }, collateral, { mode: 'isolated', targetPct: 22 })).toEqual([]);
  });

  it('plans nothing while utilisation is under the target', () => {
    expect(reductionPlan(positions, { used: 1_200, maintenance }, 1_001, { mode: 'cross' })).toEqual([]);
  });
});

describe('margin on a paper venue', () => {
  const T0 = 1_700_000_000_000;
  const M5 = 300_000;
  const perp = 'BTC/USDT:USDT';
  const bar = (i: number, close: number): Candle => ({ symbol: perp, timeframe: '5m', timestamp: T0 + i * M5, open: close, high: close, low: close, close, volume: 1_000_000, closed: true });

  function venue() {
    const clock = new VirtualClock(T0);
    const ex = new PaperExchange({
      clock,
      quoteCurrency: 'USDT',
      balances: { USDT: 10_000 },
      fees: { maker: 0, taker: 0 },
      marketFillOnCandle: 'close',
      spreadBps: 0,
      participation: 0,
      leverage: 10,
      maintenanceMarginRate: 0.005,
    });
    const feed = (i: number, close: number): void => {
      clock.advanceTo(T0 + (i + 1) * M5);
      ex.onCandle(bar(i, close));
    };
    return { ex, feed };
  }

  it('a 10× long crosses critical utilisation before its liquidation price, so reducing it comes first and loses less', async () => {
    const c = config();
    const reduced = venue();
    const left = venue();
    const listed: Market = {
      symbol: perp,
      base: 'BTC',
      quote: 'USDT',
      settle: 'USDT',
      type: 'swap',
      linear: true,
      contractSize: 1,
      active: true,
      precision: {},
      limits: { amount: {}, price: {}, cost: {} },
    };
    const [market] = reduced.ex.venueMarkets([listed]);
    expect(market!.initialMarginRate).toBe(0.1);

    for (const { ex, feed } of [reduced, left]) {
      feed(0, 100);
      const snapshot = ex.accountSnapshot();
      const free = snapshot.balances.find((b) => b.asset === 'USDT')!.free;
      // 200 at 100: 2 000 of margin at 10×, plus the 1 000 buffer, out of 10 000 free.
      expect(marginBlocker({ config: c, symbol: perp, notional: 20_000, equity: snapshot.equity, freeBalance: free, positions: [], market })).toBeUndefined();
      await ex.createOrder({ clientOrderId: 'long', symbol: perp, side: 'buy', type: 'market', quantity: 200, reduceOnly: false });
    }
    const liquidationPrice = (await left.ex.fetchPositions())[0]!.liquidationPrice!;
    // Margin 2 000 + P&L 200·(P − 100) = maintenance 200·P·0.5 %.
    expect(liquidationPrice).toBeCloseTo((100 * (1 - 1 / 10)) / (1 - 0.005), 10);

    // Utilisation on the way down, from the venue's own snapshot, against the definition.
    const closes = [97, 95, 92];
    const seen: Array<{ close: number; pct: number; level: string; plan: string[] }> = [];
    for (const [i, close] of closes.entries()) {
      reduced.feed(i + 1, close);
      left.feed(i + 1, close);
      const s = reduced.ex.accountSnapshot();
      const free = s.balances.find((b) => b.asset === 'USDT')!.free;
      const collateral = marginCollateral(c.marginMode, s.equity, free);
      const u = utilisation(s.margin!, collateral, c.utilisation, c.marginMode);
      // Isolated: the loss 200·(100 − price) over the margin above maintenance, 2 000 − 200·price·0.5 %.
      expect(u.pct).toBeCloseTo(((200 * (100 - close)) / (2_000 - 200 * close * 0.005)) * 100, 8);
      const [pos] = await reduced.ex.fetchPositions();
      const plan = reductionPlan(
        [{ id: 'long', symbol: perp, risk: 200 * (close - liquidationPrice), margin: pos!.margin!, maintenance: pos!.maintenanceMargin!, unrealizedPnl: pos!.unrealizedPnl }],
        s.margin!,
        collateral,
        { mode: c.marginMode, targetPct: c.utilisation.targetPct },
      );
      seen.push({ close, pct: u.pct, level: u.level, plan });
      // Measured against the whole equity (cross) the same account looks far from danger.
      expect(utilisation(s.margin!, marginCollateral('cross', s.equity, free), c.utilisation, 'cross').level).toBe('ok');
    }
    expect(seen.map((x) => x.level)).toEqual(['ok', 'warning', 'critical']);
    const critical = seen.at(-1)!;
    expect(critical.close).toBeGreaterThan(liquidationPrice);
    expect(critical.plan).toEqual(['long']);
    expect(await left.ex.fetchPositions()).toHaveLength(1);

    // One venue follows the plan at the critical bar; the other holds on into the liquidation.
    await reduced.ex.createOrder({ clientOrderId: 'reduce', symbol: perp, side: 'sell', type: 'market', quantity: 200, reduceOnly: true });
    reduced.feed(5, 90);
    left.feed(5, 90);
    expect(await left.ex.fetchPositions()).toEqual([]);
    const wallet = async (ex: PaperExchange) => (await ex.fetchBalances()).find((b) => b.asset === 'USDT')!.total;
    expect(await wallet(left.ex)).toBeCloseTo(10_000 - 2_000, 8);
    expect(await wallet(reduced.ex)).toBeCloseTo(10_000 - 200 * (100 - critical.close), 8);
    expect(await wallet(reduced.ex)).toBeGreaterThan(await wallet(left.ex));
  });
});
