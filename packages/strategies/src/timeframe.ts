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
