import { z } from 'zod';
import type { PositionSide } from './state.js';

const pct = (what: string) => z.number().finite().nonnegative().describe(what);

export const portfolioConfigSchema = z
  .object({
    returnsWindow: z
      .number()
      .int()
      .min(3)
      .default(200)
      .describe("Closed bars of returns kept per symbol, on the manager's timeframe: the history correlations and CVaR are measured over"),
    correlation: z
      .object({
        enabled: z.boolean().default(false).describe('Shrink an entry that adds to open positions which move with it'),
        strength: z
          .number()
          .finite()
          .nonnegative()
          .default(1)
          .describe(
            'Size × (1 − strength × ρ), ρ the highest correlation of the symbol with an open position on the same side; an open position on the other side counts with −ρ (it hedges). 0: no change',
          ),
        floor: z.number().min(0).max(1).default(0.25).describe('Smallest size multiplier a correlation can give'),
        minBars: z.number().int().min(3).default(30).describe('Bars two symbols must both have a return for before their correlation counts'),
      })
      .strict()
      .prefault({})
      .describe('Correlation sizing: an entry that moves with what is open is made smaller'),
    groups: z
      .object({
        map: z
          .record(z.string(), z.string().min(1))
          .default({})
          .describe('Symbol → group name (e.g. "BTC/USDT": "majors"); a symbol not listed belongs to no group and no group cap applies to it'),
        maxExposurePct: z
          .record(z.string(), pct('Value of the positions in the group, this entry included, as percent of equity (0: no cap)'))
          .default({})
          .describe('Cap per group name: value of its positions, the new entry included, as percent of equity (0: no cap)'),
        defaultMaxExposurePct: pct('Cap for a group without its own entry in maxExposurePct (0: no cap)').default(0),
      })
      .strict()
      .prefault({})
      .describe('Exposure caps per group of symbols (e.g. majors, alts)'),
    cvar: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe('Refuse an entry that takes the expected loss of the positions in their worst bars (CVaR, historical) over maxPct'),
        confidence: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.95)
          .describe('The tail is the worst (1 − confidence) share of the bars in the window'),
        maxPct: pct(
          'Largest CVaR of the positions with the new entry, a loss over one bar of the timeframe, as percent of equity (0: no limit; still reported in risk.state)',
        ).default(5),
        minBars: z
          .number()
          .int()
          .positive()
          .default(50)
          .describe("Bars in which every position's symbol has a return, needed before CVaR is measured"),
      })
      .strict()
      .prefault({})
      .describe('Tail-loss limit: historical CVaR of the open positions with the new entry'),
  })
  .strict()
  .superRefine((config, ctx) => {
    // A minimum the window can never hold would switch the rule off without a word.
    for (const rule of ['correlation', 'cvar'] as const) {
      if (config[rule].minBars > config.returnsWindow) {
        ctx.addIssue({
          code: 'custom',
          path: [rule, 'minBars'],
          message: `${rule}.minBars ${config[rule].minBars} is above returnsWindow ${config.returnsWindow}, so it could never be reached: lower it or raise returnsWindow`,
        });
      }
    }
    // A cap on a group no symbol belongs to is almost always a misspelt name.
    const groups = new Set(Object.values(config.groups.map));
    for (const group of Object.keys(config.groups.maxExposurePct)) {
      if (!groups.has(group)) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', 'maxExposurePct', group],
          message: `no symbol in groups.map belongs to group "${group}": map its symbols to it, or correct the name`,
        });
      }
    }
  });

export type PortfolioConfig = z.output<typeof portfolioConfigSchema>;
export type PortfolioConfigInput = z.input<typeof portfolioConfigSchema>;

/** The returns of one symbol, oldest first, with the close the next return is measured from. */
export interface ReturnSeries {
  lastTime: number;
  lastClose: number;
  /** Close times of the bars the returns belong to, strictly increasing. */
  times: number[];
  /** close / previous close − 1, one per entry of `times`. */
  returns: number[];
}

/** Everything `PortfolioRisk` remembers: plain data, persisted as is. */
export interface PortfolioSnapshot {
  series: Record<string, ReturnSeries>;
}

export interface PortfolioPosition {
  symbol: string;
  side: PositionSide;
  /** Position value in the account currency (positive for longs and shorts). */
  value: number;
}

export interface CorrelationSizing {
  /** What the entry's size is multiplied by, floor..1. */
  factor: number;
  /** The highest correlation with an open position, sign flipped for one on the other side; absent without data. */
  rho?: number;
  /** The open position's symbol `rho` was measured against. */
  against?: string;
}

export interface PortfolioState {
  /** CVaR of the open positions at `cvar.confidence`, percent of equity; absent when off or not enough bars. */
  cvar95Pct?: number;
  /** Value held per group of `groups.map`, every mapped group listed. */
  groups?: Record<string, number>;
}

const finite = z.number().finite();
const seriesSchema = z.object({
  lastTime: finite,
  lastClose: finite.positive(),
  times: z.array(finite),
  returns: z.array(finite),
});

// Values that land exactly on a cap (sized to it) differ from it in the last bits.
const CAP_TOLERANCE = 1e-9;

const sign = (side: PositionSide): number => (side === 'short' ? -1 : 1);
const round = (x: number): number => Number(x.toPrecision(6));

/**
 * Portfolio-level entry rules, measured on the closes the manager sees: an entry is shrunk by its
 * correlation with what is open, refused over a group's exposure cap, and refused when the
 * historical CVaR of the positions with it would exceed a limit. Pure logic on plain data.
 */
export class PortfolioRisk {
  private readonly series: Record<string, ReturnSeries>;

  /** Empty, or on `state` as is (use `restore` for data read back from storage). */
  constructor(
    private readonly config: PortfolioConfig,
    state: PortfolioSnapshot = { series: {} },
  ) {
    this.series = state.series;
  }

  /**
   * From a snapshot. The returns are a cache the next closes rebuild, so a series that does not
   * read back (or is not in time order) is dropped rather than stopping the manager, and a window
   * made shorter since is trimmed.
   */
  static restore(config: PortfolioConfig, data: unknown): PortfolioRisk {
    const series: Record<string, ReturnSeries> = {};
    const saved = z.object({ series: z.record(z.string(), z.unknown()) }).safeParse(data);
    if (!saved.success) return new PortfolioRisk(config);
    for (const [symbol, raw] of Object.entries(saved.data.series)) {
      const parsed = seriesSchema.safeParse(raw);
      if (!parsed.success) continue;
      const s = parsed.data;
      if (s.times.length !== s.returns.length || !s.times.every((t, i) => i === 0 || t > s.times[i - 1]!)) continue;
      if (s.times.length > 0 && s.times.at(-1)! > s.lastTime) continue;
      const keep = Math.max(0, s.times.length - config.returnsWindow);
      series[symbol] = { lastTime: s.lastTime, lastClose: s.lastClose, times: s.times.slice(keep), returns: s.returns.slice(keep) };
    }
    return new PortfolioRisk(config, { series });
  }

  snapshot(): PortfolioSnapshot {
    const series: Record<string, ReturnSeries> = {};
    for (const [symbol, s] of Object.entries(this.series)) series[symbol] = { ...s, times: [...s.times], returns: [...s.returns] };
    return { series };
  }

  /**
   * Books a closed bar. Returns are keyed by the bar's close time so two symbols pair the same
   * bars; a bar at or before the last one (a repeat, a late duplicate) is ignored. After a gap the
   * return spans it, and only the times both symbols have are paired. Returns true when recorded.
   */
  onClose(symbol: string, closeTime: number, close: number): boolean {
    if (!Number.isFinite(closeTime) || !(close > 0) || !Number.isFinite(close)) return false;
    const s = this.series[symbol];
    if (s === undefined) {
      this.series[symbol] = { lastTime: closeTime, lastClose: close, times: [], returns: [] };
      return true;
    }
    if (closeTime <= s.lastTime) return false;
    s.times.push(closeTime);
    s.returns.push(close / s.lastClose - 1);
    s.lastTime = closeTime;
    s.lastClose = close;
    if (s.times.length > this.config.returnsWindow) {
      s.times.shift();
      s.returns.shift();
    }
    return true;
  }

  /** Pearson correlation of the returns of `a` and `b` over their common bars; undefined below correlation.minBars of them. */
  correlation(a: string, b: string): number | undefined {
    const [x, y] = this.aligned([a, b]);
    const n = x?.length ?? 0;
    if (x === undefined || y === undefined || n < this.config.correlation.minBars) return undefined;
    let mx = 0;
    let my = 0;
    for (let i = 0; i < n; i++) {
      mx += x[i]!;
      my += y[i]!;
    }
    mx /= n;
    my /= n;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < n; i++) {
      const dx = x[i]! - mx;
      const dy = y[i]! - my;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    // A symbol that did not move has no correlation with anything.
    if (!(sxx > 0) || !(syy > 0)) return undefined;
    return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  }

  /**
   * Size multiplier for an entry: max(floor, 1 − strength × max(0, ρ_max)), ρ_max the highest
   * correlation with an open position, negated for one on the other side (a long and a short of
   * correlated symbols offset each other). An open position on the same symbol counts too (ρ = 1
   * once it has minBars returns). 1 when off or without enough data.
   */
  sizeFactor(candidate: { symbol: string; side: PositionSide }, open: ReadonlyArray<PortfolioPosition>): CorrelationSizing {
    const c = this.config.correlation;
    if (!c.enabled) return { factor: 1 };
    let rho: number | undefined;
    let against: string | undefined;
    for (const position of open) {
      if (!(position.value > 0)) continue;
      const r = this.correlation(candidate.symbol, position.symbol);
      if (r === undefined) continue;
      const signed = position.side === candidate.side ? r : -r;
      if (rho === undefined || signed > rho) {
        rho = signed;
        against = position.symbol;
      }
    }
    if (rho === undefined || against === undefined) return { factor: 1 };
    return { factor: Math.max(c.floor, 1 - c.strength * Math.max(0, rho)), rho, against };
  }

  /** The group of `symbol` in groups.map, if any. */
  groupOf(symbol: string): string | undefined {
    return Object.hasOwn(this.config.groups.map, symbol) ? this.config.groups.map[symbol] : undefined;
  }

  /** The cap of `group` in percent of equity, 0 when it has none. */
  groupCapPct(group: string): number {
    const g = this.config.groups;
    return Object.hasOwn(g.maxExposurePct, group) ? g.maxExposurePct[group]! : g.defaultMaxExposurePct;
  }

  /** Value held in `group` by `open`. */
  groupExposure(group: string, open: ReadonlyArray<{ symbol: string; value: number }>): number {
    let sum = 0;
    for (const p of open) if (this.groupOf(p.symbol) === group) sum += Math.abs(p.value);
    return sum;
  }

  /** Why the entry would take its group over the group's cap, or undefined when it may be opened. */
  groupBlocker(candidate: { symbol: string; value: number }, open: ReadonlyArray<{ symbol: string; value: number }>, equity: number): string | undefined {
    const group = this.groupOf(candidate.symbol);
    if (group === undefined) return undefined;
    const capPct = this.groupCapPct(group);
    if (!(capPct > 0)) return undefined;
    const cap = (Math.max(0, equity) * capPct) / 100;
    const after = this.groupExposure(group, open) + Math.abs(candidate.value);
    if (after <= cap * (1 + CAP_TOLERANCE)) return undefined;
    const share = equity > 0 ? ` (${((after / equity) * 100).toFixed(2)}% of equity)` : '';
    return `group ${group}: exposure ${round(after)}${share} with this entry is over its cap of ${capPct}% of equity (${round(cap)})`;
  }

  /**
   * Historical-simulation CVaR at cvar.confidence, percent of equity: over the bars of the window
   * in which every position's symbol has a return, P&L = Σ ±value × return (+ long, − short), and
   * CVaR is minus the mean of the worst ceil((1 − confidence) × n) of them. 0 without positions;
   * undefined below cvar.minBars such bars or without positive equity.
   */
  cvarPct(positions: ReadonlyArray<PortfolioPosition>, equity: number): number | undefined {
    if (!(equity > 0)) return undefined;
    // Positions on one symbol share its returns: net them once.
    const net = new Map<string, number>();
    for (const p of positions) if (p.value > 0) net.set(p.symbol, (net.get(p.symbol) ?? 0) + sign(p.side) * p.value);
    if (net.size === 0) return 0;
    const symbols = [...net.keys()];
    const columns = this.aligned(symbols);
    const n = columns[0]?.length ?? 0;
    if (columns.length !== symbols.length || n < this.config.cvar.minBars) return undefined;
    const pnl = new Array<number>(n).fill(0);
    symbols.forEach((symbol, j) => {
      const v = net.get(symbol)!;
      const r = columns[j]!;
      for (let i = 0; i < n; i++) pnl[i]! += v * r[i]!;
    });
    pnl.sort((p, q) => p - q);
    // (1 − 0.95) × 200 is 10.000000000000009 in floating point: without the margin the tail gets a bar too many.
    const k = Math.max(1, Math.ceil((1 - this.config.cvar.confidence) * n - 1e-9));
    let tail = 0;
    for (let i = 0; i < k; i++) tail += pnl[i]!;
    return (-(tail / k) / equity) * 100;
  }

  /**
   * Why the entry would take the CVaR of the positions over cvar.maxPct, or undefined when it may
   * be opened. An entry that lowers the CVaR (a hedge) is never refused: refusing it would keep
   * the larger tail loss.
   */
  cvarBlocker(candidate: PortfolioPosition, open: ReadonlyArray<PortfolioPosition>, equity: number): string | undefined {
    const c = this.config.cvar;
    if (!c.enabled || !(c.maxPct > 0)) return undefined;
    const after = this.cvarPct([...open, candidate], equity);
    if (after === undefined || after <= c.maxPct) return undefined;
    const before = this.cvarPct(open, equity);
    if (before !== undefined && after < before) return undefined;
    const label = `CVaR-${+(c.confidence * 100).toFixed(4)}`;
    return `${label} of the positions with this entry would be ${after.toFixed(2)}% of equity, over the ${c.maxPct}% limit${
      before !== undefined ? ` (${before.toFixed(2)}% without it)` : ''
    }`;
  }

  /** The portfolio part of risk.state. */
  state(open: ReadonlyArray<PortfolioPosition>, equity: number): PortfolioState {
    const out: PortfolioState = {};
    if (this.config.cvar.enabled) {
      const cvar = this.cvarPct(open, equity);
      if (cvar !== undefined) out.cvar95Pct = cvar;
    }
    const names = new Set(Object.values(this.config.groups.map));
    if (names.size > 0) {
      const groups: Record<string, number> = {};
      for (const name of [...names].sort()) groups[name] = 0;
      for (const p of open) {
        const group = this.groupOf(p.symbol);
        if (group !== undefined) groups[group]! += Math.abs(p.value);
      }
      out.groups = groups;
    }
    return out;
  }

  /**
   * The returns of `symbols` at the close times all of them have, one column per symbol in the
   * same order; empty when a symbol has no returns yet. O(symbols × window): the series are sorted.
   */
  private aligned(symbols: readonly string[]): number[][] {
    const series = symbols.map((s) => this.series[s]);
    if (series.length === 0 || series.some((s) => s === undefined || s.times.length === 0)) return [];
    const all = series as ReturnSeries[];
    const columns = all.map((): number[] => []);
    const at = all.map(() => 0);
    const lead = all[0]!;
    outer: for (let i = 0; i < lead.times.length; i++) {
      const t = lead.times[i]!;
      const row: number[] = [lead.returns[i]!];
      for (let j = 1; j < all.length; j++) {
        const s = all[j]!;
        while (at[j]! < s.times.length && s.times[at[j]!]! < t) at[j]!++;
        if (at[j]! >= s.times.length) break outer;
        if (s.times[at[j]!] !== t) continue outer;
        row.push(s.returns[at[j]!]!);
      }
      for (let j = 0; j < row.length; j++) columns[j]!.push(row[j]!);
    }
    return columns;
  }
}
