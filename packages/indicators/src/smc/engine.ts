import { IndicatorConfigError } from '../errors.js';
import { nonFiniteInput, requirePeriod } from '../internal/input.js';
import { WindowMax } from '../internal/window.js';
import type { Candle, Indicator } from '../types.js';
import type {
  SmcDirection,
  SmcEvent,
  SmcFairValueGap,
  SmcFibLevels,
  SmcLiquidity,
  SmcOrderBlock,
  SmcState,
  SmcStructureBreak,
  SmcSwing,
} from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface SmcOptions {
  /**
   * Bars on each side of a swing (the reference's `swing_length`): a swing high is the highest high
   * of the `swingLength - 1` bars before it and the `swingLength` bars after it. Default 50.
   */
  swingLength?: number;
  /** Structure breaks on the close (true, default) or on the high/low. */
  closeBreak?: boolean;
  /** Order blocks mitigate on the candle body (true) or on the wick (false, default). */
  closeMitigation?: boolean;
  /**
   * Equal highs/lows tolerance as a fraction of the high–low range of the bars seen so far (the
   * reference uses the whole series' range). Default 0.01.
   */
  liquidityRange?: number;
  /**
   * Most order blocks, fair value gaps, liquidity groups and unbroken structure levels tracked per
   * kind (the oldest is dropped): bounds the work per bar. Default 100.
   */
  maxTracked?: number;
  /** Higher-timeframe bias: bars are grouped in epoch-aligned buckets of `timeframeMs`. */
  higherTimeframe?: { timeframeMs: number; swingLength?: number };
}

const FIB_RATIOS = [0.236, 0.382, 0.5, 0.618, 0.705, 0.786] as const;
const FIB_KEYS: readonly (keyof SmcFibLevels)[] = ['r236', 'r382', 'r500', 'r618', 'r705', 'r786'];

interface SwingNode extends Mutable<SmcSwing> {
  /** First bar after confirmation that closed (or wicked) beyond the level; -1 while none. */
  brokenAt: number;
  /** Whether this swing's structure pattern (as the third-last swing) has been found. */
  structured: boolean;
  /** Whether a close beyond this swing already created an order block (the reference's `crossed`). */
  crossed: boolean;
}

interface PendingStructure {
  readonly kind: 'BOS' | 'CHoCH';
  readonly direction: SmcDirection;
  readonly swing: SwingNode;
}

type OrderBlockNode = Mutable<SmcOrderBlock>;
type GapNode = Mutable<SmcFairValueGap>;
interface LiquidityNode extends Omit<Mutable<SmcLiquidity>, 'swings'> {
  swings: number[];
  anchorLevel: number;
  sum: number;
  reported: boolean;
}

/**
 * Smart-money-concepts engine, streaming: swings, market structure (BOS/CHoCH), order blocks,
 * fair value gaps, equal highs/lows, the dealing range with premium/discount and retracement
 * levels, and optionally the higher-timeframe bias. Definitions follow the `smartmoneyconcepts`
 * Python package; what differs, and why, is in docs/indicators.md ("SMC").
 *
 * Work per bar is O(1) amortised plus the tracked zones (at most `maxTracked` per kind).
 * `replaceLast` undoes the previous bar exactly (an undo journal of the fields it changed).
 */
export class SmartMoneyConcepts implements Indicator<Candle, SmcState> {
  readonly swingLength: number;
  readonly closeBreak: boolean;
  readonly closeMitigation: boolean;
  readonly liquidityRange: number;
  readonly maxTracked: number;
  readonly warmupPeriod: number;
  private readonly label: string;
  private readonly higher: HigherTimeframe | undefined;

  // Bar history from `base` on (older bars are trimmed once nothing refers to them).
  private base = 0;
  private opens: number[] = [];
  private highs: number[] = [];
  private lows: number[] = [];
  private closes: number[] = [];
  private volumes: number[] = [];
  private times: number[] = [];
  private readonly highWindow: WindowMax;
  private readonly lowWindow: WindowMax;
  private maxHigh = -Infinity;
  private minLow = Infinity;

  /** Final swings (alternating high/low), then the latest candidate that may still be replaced. */
  private swings: SwingNode[] = [];
  private pending: SwingNode | undefined = undefined;
  private lastHigh: SwingNode | undefined = undefined;
  private lastLow: SwingNode | undefined = undefined;
  private structures: PendingStructure[] = [];
  private lastBreak: SmcStructureBreak | undefined = undefined;
  private blocks: OrderBlockNode[] = [];
  private gaps: GapNode[] = [];
  private pools: LiquidityNode[] = [];

  private readonly state: SmcState;

  // Undo journal for replaceLast: scalar fields saved before each bar, and every field of a
  // shared object (swing, zone) changed during the bar.
  private savedMaxHigh = -Infinity;
  private savedMinLow = Infinity;
  private savedPending: SwingNode | undefined = undefined;
  private savedLastHigh: SwingNode | undefined = undefined;
  private savedLastLow: SwingNode | undefined = undefined;
  private savedStructures: PendingStructure[] = [];
  private savedLastBreak: SmcStructureBreak | undefined = undefined;
  private savedBlocks: OrderBlockNode[] = [];
  private savedGaps: GapNode[] = [];
  private savedPools: LiquidityNode[] = [];
  private savedSwingCount = 0;
  private savedStructureCount = 0;
  private savedBlockCount = 0;
  private savedGapCount = 0;
  private savedPoolCount = 0;
  private journalObjects: object[] = [];
  private journalKeys: string[] = [];
  private journalValues: unknown[] = [];

  constructor(options: SmcOptions = {}) {
    const { swingLength = 50, closeBreak = true, closeMitigation = false, liquidityRange = 0.01, maxTracked = 100 } = options;
    this.label = `SmartMoneyConcepts(${swingLength})`;
    this.swingLength = requirePeriod(this.label, 'swingLength', swingLength);
    this.maxTracked = requirePeriod(this.label, 'maxTracked', maxTracked);
    if (!(Number.isFinite(liquidityRange) && liquidityRange >= 0)) {
      throw new IndicatorConfigError(
        'liquidityRange',
        `${this.label}: liquidityRange must be a fraction >= 0 of the price range, e.g. 0.01 (got ${String(liquidityRange)})`,
      );
    }
    this.liquidityRange = liquidityRange;
    this.closeBreak = closeBreak;
    this.closeMitigation = closeMitigation;
    this.warmupPeriod = 3 * swingLength;
    this.highWindow = new WindowMax(2 * swingLength);
    this.lowWindow = new WindowMax(2 * swingLength);
    this.higher = options.higherTimeframe ? new HigherTimeframe(this.label, options.higherTimeframe, swingLength) : undefined;
    this.state = {
      index: -1,
      events: [],
      swingHigh: undefined,
      swingLow: undefined,
      trend: 0,
      lastBreak: undefined,
      rangeHigh: NaN,
      rangeLow: NaN,
      equilibrium: NaN,
      rangePosition: NaN,
      zone: undefined,
      fib: { r236: NaN, r382: NaN, r500: NaN, r618: NaN, r705: NaN, r786: NaN },
      bias: 0,
    };
  }

  get count(): number {
    return this.base + this.highs.length;
  }

  get isReady(): boolean {
    return this.count >= this.warmupPeriod;
  }

  /** The state after the last bar (defined from the first bar: gaps can form before swings do). */
  get value(): SmcState | undefined {
    return this.count > 0 ? this.state : undefined;
  }

  /** Final swings so far plus the latest candidate, oldest first (copies). */
  get swingPoints(): SmcSwing[] {
    const all = this.pending ? [...this.swings, this.pending] : this.swings;
    return all.map(copySwing);
  }

  /** Order blocks still tracked (active or mitigated), oldest first. */
  get orderBlocks(): readonly SmcOrderBlock[] {
    return this.blocks;
  }

  /** Fair value gaps not yet filled, oldest first. */
  get fairValueGaps(): readonly SmcFairValueGap[] {
    return this.gaps;
  }

  /** Equal highs/lows groups (two or more swings) not yet swept, oldest first. */
  get liquidity(): readonly SmcLiquidity[] {
    return this.pools.filter((pool) => pool.reported && pool.sweptIndex === undefined);
  }

  update(bar: Candle): SmcState {
    this.check(bar);
    this.trim();
    this.save();
    this.higher?.add(bar);
    return this.step(bar);
  }

  replaceLast(bar: Candle): SmcState {
    this.check(bar);
    if (this.count === 0) return this.update(bar);
    this.rollback();
    this.higher?.replace(bar);
    return this.step(bar);
  }

  reset(): void {
    this.base = 0;
    this.opens = [];
    this.highs = [];
    this.lows = [];
    this.closes = [];
    this.volumes = [];
    this.times = [];
    this.highWindow.reset();
    this.lowWindow.reset();
    this.maxHigh = -Infinity;
    this.minLow = Infinity;
    this.swings = [];
    this.pending = undefined;
    this.lastHigh = undefined;
    this.lastLow = undefined;
    this.structures = [];
    this.lastBreak = undefined;
    this.blocks = [];
    this.gaps = [];
    this.pools = [];
    this.journalObjects.length = 0;
    this.journalKeys.length = 0;
    this.journalValues.length = 0;
    this.higher?.reset();
    const state = this.state;
    state.index = -1;
    state.events = [];
    state.bias = 0;
    this.publish(NaN);
  }

  private check(bar: Candle): void {
    const { open, high, low, close, volume, timestamp } = bar;
    if (!(Number.isFinite(open) && Number.isFinite(high) && Number.isFinite(low) && Number.isFinite(close))) {
      throw nonFiniteInput(this.label, 'open/high/low/close', `${open}/${high}/${low}/${close}`);
    }
    if (!Number.isFinite(volume)) throw nonFiniteInput(this.label, 'volume', volume);
    if (!Number.isFinite(timestamp)) throw nonFiniteInput(this.label, 'timestamp', timestamp);
  }

  private step(bar: Candle): SmcState {
    const t = this.count;
    this.opens.push(bar.open);
    this.highs.push(bar.high);
    this.lows.push(bar.low);
    this.closes.push(bar.close);
    this.volumes.push(bar.volume);
    this.times.push(bar.timestamp);
    if (bar.high > this.maxHigh) this.maxHigh = bar.high;
    if (bar.low < this.minLow) this.minLow = bar.low;
    this.highWindow.push(bar.high);
    this.lowWindow.push(-bar.low);
    const events = this.state.events;
    events.length = 0;

    // Order matters and follows the reference: zones are judged on this bar before zones this bar
    // creates exist; swings confirmed on this bar take part in this bar's structure and blocks.
    this.updateGaps(t, bar);
    this.updateBlocks(t, bar);
    this.updateBreaks(t, bar);
    this.updatePools(t, bar);
    this.detectSwing(t);
    this.prunePools();
    this.createBlocks(t, bar);
    this.detectGap(t);
    this.publish(bar.close);
    return this.state;
  }

  // ---- swings and structure ---------------------------------------------------------------

  private detectSwing(t: number): void {
    const length = this.swingLength;
    const i = t - length;
    // The reference's rolling window needs 2·length bars before the swing bar can be judged.
    if (i < 2 * length - 1) return;
    const high = this.high(i);
    const low = this.low(i);
    let side: SmcDirection;
    if (high === this.highWindow.max) side = 1;
    else if (low === -this.lowWindow.max) side = -1;
    else return;
    const node: SwingNode = {
      side,
      index: i,
      time: this.time(i),
      level: side === 1 ? high : low,
      confirmedIndex: t,
      brokenAt: -1,
      structured: false,
      crossed: false,
    };
    const pending = this.pending;
    if (pending !== undefined && pending.side === side) {
      // A run of same-side swings keeps its most extreme one (the earliest of equals).
      if (side === 1 ? node.level <= pending.level : node.level >= pending.level) return;
    } else if (pending !== undefined) {
      this.swings.push(pending);
      this.onFinal(pending, t);
    }
    this.pending = node;
    if (side === 1) this.lastHigh = node;
    else this.lastLow = node;
    this.state.events.push({ at: this.count - 1, type: 'swing', swing: copySwing(node) });
    this.findStructure(t);
  }

  /**
   * The reference's four-swing patterns, judged when the fourth swing is known (the latest
   * candidate counts: a more extreme replacement only makes a found pattern truer).
   */
  private findStructure(t: number): void {
    const swings = this.swings;
    const n = swings.length;
    const d = this.pending;
    if (n < 3 || d === undefined) return;
    const a = swings[n - 3]!;
    const b = swings[n - 2]!;
    const c = swings[n - 1]!;
    if (b.structured) return;
    let kind: 'BOS' | 'CHoCH' | undefined;
    let direction: SmcDirection = 1;
    if (a.side === -1) {
      // low, high, low, high
      if (a.level < c.level && c.level < b.level && b.level < d.level) kind = 'BOS';
      else if (d.level > b.level && b.level > a.level && a.level > c.level) kind = 'CHoCH';
    } else {
      direction = -1;
      if (a.level > c.level && c.level > b.level && b.level > d.level) kind = 'BOS';
      else if (d.level < b.level && b.level < a.level && a.level < c.level) kind = 'CHoCH';
    }
    if (kind === undefined) return;
    this.set(b, 'structured', true);
    const structure: PendingStructure = { kind, direction, swing: b };
    if (b.brokenAt >= 0) this.reportBreak(structure, t);
    else this.structures = appended(this.structures, structure, this.maxTracked);
  }

  private updateBreaks(t: number, bar: Candle): void {
    const up = this.closeBreak ? bar.close : bar.high;
    const down = this.closeBreak ? bar.close : bar.low;
    // Swings that may still become the broken level of a pattern: the last two final ones and the candidate.
    const swings = this.swings;
    const n = swings.length;
    for (let k = n - 2; k <= n; k++) {
      const swing = k === n ? this.pending : swings[k];
      if (swing === undefined || swing.brokenAt >= 0 || swing.confirmedIndex >= t) continue;
      if (swing.side === 1 ? up > swing.level : down < swing.level) this.set(swing, 'brokenAt', t);
    }
    let remaining: PendingStructure[] | undefined;
    const structures = this.structures;
    for (let k = 0; k < structures.length; k++) {
      const structure = structures[k]!;
      const swing = structure.swing;
      if (swing.brokenAt < 0 && (swing.side === 1 ? up > swing.level : down < swing.level)) this.set(swing, 'brokenAt', t);
      if (swing.brokenAt >= 0) {
        remaining ??= structures.slice(0, k);
        this.reportBreak(structure, t);
      } else if (remaining) remaining.push(structure);
    }
    if (remaining) this.structures = remaining;
  }

  private reportBreak(structure: PendingStructure, t: number): void {
    const swing = structure.swing;
    const broken: SmcStructureBreak = {
      kind: structure.kind,
      direction: structure.direction,
      level: swing.level,
      swingIndex: swing.index,
      swingTime: swing.time,
      brokenIndex: swing.brokenAt,
      brokenTime: this.time(swing.brokenAt),
      reportedIndex: t,
    };
    this.lastBreak = broken;
    this.state.events.push({ at: this.count - 1, type: 'structure', structure: broken });
  }

  // ---- order blocks -----------------------------------------------------------------------

  private updateBlocks(t: number, bar: Candle): void {
    let remaining: OrderBlockNode[] | undefined;
    const blocks = this.blocks;
    for (let k = 0; k < blocks.length; k++) {
      const block = blocks[k]!;
      let keep = true;
      if (block.status === 'mitigated') {
        if (block.direction === 1 ? bar.high > block.top : bar.low < block.bottom) {
          this.set(block, 'status', 'invalidated');
          this.set(block, 'invalidatedIndex', t);
          this.state.events.push({ at: this.count - 1, type: 'orderBlockInvalidated', block: { ...block } });
          keep = false;
        }
      } else {
        const through =
          block.direction === 1
            ? (this.closeMitigation ? Math.min(bar.open, bar.close) : bar.low) < block.bottom
            : (this.closeMitigation ? Math.max(bar.open, bar.close) : bar.high) > block.top;
        if (through) {
          this.set(block, 'status', 'mitigated');
          this.set(block, 'mitigatedIndex', t);
          this.state.events.push({ at: this.count - 1, type: 'orderBlockMitigated', block: { ...block } });
        }
      }
      if (!keep) remaining ??= blocks.slice(0, k);
      else if (remaining) remaining.push(block);
    }
    if (remaining) this.blocks = remaining;
  }

  private createBlocks(t: number, bar: Candle): void {
    const top = this.lastHigh;
    if (top !== undefined && !top.crossed && top.index < t && bar.close > top.level) {
      this.set(top, 'crossed', true);
      // The lowest low between the swing and this bar (the last of equals).
      let at = top.index + 1 < t ? top.index + 1 : t - 1;
      for (let j = at + 1; j < t; j++) if (this.low(j) <= this.low(at)) at = j;
      this.addBlock(1, at, this.high(at), this.low(at), t, top);
    }
    const bottom = this.lastLow;
    if (bottom !== undefined && !bottom.crossed && bottom.index < t && bar.close < bottom.level) {
      this.set(bottom, 'crossed', true);
      let at = bottom.index + 1 < t ? bottom.index + 1 : t - 1;
      for (let j = at + 1; j < t; j++) if (this.high(j) >= this.high(at)) at = j;
      this.addBlock(-1, at, this.high(at), this.low(at), t, bottom);
    }
  }

  private addBlock(direction: SmcDirection, at: number, top: number, bottom: number, t: number, swing: SwingNode): void {
    const current = this.volume(t);
    const previous = t >= 1 ? this.volume(t - 1) : 0;
    const older = t >= 2 ? this.volume(t - 2) : 0;
    // The reference's split: the breaking bar and the one before vs the bar two back.
    const push = current + previous;
    const largest = Math.max(push, older);
    const block: OrderBlockNode = {
      direction,
      index: at,
      time: this.time(at),
      top,
      bottom,
      createdIndex: t,
      swingIndex: swing.index,
      volume: current + previous + older,
      strength: largest === 0 ? 100 : (Math.min(push, older) / largest) * 100,
      status: 'active',
      mitigatedIndex: undefined,
      invalidatedIndex: undefined,
    };
    this.blocks = appended(this.blocks, block, this.maxTracked);
    this.state.events.push({ at: this.count - 1, type: 'orderBlock', block: { ...block } });
  }

  // ---- fair value gaps --------------------------------------------------------------------

  private detectGap(t: number): void {
    if (t < 2) return;
    const middle = t - 1;
    const bullish = this.close(middle) > this.open(middle);
    const bearish = this.close(middle) < this.open(middle);
    let gap: GapNode | undefined;
    if (bullish && this.high(t - 2) < this.low(t)) {
      gap = { direction: 1, index: middle, time: this.time(middle), top: this.low(t), bottom: this.high(t - 2), mitigatedIndex: undefined, filledIndex: undefined };
    } else if (bearish && this.low(t - 2) > this.high(t)) {
      gap = { direction: -1, index: middle, time: this.time(middle), top: this.low(t - 2), bottom: this.high(t), mitigatedIndex: undefined, filledIndex: undefined };
    }
    if (gap === undefined) return;
    this.gaps = appended(this.gaps, gap, this.maxTracked);
    this.state.events.push({ at: this.count - 1, type: 'fairValueGap', gap: { ...gap } });
  }

  private updateGaps(t: number, bar: Candle): void {
    let remaining: GapNode[] | undefined;
    const gaps = this.gaps;
    for (let k = 0; k < gaps.length; k++) {
      const gap = gaps[k]!;
      const bull = gap.direction === 1;
      if (gap.mitigatedIndex === undefined && (bull ? bar.low <= gap.top : bar.high >= gap.bottom)) {
        this.set(gap, 'mitigatedIndex', t);
        this.state.events.push({ at: this.count - 1, type: 'fairValueGapMitigated', gap: { ...gap } });
      }
      let keep = true;
      if (bull ? bar.low <= gap.bottom : bar.high >= gap.top) {
        this.set(gap, 'filledIndex', t);
        this.state.events.push({ at: this.count - 1, type: 'fairValueGapFilled', gap: { ...gap } });
        keep = false;
      }
      if (!keep) remaining ??= gaps.slice(0, k);
      else if (remaining) remaining.push(gap);
    }
    if (remaining) this.gaps = remaining;
  }

  // ---- liquidity ---------------------------------------------------------------------------

  /** A swing became final: it joins the oldest open group within tolerance, or starts one. */
  private onFinal(swing: SwingNode, t: number): void {
    for (const pool of this.pools) {
      // A group takes swings formed before it was swept (the swing may become final after that).
      if (pool.direction !== swing.side || (pool.sweptIndex !== undefined && pool.sweptIndex <= swing.index)) continue;
      if (swing.level < pool.anchorLevel - pool.tolerance || swing.level > pool.anchorLevel + pool.tolerance) continue;
      this.set(pool, 'swings', [...pool.swings, swing.index]);
      this.set(pool, 'sum', pool.sum + swing.level);
      this.set(pool, 'level', (pool.sum) / pool.swings.length);
      if (!pool.reported) this.set(pool, 'reported', true);
      this.state.events.push({ at: this.count - 1, type: 'liquidity', liquidity: copyPool(pool) });
      return;
    }
    const tolerance = (this.maxHigh - this.minLow) * this.liquidityRange;
    const pool: LiquidityNode = {
      direction: swing.side,
      index: swing.index,
      time: swing.time,
      level: swing.level,
      swings: [swing.index],
      tolerance,
      sweptIndex: undefined,
      anchorLevel: swing.level,
      sum: swing.level,
      reported: false,
    };
    // Bars between the swing and now may already have swept it.
    const limit = swing.side === 1 ? swing.level + tolerance : swing.level - tolerance;
    for (let j = swing.index + 1; j < t; j++) {
      if (swing.side === 1 ? this.high(j) >= limit : this.low(j) <= limit) {
        pool.sweptIndex = j;
        break;
      }
    }
    this.pools = appended(this.pools, pool, this.maxTracked);
  }

  private updatePools(t: number, bar: Candle): void {
    const pools = this.pools;
    for (let k = 0; k < pools.length; k++) {
      const pool = pools[k]!;
      if (pool.sweptIndex !== undefined) continue;
      const swept = pool.direction === 1 ? bar.high >= pool.anchorLevel + pool.tolerance : bar.low <= pool.anchorLevel - pool.tolerance;
      if (!swept) continue;
      this.set(pool, 'sweptIndex', t);
      if (pool.reported) this.state.events.push({ at: this.count - 1, type: 'liquiditySwept', liquidity: copyPool(pool) });
    }
  }

  /** Swept groups stay until no swing that could still join them (formed before the sweep) can become final. */
  private prunePools(): void {
    const oldest = this.pending?.index ?? Infinity;
    const pools = this.pools;
    let remaining: LiquidityNode[] | undefined;
    for (let k = 0; k < pools.length; k++) {
      const pool = pools[k]!;
      if (pool.sweptIndex !== undefined && pool.sweptIndex <= oldest) remaining ??= pools.slice(0, k);
      else if (remaining) remaining.push(pool);
    }
    if (remaining) this.pools = remaining;
  }

  // ---- published state ---------------------------------------------------------------------

  private publish(close: number): void {
    const state = this.state;
    state.index = this.count - 1;
    // Copies only when the swing changed: the state must not expose the engine's own nodes.
    if (state.swingHigh?.index !== this.lastHigh?.index) state.swingHigh = this.lastHigh && copySwing(this.lastHigh);
    if (state.swingLow?.index !== this.lastLow?.index) state.swingLow = this.lastLow && copySwing(this.lastLow);
    state.lastBreak = this.lastBreak;
    state.trend = this.lastBreak ? this.lastBreak.direction : 0;
    state.bias = this.higher ? this.higher.bias : 0;
    const high = this.lastHigh?.level ?? NaN;
    const low = this.lastLow?.level ?? NaN;
    state.rangeHigh = high;
    state.rangeLow = low;
    state.equilibrium = (high + low) / 2;
    const position = (close - low) / (high - low);
    state.rangePosition = position;
    state.zone = Number.isNaN(position) || !Number.isFinite(position) ? undefined : position > 0.5 ? 'premium' : position < 0.5 ? 'discount' : 'equilibrium';
    // The leg runs from the earlier swing to the later one; retracements go back from the later end.
    const upLeg = this.lastHigh !== undefined && this.lastLow !== undefined && this.lastHigh.index > this.lastLow.index;
    const fib = state.fib;
    const span = high - low;
    for (let k = 0; k < FIB_RATIOS.length; k++) fib[FIB_KEYS[k]!] = upLeg ? high - FIB_RATIOS[k]! * span : low + FIB_RATIOS[k]! * span;
  }

  // ---- history and undo --------------------------------------------------------------------

  private open(i: number): number {
    return this.opens[i - this.base]!;
  }
  private high(i: number): number {
    return this.highs[i - this.base]!;
  }
  private low(i: number): number {
    return this.lows[i - this.base]!;
  }
  private close(i: number): number {
    return this.closes[i - this.base]!;
  }
  private volume(i: number): number {
    return this.volumes[i - this.base]!;
  }
  private time(i: number): number {
    return this.times[i - this.base]!;
  }

  /**
   * Drops bars nothing can read any more: block searches start after the latest swing high/low,
   * liquidity searches after the latest final swing, the swing test looks 2·swingLength back.
   * Only between bars (the previous bar can no longer be replaced).
   */
  private trim(): void {
    // Final swings before the last few are only kept for inspection (swingPoints).
    if (this.swings.length > 2 * this.maxTracked + 4) this.swings = this.swings.slice(-(this.maxTracked + 4));
    const length = this.highs.length;
    if (length < 4096) return;
    let keep = this.count - 2 * this.swingLength - 3;
    const n = this.swings.length;
    keep = Math.min(keep, this.lastHigh?.index ?? keep, this.lastLow?.index ?? keep);
    if (n >= 2) keep = Math.min(keep, this.swings[n - 2]!.index);
    else if (n === 1) keep = Math.min(keep, this.swings[0]!.index);
    const drop = keep - this.base;
    if (drop < length / 2) return;
    for (const series of [this.opens, this.highs, this.lows, this.closes, this.volumes, this.times]) series.splice(0, drop);
    this.base += drop;
  }

  private set<T extends object, K extends keyof T & string>(target: T, key: K, value: T[K]): void {
    this.journalObjects.push(target);
    this.journalKeys.push(key);
    this.journalValues.push(target[key]);
    target[key] = value;
  }

  private save(): void {
    this.journalObjects.length = 0;
    this.journalKeys.length = 0;
    this.journalValues.length = 0;
    this.highWindow.save();
    this.lowWindow.save();
    this.higher?.save();
    this.savedMaxHigh = this.maxHigh;
    this.savedMinLow = this.minLow;
    this.savedPending = this.pending;
    this.savedLastHigh = this.lastHigh;
    this.savedLastLow = this.lastLow;
    this.savedStructures = this.structures;
    this.savedLastBreak = this.lastBreak;
    this.savedBlocks = this.blocks;
    this.savedGaps = this.gaps;
    this.savedPools = this.pools;
    this.savedSwingCount = this.swings.length;
    this.savedStructureCount = this.structures.length;
    this.savedBlockCount = this.blocks.length;
    this.savedGapCount = this.gaps.length;
    this.savedPoolCount = this.pools.length;
  }

  private rollback(): void {
    for (let k = this.journalObjects.length - 1; k >= 0; k--) {
      (this.journalObjects[k] as Record<string, unknown>)[this.journalKeys[k]!] = this.journalValues[k];
    }
    this.journalObjects.length = 0;
    this.journalKeys.length = 0;
    this.journalValues.length = 0;
    this.highWindow.rollback();
    this.lowWindow.rollback();
    this.opens.pop();
    this.highs.pop();
    this.lows.pop();
    this.closes.pop();
    this.volumes.pop();
    this.times.pop();
    this.maxHigh = this.savedMaxHigh;
    this.minLow = this.savedMinLow;
    this.pending = this.savedPending;
    this.lastHigh = this.savedLastHigh;
    this.lastLow = this.savedLastLow;
    this.structures = this.savedStructures;
    this.lastBreak = this.savedLastBreak;
    this.blocks = this.savedBlocks;
    this.gaps = this.savedGaps;
    this.pools = this.savedPools;
    this.swings.length = this.savedSwingCount;
    this.structures.length = this.savedStructureCount;
    this.blocks.length = this.savedBlockCount;
    this.gaps.length = this.savedGapCount;
    this.pools.length = this.savedPoolCount;
  }
}

/**
 * Appends in place and keeps the newest `limit` entries. Lists are only ever appended to in place
 * (removals build a new array), so the undo restores the saved array and truncates it to its saved length.
 */
function appended<T>(list: T[], item: T, limit: number): T[] {
  list.push(item);
  return list.length > limit ? list.slice(list.length - limit) : list;
}

function copySwing(swing: SwingNode): SmcSwing {
  return { side: swing.side, index: swing.index, time: swing.time, level: swing.level, confirmedIndex: swing.confirmedIndex };
}

function copyPool(pool: LiquidityNode): SmcLiquidity {
  return {
    direction: pool.direction,
    index: pool.index,
    time: pool.time,
    level: pool.level,
    swings: [...pool.swings],
    tolerance: pool.tolerance,
    sweptIndex: pool.sweptIndex,
  };
}

/**
 * The higher-timeframe bias: bars are merged into epoch-aligned buckets (the forming bucket only as
 * seen so far) and fed to a second engine, the bucket's first bar with `update`, later bars with
 * `replaceLast`. The bias is that engine's trend (direction of its latest structure break).
 * `replaceLast` must carry the same bar (the same timestamp) as the update it replaces.
 */
class HigherTimeframe {
  private readonly timeframeMs: number;
  private readonly engine: SmartMoneyConcepts;
  private bucket = -1;
  private bucketBar: Candle = { timestamp: 0, open: 0, high: 0, low: 0, close: 0, volume: 0 };
  private savedBucket = -1;
  private savedBar: Candle = { timestamp: 0, open: 0, high: 0, low: 0, close: 0, volume: 0 };
  private label: string;
  bias: SmcDirection | 0 = 0;

  constructor(label: string, options: { timeframeMs: number; swingLength?: number }, swingLength: number) {
    this.label = label;
    if (!(Number.isInteger(options.timeframeMs) && options.timeframeMs > 0)) {
      throw new IndicatorConfigError(
        'higherTimeframe.timeframeMs',
        `${label}: higherTimeframe.timeframeMs must be a whole number of milliseconds > 0, e.g. 3600000 for 1h (got ${String(options.timeframeMs)})`,
      );
    }
    this.timeframeMs = options.timeframeMs;
    this.engine = new SmartMoneyConcepts({ swingLength: options.swingLength ?? swingLength });
  }

  save(): void {
    this.savedBucket = this.bucket;
    Object.assign(this.savedBar, this.bucketBar);
  }

  add(bar: Candle): void {
    const bucket = Math.floor(bar.timestamp / this.timeframeMs);
    if (bucket < this.bucket) {
      throw new IndicatorConfigError(
        'timestamp',
        `${this.label}: bar at ${bar.timestamp} is older than the higher-timeframe bucket already started; feed bars in time order`,
      );
    }
    if (bucket !== this.bucket) {
      this.bucket = bucket;
      Object.assign(this.bucketBar, { ...bar, timestamp: bucket * this.timeframeMs });
      this.bias = this.engine.update(this.bucketBar).trend;
    } else {
      this.merge(bar);
      this.bias = this.engine.replaceLast(this.bucketBar).trend;
    }
  }

  /** The bar being replaced is undone first: the bucket returns to what it was before that bar. */
  replace(bar: Candle): void {
    const startedBucket = this.savedBucket !== Math.floor(bar.timestamp / this.timeframeMs);
    this.bucket = this.savedBucket;
    Object.assign(this.bucketBar, this.savedBar);
    if (startedBucket) {
      this.bucket = Math.floor(bar.timestamp / this.timeframeMs);
      Object.assign(this.bucketBar, { ...bar, timestamp: this.bucket * this.timeframeMs });
    } else {
      this.merge(bar);
    }
    this.bias = this.engine.replaceLast(this.bucketBar).trend;
  }

  reset(): void {
    this.bucket = -1;
    this.savedBucket = -1;
    this.bias = 0;
    this.engine.reset();
  }

  private merge(bar: Candle): void {
    const merged = this.bucketBar;
    if (bar.high > merged.high) merged.high = bar.high;
    if (bar.low < merged.low) merged.low = bar.low;
    merged.close = bar.close;
    merged.volume += bar.volume;
  }
}
