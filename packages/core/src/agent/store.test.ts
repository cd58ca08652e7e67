import { describe, expect, it } from 'vitest';
import { MemoryStateStore } from './store.js';

describe('MemoryStateStore', () => {
  it('gives back copies of objects, never the stored one', async () => {
    const store = new MemoryStateStore();
    const value = { book: { orders: [1, 2] }, at: 5 };
    await store.set('state', value);
    value.book.orders.push(3);
    const first = await store.get<typeof value>('state');
    expect(first).toEqual({ book: { orders: [1, 2] }, at: 5 });
    first!.book.orders.push(4);
    expect(await store.get('state')).toEqual({ book: { orders: [1, 2] }, at: 5 });
  });

  it('reads plain values back as a file store would: numbers, strings, booleans, null; NaN becomes null', async () => {
    const store = new MemoryStateStore();
    await store.set('n', 1_577_836_800_000);
    await store.set('s', '{"not":"parsed"}');
    await store.set('b', false);
    await store.set('z', null);
    await store.set('nan', Number.NaN);
    await store.set('gone', undefined);
    expect(await store.get('n')).toBe(1_577_836_800_000);
    expect(await store.get('s')).toBe('{"not":"parsed"}');
    expect(await store.get('b')).toBe(false);
    expect(await store.get('z')).toBeNull();
    expect(await store.get('nan')).toBeNull();
    expect(await store.get('gone')).toBeUndefined();
    expect((await store.keys()).sort()).toEqual(['b', 'n', 'nan', 's', 'z']);
  });

  it('a value that cannot be written rejects the write and keeps the old one', async () => {
    const store = new MemoryStateStore();
    await store.set('x', { a: 1 });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(store.set('x', cyclic)).rejects.toThrow(/circular/i);
    await expect(store.set('x', () => 1)).rejects.toThrow("State 'x' cannot be stored as JSON: it is a function; store plain data.");
    expect(await store.get('x')).toEqual({ a: 1 });
  });
});
