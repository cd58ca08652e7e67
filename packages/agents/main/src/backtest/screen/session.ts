import { parseProviderConfig } from '@tradebus/providers';
import type { PreparedSystem } from '../../prepare.js';
import { describeMarket } from '../engine.js';
import type { PerformanceMetrics } from '../metrics.js';
import { loadScreenMarket, type ScreenMarket } from './data.js';
import { ScreenUnsupportedError } from './errors.js';
import { runScreenModel, type ModelResult, type PaperSettings } from './model.js';
import type { ManagerSettings } from './rules.js';
import { ColumnCache, computeSignals } from './signals.js';

/** What a screen keeps of one combination (what a worker sends back). */
export interface ScreenSummary {
  metrics: PerformanceMetrics;
  /** Trades still open at the end. */
  openTrades: number;
  signals: number;
  rejectedOrders: number;
  /** What the screen could not model for this config (it went on without it). */
  warnings: string[];
  wallMs: number;
}

export interface ScreenRunOptions {
  riskFreeRate?: number | undefined;
  periodsPerYear?: number | undefined;
}

/**
 * Screens prepared systems one after another, keeping what combinations share: the market data
 * (loaded once per market provider config) and the indicator columns.
 */
export class ScreenSession {
  private readonly markets = new Map<string, Promise<ScreenMarket>>();
  private readonly columns = new Map<string, ColumnCache>();

  async run(prepared: PreparedSystem, options: ScreenRunOptions = {}): Promise<{ result: ModelResult; warnings: string[] }> {
    const { marketName } = describeMarket(prepared);
    const key = JSON.stringify(prepared.config.providers[marketName]);
    let market = this.markets.get(key);
    if (market === undefined) {
      market = loadScreenMarket(prepared);
      this.markets.set(key, market);
      market.catch(() => this.markets.delete(key));
    }
    let cache = this.columns.get(key);
    if (cache === undefined) this.columns.set(key, (cache = new ColumnCache()));
    return screenWith(prepared, await market, cache, options);
  }
}

/** Screens one prepared system on a loaded market. */
export function screenWith(prepared: PreparedSystem, market: ScreenMarket, cache: ColumnCache, options: ScreenRunOptions = {}): { result: ModelResult; warnings: string[] } {
  const warnings: string[] = [];
  const managers = prepared.agents.filter((a) => a.definition.kind === 'trade-manager');
  if (managers.length !== 1) throw new ScreenUnsupportedError('agents', `the screen models exactly one trade-manager agent, the config has ${managers.length}`);
  const managerAgent = managers[0]!;
  const manager = managerAgent.config as ManagerSettings;
  const at = `${managerAgent.path}.config`;
  if (manager.entry.type === 'limit') warnings.push(`${at}.entry.type: limit entries are screened as market orders.`);
  if (manager.aggregation.regime.enabled) warnings.push(`${at}.aggregation.regime: the regime filter is not modelled; signals keep their confidence.`);
  if (manager.aggregationWindowMs > 0) warnings.push(`${at}.aggregationWindowMs: signals are decided per moment, not collected over a window.`);
  if (manager.reverseOnOppositeSignal) {
    warnings.push(`${at}.reverseOnOppositeSignal: reversals are not modelled; an opposite signal only closes the position.`);
  }
  const paper = paperSettings(prepared, warnings);
  const foreign = [...market.timeframes.keys()].filter((symbol) => symbol.split(':')[0]!.split('/')[1] !== paper.quoteCurrency);
  if (foreign.length > 0) {
    warnings.push(`${foreign.join(', ')}: quoted in another currency than the account's ${paper.quoteCurrency}; the screen adds their P&L unconverted.`);
  }
  const accountEquity = manager.equity.source !== 'internal' && prepared.agents.some((a) => a.definition.kind === 'account-sync');
  const signals = computeSignals(prepared.agents, market, cache, warnings);
  const result = runScreenModel(market, signals, { manager, paper, accountEquity, riskFreeRate: options.riskFreeRate, periodsPerYear: options.periodsPerYear });
  return { result, warnings };
}

function paperSettings(prepared: PreparedSystem, warnings: string[]): PaperSettings {
  const papers = Object.entries(prepared.config.providers).filter(([, p]) => p.kind === 'paper');
  if (papers.length !== 1) throw new ScreenUnsupportedError('providers', `a backtest keeps one account: configure exactly one paper provider (found ${papers.length})`);
  const [name, raw] = papers[0]!;
  const config = parseProviderConfig(name, raw) as unknown as PaperSettings & {
    partialFills?: unknown;
    balances: Record<string, number>;
  };
  if (raw.funding !== undefined) warnings.push(`providers.${name}.funding: perpetual funding is not modelled.`);
  if (config.partialFills !== undefined) warnings.push(`providers.${name}.partialFills: partial fills apply to limit orders, which the screen does not place.`);
  const others = Object.keys(config.balances).filter((asset) => asset !== config.quoteCurrency && config.balances[asset]! > 0);
  if (others.length > 0) warnings.push(`providers.${name}.balances: only the ${config.quoteCurrency} balance is modelled (${others.join(', ')} left out).`);
  return {
    quoteCurrency: config.quoteCurrency,
    balances: config.balances,
    fees: config.fees,
    slippage: config.slippage,
    marketFillOnCandle: config.marketFillOnCandle,
    spreadBps: config.spreadBps,
    latencyMs: config.latencyMs,
    participation: config.participation,
    intrabar: config.intrabar,
    leverage: config.leverage,
    leverageBySymbol: config.leverageBySymbol,
    candleTimeframe: config.candleTimeframe,
  };
}

export function summarize(result: ModelResult, warnings: string[], wallMs: number): ScreenSummary {
  return { metrics: result.metrics, openTrades: result.open, signals: result.signals, rejectedOrders: result.rejectedOrders, warnings, wallMs };
}
