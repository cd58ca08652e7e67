import { describe, expect, it } from 'vitest';
import { jsonCopy } from './json-copy.js';

const roundTrip = (value: unknown): unknown => {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
};

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

const withGetter = Object.defineProperty({ a: 1 }, 'b', { get: () => 2, enumerable: true });
const hidden = Object.defineProperty({ a: 1 }, 'secret', { value: 2, enumerable: false });
const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, b: [2] });
// eslint-disable-next-line no-sparse-arrays
const sparse = [1, , 3];
const extraArrayKey = Object.assign([1, 2], { note: 'ignored by JSON' });
const protoKey = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;

const cases: Array<[string, unknown]> = [
  ['a trade book', { trades: { t1: { id: 't1', qty: 4.719156992159339, price: 0.07509922, open: true, ids: ['a', 'b'] } }, orders: {} }],
  ['numbers at the edges', [0, -0, 1e-7, 5e-324, Number.MAX_VALUE, -1.5, 0.1 + 0.2]],
  ['non-finite numbers', { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, list: [Number.NEGATIVE_INFINITY] }],
  ['undefined, functions and symbols', { u: undefined, f: () => 1, s: Symbol('x'), list: [undefined, () => 1, Symbol('y')], kept: 1 }],
  ['strings with escapes', { s: 'line\nbreak "quoted" \u2028 \ud83d\ude00' }],
  ['integer-like keys', { b: 1, 2: 'two', a: 3, 1: 'one' }],
  ['a Date (toJSON)', { at: new Date(1_584_657_000_000) }],
  ['a class instance', { p: new Point(1, 2) }],
  ['a Map and a Set', { m: new Map([['k', 1]]), s: new Set([1]) }],
  ['boxed primitives', { n: Object(1) as unknown, s: Object('x') as unknown, b: Object(false) as unknown }],
  ['a typed array', { bytes: new Uint8Array([1, 2]) }],
  ['an enumerable getter', withGetter],
  ['a non-enumerable property', hidden],
  ['a null-prototype object', nullProto],
  ['a sparse array', sparse],
  ['an array with an extra key', extraArrayKey],
  ['a __proto__ key', protoKey],
  ['a string', 'text'],
  ['a number', 42],
  ['null', null],
  ['NaN alone', Number.NaN],
  ['undefined alone', undefined],
  ['a function alone', () => 1],
  ['deep nesting', Array.from({ length: 150 }).reduce<unknown>((inner) => ({ inner }), { leaf: true })],
];

describe('jsonCopy', () => {
  it.each(cases)('gives what a JSON round trip gives: %s', (_name, value) => {
    const expected = roundTrip(value);
    const copy = jsonCopy(value);
    expect(copy).toStrictEqual(expected);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(expected));
    if (copy !== null && typeof copy === 'object') {
      expect(Object.getPrototypeOf(copy)).toBe(Array.isArray(copy) ? Array.prototype : Object.prototype);
    }
  });

  it('turns -0 into 0 as JSON does', () => {
    expect(Object.is(jsonCopy(-0), 0)).toBe(true);
    expect(Object.is((jsonCopy({ x: -0 }) as { x: number }).x, 0)).toBe(true);
  });

  it('shares nothing with the original', () => {
    const value = { book: { orders: [{ id: 'o1', fills: [1, 2] }] } };
    const copy = jsonCopy(value)!;
    expect(copy).not.toBe(value);
    expect(copy.book).not.toBe(value.book);
    expect(copy.book.orders[0]).not.toBe(value.book.orders[0]);
    copy.book.orders[0]!.fills.push(3);
    expect(value.book.orders[0]!.fills).toEqual([1, 2]);
  });

  it('keeps a __proto__ key as data and leaves the prototype alone', () => {
    const copy = jsonCopy(protoKey) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('fails as JSON fails: cycles and bigints throw the same errors', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => jsonCopy(cyclic)).toThrow(TypeError);
    expect(() => jsonCopy(cyclic)).toThrow(/circular/i);
    expect(() => jsonCopy({ big: 1n })).toThrow(/BigInt/);
  });
});
