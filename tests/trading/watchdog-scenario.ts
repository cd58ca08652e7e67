import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { BaseAgent, defineAgent, type BuiltinEvents, type Envelope } from '@tradebus/core';
import { prepareSystem, runBacktest, type BacktestReport, type PreparedAgent } from '@tradebus/agent-main';
import { createStrategyRunnerAgent, strategyRunnerConfigSchema } from '@tradebus/agent-strategy-runner';
import { agent as watchdogAgent, type ProfitWatchdogAgent, type ProfitWatchdogConfigInput } from '@tradebus/agent-profit-watchdog';
import { atrLevels, builtinRegistry, defineStrategy } from '@tradebus/strategies';

/**
 * The profit watchdog's scenarios: a backtest of real candles (nine Binance pairs, 5 minutes,
 * 2018-01-10 → 2018-01-30) through the built-in agents, with the watchdog among them and a
 * recorder agent that keeps what the bus carried.
 */

export const DATA_DIR = fileURLToPath(new URL('./data/watchdog', import.meta.url));
export const PAIRS = ['ADA', 'DASH', 'ETC', 'ETH', 'LTC', 'TRX', 'XLM', 'XMR', 'ZEC'] as const;
export const SYMBOLS = PAIRS.map((p) => `${p}/BTC`);
/** 2018-01-20 00:00 UTC: the first half of the data is in-sample, the second out-of-sample. */
export const SPLIT = Date.UTC(2018, 0, 20);
export const FIRST_BAR = 1515560100000;

/**
 * A long-only strategy with two kinds of setup, each rated by its author: a close back inside the
 * lower Bollinger band (reversion, rated 0.6 and up with the stretch below the band) and a fast EMA
 * crossing above a slow one (trend, rated 0.2 to 0.5 with the crossing's angle in ATRs). Stops at
 * 2 ATRs; the reversion aims at the middle band, the cross at 3 ATRs.
 */
export const setups = defineStrategy({
  type: 'setups',
  description: 'Bollinger reversion (rated high) and EMA cross (rated low) long entries',
  params: z.strictObject({}),
  indicators: () => ({
    bands: { type: 'bollinger', period: 20, multiplier: 2 },
    fast: { type: 'ema', period: 9 },
    slow: { type: 'ema', period: 21 },
    atr: { type: 'atr', period: 14 },
  }),
  evaluate({ values, previous, candle, previousCandle }) {
    const { bands, atr, fast, slow } = values;
    const close = candle.close;
    if (previousCandle.close < previous.bands.lower && close >= bands.lower && close < bands.middle) {
      const sd = (previous.bands.upper - previous.bands.middle) / 2;
      const stretch = sd > 0 ? (previous.bands.lower - previousCandle.close) / sd : 0;
      return { side: 'long', confidence: Math.min(0.95, 0.6 + stretch * 0.2), reason: 'close back inside the lower band', ...atrLevels('long', close, atr, 2, 0), takeProfit: bands.middle };
    }
    if (previous.fast <= previous.slow && fast > slow) {
      const angle = atr > 0 ? Math.abs(fast - slow - (previous.fast - previous.slow)) / atr : 0;
      return { side: 'long', confidence: Math.min(0.5, 0.2 + angle), reason: 'fast EMA crossed above the slow one', ...atrLevels('long', close, atr, 2, 3) };
    }
    return undefined;
  },
});

export interface Recorded {
  type: string;
  payload: unknown;
}

export interface ScenarioRun {
  events: Recorded[];
  of<K extends keyof BuiltinEvents & string>(type: K): Array<BuiltinEvents[K]>;
  report: BacktestReport;
  /** The watchdog agent, when the run had one (stopped: read its figures with snapshot()). */
  watchdog: ProfitWatchdogAgent | undefined;
}

/** What a prepared system's agent list holds. */
type AnyDefinition = PreparedAgent['definition'];

const RECORDED = ['signal.generated', 'signal.decided', 'trade.opened', 'trade.closed', 'system.alert', 'watchdog.recommendation', 'watchdog.report', 'watchdog.tuning'] as const;

function writeConfig(dir: string, minConfidence: number, feeRate: number): string {
  const file = join(dir, 'watchdog-scenario.yaml');
  writeFileSync(
    file,
    `
system: { name: watchdog-scenario }
log: { level: error }
api: { enabled: false }
providers:
  market:
    kind: replay
    warmupBars: 100
    sources:
${PAIRS.map((p) => `      - { type: candles, file: ${join(DATA_DIR, `binance-${p}-BTC-5m.csv`)}, symbol: ${p}/BTC, timeframe: 5m }`).join('\n')}
  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 1 }, fees: { maker: ${feeRate}, taker: ${feeRate} }, slippage: ${feeRate > 0 ? 2 : 0} }
agents:
  - { id: prices, use: price-watchdog, config: { provider: market, symbols: [${SYMBOLS.join(', ')}], timeframes: [5m], ticks: false, publishForming: false } }
  - id: strategy
    use: strategy-runner
    config:
      provider: market
      symbols: [${SYMBOLS.join(', ')}]
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: setups }]
      indicatorUpdates: { mode: 'off' }
  - id: manager
    use: trade-manager
    config:
      timeframe: 5m
      equity: { initial: 1 }
      # The threshold compares the signal's own confidence: no track-record or regime factor.
      aggregation: { useTrackRecord: false, minConfidence: ${minConfidence} }
      sizing: { riskPerTradePct: 0.5, maxPositionPct: 10, kelly: { enabled: false } }
      # No limit or breaker between a signal and its trade: each decision is the threshold's.
      limits: { maxOpenPositions: 0, maxExposurePerSymbolPct: 0, maxTotalExposurePct: 0, maxPortfolioHeatPct: 0, maxTradesPerDay: 0 }
      breakers: { dailyLossPct: 0, maxDrawdownPct: 0, maxConsecutiveLosses: 0 }
      counterfactual: { maxTracked: 5000 }
  - { id: executor, use: trade-executor, config: { provider: paper, mode: paper } }
`,
  );
  return file;
}

/**
 * A backtest of the scenario between `from` and `to` (market time) with the manager's threshold at
 * `minConfidence`: the `setups` strategy, or a built-in one. Fees and slippage of a Binance taker
 * (0.1 %, 2 bps) unless `feeRate` says otherwise (0: neither).
 */
export async function runScenario(options: {
  from?: number;
  to?: number;
  minConfidence: number;
  watchdog?: ProfitWatchdogConfigInput;
  strategy?: { type: string; id: string; params?: Record<string, unknown> };
  feeRate?: number;
}): Promise<ScenarioRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-watchdog-'));
  const prepared = await prepareSystem(writeConfig(dir, options.minConfidence, options.feeRate ?? 0.001));
  // The strategy runner of the config, given the scenario's own strategy type.
  const registry = builtinRegistry().register(setups);
  const runner = prepared.agents.find((a) => a.entry.id === 'strategy')!;
  runner.definition = createStrategyRunnerAgent({ registry }) as unknown as AnyDefinition;
  const raw = structuredClone(prepared.config.agents.find((a) => a.id === 'strategy')!.config) as Record<string, unknown>;
  runner.config = strategyRunnerConfigSchema(registry).parse({ ...raw, strategies: [options.strategy ?? { type: 'setups', id: 'setups' }] });

  const events: Recorded[] = [];
  class Recorder extends BaseAgent<unknown> {
    protected run(): void {
      for (const type of RECORDED) this.subscribe(type, (e: Envelope) => void events.push({ type: e.type, payload: e.payload }));
    }
  }
  const restart = prepared.agents[0]!.entry.restart;
  const add = (id: string, definition: AnyDefinition, config: unknown): void => {
    prepared.agents.push({ entry: { id, use: id, dependsOn: [], restart, config } as never, definition, config, path: `agents[${prepared.agents.length}]` });
  };
  add('recorder', defineAgent<unknown>({ kind: 'recorder', configSchema: z.unknown(), create: (c) => new Recorder(c) }) as AnyDefinition, {});
  let watchdog: ProfitWatchdogAgent | undefined;
  if (options.watchdog !== undefined) {
    const definition = {
      ...watchdogAgent,
      create: (context: Parameters<typeof watchdogAgent.create>[0]) => (watchdog = watchdogAgent.create(context) as ProfitWatchdogAgent),
    };
    add('watchdog', definition as unknown as AnyDefinition, watchdogAgent.configSchema.parse(options.watchdog));
  }
  const result = await runBacktest(prepared, { logLevel: 'error', ...(options.from !== undefined ? { from: options.from } : {}), ...(options.to !== undefined ? { to: options.to } : {}) });
  return {
    events,
    of: (type) => events.filter((e) => e.type === type).map((e) => e.payload as never),
    report: result.report,
    watchdog,
  };
}
