export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the breaker. */
  failureThreshold: number;
  /** How long an open breaker refuses calls before letting one trial through. */
  cooldownMs: number;
  /** Time source; the breaker guards real network calls, so wall time by default. */
  now?: () => number;
}

/**
 * Stops asking a server that keeps failing: after `failureThreshold` consecutive failures the
 * breaker opens and calls fail at once (no timeout to sit through on every bar); after
 * `cooldownMs` one trial call goes through (half-open); its success closes the breaker, its
 * failure opens it for another cool-down.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialOut = false;
  private readonly listeners = new Set<(state: BreakerState, previous: BreakerState) => void>();
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) this.move('half-open');
    return this.current;
  }

  /** Consecutive failures counted so far (reset by a success). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds until an open breaker lets a trial through; 0 otherwise. */
  get retryInMs(): number {
    return this.current === 'open' ? Math.max(0, this.openedAt + this.options.cooldownMs - this.now()) : 0;
  }

  /** Whether a call may go out now. In half-open, only one trial at a time. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialOut) return false;
    this.trialOut = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.trialOut = false;
    if (this.current !== 'closed') this.move('closed');
  }

  failure(): void {
    this.failures++;
    this.trialOut = false;
    if (this.current === 'half-open' || (this.current === 'closed' && this.failures >= this.options.failureThreshold)) {
      this.openedAt = this.now();
      this.move('open');
    }
  }

  onChange(listener: (state: BreakerState, previous: BreakerState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private move(to: BreakerState): void {
    const from = this.current;
    this.current = to;
    for (const l of this.listeners) l(to, from);
  }
}
