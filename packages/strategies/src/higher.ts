import { createIndicator, parseIndicatorSpec, type CandleIndicator, type IndicatorOutput, type IndicatorSpec } from '@tradebus/indicators';
import { StrategyConfigError } from './errors.js';
import { barCloseTime, bucketStart, isTimeframe, timeframeMs } from './timeframe.js';
import type { HigherSpecMap, HigherTimeframeView, IndicatorSpecMap, StrategyCandle } from './types.js';

const DAY = 86_400_000;
/** The longest calendar month: a `1M` bucket holds at most this many base bars' worth of time. */
const MONTH = 31 * DAY;
const DEFAULT_KEEP = 10;

type Values = Record<string, IndicatorOutput>;

/** One declared higher timeframe, checked against the base timeframe, with its indicators parsed. */
export interface HigherPlan {
  readonly name: string;
  readonly timeframe: string;
  readonly keep: number;
  readonly names: readonly string[];
  readonly specs: readonly IndicatorSpec[];
  /** Base bars of history that warm this timeframe up (its indicators and `keep` bars). */
  readonly warmupBars: number;
}

/**
 * Checks the declared higher timeframes against the strategy's own and works out the base bars
 * their warm-up needs. `field` names where a bad timeframe came from in the strategy config.
 */
export function planHigher(declared: HigherSpecMap, base: string | undefined, strategyId: string, field = 'timeframe'): HigherPlan[] {
  const entries = Object.entries(declared);
  if (entries.length === 0) return [];
  const timeframes = entries.map(([, spec]) => spec.timeframe).join(', ');
  if (base === undefined) {
    throw new StrategyConfigError(
      'timeframe',
      `Strategy '${strategyId}' reads ${timeframes} bars resampled from its own: set its 'timeframe' in the strategy config (e.g. timeframe: '1h').`,
    );
  }
  const baseMs = timeframeMs(base);
  return entries.map(([name, spec]) => {
    const { timeframe } = spec;
    const higherMs = timeframeMs(timeframe);
    const bad = (why: string): never => {
      throw new StrategyConfigError(field, `Strategy '${strategyId}' cannot read ${name} bars of '${timeframe}' over its '${base}' bars: ${why}.`);
    };
    if (!isTimeframe(timeframe)) bad("that is not a bar length such as '1h', '1d', '1w' or '1M'");
    if (baseMs === undefined) bad('month bars cannot be resampled; run the strategy on days or shorter');
    const perBucket =
      higherMs === undefined
        ? DAY % baseMs! === 0
          ? Math.ceil((Number(timeframe.slice(0, -1)) * MONTH) / baseMs!)
          : bad('a month is resampled from bars that divide a day (1m, 1h, 4h, 1d, ...)')
        : higherMs % baseMs! === 0
          ? higherMs / baseMs!
          : bad(`it must be '${base}' or a whole multiple of it`);
    // A base bar must never straddle two buckets: weeks start on Mondays, not on the epoch.
    if (bucketStart(0, timeframe) % baseMs! !== 0) bad(`its buckets (weeks from Monday 00:00 UTC) do not start on a '${base}' bar boundary`);
    const keep = spec.keep ?? DEFAULT_KEEP;
    if (!Number.isInteger(keep) || keep < 1) bad(`keep ${keep} must be a whole number of bars, at least 1`);
    const names = Object.keys(spec.indicators);
    const specs = names.map((indicator) =>
      parseIndicatorSpec((spec.indicators as IndicatorSpecMap)[indicator], { path: `higher.${name}.indicators.${indicator}` }),
    );
    let longest = 0;
    for (const s of specs) longest = Math.max(longest, createIndicator(s).warmupPeriod);
    // Two closed bars with values (for `previousClosedValues`) plus the one forming, and one more
    // for the first bucket, which history usually starts in the middle of.
    const higherBars = Math.max(longest + 2, keep + 1) + 1;
    return { name, timeframe, keep, names, specs, warmupBars: higherBars * perBucket };
  });
}

/**
 * One symbol's bars of one higher timeframe, resampled from its base bars as they close. Buckets
 * are epoch-aligned (see `bucketStart`); a bucket no base bar fell in (a gap in the data) is
 * simply absent, as exchanges leave out bars without trades. The indicators see every higher bar
 * through `update` when its first base bar arrives and `replaceLast` for the rest, so their values
 * always include the higher bar as far as it has formed, and never anything later.
 */
export class HigherSeries {
  private readonly indicators: CandleIndicator[];
  /** Bucket arithmetic worked out once: this runs on every bar. */
  private readonly startOf: (time: number) => number;
  private readonly endOf: (start: number) => number;
  private readonly baseMs: number;
  /** The view handed out until the next closed bar: views change only then. */
  private cached: HigherTimeframeView<IndicatorSpecMap> | undefined;
  private candle: StrategyCandle | undefined;
  private complete = false;
  private readonly closed: StrategyCandle[] = [];
  /** What views hand out: a frozen copy, so a view kept by a strategy does not change under it. */
  private closedView: readonly StrategyCandle[] = [];
  private current: Values | undefined;
  private closedValues: Values | undefined;
  private previousClosedValues: Values | undefined;

  constructor(
    readonly plan: HigherPlan,
    private readonly symbol: string,
    baseTimeframe: string,
  ) {
    this.indicators = plan.specs.map((spec) => createIndicator(spec));
    const length = timeframeMs(plan.timeframe);
    if (length === undefined) {
      this.startOf = (time) => bucketStart(time, plan.timeframe);
      this.endOf = (start) => barCloseTime(start, plan.timeframe)!;
    } else {
      const origin = bucketStart(0, plan.timeframe);
      this.startOf = (time) => Math.floor((time - origin) / length) * length + origin;
      this.endOf = (start) => start + length;
    }
    this.baseMs = timeframeMs(baseTimeframe) ?? 0;
  }

  /** Adds a closed base bar; the caller has already refused repeated and older bars. */
  onClosed(bar: StrategyCandle): void {
    const { timeframe, keep } = this.plan;
    const start = this.startOf(bar.timestamp);
    this.cached = undefined;
    const top = this.candle;
    let next: StrategyCandle;
    if (top !== undefined && start === top.timestamp) {
      next = {
        symbol: this.symbol,
        timeframe,
        timestamp: start,
        open: top.open,
        high: Math.max(top.high, bar.high),
        low: Math.min(top.low, bar.low),
        close: bar.close,
        volume: top.volume + bar.volume,
      };
      for (const indicator of this.indicators) indicator.replaceLast(next);
    } else {
      if (top !== undefined) {
        // A later bucket has begun, so the one on top is complete even if its last base bars never came.
        this.closed.push(top);
        if (this.closed.length > keep) this.closed.shift();
        this.closedView = Object.freeze(this.closed.slice());
        this.previousClosedValues = this.closedValues;
        this.closedValues = this.current;
      }
      next = { symbol: this.symbol, timeframe, timestamp: start, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume };
      for (const indicator of this.indicators) indicator.update(next);
    }
    this.candle = next;
    this.current = this.snapshot();
    this.complete = bar.timestamp + this.baseMs >= this.endOf(start);
  }

  /** The view a strategy reads, or undefined until every value in it is defined. */
  view(): HigherTimeframeView<IndicatorSpecMap> | undefined {
    if (this.cached !== undefined) return this.cached;
    const { candle, current, closedValues, previousClosedValues } = this;
    if (candle === undefined || !this.full(current) || !this.full(closedValues) || !this.full(previousClosedValues)) return undefined;
    return (this.cached = {
      timeframe: this.plan.timeframe,
      candle,
      complete: this.complete,
      values: current as never,
      closed: this.closedView,
      closedValues: closedValues as never,
      previousClosedValues: previousClosedValues as never,
    });
  }

  private full(values: Values | undefined): values is Values {
    if (values === undefined) return false;
    for (const name of this.plan.names) if (values[name] === undefined) return false;
    return true;
  }

  /** Copies the outputs: multi-output indicators reuse one result object. */
  private snapshot(): Values {
    const values: Values = {};
    for (let i = 0; i < this.indicators.length; i++) {
      const value = this.indicators[i]!.value;
      if (value !== undefined) values[this.plan.names[i]!] = typeof value === 'number' ? value : { ...value };
    }
    return values;
  }
}
