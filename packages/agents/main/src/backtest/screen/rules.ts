/**
 * The trade manager's sizing, exit and risk rules, as the screen applies them. An agent package
 * cannot import another's code, so these follow packages/agents/trade-manager/src (sizing.ts,
 * exits.ts, risk.ts, accounting.ts) rule by rule; the screen's disagreement with full runs, which
 * every screened sweep reports, is what shows when the two drift apart.
 */

export type PositionSide = 'long' | 'short';

/** The part of the trade manager's validated config the screen reads. */
export interface ManagerSettings {
  symbols?: string[] | undefined;
  timeframe?: string | undefined;
  allowShort: boolean;
  exitOnOppositeSignal: boolean;
  reverseOnOppositeSignal: boolean;
  equity: { initial: number; source: 'auto' | 'account' | 'internal' };
  aggregation: { useTrackRecord: boolean; regime: { enabled: boolean } } & Record<string, unknown>;
  aggregationWindowMs: number;
  trackRecord: Record<string, unknown>;
  entry: { type: 'market' | 'limit' };
  sizing: SizingSettings & {
    byStrategy: Record<string, Partial<SizingSettings>>;
    maxPositionPct: number;
    minNotional: number;
    quantityStep?: number | undefined;
    markets: Record<string, { quantityStep?: number | undefined; minQuantity?: number | undefined; minNotional?: number | undefined }>;
    kelly: { enabled: boolean; minTrades: number; fraction: number; maxRiskPct: number };
    confidence: { enabled: boolean; min: number; floor: number };
    volatility: { enabled: boolean; atrPeriod: number; targetAtrPct: number; minMultiplier: number; maxMultiplier: number };
  };
  limits: {
    maxOpenPositions: number;
    maxExposurePerSymbolPct: number;
    maxTotalExposurePct: number;
    maxPortfolioHeatPct: number;
    maxTradesPerDay: number;
    minTimeBetweenTradesMs: number;
    symbolCooldownAfterLossMs: number;
  };
  breakers: {
    dailyLossPct: number;
    dailyLossCooldownMs?: number | undefined;
    maxDrawdownPct: number;
    drawdownCooldownMs: number;
    maxConsecutiveLosses: number;
    consecutiveLossCooldownMs: number;
  };
  exits: {
    protectiveOrdersAtVenue: boolean;
    reduceOnly: boolean;
    trailing: { enabled: boolean; distancePct?: number | undefined; atrMultiple?: number | undefined; activationPct: number; venueUpdateStepPct: number };
    timeStopMs: number;
    exitRetryMs: number;
  };
  maxSignalAgeMs: number;
}

/** What a strategy may size differently (`sizing.byStrategy`); the rest is shared. */
export interface SizingSettings {
  mode: 'risk' | 'fraction' | 'notional' | 'quantity';
  riskPerTradePct: number;
  fractionPct: number;
  notional?: number | undefined;
  quantity?: number | undefined;
  defaultStopPct: number;
  atrStopMultiple: number;
  rewardRisk: number;
}

export const direction = (side: PositionSide): 1 | -1 => (side === 'long' ? 1 : -1);

export function roundDown(value: number, step: number | undefined): number {
  if (step === undefined || step <= 0) return value;
  const steps = Math.floor(value / step + 1e-9);
  return Number((steps * step).toFixed(stepDecimals(step)));
}

/** Decimals of a quantity step as written, exponent notation included (1e-7 → 7). */
function stepDecimals(step: number): number {
  const text = step.toString();
  const exp = /e-(\d+)$/.exec(text);
  if (exp) return Number(exp[1]) + (text.split('e')[0]!.split('.')[1]?.length ?? 0);
  return text.split('.')[1]?.length ?? 0;
}

// ---------------------------------------------------------------- sizing (trade-manager sizing.ts)

export interface EdgeStats {
  trades: number;
  winRate: number;
  payoff: number;
}

export interface SizingInput {
  symbol: string;
  /** The strategy the trade is booked to: picks its `sizing.byStrategy` settings. */
  strategyId: string;
  side: PositionSide;
  entryPrice: number;
  stopLoss?: number | undefined;
  takeProfit?: number | undefined;
  confidence: number;
  atr?: number | undefined;
  equity: number;
  edge?: EdgeStats | undefined;
  symbolExposure: number;
  totalExposure: number;
  heat: number;
}

export interface Sizing {
  quantity: number;
  /** Absent when the signal has none and no default applies. */
  stopLoss: number | undefined;
  takeProfit?: number | undefined;
  rejected: boolean;
}

function kellyFraction(edge: EdgeStats): number {
  if (edge.payoff === Infinity) return edge.winRate;
  if (!(edge.payoff > 0)) return -1;
  return edge.winRate - (1 - edge.winRate) / edge.payoff;
}

/** The shared sizing settings with the strategy's `byStrategy` entry on top. */
export function sizingFor(config: ManagerSettings, strategyId: string): SizingSettings {
  const s = config.sizing;
  const own = s.byStrategy[strategyId];
  if (own === undefined) return s;
  const merged: SizingSettings = { ...s };
  for (const [key, value] of Object.entries(own) as Array<[keyof SizingSettings, never]>) if (value !== undefined) merged[key] = value;
  return merged;
}

/** ATR based when configured and known, else a percent; none when both are 0. */
export function defaultStop(settings: SizingSettings, side: PositionSide, entry: number, atr: number | undefined): number | undefined {
  const d = direction(side);
  if (settings.atrStopMultiple > 0 && atr !== undefined && atr > 0) return entry - d * settings.atrStopMultiple * atr;
  if (!(settings.defaultStopPct > 0)) return undefined;
  return entry * (1 - (d * settings.defaultStopPct) / 100);
}

export function defaultTarget(settings: SizingSettings, side: PositionSide, entry: number, stop: number | undefined): number | undefined {
  if (settings.rewardRisk <= 0 || stop === undefined) return undefined;
  return entry + direction(side) * settings.rewardRisk * Math.abs(entry - stop);
}

/** A cap in percent of equity; 0 means no cap. */
function percentCap(equity: number, pct: number, used: number, per: number): number {
  return pct > 0 ? ((equity * pct) / 100 - used) / per : Infinity;
}

export function sizeEntry(config: ManagerSettings, input: SizingInput): Sizing {
  const s = config.sizing;
  const own = sizingFor(config, input.strategyId);
  const d = direction(input.side);
  const entry = input.entryPrice;
  const stop = input.stopLoss ?? defaultStop(own, input.side, entry, input.atr);
  const target = input.takeProfit ?? defaultTarget(own, input.side, entry, stop);
  const stopDistance = stop === undefined ? undefined : d * (entry - stop);
  const reject: Sizing = { quantity: 0, stopLoss: stop, takeProfit: target, rejected: true };
  if (stopDistance !== undefined && !(stopDistance > 0)) return reject;
  let rejected = target !== undefined && !(d * (target - entry) > 0);
  let quantity: number;
  switch (own.mode) {
    case 'risk': {
      // Risk to the stop needs a stop.
      if (stopDistance === undefined) return reject;
      let riskPct = own.riskPerTradePct;
      if (s.kelly.enabled && input.edge !== undefined && input.edge.trades >= s.kelly.minTrades) {
        const f = kellyFraction(input.edge);
        if (f <= 0) rejected = true;
        else riskPct = Math.min(s.kelly.maxRiskPct, f * s.kelly.fraction * 100);
      }
      quantity = (input.equity * riskPct) / 100 / stopDistance;
      break;
    }
    case 'fraction':
      quantity = (input.equity * own.fractionPct) / 100 / entry;
      break;
    case 'notional':
      quantity = (own.notional ?? 0) / entry;
      break;
    case 'quantity':
      quantity = own.quantity ?? 0;
      break;
  }
  // Fixed values and quantities are not scaled.
  const scaled = own.mode === 'risk' || own.mode === 'fraction';
  if (s.confidence.enabled) {
    if (input.confidence < s.confidence.min) rejected = true;
    if (scaled) quantity *= Math.max(s.confidence.floor, Math.min(1, input.confidence));
  }
  if (scaled && s.volatility.enabled && input.atr !== undefined && input.atr > 0) {
    const atrPct = (input.atr / entry) * 100;
    quantity *= Math.min(s.volatility.maxMultiplier, Math.max(s.volatility.minMultiplier, s.volatility.targetAtrPct / atrPct));
  }
  const cap = (maxQuantity: number): void => {
    if (quantity > maxQuantity) quantity = Math.max(0, maxQuantity);
  };
  const l = config.limits;
  cap(percentCap(input.equity, s.maxPositionPct, 0, entry));
  cap(percentCap(input.equity, l.maxExposurePerSymbolPct, input.symbolExposure, entry));
  cap(percentCap(input.equity, l.maxTotalExposurePct, input.totalExposure, entry));
  // Without a stop the whole position is at risk.
  cap(percentCap(input.equity, l.maxPortfolioHeatPct, input.heat, stopDistance ?? entry));
  const market = s.markets[input.symbol];
  quantity = roundDown(quantity, market?.quantityStep ?? s.quantityStep);
  const minNotional = market?.minNotional ?? s.minNotional;
  const minQuantity = market?.minQuantity ?? 0;
  if (!(quantity > 0) || quantity < minQuantity || quantity * entry < minNotional) rejected = true;
  return { quantity: rejected ? 0 : quantity, stopLoss: stop, takeProfit: target, rejected };
}

// ---------------------------------------------------------------- exits (trade-manager exits.ts)

export interface PriceRange {
  high: number;
  low: number;
  close: number;
}

/** A bar that touched both the stop and the target counts as the stop: the worse of the two. */
export function levelHit(side: PositionSide, range: PriceRange, stop: number | undefined, target: number | undefined): 'stop' | 'target' | undefined {
  if (stop !== undefined && (side === 'long' ? range.low <= stop : range.high >= stop)) return 'stop';
  if (target !== undefined && (side === 'long' ? range.high >= target : range.low <= target)) return 'target';
  return undefined;
}

export interface TrailState {
  side: PositionSide;
  entryPrice: number;
  stopLoss?: number | undefined;
  bestPrice?: number | undefined;
  trailingActive: boolean;
}

/** Moves the stop behind the best price once far enough in profit; it only ever tightens. */
export function trailStop(config: ManagerSettings, trade: TrailState, range: PriceRange, atr: number | undefined): void {
  const t = config.exits.trailing;
  const d = direction(trade.side);
  const best = trade.side === 'long' ? range.high : range.low;
  if (trade.bestPrice === undefined || d * (best - trade.bestPrice) > 0) trade.bestPrice = best;
  if (!t.enabled) return;
  const profitPct = ((d * (trade.bestPrice - trade.entryPrice)) / trade.entryPrice) * 100;
  if (profitPct < t.activationPct) return;
  let distance: number | undefined;
  if (t.distancePct !== undefined) distance = (trade.bestPrice * t.distancePct) / 100;
  else if (t.atrMultiple !== undefined && atr !== undefined) distance = t.atrMultiple * atr;
  if (distance === undefined || !(distance > 0)) return;
  const candidate = trade.bestPrice - d * distance;
  if (trade.stopLoss !== undefined && d * (candidate - trade.stopLoss) <= 0) return;
  trade.stopLoss = candidate;
  trade.trailingActive = true;
}

// ---------------------------------------------------------------- risk (trade-manager risk.ts)

const DAY_MS = 86_400_000;
const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

interface Breaker {
  tripped: boolean;
  until?: number | undefined;
}

/** Circuit breakers, daily counters and cooldowns of the trade manager's risk rules. */
export class Risk {
  peakEquity: number;
  day: number;
  dayStartEquity: number;
  entriesToday = 0;
  consecutiveLosses = 0;
  lastEntryAt: number | undefined;
  realizedPnl = 0;
  readonly breakers: { dailyLoss: Breaker; drawdown: Breaker; consecutiveLosses: Breaker } = {
    dailyLoss: { tripped: false },
    drawdown: { tripped: false },
    consecutiveLosses: { tripped: false },
  };
  readonly symbolCooldowns = new Map<string, number>();

  constructor(
    private readonly config: ManagerSettings,
    now: number,
    equity: number,
  ) {
    this.peakEquity = equity;
    this.day = dayOf(now);
    this.dayStartEquity = equity;
  }

  evaluate(now: number, equity: number): void {
    const day = dayOf(now);
    if (day !== this.day) {
      this.day = day;
      this.dayStartEquity = equity;
      this.entriesToday = 0;
      if (this.breakers.dailyLoss.tripped) this.breakers.dailyLoss = { tripped: false };
    }
    const b = this.breakers;
    const cfg = this.config.breakers;
    if (b.dailyLoss.tripped && b.dailyLoss.until !== undefined && now >= b.dailyLoss.until && cfg.dailyLossCooldownMs !== undefined) {
      b.dailyLoss = { tripped: false };
      this.dayStartEquity = equity;
    }
    if (b.drawdown.tripped && b.drawdown.until !== undefined && now >= b.drawdown.until) {
      b.drawdown = { tripped: false };
      this.peakEquity = equity;
    }
    if (b.consecutiveLosses.tripped && b.consecutiveLosses.until !== undefined && now >= b.consecutiveLosses.until) {
      b.consecutiveLosses = { tripped: false };
      this.consecutiveLosses = 0;
    }
    if (equity > this.peakEquity) this.peakEquity = equity;
    if (cfg.dailyLossPct > 0 && !b.dailyLoss.tripped && this.dayStartEquity > 0) {
      const lossPct = ((this.dayStartEquity - equity) / this.dayStartEquity) * 100;
      if (lossPct >= cfg.dailyLossPct) b.dailyLoss = { tripped: true, until: cfg.dailyLossCooldownMs !== undefined ? now + cfg.dailyLossCooldownMs : (dayOf(now) + 1) * DAY_MS };
    }
    if (cfg.maxDrawdownPct > 0 && !b.drawdown.tripped && this.peakEquity > 0) {
      const dd = Math.max(0, ((this.peakEquity - equity) / this.peakEquity) * 100);
      if (dd >= cfg.maxDrawdownPct) b.drawdown = { tripped: true, until: now + cfg.drawdownCooldownMs };
    }
    for (const [symbol, until] of this.symbolCooldowns) if (now >= until) this.symbolCooldowns.delete(symbol);
  }

  onTradeClosed(now: number, symbol: string, pnl: number): void {
    this.realizedPnl += pnl;
    if (pnl < 0) {
      this.consecutiveLosses++;
      if (this.config.limits.symbolCooldownAfterLossMs > 0) this.symbolCooldowns.set(symbol, now + this.config.limits.symbolCooldownAfterLossMs);
      const max = this.config.breakers.maxConsecutiveLosses;
      if (max > 0 && this.consecutiveLosses >= max && !this.breakers.consecutiveLosses.tripped) {
        this.breakers.consecutiveLosses = { tripped: true, until: now + this.config.breakers.consecutiveLossCooldownMs };
      }
    } else if (pnl > 0) {
      this.consecutiveLosses = 0;
    }
  }

  onEntry(now: number): void {
    this.entriesToday++;
    this.lastEntryAt = now;
  }

  blocksEntry(now: number, symbol: string, openPositions: number): boolean {
    const b = this.breakers;
    if (b.dailyLoss.tripped || b.drawdown.tripped || b.consecutiveLosses.tripped) return true;
    const cooldown = this.symbolCooldowns.get(symbol);
    if (cooldown !== undefined && now < cooldown) return true;
    const limits = this.config.limits;
    if (limits.maxTradesPerDay > 0 && this.entriesToday >= limits.maxTradesPerDay) return true;
    if (limits.minTimeBetweenTradesMs > 0 && this.lastEntryAt !== undefined && now - this.lastEntryAt < limits.minTimeBetweenTradesMs) return true;
    return limits.maxOpenPositions > 0 && openPositions >= limits.maxOpenPositions;
  }
}
