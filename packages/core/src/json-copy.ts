/**
 * `jsonCopy(value)` is `JSON.parse(JSON.stringify(value))` without the text in between: agent
 * state is mostly numbers, and printing a double and reading it back costs more than copying the
 * tree. The result is the same as the round trip: non-finite numbers become null, -0 becomes 0,
 * undefined, functions and symbols are left out of objects and become null in arrays.
 *
 * Only plain data takes the direct path (objects with Object.prototype or no prototype, arrays,
 * primitives). A class instance, a Date or anything with `toJSON`, a bigint, a `__proto__` key
 * or a tree deeper than MAX_DEPTH (a cycle, most likely) goes through JSON itself, so its result
 * and its error are exactly JSON's.
 */
const MAX_DEPTH = 100;
const NOT_PLAIN: unique symbol = Symbol('not plain JSON data');
const OMITTED: unique symbol = Symbol('left out by JSON');

export function jsonCopy<T>(value: T): T | undefined {
  const copied = copyValue(value, 0);
  if (copied === OMITTED) return undefined;
  if (copied !== NOT_PLAIN) return copied as T;
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

function copyValue(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'number':
      if (value === 0) return 0;
      return Number.isFinite(value) ? value : null;
    case 'string':
    case 'boolean':
      return value;
    case 'object':
      return value === null ? null : copyObject(value, depth);
    case 'bigint':
      return NOT_PLAIN;
    default:
      // undefined, function, symbol
      return OMITTED;
  }
}

function copyObject(value: object, depth: number): unknown {
  if (depth >= MAX_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') return NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return NOT_PLAIN;
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = copyValue(value[i], depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      out[i] = item === OMITTED ? null : item;
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    // Assigning it would set the copy's prototype; JSON.parse makes it an own property.
    if (key === '__proto__') return NOT_PLAIN;
    const item = copyValue(source[key], depth + 1);
    if (item === NOT_PLAIN) return NOT_PLAIN;
    if (item !== OMITTED) out[key] = item;
  }
  return out;
}
