import type { Clock } from '@tradebus/core';

/**
 * A token bucket on an injected clock: `capacity` requests in a burst, then `refillPerSecond`.
 * Waiters are served in arrival order. On a virtual clock it waits in virtual time, without
 * slowing the machine down.
 */
export class TokenBucket {
  /**
   * A bucket that never makes anyone wait: for a venue with no request limits (the paper venue).
   * A wait there would also hold a replay forever: the replay moves the virtual clock only once
   * the agents are idle, and a request waiting for a token keeps the executor busy.
   */
  static unlimited(clock: Clock): TokenBucket {
    return new TokenBucket(clock, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  private tokens: number;
  private updatedAt: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: Clock,
    readonly capacity: number,
    readonly refillPerSecond: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = clock.now();
  }

  /** Resolves when a request may go out (and takes its token). */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.acquire(signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Empties the bucket for `ms`: what a venue's "retry after" asks for. */
  pause(ms: number): void {
    if (this.refillPerSecond === Number.POSITIVE_INFINITY) return;
    this.refill();
    this.tokens = Math.min(this.tokens, 0) - (ms / 1_000) * this.refillPerSecond;
  }

  get available(): number {
    this.refill();
    return this.tokens;
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      if (signal?.aborted) throw new Error('aborted while waiting for a rate-limit token');
      const waitMs = Math.ceil(((1 - this.tokens) / this.refillPerSecond) * 1_000);
      await this.clock.sleep(Math.max(1, waitMs));
    }
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1_000) * this.refillPerSecond);
      this.updatedAt = now;
    }
  }
}
