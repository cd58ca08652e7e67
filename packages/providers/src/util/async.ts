
export { sleepUnlessAborted, untilAborted } from '@tradebus/core';

/** What a market timeline hands records to: a queue read with `for await`, or a pushed listener. */
export interface Consumer<T> {
  push(item: T): void;
  close(): void;
  /** True when the consumer has finished with everything it was given. */
  readonly isDrained: boolean;
  drained(): Promise<void>;
}

/**
 * Calls a listener with each item, synchronously. A promise the listener returns holds the
 * consumer (`isDrained` false) until it settles, and later items wait behind it, in order. A
 * listener that throws (or rejects) ends the stream: `ended` rejects with its error.
 */
export class PushConsumer<T> implements Consumer<T> {
  readonly ended: Promise<void>;
  private end!: (error?: unknown) => void;
  private pending: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly listener: (item: T) => void | Promise<void>,
    signal: AbortSignal,
  ) {
    this.ended = new Promise<void>((resolve, reject) => {
      this.end = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    });
    signal.addEventListener('abort', () => this.close(), { once: true });
    if (signal.aborted) this.close();
  }

  get isDrained(): boolean {
    return this.closed || this.pending === undefined;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.pending !== undefined) {
      this.hold(this.pending.then(() => (this.closed ? undefined : this.listener(item))));
      return;
    }
    let result: void | Promise<void>;
    try {
      result = this.listener(item);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (result !== undefined) this.hold(result);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.end();
  }

  drained(): Promise<void> {
    return this.isDrained ? Promise.resolve() : this.pending!.then(() => this.drained());
  }

  private hold(work: Promise<void>): void {
    const pending = work.then(
      () => {
        if (this.pending === pending) this.pending = undefined;
      },
      (err: unknown) => {
        if (this.pending === pending) this.pending = undefined;
        this.fail(err);
      },
    );
    this.pending = pending;
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.end(err ?? new Error('market data listener failed'));
  }
}

/**
 * A push queue consumed as an AsyncIterable. The producer can wait until the consumer has taken
 * everything (`drained()`), which gives a replay natural backpressure: the next record goes out
 * only once every consumer asked for it.
 */
export class AsyncQueue<T> implements AsyncIterable<T>, Consumer<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private drainWaiters: Array<() => void> = [];
  private closed = false;

  constructor(signal?: AbortSignal) {
    signal?.addEventListener('abort', () => this.close(), { once: true });
    if (signal?.aborted) this.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True when the queue is empty and its consumer is waiting for more (or the queue is closed). */
  get isDrained(): boolean {
    return this.closed || (this.items.length === 0 && this.waiting !== undefined);
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting !== undefined) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
      this.notifyDrained();
      return;
    }
    this.items.push(item);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items.length = 0;
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
    this.notifyDrained();
  }

  /** Resolves once the queue is empty and the consumer is waiting for more (or the queue is closed). */
  drained(): Promise<void> {
    if (this.closed || (this.items.length === 0 && this.waiting !== undefined)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) {
          const value = this.items.shift()!;
          return Promise.resolve({ value, done: false });
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        const promise = new Promise<IteratorResult<T>>((resolve) => {
          this.waiting = resolve;
        });
        this.notifyDrained();
        return promise;
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private notifyDrained(): void {
    if (!(this.closed || (this.items.length === 0 && this.waiting !== undefined))) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
