import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PortfolioRisk, portfolioConfigSchema, type PortfolioConfigInput, type PortfolioPosition } from './portfolio.js';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = resolve(here, '../../../../examples/backtest/data');
const BAR_MS = 300_000;

interface Bar {
  time: number;
  close: number;
}

/** Real 5-minute closes, stamped with the bar's close time. */
function load(pair: string): Bar[] {
  const lines = readFileSync(resolve(dataDir, `binance-${pair}-5m.csv`), 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const cells = line.split(',');
    return { time: Number(cells[0]) + BAR_MS, close: Number(cells[4]) };
  });
}

const bars: Record<string, Bar[]> = { 'ETH/BTC': load('ETH-BTC'), 'LTC/BTC': load('LTC-BTC'), 'XMR/BTC': load('XMR-BTC') };
const ETH = 'ETH/BTC';
const LTC = 'LTC/BTC';
const XMR = 'XMR/BTC';
const LAST = Math.max(...Object.values(bars).map((b) => b.at(-1)!.time));
// XMR/BTC misses two bars in this stretch: the window holds a gap.
const GAP_CUTOFF = bars[XMR]![5120]!.time;

const parse = (input: PortfolioConfigInput) => portfolioConfigSchema.parse(input);

/** Feeds every symbol's closes up to `until`, bar by bar in time order as a manager sees them. */
function fed(input: PortfolioConfigInput, until = LAST): PortfolioRisk {
  const p = new PortfolioRisk(parse(input));
  feed(p, Number.NEGATIVE_INFINITY, until);
  return p;
}

function feed(p: PortfolioRisk, after: number, until: number): void {
  const all = Object.entries(bars).flatMap(([symbol, list]) => list.filter((b) => b.time > after && b.time <= until).map((b) => ({ symbol, ...b })));
  all.sort((a, b) => a.time - b.time);
  for (const b of all) p.onClose(b.symbol, b.time, b.close);
}

/** The last `window` returns close/previous close − 1 of the rows up to `until`, by close time. */
function windowReturns(symbol: string, window: number, until = LAST): Map<number, number> {
  const list = bars[symbol]!.filter((b) => b.time <= until);
  const out = new Map<number, number>();
  for (let i = Math.max(1, list.length - window); i < list.length; i++) out.set(list[i]!.time, list[i]!.close / list[i - 1]!.close - 1);
  return out;
}

/** Pearson's r by its computational formula (n Σxy − Σx Σy) / √((n Σx² − (Σx)²)(n Σy² − (Σy)²)) over the common times. */
function pearson(a: Map<number, number>, b: Map<number, number>): { r: number; n: number } {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const [t, x] of a) {
    const y = b.get(t);
    if (y === undefined) continue;
    n++;
    sx += x;
    sy += y;
    sxy += x * y;
    sxx += x * x;
    syy += y * y;
  }
  return { r: (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)), n };
}

/** CVaR by sorting: minus the mean of the worst ceil(n × tailPercent / 100) P&Ls, percent of equity. */
function sortedTailCvar(positions: PortfolioPosition[], window: number, tailPercent: number, equity: number, until = LAST): { cvar: number; n: number } {
  const returns = positions.map((p) => windowReturns(p.symbol, window, until));
  const pnls: number[] = [];
  for (const t of returns[0]!.keys()) {
    if (!returns.every((r) => r.has(t))) continue;
    pnls.push(positions.reduce((sum, p, i) => sum + (p.side === 'long' ? 1 : -1) * p.value * returns[i]!.get(t)!, 0));
  }
  pnls.sort((x, y) => x - y);
  const k = Math.ceil((pnls.length * tailPercent) / 100);
  const worst = pnls.slice(0, k);
  return { cvar: (-(worst.reduce((s, x) => s + x, 0) / k) / equity) * 100, n: pnls.length };
}

const near = (actual: number | undefined, expected: number, tolerance = 1e-12): void => {
  expect(actual).toBeDefined();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected)));
};

const correlated = { returnsWindow: 200, correlation: { enabled: true, strength: 0.8, floor: 0.1, minBars: 30 } };

describe('portfolio config', () => {
  it('parses to the documented defaults, every rule off', () => {
    expect(parse({})).toEqual({
      returnsWindow: 200,
      correlation: { enabled: false, strength: 1, floor: 0.25, minBars: 30 },
      groups: { map: {}, maxExposurePct: {}, defaultMaxExposurePct: 0 },
      cvar: { enabled: false, confidence: 0.95, maxPct: 5, minBars: 50 },
    });
  });

  it('refuses a cap on a group no symbol belongs to, and a minimum the window cannot hold', () => {
    const typo = portfolioConfigSchema.safeParse({ groups: { map: { [ETH]: 'alts' }, maxExposurePct: { alt: 50 } } });
    expect(typo.success).toBe(false);
    expect(typo.error!.issues[0]!.message).toMatch(/group "alt"/);
    const tooLong = portfolioConfigSchema.safeParse({ returnsWindow: 40, cvar: { minBars: 50 } });
    expect(tooLong.success).toBe(false);
    expect(tooLong.error!.issues[0]!.path).toEqual(['cvar', 'minBars']);
  });
});

describe('returns window', () => {
  it('keeps the last returnsWindow returns per symbol, equal to close / previous close − 1', () => {
    const p = fed({ returnsWindow: 200 });
    const s = p.snapshot().series;
    for (const symbol of [ETH, LTC, XMR]) {
      expect(s[symbol]!.returns).toHaveLength(200);
      const expected = windowReturns(symbol, 200);
      expect(s[symbol]!.times).toEqual([...expected.keys()]);
      expect(s[symbol]!.returns).toEqual([...expected.values()]);
      expect(s[symbol]!.lastClose).toBe(bars[symbol]!.at(-1)!.close);
    }
  });

  it('ignores a repeated or older close time', () => {
    const p = fed({ returnsWindow: 50 }, bars[ETH]![100]!.time);
    const before = p.snapshot();
    const last = before.series[ETH]!.lastTime;
    expect(p.onClose(ETH, last, 1)).toBe(false);
    expect(p.onClose(ETH, last - BAR_MS, 1)).toBe(false);
    expect(p.snapshot()).toEqual(before);
    expect(p.onClose(ETH, last + BAR_MS, before.series[ETH]!.lastClose * 1.01)).toBe(true);
    expect(p.snapshot().series[ETH]!.returns.at(-1)).toBeCloseTo(0.01, 12);
  });

  it('after a gap the return spans it and only common bars are paired', () => {
    const p = fed({ returnsWindow: 200 }, GAP_CUTOFF);
    const xmr = p.snapshot().series[XMR]!;
    const gapAt = xmr.times.findIndex((t, i) => i > 0 && t - xmr.times[i - 1]! > BAR_MS);
    expect(gapAt).toBeGreaterThan(0);
    const list = bars[XMR]!;
    const row = list.findIndex((b) => b.time === xmr.times[gapAt]);
    expect(xmr.returns[gapAt]).toBe(list[row]!.close / list[row - 1]!.close - 1);
  });
});

describe('correlation', () => {
  it('equals Pearson r from its formula on real closes', () => {
    const p = fed(correlated);
    for (const [a, b] of [
      [ETH, LTC],
      [ETH, XMR],
      [LTC, XMR],
    ] as const) {
      const expected = pearson(windowReturns(a, 200), windowReturns(b, 200));
      expect(expected.n).toBe(200);
      near(p.correlation(a, b), expected.r);
      near(p.correlation(b, a), expected.r);
    }
  });

  it('pairs the common bars across a gap', () => {
    const p = fed(correlated, GAP_CUTOFF);
    const expected = pearson(windowReturns(ETH, 200, GAP_CUTOFF), windowReturns(XMR, 200, GAP_CUTOFF));
    expect(expected.n).toBeLessThan(200);
    near(p.correlation(ETH, XMR), expected.r);
  });

  it('is undefined below minBars common bars', () => {
    // 30 closes give 29 returns, one short of minBars.
    const p = fed(correlated, bars[ETH]![29]!.time);
    expect(p.correlation(ETH, LTC)).toBeUndefined();
    const next = bars[ETH]![30]!.time;
    p.onClose(ETH, next, bars[ETH]![30]!.close);
    p.onClose(LTC, next, bars[LTC]![30]!.close);
    const expected = pearson(windowReturns(ETH, 200, next), windowReturns(LTC, 200, next));
    expect(expected.n).toBe(30);
    near(p.correlation(ETH, LTC), expected.r);
    expect(p.correlation(ETH, 'DOGE/BTC')).toBeUndefined();
  });
});

describe('correlation sizing', () => {
  const p = fed(correlated);
  const r = (a: string, b: string): number => pearson(windowReturns(a, 200), windowReturns(b, 200)).r;

  it('shrinks a second entry on a correlated symbol by max(floor, 1 − strength × ρ)', () => {
    const rho = r(ETH, LTC);
    expect(rho).toBeGreaterThan(0);
    const sized = p.sizeFactor({ symbol: LTC, side: 'long' }, [{ symbol: ETH, side: 'long', value: 3000 }]);
    near(sized.factor, Math.max(0.1, 1 - 0.8 * rho));
    expect(sized.factor).toBeLessThan(1);
    near(sized.rho, rho);
    expect(sized.against).toBe(ETH);
    // Two shorts move together just as two longs do.
    near(p.sizeFactor({ symbol: LTC, side: 'short' }, [{ symbol: ETH, side: 'short', value: 3000 }]).factor, Math.max(0.1, 1 - 0.8 * rho));
  });

  it('counts a position on the same symbol as fully correlated', () => {
    const sized = p.sizeFactor({ symbol: ETH, side: 'long' }, [{ symbol: ETH, side: 'long', value: 3000 }]);
    near(sized.rho, 1);
    near(sized.factor, 1 - 0.8);
  });

  it('takes the most correlated open position, and stops at the floor', () => {
    const open: PortfolioPosition[] = [
      { symbol: ETH, side: 'long', value: 3000 },
      { symbol: XMR, side: 'long', value: 2000 },
    ];
    const best = Math.max(r(LTC, ETH), r(LTC, XMR));
    const sized = p.sizeFactor({ symbol: LTC, side: 'long' }, open);
    near(sized.rho, best);
    expect(sized.against).toBe(r(LTC, ETH) > r(LTC, XMR) ? ETH : XMR);
    near(sized.factor, Math.max(0.1, 1 - 0.8 * best));
    const strong = fed({ ...correlated, correlation: { ...correlated.correlation, strength: 50 } });
    expect(strong.sizeFactor({ symbol: LTC, side: 'long' }, open).factor).toBe(0.1);
  });

  it('does not shrink a hedge: a position on the other side counts with −ρ', () => {
    const rho = r(ETH, LTC);
    const sized = p.sizeFactor({ symbol: LTC, side: 'short' }, [{ symbol: ETH, side: 'long', value: 3000 }]);
    expect(sized.factor).toBe(1);
    near(sized.rho, -rho);
  });

  it('is 1 when off, with nothing open, or without enough bars', () => {
    const open: PortfolioPosition[] = [{ symbol: ETH, side: 'long', value: 3000 }];
    expect(fed({ returnsWindow: 200 }).sizeFactor({ symbol: LTC, side: 'long' }, open)).toEqual({ factor: 1 });
    expect(p.sizeFactor({ symbol: LTC, side: 'long' }, [])).toEqual({ factor: 1 });
    expect(fed(correlated, bars[ETH]![20]!.time).sizeFactor({ symbol: LTC, side: 'long' }, open)).toEqual({ factor: 1 });
  });
});

describe('group caps', () => {
  const p = new PortfolioRisk(
    parse({ groups: { map: { [ETH]: 'alts', [LTC]: 'alts', [XMR]: 'privacy' }, maxExposurePct: { alts: 50 }, defaultMaxExposurePct: 0 } }),
  );
  const open = [{ symbol: ETH, value: 3000 }];

  it('refuses an entry that takes its group over the cap, naming the group, its exposure and the cap', () => {
    const reason = p.groupBlocker({ symbol: LTC, value: 2500 }, open, 10_000);
    expect(reason).toBe('group alts: exposure 5500 (55.00% of equity) with this entry is over its cap of 50% of equity (5000)');
  });

  it('allows an entry under or at the cap, and symbols outside capped groups', () => {
    expect(p.groupBlocker({ symbol: LTC, value: 1500 }, open, 10_000)).toBeUndefined();
    expect(p.groupBlocker({ symbol: LTC, value: 2000 }, open, 10_000)).toBeUndefined();
    expect(p.groupBlocker({ symbol: XMR, value: 9000 }, open, 10_000)).toBeUndefined();
    expect(p.groupBlocker({ symbol: 'BTC/USDT', value: 9000 }, open, 10_000)).toBeUndefined();
  });

  it('applies defaultMaxExposurePct to a group without its own cap', () => {
    const q = new PortfolioRisk(parse({ groups: { map: { [ETH]: 'alts', [XMR]: 'privacy' }, maxExposurePct: { alts: 0 }, defaultMaxExposurePct: 30 } }));
    expect(q.groupBlocker({ symbol: XMR, value: 3500 }, [{ symbol: XMR, value: 0 }], 10_000)).toMatch(/^group privacy: exposure 3500 .* cap of 30% /);
    expect(q.groupBlocker({ symbol: XMR, value: 2500 }, [], 10_000)).toBeUndefined();
    expect(q.groupBlocker({ symbol: ETH, value: 9000 }, open, 10_000)).toBeUndefined();
  });
});

describe('CVaR', () => {
  const cvarConfig = { returnsWindow: 200, cvar: { enabled: true, confidence: 0.95, maxPct: 5, minBars: 50 } };
  const open: PortfolioPosition[] = [
    { symbol: ETH, side: 'long', value: 4000 },
    { symbol: LTC, side: 'short', value: 3000 },
    { symbol: XMR, side: 'long', value: 2000 },
  ];

  it('equals minus the mean of the sorted worst 5 % of the window P&Ls, as percent of equity', () => {
    const expected = sortedTailCvar(open, 200, 5, 10_000);
    expect(expected.n).toBe(200); // 10 tail bars exactly: (1 − 0.95) × 200 must not round up to 11
    expect(expected.cvar).toBeGreaterThan(0);
    near(fed(cvarConfig).cvarPct(open, 10_000), expected.cvar);
  });

  it('over a window with a gap, and at another confidence', () => {
    const gap = sortedTailCvar(open, 200, 5, 10_000, GAP_CUTOFF);
    expect(gap.n).toBeLessThan(200);
    near(fed(cvarConfig, GAP_CUTOFF).cvarPct(open, 10_000), gap.cvar);
    const p99 = fed({ ...cvarConfig, cvar: { ...cvarConfig.cvar, confidence: 0.99 } });
    near(p99.cvarPct(open, 10_000), sortedTailCvar(open, 200, 1, 10_000).cvar);
  });

  it('is 0 with nothing open and undefined below minBars', () => {
    expect(fed(cvarConfig).cvarPct([], 10_000)).toBe(0);
    expect(fed(cvarConfig, bars[ETH]![40]!.time).cvarPct(open, 10_000)).toBeUndefined();
    expect(fed(cvarConfig).cvarPct(open, 0)).toBeUndefined();
  });

  it('refuses an entry that takes it over maxPct, with the number and the limit', () => {
    const candidate: PortfolioPosition = { symbol: XMR, side: 'long', value: 3000 };
    const probe = fed(cvarConfig);
    const after = probe.cvarPct([...open, candidate], 10_000)!;
    const before = probe.cvarPct(open, 10_000)!;
    expect(after).toBeGreaterThan(before);
    const limit = Number((after * 0.9).toFixed(3));
    const tight = fed({ ...cvarConfig, cvar: { ...cvarConfig.cvar, maxPct: limit } });
    expect(tight.cvarBlocker(candidate, open, 10_000)).toBe(
      `CVaR-95 of the positions with this entry would be ${after.toFixed(2)}% of equity, over the ${limit}% limit (${before.toFixed(2)}% without it)`,
    );
    const loose = fed({ ...cvarConfig, cvar: { ...cvarConfig.cvar, maxPct: after * 1.1 } });
    expect(loose.cvarBlocker(candidate, open, 10_000)).toBeUndefined();
    const off = fed({ ...cvarConfig, cvar: { ...cvarConfig.cvar, enabled: false, maxPct: limit } });
    expect(off.cvarBlocker(candidate, open, 10_000)).toBeUndefined();
  });

  it('does not refuse an entry that lowers it', () => {
    const long: PortfolioPosition[] = [{ symbol: XMR, side: 'long', value: 8000 }];
    const hedge: PortfolioPosition = { symbol: LTC, side: 'short', value: 1000 };
    const probe = fed(cvarConfig);
    const before = probe.cvarPct(long, 10_000)!;
    expect(probe.cvarPct([...long, hedge], 10_000)!).toBeLessThan(before);
    const tight = fed({ ...cvarConfig, cvar: { ...cvarConfig.cvar, maxPct: before / 10 } });
    expect(tight.cvarBlocker(hedge, long, 10_000)).toBeUndefined();
    expect(tight.cvarBlocker({ ...hedge, side: 'long' }, long, 10_000)).toMatch(/^CVaR-95 of the positions with this entry would be/);
  });
});

describe('risk.state part', () => {
  it('reports the CVaR of the open positions and the exposure of every group', () => {
    const p = fed({
      returnsWindow: 200,
      cvar: { enabled: true },
      groups: { map: { [ETH]: 'alts', [LTC]: 'alts', [XMR]: 'privacy' } },
    });
    const open: PortfolioPosition[] = [
      { symbol: ETH, side: 'long', value: 4000 },
      { symbol: LTC, side: 'short', value: 3000 },
    ];
    const state = p.state(open, 10_000);
    near(state.cvar95Pct, sortedTailCvar(open, 200, 5, 10_000).cvar);
    expect(state.groups).toEqual({ alts: 7000, privacy: 0 });
    expect(fed({ returnsWindow: 200 }).state(open, 10_000)).toEqual({});
  });
});

describe('snapshot and restore', () => {
  const input = { returnsWindow: 120, correlation: { enabled: true }, cvar: { enabled: true, maxPct: 1 } };
  const open: PortfolioPosition[] = [
    { symbol: ETH, side: 'long', value: 4000 },
    { symbol: XMR, side: 'short', value: 2000 },
  ];
  const candidate: PortfolioPosition = { symbol: LTC, side: 'long', value: 3000 };
  const answers = (p: PortfolioRisk) => ({
    rho: p.correlation(ETH, LTC),
    sized: p.sizeFactor(candidate, open),
    cvar: p.cvarPct([...open, candidate], 10_000),
    blocker: p.cvarBlocker(candidate, open, 10_000),
    state: p.state(open, 10_000),
  });

  it('gives the same answers after a round trip through JSON, and keeps doing so on new bars', () => {
    const middle = bars[ETH]![3000]!.time;
    const p = fed(input, middle);
    const q = PortfolioRisk.restore(parse(input), JSON.parse(JSON.stringify(p.snapshot())));
    expect(answers(q)).toEqual(answers(p));
    expect(answers(p).rho).toBeDefined();
    expect(answers(p).cvar).toBeDefined();
    feed(p, middle, LAST);
    feed(q, middle, LAST);
    expect(answers(q)).toEqual(answers(p));
    expect(q.snapshot()).toEqual(p.snapshot());
  });

  it('hands out a copy, trims to a shorter window and drops what does not read back', () => {
    const p = fed(input);
    const snap = p.snapshot();
    snap.series[ETH]!.returns.length = 0;
    expect(p.snapshot().series[ETH]!.returns).toHaveLength(120);
    const shorter = PortfolioRisk.restore(parse({ returnsWindow: 60 }), p.snapshot()).snapshot();
    expect(shorter.series[ETH]!.times).toEqual(p.snapshot().series[ETH]!.times.slice(60));
    const broken = PortfolioRisk.restore(parse(input), { series: { ...p.snapshot().series, [LTC]: { lastTime: 1, times: [2, 1] } } }).snapshot();
    expect(Object.keys(broken.series).sort()).toEqual([ETH, XMR]);
    expect(PortfolioRisk.restore(parse(input), undefined).snapshot()).toEqual({ series: {} });
  });
});
