import { describe, expect, it } from 'vitest';
import { PushConsumer } from './async.js';

describe('PushConsumer', () => {
  it('calls the listener synchronously and is drained at once when the listener returns nothing', () => {
    const seen: number[] = [];
    const consumer = new PushConsumer<number>((n) => void seen.push(n), new AbortController().signal);
    consumer.push(1);
    consumer.push(2);
    expect(seen).toEqual([1, 2]);
    expect(consumer.isDrained).toBe(true);
  });

  it('is held by a promise the listener returns, and later items wait behind it in order', async () => {
    const seen: string[] = [];
    let finish!: () => void;
    const consumer = new PushConsumer<number>((n) => {
      seen.push(`start ${n}`);
      if (n === 1) return new Promise<void>((r) => (finish = () => (seen.push('end 1'), r())));
      return undefined;
    }, new AbortController().signal);
    consumer.push(1);
    consumer.push(2);
    expect(seen).toEqual(['start 1']);
    expect(consumer.isDrained).toBe(false);
    const drained = consumer.drained().then(() => seen.push('drained'));
    finish();
    await drained;
    expect(seen).toEqual(['start 1', 'end 1', 'start 2', 'drained']);
    expect(consumer.isDrained).toBe(true);
  });

  it('ends when the signal aborts, and ends with the error when the listener throws or rejects', async () => {
    const abort = new AbortController();
    const quiet = new PushConsumer<number>(() => undefined, abort.signal);
    abort.abort();
    await expect(quiet.ended).resolves.toBeUndefined();

    const seen: number[] = [];
    const throwing = new PushConsumer<number>((n) => {
      seen.push(n);
      if (n === 2) throw new Error('bad bar');
    }, new AbortController().signal);
    throwing.push(1);
    throwing.push(2);
    throwing.push(3);
    await expect(throwing.ended).rejects.toThrow('bad bar');
    expect(seen).toEqual([1, 2]);

    const rejecting = new PushConsumer<number>(() => Promise.reject(new Error('backfill failed')), new AbortController().signal);
    rejecting.push(1);
    await expect(rejecting.ended).rejects.toThrow('backfill failed');
    expect(rejecting.isDrained).toBe(true);
  });
});
