/** 1 for the bullish / high side, -1 for the bearish / low side (the reference package's convention). */
export type SmcDirection = 1 | -1;

/**
 * A swing point. `index`/`time` are those of the swing bar; `confirmedIndex` is the bar at which
 * it became known (`index + swingLength`): a streaming engine cannot know a swing earlier.
 */
export interface SmcSwing {
  /** 1 = swing high, -1 = swing low. */
  readonly side: SmcDirection;
  readonly index: number;
  readonly time: number;
  /** The swing bar's high (swing high) or low (swing low). */
  readonly level: number;
  readonly confirmedIndex: number;
}

/** A break of structure (BOS) or change of character (CHoCH) whose level has been broken. */
export interface SmcStructureBreak {
  readonly kind: 'BOS' | 'CHoCH';
  readonly direction: SmcDirection;
  /** The broken level: the swing high (bullish) or swing low (bearish) two swings back. */
  readonly level: number;
  /** The bar of the swing whose level was broken. */
  readonly swingIndex: number;
  readonly swingTime: number;
  /** The first bar that closed beyond the level (beyond its high/low with `closeBreak: false`). */
  readonly brokenIndex: number;
  readonly brokenTime: number;
  /** The bar at which the engine reported the break (the break and the swing pattern are both known). */
  readonly reportedIndex: number;
}

export type SmcZoneStatus = 'active' | 'mitigated' | 'invalidated';

/** An order block: the last opposite candle before the move that broke a swing. */
export interface SmcOrderBlock {
  readonly direction: SmcDirection;
  /** The order-block candle. */
  readonly index: number;
  readonly time: number;
  readonly top: number;
  readonly bottom: number;
  /** The bar whose close broke the swing and created the block. */
  readonly createdIndex: number;
  /** The swing that was broken. */
  readonly swingIndex: number;
  /** Volume of the breaking bar and the two before it. */
  readonly volume: number;
  /** min/max of the volume split (see docs), in percent: 100 = balanced. */
  readonly strength: number;
  /**
   * `mitigated` once price traded through the block's far side (it then acts as a breaker),
   * `invalidated` when price afterwards went back through the near side (the reference deletes
   * such blocks).
   */
  readonly status: SmcZoneStatus;
  readonly mitigatedIndex: number | undefined;
  readonly invalidatedIndex: number | undefined;
}

/** A fair value gap: the middle candle of three whose outer wicks do not overlap. */
export interface SmcFairValueGap {
  readonly direction: SmcDirection;
  /** The middle candle. */
  readonly index: number;
  readonly time: number;
  readonly top: number;
  readonly bottom: number;
  /** The first later bar that traded into the gap (low <= top bullish, high >= bottom bearish). */
  readonly mitigatedIndex: number | undefined;
  /** The first later bar that traded through the whole gap (low <= bottom bullish, high >= top bearish). */
  readonly filledIndex: number | undefined;
}

/** Equal highs (direction 1) or equal lows (-1): two or more swings within the tolerance. */
export interface SmcLiquidity {
  readonly direction: SmcDirection;
  /** The first swing of the group. */
  readonly index: number;
  readonly time: number;
  /** Average level of the grouped swings. */
  readonly level: number;
  /** Bar indexes of the grouped swings, oldest first. */
  readonly swings: readonly number[];
  /** Half-width of the band the swings had to lie in (price units). */
  readonly tolerance: number;
  /** The first bar whose high (low) reached the anchor level ± tolerance. */
  readonly sweptIndex: number | undefined;
}

/** Retracement levels of the dealing range, measured back from its latest end. */
export interface SmcFibLevels {
  r236: number;
  r382: number;
  r500: number;
  r618: number;
  r705: number;
  r786: number;
}

/** Something that became known on bar `at` (0-based index of the bar fed). */
export type SmcEvent = { readonly at: number } & (
  | { readonly type: 'swing'; readonly swing: SmcSwing }
  | { readonly type: 'structure'; readonly structure: SmcStructureBreak }
  | { readonly type: 'orderBlock'; readonly block: SmcOrderBlock }
  | { readonly type: 'orderBlockMitigated'; readonly block: SmcOrderBlock }
  | { readonly type: 'orderBlockInvalidated'; readonly block: SmcOrderBlock }
  | { readonly type: 'fairValueGap'; readonly gap: SmcFairValueGap }
  | { readonly type: 'fairValueGapMitigated'; readonly gap: SmcFairValueGap }
  | { readonly type: 'fairValueGapFilled'; readonly gap: SmcFairValueGap }
  | { readonly type: 'liquidity'; readonly liquidity: SmcLiquidity }
  | { readonly type: 'liquiditySwept'; readonly liquidity: SmcLiquidity }
);

/**
 * The engine's state after a bar. The same object is returned on every call and its `events` array
 * is refilled: copy what you keep. Levels are NaN while unknown.
 */
export interface SmcState {
  /** Index of the bar just fed (0-based). */
  index: number;
  /** What became known on this bar. */
  events: SmcEvent[];
  /** The latest swing high / low (the latest may still be replaced by a more extreme one). */
  swingHigh: SmcSwing | undefined;
  swingLow: SmcSwing | undefined;
  /** Direction of the latest reported structure break, 0 before the first. */
  trend: SmcDirection | 0;
  /** The latest reported structure break. */
  lastBreak: SmcStructureBreak | undefined;
  /** Dealing range: latest swing high and swing low. */
  rangeHigh: number;
  rangeLow: number;
  /** Midpoint of the dealing range: above it is premium, below it discount. */
  equilibrium: number;
  /** Where the close sits in the range: 0 = range low, 1 = range high (outside: < 0 or > 1). */
  rangePosition: number;
  zone: 'premium' | 'discount' | 'equilibrium' | undefined;
  /** Retracement levels of the latest leg (from the later swing back towards the earlier one). */
  fib: SmcFibLevels;
  /** Trend of the higher timeframe (its latest structure break), 0 while unknown or not configured. */
  bias: SmcDirection | 0;
}
