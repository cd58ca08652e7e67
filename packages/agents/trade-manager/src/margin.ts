import { z } from 'zod';

/**
 * Margin and leverage rules for derivatives accounts: what an entry may add (leverage caps, the
 * initial margin it needs plus a buffer of free balance), how close the account is to
 * liquidation (utilisation) and which positions to close first to step back from it.
 *
 * Pure functions over plain numbers, all in the account currency: the caller brings equity,
 * free balance and the `margin` of `account.updated`.
 */

const pct = z.number().finite().nonnegative();

export const marginLevelsSchema = z
  .object({
    warningPct: pct.default(50).describe('Utilisation (maintenance margin ÷ collateral, %) at which a warning is raised'),
    criticalPct: pct.default(80).describe('Utilisation at which positions are reduced: 100 % is where the venue liquidates'),
    targetPct: pct.default(60).describe('Utilisation a reduction brings the account back under'),
  })
  .strict()
  .superRefine((levels, ctx) => {
    if (levels.warningPct > levels.criticalPct) {
      ctx.addIssue({ code: 'custom', path: ['warningPct'], message: `warningPct ${levels.warningPct} is above criticalPct ${levels.criticalPct}: the warning must come first` });
    }
    if (levels.targetPct >= levels.criticalPct) {
      ctx.addIssue({ code: 'custom', path: ['targetPct'], message: `targetPct ${levels.targetPct} must be below criticalPct ${levels.criticalPct}, or a reduction ends where it started` });
    }
  });

export const marginConfigSchema = z
  .object({
    maxLeverage: z
      .number()
      .finite()
      .nonnegative()
      .default(0)
      .describe('Account leverage cap: total notional of the open positions and the entry ÷ equity, checked after the entry; 0: no cap'),
    maxLeverageBySymbol: z
      .record(z.string(), z.number().finite().positive())
      .default({})
      .describe("Leverage cap per symbol: the symbol's notional after the entry ÷ equity"),
    initialMarginRate: z
      .number()
      .finite()
      .positive()
      .max(1)
      .optional()
      .describe("Initial margin as a share of an entry's notional, where the market info states none; default 1 ÷ the symbol's leverage cap, else 1"),
    bufferPct: pct.default(10).describe('Free balance kept beyond the initial margin of an entry, as percent of equity'),
    marginMode: z
      .enum(['isolated', 'cross'])
      .default('isolated')
      .describe(
        'How the venue margins positions: isolated (the paper venue: each position stands on its own margin) or cross (the whole equity backs every position). Sets what utilisation is measured against',
      ),
    utilisation: marginLevelsSchema.default({ warningPct: 50, criticalPct: 80, targetPct: 60 }).describe('Levels of margin utilisation'),
  })
  .strict();

export type MarginConfig = z.output<typeof marginConfigSchema>;
export type MarginConfigInput = z.input<typeof marginConfigSchema>;
export type MarginLevels = z.output<typeof marginLevelsSchema>;
export type MarginMode = MarginConfig['marginMode'];

export const DEFAULT_MARGIN_LEVELS: MarginLevels = { warningPct: 50, criticalPct: 80, targetPct: 60 };

/** `account.updated.margin`: margin held by positions and orders, and margin the positions need to stay open. */
export interface MarginState {
  used: number;
  maintenance: number;
}

export interface MarginEntryInput {
  config: MarginConfig;
  symbol: string;
  /** Value of the entry (quantity × price × contract size), in the account currency. */
  notional: number;
  equity: number;
  /** Balance the venue leaves free for new margin (`account.updated` balance `free` of the margin currency), in the account currency. */
  freeBalance: number;
  /** Open positions (and entries pending) with their absolute notional, in the account currency. */
  positions: ReadonlyArray<{ symbol: string; notional: number }>;
  /** What the venue states for the symbol (`market.snapshot`). */
  market?: { initialMarginRate?: number | undefined } | undefined;
  /** Where the margin settings sit in the configuration, for the reasons. Default `margin`. */
  configPath?: string | undefined;
}

/**
 * The initial margin rate that applies to an entry on `symbol`: the venue's when the market info
 * states one, else `initialMarginRate` from the config, else 1 ÷ the symbol's leverage cap, else
 * 1 (the whole notional, as if unlevered: the safe assumption when nothing is known).
 */
export function initialMarginRateFor(config: MarginConfig, symbol: string, market?: { initialMarginRate?: number | undefined }): number {
  return initialRate(config, symbol, market, 'margin').rate;
}

/** The rate and, for reasons, where it came from. */
function initialRate(config: MarginConfig, symbol: string, market: { initialMarginRate?: number | undefined } | undefined, key: string): { rate: number; source: string } {
  const stated = market?.initialMarginRate;
  if (stated !== undefined && Number.isFinite(stated) && stated > 0) return { rate: stated, source: 'the venue' };
  if (config.initialMarginRate !== undefined) return { rate: config.initialMarginRate, source: `${key}.initialMarginRate` };
  const cap = config.maxLeverageBySymbol[symbol];
  if (cap !== undefined && cap > 0) return { rate: Math.min(1, 1 / cap), source: `1 ÷ ${key}.maxLeverageBySymbol.${symbol}` };
  return { rate: 1, source: `no rate known: set ${key}.initialMarginRate` };
}

/**
 * Why an entry must not be placed under the margin rules, or undefined when it may. Checked in
 * order: equity, the account leverage cap, the symbol's leverage cap (both after the entry), and
 * the initial margin of the entry plus the buffer against the free balance.
 */
export function marginBlocker(input: MarginEntryInput): string | undefined {
  const { config, symbol, notional, equity, freeBalance } = input;
  const key = input.configPath ?? 'margin';
  if (!(equity > 0)) return `equity is ${fmt(equity)}: no margin for new entries until it is positive`;
  if (config.maxLeverage > 0) {
    const total = input.positions.reduce((s, p) => s + Math.abs(p.notional), 0) + notional;
    const leverage = total / equity;
    if (leverage > config.maxLeverage + 1e-9) {
      return `account leverage after the entry would be ${fmt(leverage)}× (${fmt(total)} of positions on ${fmt(equity)} equity), above ${key}.maxLeverage ${config.maxLeverage}: lower the size, or raise ${key}.maxLeverage`;
    }
  }
  const cap = config.maxLeverageBySymbol[symbol];
  if (cap !== undefined) {
    const held = input.positions.filter((p) => p.symbol === symbol).reduce((s, p) => s + Math.abs(p.notional), 0);
    const leverage = (held + notional) / equity;
    if (leverage > cap + 1e-9) {
      return `${symbol} leverage after the entry would be ${fmt(leverage)}× (${fmt(held + notional)} on ${fmt(equity)} equity), above ${key}.maxLeverageBySymbol.${symbol} ${cap}: lower the size, or raise the cap`;
    }
  }
  const { rate, source } = initialRate(config, symbol, input.market, key);
  const initial = notional * rate;
  const buffer = (config.bufferPct / 100) * equity;
  if (initial + buffer > freeBalance + 1e-9) {
    return `initial margin ${fmt(initial)} (${fmt(notional)} × rate ${fmt(rate)} from ${source}) plus the buffer ${fmt(buffer)} (${key}.bufferPct ${config.bufferPct} % of equity) needs ${fmt(initial + buffer)} free, ${fmt(freeBalance)} is: lower the size, or lower ${key}.bufferPct`;
  }
  return undefined;
}

export type MarginLevel = 'ok' | 'warning' | 'critical';

/**
 * What utilisation is measured against: the collateral standing between the positions and
 * liquidation. On cross margin that is the account equity (the venue liquidates when equity
 * falls to the maintenance margin). On isolated margin each position stands on its own margin,
 * and the free balance does not save it: the collateral is equity minus the free balance, i.e.
 * the margin held plus the positions' unrealised P&L (and what resting orders hold, which a
 * venue reports in the same `used`).
 */
export function marginCollateral(mode: MarginMode, equity: number, freeBalance: number): number {
  return mode === 'cross' ? equity : equity - freeBalance;
}

/**
 * Margin utilisation in percent: how close the account is to liquidation, 0 far from it and 100
 * where the venue liquidates.
 *
 * - `cross`: maintenance margin ÷ equity (the margin ratio venues and ccxt report): the venue
 *   liquidates when equity falls to the maintenance margin.
 * - `isolated`: the share of each position's margin above its maintenance that losses have used
 *   up, (used − collateral) ÷ (used − maintenance), where collateral is the margin held plus the
 *   unrealised P&L (`marginCollateral`): 0 at entry, 100 at the liquidation price, and linear in
 *   the price between, so levels such as 50 / 80 keep their meaning at any leverage. (Maintenance
 *   ÷ collateral would stay near 0 until the last fraction of a percent before a 10× position's
 *   liquidation, and jump to 100 within one bar.)
 *
 * Nothing left to cover the maintenance margin reports 100 (liquidation is due), so the result
 * stays a finite number; a position in profit reports 0.
 */
export function utilisation(margin: MarginState, collateral: number, levels: MarginLevels = DEFAULT_MARGIN_LEVELS, mode: MarginMode = 'isolated'): { pct: number; level: MarginLevel } {
  const pct = utilisationPct(mode, margin.used, margin.maintenance, collateral);
  return { pct, level: levelOf(pct, levels) };
}

export function levelOf(pct: number, levels: MarginLevels): MarginLevel {
  if (pct >= levels.criticalPct) return 'critical';
  if (pct >= levels.warningPct) return 'warning';
  return 'ok';
}

function utilisationPct(mode: MarginMode, used: number, maintenance: number, collateral: number): number {
  if (!(maintenance > 0)) return 0;
  if (!(collateral > maintenance)) return 100;
  if (mode === 'cross') return (maintenance / collateral) * 100;
  const buffer = used - maintenance;
  if (!(buffer > 0)) return 100;
  return Math.min(100, Math.max(0, ((used - collateral) / buffer) * 100));
}

export interface ReductionCandidate {
  id: string;
  symbol: string;
  /** What the position loses at its stop (or any measure where larger means more at stake), in the account currency. */
  risk: number;
  /** Margin the position holds, in the account currency. */
  margin: number;
  /** Maintenance margin the position needs, in the account currency. */
  maintenance: number;
  /** Unrealised P&L of the position, in the account currency: on isolated margin it leaves the collateral with the position. */
  unrealizedPnl?: number | undefined;
}

export interface ReductionOptions {
  /** Utilisation to get under. Default 60. */
  targetPct?: number | undefined;
  /** Default isolated (see `marginCollateral`). */
  mode?: MarginMode | undefined;
}

/**
 * Positions to close, in order, to bring utilisation (measured against `collateral`, see
 * `marginCollateral`) under `targetPct`: the largest risk first, since it takes off the most at
 * stake per order, until the projected utilisation is below the target. Closing a position
 * removes its maintenance margin; on cross margin the equity stays (its P&L is already in it and
 * its margin returns to the free balance), on isolated margin its margin and unrealised P&L
 * leave the collateral with it. Empty when utilisation is already under the target.
 */
export function reductionPlan(positions: ReadonlyArray<ReductionCandidate>, margin: MarginState, collateral: number, options: ReductionOptions = {}): string[] {
  const target = options.targetPct ?? DEFAULT_MARGIN_LEVELS.targetPct;
  const mode = options.mode ?? 'isolated';
  let { used, maintenance } = margin;
  let base = collateral;
  if (utilisationPct(mode, used, maintenance, base) < target) return [];
  const order = [...positions].sort((a, b) => b.risk - a.risk || b.maintenance - a.maintenance || a.id.localeCompare(b.id));
  const plan: string[] = [];
  for (const p of order) {
    plan.push(p.id);
    maintenance -= p.maintenance;
    used -= p.margin;
    if (mode === 'isolated') base -= p.margin + (p.unrealizedPnl ?? 0);
    // Float residue of the last position closed is nothing left to cover.
    if (maintenance <= 1e-9 * Math.max(1, margin.maintenance)) break;
    if (utilisationPct(mode, used, maintenance, base) < target) break;
  }
  return plan;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Math.round(x * 100) / 100);
}
