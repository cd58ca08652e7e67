import { createHash } from 'node:crypto';
import { TransportError } from '../../errors.js';
import { compilePattern } from '../../bus/subjects.js';

/**
 * Subject algebra on NATS patterns ('.'-separated tokens, '*' one token, '>' the rest), used to
 * decide which part of a subscription travels through JetStream.
 */

/** The pattern matching exactly the subjects both `a` and `b` match, or undefined when none. */
export function intersectPatterns(a: string, b: string): string | undefined {
  const tokens = intersect(a.split('.'), 0, b.split('.'), 0);
  return tokens === undefined ? undefined : tokens.join('.');
}

function intersect(a: string[], i: number, b: string[], j: number): string[] | undefined {
  if (i === a.length && j === b.length) return [];
  if (a[i] === '>') return j < b.length ? b.slice(j) : undefined;
  if (b[j] === '>') return i < a.length ? a.slice(i) : undefined;
  if (i === a.length || j === b.length) return undefined;
  const x = a[i]!;
  const y = b[j]!;
  const token = x === '*' ? y : y === '*' ? x : x === y ? x : undefined;
  if (token === undefined) return undefined;
  const rest = intersect(a, i + 1, b, j + 1);
  return rest === undefined ? undefined : [token, ...rest];
}

/** True when every subject `inner` matches is also matched by `outer`. */
export function isSubsetPattern(inner: string, outer: string): boolean {
  return subset(inner.split('.'), 0, outer.split('.'), 0);
}

function subset(a: string[], i: number, b: string[], j: number): boolean {
  if (j < b.length && b[j] === '>') return i < a.length;
  if (i === a.length || j === b.length) return i === a.length && j === b.length;
  if (a[i] === '>') return false;
  if (b[j] === '*') return subset(a, i + 1, b, j + 1);
  if (a[i] === '*') return false;
  return a[i] === b[j] && subset(a, i + 1, b, j + 1);
}

/**
 * Validates durable patterns and drops the ones another already covers (JetStream refuses a
 * stream whose subjects overlap), keeping the input order.
 */
export function normalizePatterns(patterns: readonly string[]): string[] {
  for (const p of patterns) {
    try {
      compilePattern(p);
    } catch (err) {
      throw new TransportError('NATS_DURABLE_PATTERN_INVALID', `transport.durable contains '${p}', which is not a valid event pattern: ${(err as Error).message}`, { cause: err });
    }
  }
  const unique = [...new Set(patterns)];
  return unique.filter((p, i) => !unique.some((q, j) => j !== i && isSubsetPattern(p, q) && (!isSubsetPattern(q, p) || j < i)));
}

/** `tradebus.dev` → `TRADEBUS_DEV`: stream names may not contain '.', '*', '>' or spaces. */
export function streamNameFor(prefix: string): string {
  return prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_');
}

/** A consumer-name-safe spelling of a pattern: `order.*` → `order_STAR`. */
export function patternToken(pattern: string): string {
  return pattern.replace(/\*/g, 'STAR').replace(/>/g, 'REST').replace(/[^A-Za-z0-9_-]/g, '_');
}

const CONSUMER_NAME = /^[A-Za-z0-9_-]{1,100}$/;

export function assertDurableName(durable: string): void {
  if (!CONSUMER_NAME.test(durable)) {
    throw new TransportError(
      'NATS_DURABLE_NAME_INVALID',
      `Durable name '${durable}' is not valid: use 1-100 letters, digits, '-' and '_' (it names a JetStream consumer).`,
    );
  }
}

const CONSUMER_NAME_MAX = 100;

/**
 * A valid JetStream consumer name from `raw`: characters outside letters, digits, '-' and '_'
 * become '_'; a name longer than the limit keeps its start and ends in a hash of the whole.
 */
export function consumerName(raw: string): string {
  const safe = raw.replace(/[^A-Za-z0-9_-]/g, '_');
  if (safe.length <= CONSUMER_NAME_MAX) return safe;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 16);
  return `${safe.slice(0, CONSUMER_NAME_MAX - hash.length - 1)}-${hash}`;
}

/**
 * The durable consumer a subscriber identity (an agent id) gets for the part `part` of its
 * subscription that is durable: `executor` + `order.requested` → `executor-order_requested`.
 */
export function derivedConsumerName(identity: string, part: string): string {
  return consumerName(`${identity}-${patternToken(part)}`);
}

/** The durable parts of a subscription pattern: its intersections with the durable patterns. */
export function durableParts(pattern: string, durablePatterns: readonly string[]): string[] {
  return [...new Set(durablePatterns.map((d) => intersectPatterns(pattern, d)).filter((p): p is string => p !== undefined))];
}
