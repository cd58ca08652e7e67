import { z } from 'zod';

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const TIMEFRAME = /^([1-9]\d*)([smhdw])$/;

/** Bar length in ms of a timeframe such as `1m`, `5m`, `4h`, `1d`. Months have no fixed length and are not accepted. */
export function timeframeMs(timeframe: string): number {
  const match = TIMEFRAME.exec(timeframe);
  if (match === null) throw new RangeError(`Unsupported timeframe '${timeframe}': use a number followed by s, m, h, d or w (e.g. 1m, 5m, 1h).`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export const timeframeSchema = z
  .string()
  .regex(TIMEFRAME, { error: 'must be a number followed by s, m, h, d or w, e.g. 1m, 5m, 1h, 1d' });
