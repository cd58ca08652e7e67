
export { sleepUnlessAborted, untilAborted } from '@tradebus/core';

/**
 * A push queue consumed as an AsyncIterable. The producer can wait until the consumer has taken
 * everything (`drained()`), which gives a replay natural backpressure: the next record goes out
 * only once every consumer asked for it.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
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
