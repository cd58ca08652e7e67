import type { z } from 'zod';

/**
 * A fast yes-path for zod validation on hot paths: a transport's inbound events, a provider's bars.
 *
 * Checking every inbound event with `schema.safeParse` costs about a microsecond per event, as
 * much as the JSON parse itself. Most events are valid, and for the plain-data schemas of an event
 * catalogue "valid" can be decided by a few typeof tests. `compileAcceptor` generates such a test
 * (one straight-line function, the way zod compiles its own object parsers) when every part of
 * the schema is understood: objects, strings with length and regex checks, numbers with bounds
 * and integer checks, booleans, enums, literals, arrays, records, optional, nullable, unions,
 * unknown. Otherwise it returns undefined and zod does all the work.
 *
 * The acceptor only ever says "zod would accept this and return it unchanged": it returns false
 * for anything it is not sure about (including objects with keys zod would strip), and the caller
 * then runs zod, which decides and writes the error message. So a payload is never accepted that
 * zod rejects, and every rejection is zod's.
 */
export type Acceptor = (value: unknown) => boolean;

interface Def {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  element?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  entries?: Record<string, unknown>;
  values?: unknown[];
  options?: z.ZodType[];
  format?: string;
}

interface CheckDef {
  check: string;
  minimum?: number;
  maximum?: number;
  length?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  pattern?: RegExp;
}

export interface AcceptorOptions {
  /**
   * Accept objects with keys outside the schema (zod would strip them). For callers that read
   * only the schema's fields from the value they get back, so the extra keys never matter.
   */
  ignoreExtraKeys?: boolean;
}

const caches = { strict: new WeakMap<z.ZodType, Acceptor | null>(), loose: new WeakMap<z.ZodType, Acceptor | null>() };

export function compileAcceptor(schema: z.ZodType, options: AcceptorOptions = {}): Acceptor | undefined {
  const cache = options.ignoreExtraKeys === true ? caches.loose : caches.strict;
  let acceptor = cache.get(schema);
  if (acceptor === undefined) {
    acceptor = build(schema, options.ignoreExtraKeys === true) ?? null;
    cache.set(schema, acceptor);
  }
  return acceptor ?? undefined;
}

/**
 * `schema.safeParse` with the compiled yes-path in front, for values checked one by one on a hot
 * path (candles from a provider, events in a handler). A value the acceptor is sure of comes back
 * as it is; anything else goes to zod, which decides and explains. With `ignoreExtraKeys` the
 * value that comes back may carry keys outside the schema: read only the schema's fields.
 */
export function fastSafeParse<S extends z.ZodType>(schema: S, options: AcceptorOptions = {}): (value: unknown) => z.ZodSafeParseResult<z.output<S>> {
  const accept = compileAcceptor(schema, options);
  if (accept === undefined) return (value) => schema.safeParse(value);
  return (value) => (accept(value) ? { success: true, data: value as z.output<S> } : schema.safeParse(value));
}

function isPlainObject(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

class Unsupported extends Error {}

class Generator {
  constructor(readonly ignoreExtraKeys: boolean) {}
  readonly lines: string[] = [];
  readonly constants: unknown[] = [];
  private vars = 0;

  variable(): string {
    return `v${++this.vars}`;
  }

  constant(value: unknown): string {
    this.constants.push(value);
    return `c[${this.constants.length - 1}]`;
  }

  fail(condition: string): void {
    this.lines.push(`if (${condition}) return false;`);
  }
}

function build(schema: z.ZodType, ignoreExtraKeys: boolean): Acceptor | undefined {
  const g = new Generator(ignoreExtraKeys);
  try {
    emit(g, schema, 'v0');
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  const body = `return function accept(v0) {\n${g.lines.join('\n')}\nreturn true;\n};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('c', 'isPlainObject', body)(g.constants, isPlainObject) as Acceptor;
}

function checksOf(def: Def): CheckDef[] {
  return (def.checks ?? []).map((c) => c._zod.def);
}

/** Appends statements that `return false` unless the value in variable `x` passes `schema`. */
function emit(g: Generator, schema: z.ZodType, x: string): void {
  const def = defOf(schema);
  const checks = checksOf(def);
  switch (def.type) {
    case 'string':
      g.fail(`typeof ${x} !== 'string'`);
      for (const c of checks) emitStringCheck(g, c, x);
      return;
    case 'number':
      if (def.format === 'safeint') g.fail(`!Number.isSafeInteger(${x})`);
      else if (def.format === undefined) g.fail(`typeof ${x} !== 'number' || !Number.isFinite(${x})`);
      else throw new Unsupported();
      for (const c of checks) emitNumberCheck(g, c, x);
      return;
    case 'boolean':
      noChecks(checks);
      g.fail(`typeof ${x} !== 'boolean'`);
      return;
    case 'unknown':
    case 'any':
      noChecks(checks);
      // zod reports a missing required key even for unknown; JSON never carries undefined anyway.
      g.fail(`${x} === undefined`);
      return;
    case 'enum': {
      noChecks(checks);
      const values = Object.values(def.entries ?? {});
      if (!values.every((v) => typeof v === 'string')) throw new Unsupported();
      g.fail(`!${g.constant(new Set<unknown>(values))}.has(${x})`);
      return;
    }
    case 'literal': {
      noChecks(checks);
      const values = def.values ?? [];
      if (!values.every((v) => typeof v === 'string' || typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v)))) throw new Unsupported();
      g.fail(`!${g.constant(values)}.includes(${x})`);
      return;
    }
    case 'optional':
    case 'nullable': {
      noChecks(checks);
      if (def.innerType === undefined) throw new Unsupported();
      g.lines.push(`if (${x} !== ${def.type === 'optional' ? 'undefined' : 'null'}) {`);
      emit(g, def.innerType, x);
      g.lines.push('}');
      return;
    }
    case 'array': {
      if (def.element === undefined) throw new Unsupported();
      g.fail(`!Array.isArray(${x})`);
      for (const c of checks) emitLengthCheck(g, c, x);
      const i = g.variable();
      const item = g.variable();
      g.lines.push(`for (let ${i} = 0; ${i} < ${x}.length; ${i}++) {`, `const ${item} = ${x}[${i}];`);
      emit(g, def.element, item);
      g.lines.push('}');
      return;
    }
    case 'record': {
      noChecks(checks);
      if (def.keyType === undefined || def.valueType === undefined) throw new Unsupported();
      const keyDef = defOf(def.keyType);
      if (keyDef.type !== 'string' || checksOf(keyDef).length > 0) throw new Unsupported();
      g.fail(`!isPlainObject(${x})`);
      const k = g.variable();
      const item = g.variable();
      g.lines.push(`for (const ${k} in ${x}) {`, `const ${item} = ${x}[${k}];`);
      emit(g, def.valueType, item);
      g.lines.push('}');
      return;
    }
    case 'union': {
      noChecks(checks);
      const options = (def.options ?? []).map((o) => build(o, g.ignoreExtraKeys));
      if (options.length === 0 || options.some((o) => o === undefined)) throw new Unsupported();
      g.fail(options.map((o) => `!${g.constant(o)}(${x})`).join(' && '));
      return;
    }
    case 'object': {
      noChecks(checks);
      if (def.shape === undefined) throw new Unsupported();
      const catchall = def.catchall === undefined ? undefined : defOf(def.catchall).type;
      if (catchall !== undefined && catchall !== 'unknown' && catchall !== 'never') throw new Unsupported();
      g.fail(`!isPlainObject(${x})`);
      const present = g.variable();
      g.lines.push(`let ${present} = 0;`);
      for (const [key, field] of Object.entries(def.shape)) {
        const value = g.variable();
        const fieldDef = defOf(field);
        g.lines.push(`const ${value} = ${x}[${JSON.stringify(key)}];`);
        if (fieldDef.type === 'optional') {
          g.lines.push(`if (${value} !== undefined) {`, `${present}++;`);
          emit(g, fieldDef.innerType!, value);
          // zod keeps a key that is there with undefined (\`{ price: undefined }\`): it counts as present.
          g.lines.push(`} else if (Object.hasOwn(${x}, ${JSON.stringify(key)})) ${present}++;`);
        } else {
          g.fail(`${value} === undefined`);
          g.lines.push(`${present}++;`);
          emit(g, field, value);
        }
      }
      // A strict object rejects extra keys whatever the caller reads.
      if (catchall === 'never' || (catchall === undefined && !g.ignoreExtraKeys)) {
        // A key outside the shape: zod would strip it (or reject it), so its output would differ. Let zod decide.
        const count = g.variable();
        const k = g.variable();
        g.lines.push(`let ${count} = 0;`, `for (const ${k} in ${x}) ${count}++;`);
        g.fail(`${count} !== ${present}`);
      }
      return;
    }
    default:
      throw new Unsupported();
  }
}

function noChecks(checks: CheckDef[]): void {
  if (checks.length > 0) throw new Unsupported();
}

function emitLengthCheck(g: Generator, c: CheckDef, x: string): void {
  if (c.check === 'min_length' && typeof c.minimum === 'number') g.fail(`${x}.length < ${c.minimum}`);
  else if (c.check === 'max_length' && typeof c.maximum === 'number') g.fail(`${x}.length > ${c.maximum}`);
  else if (c.check === 'length_equals' && typeof c.length === 'number') g.fail(`${x}.length !== ${c.length}`);
  else throw new Unsupported();
}

function emitStringCheck(g: Generator, c: CheckDef, x: string): void {
  if (c.check !== 'string_format') return emitLengthCheck(g, c, x);
  if (c.format !== 'regex' || !(c.pattern instanceof RegExp)) throw new Unsupported();
  const pattern = g.constant(c.pattern);
  g.lines.push(`${pattern}.lastIndex = 0;`);
  g.fail(`!${pattern}.test(${x})`);
}

function emitNumberCheck(g: Generator, c: CheckDef, x: string): void {
  if ((c.check === 'greater_than' || c.check === 'less_than') && typeof c.value === 'number' && Number.isFinite(c.value)) {
    const op = c.check === 'greater_than' ? (c.inclusive ? '<' : '<=') : c.inclusive ? '>' : '>=';
    g.fail(`${x} ${op} ${c.value}`);
  } else if (c.check === 'number_format' && c.format === 'safeint') {
    g.fail(`!Number.isSafeInteger(${x})`);
  } else {
    throw new Unsupported();
  }
}
