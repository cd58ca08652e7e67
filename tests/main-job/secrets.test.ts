import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  TradebusError,
  agentEntrySchema,
  createLogger,
  createSystem,
  errorMessage,
  systemConfigSchema,
  validateConfig,
  type SystemConfig,
  type TradebusSystem,
} from '@tradebus/core';
import { providerConfigSchemas } from '@tradebus/providers';
import { createApiApp, prepareSystem, SystemMetrics } from '@tradebus/agent-main';

// Every string field of the whole config schema gets a value of its own: a secret-marked field a
// unique secret, any other field that accepts one a URL with unique credentials in it. None of
// them may show in GET /config, in the log output, or in an error message. The schema is walked
// here, on its own terms, so a secret field added later is planted too.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const holderModule = join(root, 'packages', 'agents', 'main', 'test-fixtures', 'secret-agent.mjs');
const TOKEN = 'the-operator-token-for-this-test';

type Schema = z.core.$ZodType;
interface Def {
  type: string;
  [key: string]: unknown;
}
const defOf = (s: Schema): Def => s._zod.def as unknown as Def;
const markedSecret = (s: Schema): boolean => (z.globalRegistry.get(s) as { secret?: boolean } | undefined)?.secret === true;
const SKIP = Symbol('skip');
const FALLBACK_STRINGS = ['tradebus', 'dev', 'x.y', '5m', 'BTC/USDT', '2024-01-01T00:00:00Z', 'abcdefghijklmnopqrstuvwxyz'];

interface Planted {
  /** Values that must never be shown. */
  secrets: string[];
  /** Where each of `secrets` was planted. */
  secretsAt: Array<Array<string | number>>;
  /** Paths of secret-marked fields (they must read [REDACTED]). */
  secretPaths: Array<Array<string | number>>;
}

/** Builds a valid value for `schema` with every string planted; `into` collects what was planted. */
class Planter {
  private n = 0;
  constructor(private readonly tag: string) {}

  plant(schema: Schema, into: Planted, path: Array<string | number> = [], secret = false): unknown {
    const def = defOf(schema);
    const isSecret = secret || markedSecret(schema);
    const inner = (s: unknown, p = path) => this.plant(s as Schema, into, p, isSecret);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        return inner(def.innerType);
      case 'pipe':
        return inner(def.in);
      case 'lazy':
        return inner((def.getter as () => Schema)());
      case 'string':
        return this.string(schema, into, path, isSecret);
      case 'number':
        return [1, 0, 0.5, 100, -1].find((v) => (schema as z.ZodType).safeParse(v).success) ?? SKIP;
      case 'boolean':
        return true;
      case 'literal':
        return (def.values as unknown[])[0];
      case 'enum':
        return Object.values(def.entries as Record<string, unknown>)[0];
      case 'unknown':
      case 'any':
        return this.string(z.string(), into, path, isSecret);
      case 'array': {
        const v = inner(def.element, [...path, 0]);
        return v === SKIP ? [] : [v];
      }
      case 'record': {
        const v = inner(def.valueType, [...path, 'k1']);
        return v === SKIP ? {} : { k1: v };
      }
      case 'union':
        return this.union(def.options as Schema[], into, path, isSecret);
      case 'object':
        return this.object(schema, def, into, path, isSecret);
      default:
        return SKIP;
    }
  }

  private string(schema: Schema, into: Planted, path: Array<string | number>, secret: boolean): unknown {
    const n = ++this.n;
    const unique = `${this.tag}-${n}-${Math.random().toString(36).slice(2, 10)}`;
    if (secret) {
      const value = `S3CRET-${unique}`;
      into.secrets.push(value);
      into.secretsAt.push(path);
      into.secretPaths.push(path);
      return value;
    }
    const password = `URLPASS-${unique}`;
    const url = `https://user${n}:${password}@127.0.0.1:1/x`;
    if ((schema as z.ZodType).safeParse(url).success) {
      into.secrets.push(password);
      into.secretsAt.push(path);
      return url;
    }
    return FALLBACK_STRINGS.find((s) => (schema as z.ZodType).safeParse(s).success) ?? SKIP;
  }

  /** The option that plants the most secrets and still validates. */
  private union(options: Schema[], into: Planted, path: Array<string | number>, secret: boolean): unknown {
    let best: { value: unknown; planted: Planted } | undefined;
    for (const option of options) {
      const planted: Planted = { secrets: [], secretsAt: [], secretPaths: [] };
      const value = this.plant(option, planted, path, secret);
      if (value === SKIP || !(option as z.ZodType).safeParse(value).success) continue;
      if (best === undefined || planted.secrets.length > best.planted.secrets.length) best = { value, planted };
    }
    if (best === undefined) return SKIP;
    into.secrets.push(...best.planted.secrets);
    into.secretsAt.push(...best.planted.secretsAt);
    into.secretPaths.push(...best.planted.secretPaths);
    return best.value;
  }

  private object(schema: Schema, def: Def, into: Planted, path: Array<string | number>, secret: boolean): unknown {
    const out: Record<string, unknown> = {};
    const planted: Planted = { secrets: [], secretsAt: [], secretPaths: [] };
    for (const [key, child] of Object.entries(def.shape as Record<string, Schema>)) {
      const v = this.plant(child, planted, [...path, key], secret);
      if (v !== SKIP) out[key] = v;
    }
    // Object-level rules ("startAt or warmupBars, not both"): drop what they name, keep the rest.
    const check = (schema as z.ZodType).safeParse(out);
    if (!check.success) {
      for (const issue of check.error.issues) {
        const key = issue.path[0];
        if (typeof key === 'string' && key in out) delete out[key];
      }
    }
    const kept = (p: Array<string | number>) => p.length <= path.length || p[path.length] as string in out;
    planted.secrets.forEach((secretValue, i) => {
      if (!kept(planted.secretsAt[i]!)) return;
      into.secrets.push(secretValue);
      into.secretsAt.push(planted.secretsAt[i]!);
    });
    into.secretPaths.push(...planted.secretPaths.filter(kept));
    return out;
  }
}

function at(value: unknown, path: Array<string | number>): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

/** A config with every string of the system schema, every provider kind and an agent planted. */
async function plantedConfig(): Promise<{ raw: Record<string, unknown>; planted: Planted }> {
  const planted: Planted = { secrets: [], secretsAt: [], secretPaths: [] };
  const planter = new Planter('p');
  // Providers' and agents' settings belong to their own schemas: those are planted below.
  const raw = planter.plant(systemConfigSchema.omit({ providers: true, agents: true }), planted) as Record<string, unknown>;
  raw.providers = Object.fromEntries(
    Object.entries(providerConfigSchemas).map(([kind, schema]) => [kind, planter.plant(schema as Schema, planted, ['providers', kind])]),
  );
  // An agent whose own schema marks its secret; the entry's own strings are planted too.
  const holder = ((await import(holderModule)) as { agent: { configSchema: Schema } }).agent;
  const entry = planter.plant(agentEntrySchema.omit({ id: true, use: true, dependsOn: true, config: true }), planted, ['agents', 0]) as Record<string, unknown>;
  raw.agents = [{ ...entry, id: 'holder', use: holderModule, enabled: true, config: planter.plant(holder.configSchema, planted, ['agents', 0, 'config']) }];
  // Chatty logs, so that as much as possible passes through the logger.
  raw.log = { level: 'debug' };
  return { raw, planted };
}

let system: TradebusSystem;
let config: SystemConfig;
let planted: Planted;
let raw: Record<string, unknown>;

beforeAll(async () => {
  ({ raw, planted } = await plantedConfig());
  // Read as every command reads a config: the file, then each provider's and agent's settings.
  const file = join(mkdtempSync(join(tmpdir(), 'tradebus-secrets-')), 'tradebus.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  config = (await prepareSystem(file, { env: {} })).config;
  system = createSystem({});
  await system.start();
});

afterAll(async () => {
  await system.stop();
});

function expectNoSecret(text: string, where: string): void {
  for (const s of planted.secrets) expect(text, `${where} shows ${s}`).not.toContain(s);
}

describe('secrets: every planted secret stays out of /config, logs and errors', () => {
  it('plants something in every secret field of the schema and in URLs', () => {
    const secretPaths = planted.secretPaths.map((p) => p.join('.'));
    // The walk found the marked fields of the system schema, a provider kind and the agent.
    expect(secretPaths).toEqual(expect.arrayContaining(['api.token', 'transport.pass', 'transport.token', 'transport.nkeySeed', 'providers.ccxt.credentials.apiKey', 'agents.0.config.apiKey']));
    expect(planted.secrets.length).toBeGreaterThan(secretPaths.length + 20);
    expect(JSON.stringify(config)).toContain('@127.0.0.1:1/x');
  });

  it('GET /config shows none of them, and every secret-marked field reads [REDACTED]', async () => {
    const holder = ((await import(holderModule)) as { agent: { configSchema: z.ZodType } }).agent;
    const app = createApiApp({
      system,
      config: () => config,
      schemas: { agents: new Map([['holder', holder.configSchema]]) },
      patchConfig: async () => ({}),
      data: { events: async () => [], orders: async () => [], trades: async () => [], positions: async () => [], account: async () => undefined },
      metrics: new SystemMetrics(system),
      token: TOKEN,
      logger: system.logger,
      bodyLimit: '10kb',
      cors: false,
      startedAt: Date.now(),
      version: 'test',
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/config`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      expectNoSecret(text, 'GET /config');
      const shown = JSON.parse(text) as unknown;
      for (const path of planted.secretPaths) {
        // A marked section is redacted as a whole, so look at the deepest part still there.
        let p = path;
        while (at(shown, p) === undefined && p.length > 1) p = p.slice(0, -1);
        expect(at(shown, p), path.join('.')).toBe('[REDACTED]');
      }
      expect(text).toContain('https://[REDACTED]@127.0.0.1:1/x');
    } finally {
      server.close();
    }
  });

  it('log lines show none of them, whatever is logged', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination: sink });
    logger.info({ config }, 'the validated config');
    logger.info({ raw }, 'the config as written');
    logger.child({ agent: 'x' }).warn(`a message built from values: ${planted.secrets.join(' ')}`);
    logger.error({ err: new Error(`a library error quoting ${planted.secrets.join(', ')}`) }, 'failed');
    expect(out.split('\n').filter(Boolean).length).toBe(4);
    for (const line of out.split('\n').filter(Boolean)) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expectNoSecret(out, 'log output');
    expect(out).toContain('[REDACTED]');
  });

  it('error messages show none of them', () => {
    // Every secret field given the wrong type: the validation message names the key, not the value.
    const wrong = structuredClone(raw) as Record<string, unknown>;
    for (const path of planted.secretPaths.filter((p) => p[0] !== 'providers' && p[0] !== 'agents')) {
      const parent = at(wrong, path.slice(0, -1)) as Record<string | number, unknown>;
      parent[path.at(-1)!] = 12345678901234567890;
    }
    let message = '';
    try {
      validateConfig(wrong, { env: {} });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('transport.pass: expected string, received a number (not shown: the field is secret)');
    expect(message).not.toContain('12345678901234567890');
    // Messages that quote a value, a server address or a library's own message.
    const quoted = planted.secrets.map((s) => `https://operator:${s}@venue.example/`).join(' ');
    expectNoSecret(new TradebusError('SOMETHING', `cannot reach ${quoted}`).message, 'TradebusError');
    expectNoSecret(errorMessage(new Error(`plain library error: ${planted.secrets.join(' ')}`)), 'errorMessage');
  });

  it('the CLI, failing to start on this config, prints none of them', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-secrets-'));
    const file = join(dir, 'tradebus.json');
    writeFileSync(file, JSON.stringify(raw, null, 2));
    const res = spawnSync(process.execPath, [cli, 'run', '--config', file], { encoding: 'utf8', cwd: dir, timeout: 45_000, env: { ...process.env, TRADEBUS_API_TOKEN: '' } });
    const out = `${res.stdout}\n${res.stderr}`;
    // Nothing listens at 127.0.0.1:1: the run fails, and says so.
    expect(res.status, out).not.toBe(0);
    expect(res.stderr.length).toBeGreaterThan(0);
    expectNoSecret(out, 'CLI output');
  });
});
