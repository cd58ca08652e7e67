import { z } from 'zod';

const TIMEFRAME = /^([1-9][0-9]*)(s|m|h|d|w|M)$/;

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** A bar length as exchanges write it: `1m`, `5m`, `1h`, `4h`, `1d`, `1w`, `1M` (calendar month). */
export const timeframeSchema = z
  .string()
  .regex(TIMEFRAME, { error: "must be a bar length such as '1m', '5m', '1h', '1d', '1w' or '1M'" });

export function isTimeframe(value: string): boolean {
  return TIMEFRAME.test(value);
}

/**
 * Close time of the bar that opens at `openTime`: the moment its signal becomes known. Months are
 * calendar months in UTC, so `1M` bars have their real length rather than a fixed 30 days.
 * Returns `undefined` for a timeframe that is not a bar length.
 */
export function barCloseTime(openTime: number, timeframe: string): number | undefined {
  const match = TIMEFRAME.exec(timeframe);
  if (match === null) return undefined;
  const count = Number(match[1]);
  const unit = match[2] as keyof typeof unitMs | 'M';
  if (unit !== 'M') return openTime + count * unitMs[unit];
  const open = new Date(openTime);
  return Date.UTC(
    open.getUTCFullYear(),
    open.getUTCMonth() + count,
    open.getUTCDate(),
    open.getUTCHours(),
    open.getUTCMinutes(),
    open.getUTCSeconds(),
    open.getUTCMilliseconds(),
  );
}

/** 1970-01-05, a Monday: weekly bars open on Mondays 00:00 UTC, as exchanges draw them. */
const WEEK_ORIGIN = 4 * unitMs.d;

/**
 * Length of a bar in ms, or `undefined` for calendar months (`1M`: no fixed length) and for a
 * timeframe that is not a bar length.
 */
export function timeframeMs(timeframe: string): number | undefined {
  const match = TIMEFRAME.exec(timeframe);
  if (match === null || match[2] === 'M') return undefined;
  return Number(match[1]) * unitMs[match[2] as keyof typeof unitMs];
}

/**
 * Open time of the `timeframe` bar holding the instant `time`. Buckets are aligned to the epoch
 * (UTC midnight for days), weeks to Mondays and months to the first of a calendar month (counted
 * from January 1970 for `3M` and the like), so every process resamples to the same bars.
 */
export function bucketStart(time: number, timeframe: string): number {
  const match = TIMEFRAME.exec(timeframe);
  if (match === null) throw new RangeError(`'${timeframe}' is not a bar length such as '1h' or '1d'`);
  const count = Number(match[1]);
  const unit = match[2] as keyof typeof unitMs | 'M';
  if (unit === 'M') {
    const date = new Date(time);
    const months = date.getUTCFullYear() * 12 + date.getUTCMonth() - 1970 * 12;
    const start = Math.floor(months / count) * count;
    return Date.UTC(1970, start, 1);
  }
  const length = count * unitMs[unit];
  const origin = unit === 'w' ? WEEK_ORIGIN : 0;
  return Math.floor((time - origin) / length) * length + origin;
}
