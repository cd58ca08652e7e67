export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** Fraction of the delay that is randomised away (0 = none, 1 = anywhere between 0 and the delay). */
  jitter: number;
}

/**
 * Exponential backoff with jitter. The jitter comes from a generator seeded with the stream's
 * name rather than Math.random, so a backtest that hits the same failures waits the same virtual
 * time on every run, while different streams still spread their retries apart.
 */
export class Backoff {
  private attempt = 0;
  private state: number;

  constructor(
    private readonly policy: BackoffPolicy,
    seed: string,
  ) {
    this.state = hashSeed(seed);
  }

  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt; each call counts one failed attempt. */
  next(minimumMs = 0): number {
    this.attempt++;
    const { initialDelayMs, maxDelayMs, factor, jitter } = this.policy;
    const base = Math.min(maxDelayMs, initialDelayMs * factor ** (this.attempt - 1));
    const delay = base * (1 - jitter * this.random());
    // A venue's own retry-after wins even over maxDelayMs: asking earlier only extends a ban.
    return Math.max(Math.round(delay), minimumMs);
  }

  reset(): void {
    this.attempt = 0;
  }

  // mulberry32: tiny, fast, and good enough to spread retries.
  private random(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
}

function hashSeed(seed: string): number {
  let h = 2_166_136_261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16_777_619);
  }
  return h | 0;
}
