import { SMA } from '@tradebus/indicators';
import { z } from 'zod';
import { StrategyConfigError, StrategyInputError } from '../errors.js';

export type Regime = 'bull' | 'bear' | 'sideways';
export const regimes: readonly Regime[] = ['bull', 'bear', 'sideways'];

export const regimeDetectorConfigSchema = z
  .strictObject({
    fastPeriod: z.number({ error: 'must be a number of bars' }).int({ error: 'must be a whole number of bars' }).min(1, { error: 'must be at least 1 bar' }).default(20),
    slowPeriod: z.number({ error: 'must be a number of bars' }).int({ error: 'must be a whole number of bars' }).min(2, { error: 'must be at least 2 bars' }).default(50),
    /**
     * Relative distance between the averages, (fast - slow) / slow, beyond which the market counts
     * as trending: above +band bull, below -band bear, in between sideways. 0.002 = 0.2 %.
     */
    band: z.number({ error: 'must be a number' }).min(0, { error: 'must be 0 or more' }).max(1, { error: 'must be at most 1 (100 %)' }).default(0.002),
  })
  .refine((c) => c.fastPeriod < c.slowPeriod, { path: ['fastPeriod'], error: 'must be shorter than slowPeriod' });

export type RegimeDetectorConfig = z.output<typeof regimeDetectorConfigSchema>;

/** Anything the aggregator can ask for a symbol's market regime. */
export interface RegimeSource {
  regime(symbol: string): Regime | undefined;
}

interface Averages {
  fast: SMA;
  slow: SMA;
  lastTime: number;
}

/**
 * Market regime per symbol from two simple moving averages of closes (SMA 20/50 by default):
 * bull while the fast average is more than `band` above the slow one, bear while it is more than
 * `band` below, sideways otherwise; undefined until the slow average has warmed up. Feed it
 * `candle.closed` payloads (of one timeframe per symbol); repeated or older bars are ignored.
 */
export class RegimeDetector implements RegimeSource {
  readonly config: RegimeDetectorConfig;
  private readonly bySymbol = new Map<string, Averages>();

  constructor(config: z.input<typeof regimeDetectorConfigSchema> = {}, options: { path?: string } = {}) {
    const parsed = regimeDetectorConfigSchema.safeParse(config);
    if (!parsed.success) throw StrategyConfigError.fromZod('regime detector config', options.path ?? '', parsed.error);
    this.config = parsed.data;
  }

  /** Adds a closed bar and returns the symbol's regime after it. */
  update(candle: { symbol: string; timestamp: number; close: number }): Regime | undefined {
    if (!(Number.isFinite(candle.close) && candle.close >= 0)) {
      throw new StrategyInputError(`Regime detector received close ${candle.close} for ${candle.symbol}: skip or repair the bar.`);
    }
    let averages = this.bySymbol.get(candle.symbol);
    if (averages === undefined) {
      averages = { fast: new SMA(this.config.fastPeriod), slow: new SMA(this.config.slowPeriod), lastTime: -Infinity };
      this.bySymbol.set(candle.symbol, averages);
    }
    if (candle.timestamp > averages.lastTime) {
      averages.fast.update(candle.close);
      averages.slow.update(candle.close);
      averages.lastTime = candle.timestamp;
    }
    return this.regime(candle.symbol);
  }

  regime(symbol: string): Regime | undefined {
    const averages = this.bySymbol.get(symbol);
    const fast = averages?.fast.value;
    const slow = averages?.slow.value;
    if (fast === undefined || slow === undefined || slow <= 0) return undefined;
    const spread = (fast - slow) / slow;
    if (spread > this.config.band) return 'bull';
    if (spread < -this.config.band) return 'bear';
    return 'sideways';
  }

  /** The relative spread (fast - slow) / slow behind the regime, for dashboards. */
  spread(symbol: string): number | undefined {
    const averages = this.bySymbol.get(symbol);
    const fast = averages?.fast.value;
    const slow = averages?.slow.value;
    return fast === undefined || slow === undefined || slow <= 0 ? undefined : (fast - slow) / slow;
  }
}
