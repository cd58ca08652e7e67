import type { QuietHours } from './config.js';

const minutes = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Milliseconds since local midnight in `timeZone` at `now`. */
function localMsOfDay(now: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  return ((Number(parts['hour']) * 60 + Number(parts['minute'])) * 60 + Number(parts['second'])) * 1000 + (((now % 1000) + 1000) % 1000);
}

const DAY = 86_400_000;

/**
 * Milliseconds until the quiet hours end, or undefined when `now` is outside them. `from` later
 * than `to` runs over midnight; equal times mean no quiet hours. On a day the clocks change the
 * end may come an hour early or late: a digest then arrives an hour off, nothing is lost.
 */
export function quietRemainingMs(quiet: QuietHours, now: number): number | undefined {
  const from = minutes(quiet.from) * 60_000;
  const to = minutes(quiet.to) * 60_000;
  if (from === to) return undefined;
  const t = localMsOfDay(now, quiet.timeZone);
  const inside = from < to ? t >= from && t < to : t >= from || t < to;
  if (!inside) return undefined;
  return (((to - t) % DAY) + DAY) % DAY;
}

/** Milliseconds from `now` to the next HH:MM in UTC (a whole day when it is that time now). */
export function msUntilUtc(hhmm: string, now: number): number {
  const target = minutes(hhmm) * 60_000;
  const t = ((now % DAY) + DAY) % DAY;
  const wait = (((target - t) % DAY) + DAY) % DAY;
  return wait === 0 ? DAY : wait;
}
