/**
 * The intrabar price path of the paper exchange. A bar only tells us open, high, low and close;
 * orders are matched as if price went open → the extreme nearer the open → the other extreme →
 * close, moving in straight lines. Ties (open equidistant from both extremes) go to the low first,
 * the pessimistic order for a long position.
 */
export interface BarPrices {
  open: number;
  high: number;
  low: number;
  close: number;
}

export type Direction = 'up' | 'down';

export interface Reach {
  /** Position along the path: 0 = open, 3 = close; fractional inside a segment. */
  at: number;
  /** Where an order resting at the level fills: the level, or the open when the bar gapped beyond it. */
  price: number;
}

export function pathPoints(bar: BarPrices): [number, number, number, number] {
  const highFirst = bar.high - bar.open < bar.open - bar.low;
  return highFirst ? [bar.open, bar.high, bar.low, bar.close] : [bar.open, bar.low, bar.high, bar.close];
}

function priceAt(points: readonly number[], at: number): number {
  const i = Math.min(Math.floor(at), points.length - 2);
  const frac = at - i;
  return points[i]! + (points[i + 1]! - points[i]!) * frac;
}

/**
 * First point at or after `from` where price reaches `level` going `direction` (`up`: price ≥
 * level; `down`: price ≤ level). With `strict`, price must trade beyond the level, not just touch it.
 */
export function firstReach(points: readonly number[], level: number, direction: Direction, from = 0, strict = false): Reach | undefined {
  const hit = (p: number): boolean => (direction === 'up' ? (strict ? p > level : p >= level) : strict ? p < level : p <= level);
  const start = priceAt(points, from);
  if (hit(start)) return { at: from, price: from === 0 ? start : level };
  const firstSegment = Math.min(Math.floor(from), points.length - 2);
  for (let i = firstSegment; i < points.length - 1; i++) {
    const a = i === firstSegment ? start : points[i]!;
    const b = points[i + 1]!;
    if (!hit(b)) continue;
    const segmentStart = i === firstSegment ? from : i;
    const frac = b === a ? 0 : (level - a) / (b - a);
    return { at: segmentStart + Math.max(0, Math.min(1, frac)) * (i + 1 - segmentStart), price: level };
  }
  return undefined;
}
