import { describe, expect, it } from 'vitest';
import { seededRandom } from './testing/random.js';
import { z } from 'zod';
import { builtinEvents } from './events/builtin.js';
import { wireEnvelopeSchema } from './transports/nats/codec.js';
import { compileAcceptor, fastSafeParse } from './fast-check.js';

/** Deterministic pseudo-random numbers, so a failure reproduces. */
type Def = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** A value of the schema's shape, often valid, sometimes not (bounds are guessed). */
function sample(schema: z.ZodType, r: () => number, depth = 0): unknown {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return ['BTC/USDT', 'price.tick', 'a', 'x'.repeat(40), ''][Math.floor(r() * 5)];
    case 'number':
      return [1, 0, 2.5, 1_700_000_000_000, -1][Math.floor(r() * 5)];
    case 'boolean':
      return r() < 0.5;
    case 'enum':
      return Object.values(def.entries as Record<string, string>)[0];
    case 'literal':
      return (def.values as unknown[])[0];
    case 'optional':
      return r() < 0.3 ? undefined : sample(def.innerType as z.ZodType, r, depth);
    case 'nullable':
      return r() < 0.2 ? null : sample(def.innerType as z.ZodType, r, depth);
    case 'array':
      return depth > 3 ? [] : Array.from({ length: Math.floor(r() * 3) }, () => sample(def.element as z.ZodType, r, depth + 1));
    case 'record':
      return { k: sample(def.valueType as z.ZodType, r, depth + 1) };
    case 'union':
      return sample((def.options as z.ZodType[])[0]!, r, depth);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const value = sample(v, r, depth + 1);
        // An optional field is left out or there with undefined (as a spread of optional fields gives).
        if (value !== undefined || r() < 0.5) out[k] = value;
      }
      return out;
    }
    default:
      return r() < 0.5 ? 'anything' : { any: 1 };
  }
}

const junk: unknown[] = ['', 'text', 0, -1, 1.5, 2 ** 60, true, null, [], [1], {}, { extra: 1 }, 'buy', 'long'];

/** Changes one thing somewhere in the value. */
function mutate(value: unknown, r: () => number): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || r() < 0.3) return [...value, junk[Math.floor(r() * junk.length)]];
    const copy = [...value];
    const i = Math.floor(r() * copy.length);
    copy[i] = mutate(copy[i], r);
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const roll = r();
    if (keys.length === 0 || roll < 0.15) copy[`unknown${Math.floor(r() * 3)}`] = junk[Math.floor(r() * junk.length)];
    else if (roll < 0.3) delete copy[keys[Math.floor(r() * keys.length)]!];
    else {
      const k = keys[Math.floor(r() * keys.length)]!;
      copy[k] = mutate(copy[k], r);
    }
    return copy;
  }
  return junk[Math.floor(r() * junk.length)];
}

const schemas: Array<[string, z.ZodType]> = [['wire envelope', wireEnvelopeSchema], ...Object.entries(builtinEvents)];

describe('compiled acceptors for zod schemas', () => {
  it('cover every built-in event and the wire envelope, so valid events skip the slow path', () => {
    const missing = schemas.filter(([, s]) => compileAcceptor(s) === undefined).map(([n]) => n);
    expect(missing).toEqual([]);
  });

  it.each(schemas)('never accept what zod rejects or would change: %s', (_name, schema) => {
    const accept = compileAcceptor(schema)!;
    const r = seededRandom(0x5eed);
    let accepted = 0;
    for (let i = 0; i < 1500; i++) {
      let value = sample(schema, r);
      const mutations = Math.floor(r() * 3);
      for (let m = 0; m < mutations; m++) value = mutate(value, r);
      const zod = schema.safeParse(value);
      if (accept(value)) {
        accepted++;
        expect(zod.success, JSON.stringify(value)).toBe(true);
        expect(zod.data).toStrictEqual(value);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('agrees with zod on the corner cases of its rules', () => {
    const cases: Array<[z.ZodType, unknown]> = [
      [z.object({ a: z.unknown() }), {}],
      [z.object({ a: z.string().optional() }), {}],
      [z.object({ a: z.string() }), { a: 'x', b: 1 }],
      [z.strictObject({ a: z.string() }), { a: 'x', b: 1 }],
      [z.looseObject({ a: z.string() }), { a: 'x', b: 1 }],
      [z.number().int(), 2 ** 53],
      [z.number().positive(), 0],
      [z.number().nonnegative(), 0],
      [z.string().min(1), ''],
      [z.string().regex(/^a+$/g), 'aaa'],
      [z.array(z.string()).max(1), ['a', 'b']],
      [z.record(z.string(), z.number()), []],
      [z.enum(['a', 'b']), 'c'],
      [z.object({ a: z.number() }), Object.create({ a: 1 })],
    ];
    for (const [schema, value] of cases) {
      const accept = compileAcceptor(schema);
      if (accept !== undefined && accept(value)) expect(schema.safeParse(value).success, JSON.stringify(value)).toBe(true);
    }
    // zod keeps an optional key that is there with undefined, so the value comes back unchanged.
    const optional = z.object({ a: z.string(), b: z.number().optional() });
    expect(compileAcceptor(optional)!({ a: 'x', b: undefined })).toBe(true);
    expect(optional.parse({ a: 'x', b: undefined })).toHaveProperty('b');
    expect(compileAcceptor(optional)!({ a: 'x', c: undefined })).toBe(false);
    expect(compileAcceptor(z.string().refine(() => true))).toBeUndefined();
    expect(compileAcceptor(z.string().default('x'))).toBeUndefined();
    expect(compileAcceptor(z.string().trim())).toBeUndefined();
  });

  it('with ignoreExtraKeys accepts extra keys on plain objects, never on strict ones, and still checks the fields', () => {
    const plain = z.object({ a: z.number().nonnegative(), b: z.object({ c: z.string() }) });
    const loose = compileAcceptor(plain, { ignoreExtraKeys: true })!;
    const strict = compileAcceptor(plain)!;
    const extra = { a: 1, b: { c: 'x', d: 2 }, e: true };
    expect(strict(extra)).toBe(false);
    expect(loose(extra)).toBe(true);
    expect(loose({ a: -1, b: { c: 'x' }, e: true })).toBe(false);
    expect(loose({ a: 1, b: { c: 2 } })).toBe(false);
    expect(compileAcceptor(z.strictObject({ a: z.number() }), { ignoreExtraKeys: true })!({ a: 1, b: 2 })).toBe(false);
  });

  it('fastSafeParse returns accepted values as they are and lets zod explain the rest', () => {
    const schema = z.object({ price: z.number().positive(), symbol: z.string().min(1) });
    const parse = fastSafeParse(schema, { ignoreExtraKeys: true });
    const value = { price: 2, symbol: 'ETH/BTC', extra: 1 };
    const ok = parse(value);
    expect(ok.success && ok.data).toBe(value);
    const bad = parse({ price: 0, symbol: 'ETH/BTC' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['price']);
    const refined = fastSafeParse(z.number().refine((n) => n > 1, 'must be above 1'));
    expect(refined(0.5).error?.issues[0]?.message).toBe('must be above 1');
    expect(refined(2).success).toBe(true);
  });
});
