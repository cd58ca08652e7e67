import { TradebusError } from '@tradebus/core';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Bar length of a timeframe such as `1m`, `5m`, `4h`, `1d`, `1w`. Months are left out: they have no fixed length. */
export function timeframeToMs(timeframe: string): number {
  const match = /^(\d+)([smhdw])$/.exec(timeframe);
  if (match === null || Number(match[1]) <= 0) {
    throw new TradebusError(
      'TIMEFRAME_INVALID',
      `Unsupported timeframe '${timeframe}': use a positive number followed by s, m, h, d or w (e.g. 1m, 5m, 1h, 1d).`,
      { details: { timeframe } },
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Open time of the bar of length `timeframeMs` that contains `timestamp` (bars aligned to the epoch, as exchanges do). */
export function barOpenTime(timestamp: number, timeframeMs: number): number {
  return timestamp - (((timestamp % timeframeMs) + timeframeMs) % timeframeMs);
}
