const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parsed once per timeframe: it is asked on every candle. */
const known = new Map<string, number | undefined>();

/** Bar length in ms, or undefined for a timeframe without a fixed length (months) or a malformed one. */
export function timeframeMs(timeframe: string): number | undefined {
  if (known.has(timeframe)) return known.get(timeframe);
  const match = /^([1-9]\d*)([smhdw])$/.exec(timeframe);
  const ms = match === null ? undefined : Number(match[1]) * UNIT_MS[match[2]!]!;
  if (known.size < 1_000) known.set(timeframe, ms);
  return ms;
}
