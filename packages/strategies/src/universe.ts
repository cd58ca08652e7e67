import type { StrategyCandle, UniverseView } from './types.js';

const EMPTY: readonly StrategyCandle[] = Object.freeze([]);

/**
 * The recent closed bars of every symbol one strategy instance runs on: its cross-symbol view
 * (breadth, relative strength). Reads are cut at a time the caller gives, so what a bar sees
 * does not depend on which symbol's bar of the same moment happened to arrive first.
 */
export class UniverseTable implements UniverseView {
  private readonly series = new Map<string, StrategyCandle[]>();
  private sorted: readonly string[] | undefined;
  /** Bumped when a bar arrives older than the newest one in, or bars are forgotten: results cached by `memo` are stale then. */
  private revision = 0;
  private newest = Number.NEGATIVE_INFINITY;
  private readonly memos = new Map<string, { before: number; revision: number; value: unknown }>();

  constructor(readonly keep: number) {}

  add(candle: StrategyCandle): void {
    if (this.keep === 0) return;
    let bars = this.series.get(candle.symbol);
    if (bars === undefined) {
      this.series.set(candle.symbol, (bars = []));
      this.sorted = undefined;
    }
    bars.push(candle);
    if (candle.timestamp < this.newest) this.revision++;
    else this.newest = candle.timestamp;
    // Trimmed in batches: a shift per bar would copy the whole window every time. One bar more
    // than asked: a read before the newest bar must still find `keep` bars.
    if (bars.length > this.keep + 64) bars.splice(0, bars.length - this.keep - 1);
  }

  delete(symbol?: string): void {
    if (symbol === undefined) this.series.clear();
    else this.series.delete(symbol);
    this.sorted = undefined;
    this.revision++;
  }

  symbols(): readonly string[] {
    this.sorted ??= Object.freeze([...this.series.keys()].sort());
    return this.sorted;
  }

  memo<T>(key: string, before: number, compute: () => T): T {
    const cached = this.memos.get(key);
    if (cached !== undefined && cached.before === before && cached.revision === this.revision) return cached.value as T;
    const value = compute();
    this.memos.set(key, { before, revision: this.revision, value });
    return value;
  }

  bars(symbol: string, before: number, count: number): readonly StrategyCandle[] {
    const bars = this.series.get(symbol);
    if (bars === undefined || count <= 0) return EMPTY;
    // First index whose open time is not before `before`.
    let lo = 0;
    let hi = bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bars[mid]!.timestamp < before) lo = mid + 1;
      else hi = mid;
    }
    return bars.slice(Math.max(0, lo - Math.min(count, this.keep)), lo);
  }
}
