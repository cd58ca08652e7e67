import { createHash } from 'node:crypto';

/**
 * Ids are derived from what caused them rather than drawn at random: the same signal always
 * yields the same trade id and the same client order ids, so a signal delivered twice, or an
 * intent published again after a restart, can never turn into a second order at the venue.
 */
const PURPOSE_CODES = {
  entry: 'e',
  exit: 'x',
  stop_loss: 's',
  take_profit: 'p',
  trailing_stop: 's',
  reduce: 'r',
  adopt: 'a',
} as const;

export type OrderPurposeCode = keyof typeof PURPOSE_CODES;

function digest(input: string, length: number): string {
  // base32 of sha256: case-insensitive venues and ids in URLs stay safe.
  const bytes = createHash('sha256').update(input).digest();
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  let out = '';
  for (let i = 0; out.length < length; i++) out += alphabet[bytes[i]! & 31];
  return out;
}

/** `t` + 20 base32 chars: 100 bits from the signal ids, collisions are not a practical concern. */
export function tradeIdFor(signalIds: readonly string[]): string {
  return 't' + digest([...signalIds].sort().join('|'), 20);
}

export function adoptedTradeIdFor(venue: string, symbol: string, side: string, timestamp: number): string {
  return 'a' + digest(`${venue}|${symbol}|${side}|${timestamp}`, 20);
}

/** `<tradeId>-<purpose code><revision>`: 21 + 1 + 1 + up to 13 digits, always within the 36 chars venues accept. */
export function clientOrderIdFor(tradeId: string, purpose: OrderPurposeCode, revision = 0): string {
  const id = `${tradeId}-${PURPOSE_CODES[purpose]}${revision}`;
  if (id.length > 36) throw new RangeError(`client order id '${id}' is longer than 36 characters`);
  return id;
}
