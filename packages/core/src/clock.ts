/**
 * Time comes from an injected clock so that the same agent code runs live (wall clock) and in a
 * backtest (virtual clock advanced by the replay driver), deterministically and as fast as the
 * machine allows.
 */
const REUSE_LIMIT = 64;

export interface TimerHandle {
  cancel(): void;
}

export interface IntervalOptions {
  /**
   * When the clock moves past several due times at once (a replay jumping from one bar to the
   * next), run once, at the latest of them, instead of once for each. For timers that check or
   * announce the current state (heartbeats, staleness checks, polls, snapshots): running them
   * several times in a row with nothing new in between only repeats the same result. A wall
   * clock never runs missed intervals anyway.
   */
  skipMissed?: boolean;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs` of this clock's time. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /** Runs `fn` every `intervalMs` of this clock's time until cancelled. */
  setInterval(fn: () => void, intervalMs: number, options?: IntervalOptions): TimerHandle;
  /** Resolves after `ms` of this clock's time. */
  sleep(ms: number): Promise<void>;
  readonly kind: 'wall' | 'virtual';
}

/**
 * Wall time. Reading the system clock costs more than delivering an in-process event (about
 * 60 ns on a typical VM), so `now()` reuses the last reading within one synchronous run of code,
 * for at most 64 reads: a burst of publishes shares a timestamp that is at most a few
 * microseconds old, and the first read after the event loop turns is always fresh.
 */
export class WallClock implements Clock {
  readonly kind = 'wall' as const;
  private cached = 0;
  private reads = REUSE_LIMIT;
  private invalidationQueued = false;
  private readonly invalidate = (): void => {
    this.reads = REUSE_LIMIT;
    this.invalidationQueued = false;
  };

  now(): number {
    if (this.reads < REUSE_LIMIT) {
      this.reads++;
      return this.cached;
    }
    this.cached = Date.now();
    this.reads = 1;
    if (!this.invalidationQueued) {
      this.invalidationQueued = true;
      queueMicrotask(this.invalidate);
    }
    return this.cached;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(fn: () => void, intervalMs: number, _options?: IntervalOptions): TimerHandle {
    const t = setInterval(fn, intervalMs);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

interface VirtualTimer {
  at: number;
  order: number;
  fn: () => void;
  intervalMs: number | undefined;
  cancelled: boolean;
  skipMissed: boolean;
}

/**
 * A clock whose time moves only when told to. Timers fire in time order (ties in creation order)
 * while `advanceTo` walks forward, so a replay produces the same sequence of events every run.
 */
export class VirtualClock implements Clock {
  readonly kind = 'virtual' as const;
  private current: number;
  private timers: VirtualTimer[] = [];
  private nextOrder = 0;

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.add(fn, Math.max(0, delayMs), undefined);
  }

  setInterval(fn: () => void, intervalMs: number, options?: IntervalOptions): TimerHandle {
    if (!(intervalMs > 0)) throw new RangeError(`setInterval needs a positive interval, got ${intervalMs}`);
    return this.add(fn, intervalMs, intervalMs, options?.skipMissed === true);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Number of timers waiting to fire. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Time of the next timer, if any. */
  nextTimerAt(): number | undefined {
    this.compact();
    return this.timers[0]?.at;
  }

  /** Moves time forward to `targetMs`, firing every timer due on the way, in order. */
  advanceTo(targetMs: number): void {
    if (targetMs < this.current) return;
    for (;;) {
      this.compact();
      const next = this.timers[0];
      if (next === undefined || next.at > targetMs) break;
      this.timers.shift();
      if (next.skipMissed && next.intervalMs !== undefined && next.at + next.intervalMs <= targetMs) {
        // Due more than once on the way: it runs once, at the latest of those times, in its
        // place among the other timers.
        next.at += Math.floor((targetMs - next.at) / next.intervalMs) * next.intervalMs;
        next.order = this.nextOrder++;
        this.insert(next);
        continue;
      }
      this.current = next.at;
      if (next.intervalMs !== undefined) {
        next.at += next.intervalMs;
        next.order = this.nextOrder++;
        this.insert(next);
      }
      next.fn();
    }
    this.current = targetMs;
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  private add(fn: () => void, delayMs: number, intervalMs: number | undefined, skipMissed = false): TimerHandle {
    const timer: VirtualTimer = { at: this.current + delayMs, order: this.nextOrder++, fn, intervalMs, cancelled: false, skipMissed };
    this.insert(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  private insert(timer: VirtualTimer): void {
    // Binary search keeps timers sorted by (at, order); few timers exist per agent so an array is enough.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.timers[mid]!;
      if (t.at < timer.at || (t.at === timer.at && t.order < timer.order)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
  }

  private compact(): void {
    while (this.timers.length > 0 && this.timers[0]!.cancelled) this.timers.shift();
  }
}

/** Resolves after `ms` of `clock` time, or early (without throwing) when `signal` aborts. Returns false when aborted. */
export function sleepUnlessAborted(clock: Pick<Clock, 'setTimeout'>, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Settles with `promise`, or with `undefined` as soon as `signal` aborts (a late result is ignored). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<{ value: T } | undefined> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => undefined);
      resolve(undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ value });
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
