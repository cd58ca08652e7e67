import { randomBytes } from 'node:crypto';

/**
 * Sortable unique ids: 10 chars of millisecond time, a 6-char random process tag and a base-32
 * counter. Lexicographic order follows time (across processes) and publish order (within one),
 * and generating one is a handful of string operations, cheap enough for every event.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeTime(ms: number): string {
  let out = '';
  let v = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[v % 32]! + out;
    v = Math.floor(v / 32);
  }
  return out;
}

function randomTag(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! % 32];
  return out;
}

export class IdGenerator {
  readonly tag = randomTag(6);
  private lastTime = -1;
  private lastTimePart = '';
  private counter = 0;

  next(timeMs: number): string {
    if (timeMs !== this.lastTime) {
      this.lastTime = timeMs;
      this.lastTimePart = encodeTime(timeMs);
    }
    const c = (this.counter++).toString(32);
    // Pads to 7 chars so ids from one process sort by counter within the same millisecond.
    return this.lastTimePart + '0000000'.slice(c.length) + c + this.tag;
  }
}

const shared = new IdGenerator();

/** A sortable unique id for records that are not events (orders, trades, ...). */
export function newId(timeMs: number = Date.now()): string {
  return shared.next(timeMs);
}

/**
 * The id of the `seq`-th event of one publisher at `timeMs`: time first so ids sort by time
 * across publishers, then the sequence so they sort by publish order within one, then the
 * publisher's random tag so two publishers never collide.
 */
export function eventId(timeMs: number, seq: number, tag: string): string {
  const c = seq.toString(32);
  return encodeTime(timeMs) + '0000000'.slice(c.length) + c + tag;
}

export function newTag(): string {
  return randomTag(6);
}
