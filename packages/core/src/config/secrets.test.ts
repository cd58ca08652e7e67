import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, TradebusError, errorMessage } from '../errors.js';
import { hasEnvReferences, resolveEnvReferences, validateConfig, validateSection } from './loader.js';
import { systemConfigSchema } from './schema.js';
import { REDACTED, isSecretPath, redactConfig, registerSecretValues, scrubSecrets, secret, secretValuesOf } from './secrets.js';

const schema = z
  .object({
    name: z.string(),
    pass: secret(z.string()).optional().describe('a password'),
    token: secret(z.string().min(4)).default('none-given'),
    url: z.string(),
    nested: z.object({ key: secret(z.string()), plain: z.string() }).strict().optional(),
    vault: secret(z.object({ a: z.string(), b: z.number() })).optional(),
    venues: z.record(z.string(), z.object({ apiKey: secret(z.string()), host: z.string() })).default({}),
    auth: z.discriminatedUnion('kind', [z.object({ kind: z.literal('none') }), z.object({ kind: z.literal('basic'), password: secret(z.string()) })]).optional(),
    list: z.array(z.object({ seed: secret(z.string()) })).default([]),
    free: z.unknown().optional(),
  })
  .strict();

describe('secret fields', () => {
  it('are found through optional, default, describe, records, unions and arrays', () => {
    for (const path of [['pass'], ['token'], ['nested', 'key'], ['vault'], ['vault', 'a'], ['venues', 'x', 'apiKey'], ['auth', 'password'], ['list', 3, 'seed']]) {
      expect(isSecretPath(schema, path), path.join('.')).toBe(true);
    }
    for (const path of [['name'], ['url'], ['nested', 'plain'], ['venues', 'x', 'host'], ['auth', 'kind'], ['free'], ['nope']]) {
      expect(isSecretPath(schema, path), path.join('.')).toBe(false);
    }
  });

  it('are redacted by the schema, and URL credentials in any string', () => {
    const value = {
      name: 'bot',
      pass: 'pw-123456',
      token: 'tk-123456',
      url: 'nats://alice:s3cr3t-pass@10.0.0.1:4222, https://just-a-token@host/x, http://host/no-credentials',
      nested: { key: 'k-123456', plain: 'shown' },
      vault: { a: 'va-123456', b: 42 },
      venues: { kraken: { apiKey: 'ak-123456', host: 'api.kraken.com' } },
      auth: { kind: 'basic', password: 'bp-123456' },
      list: [{ seed: 'seed-123456' }],
      free: { anything: 'redis://u:free-pass-1@cache:6379' },
    };
    expect(redactConfig(schema, value)).toEqual({
      name: 'bot',
      pass: REDACTED,
      token: REDACTED,
      url: `nats://${REDACTED}@10.0.0.1:4222, https://${REDACTED}@host/x, http://host/no-credentials`,
      nested: { key: REDACTED, plain: 'shown' },
      vault: REDACTED,
      venues: { kraken: { apiKey: REDACTED, host: 'api.kraken.com' } },
      auth: { kind: 'basic', password: REDACTED },
      list: [{ seed: REDACTED }],
      free: { anything: `redis://${REDACTED}@cache:6379` },
    });
    // The input is left as it was.
    expect(value.pass).toBe('pw-123456');
    // An absent or empty secret is shown as such: there is nothing to hide.
    expect(redactConfig(schema, { name: 'x', pass: '', url: '' })).toEqual({ name: 'x', pass: '', url: '' });
  });

  it('yield their values, and the passwords of URL credentials', () => {
    const values = secretValuesOf(schema, {
      pass: 'pw-1',
      url: 'nats://alice:p%40ss-word@h:1',
      vault: { a: 'va-1', b: 7 },
      venues: { v: { apiKey: 'ak-1', host: 'h' } },
    });
    expect(values.sort()).toEqual(['7', 'ak-1', 'p%40ss-word', 'p@ss-word', 'pw-1', 'va-1']);
  });
});

describe('scrubbing known secret values', () => {
  it('removes registered values, also in their JSON-escaped form, but not short ones', () => {
    registerSecretValues(['quote"d-secret-value', 'tiny', undefined, 42]);
    expect(scrubSecrets('a "quote"d-secret-value" and tiny')).toBe(`a "${REDACTED}" and tiny`);
    expect(scrubSecrets(JSON.stringify({ m: 'quote"d-secret-value' }))).toBe(`{"m":"${REDACTED}"}`);
  });

  it('applies to every TradebusError message and to errorMessage', () => {
    registerSecretValues(['nkey-seed-SUAXYZ']);
    const err = new TradebusError('X', 'cannot connect to nats://bob:hunter22@127.0.0.1:4222 with seed nkey-seed-SUAXYZ');
    expect(err.message).toBe(`cannot connect to nats://${REDACTED}@127.0.0.1:4222 with seed ${REDACTED}`);
    expect(errorMessage(new Error('library says nkey-seed-SUAXYZ is invalid'))).toBe(`library says ${REDACTED} is invalid`);
  });
});

describe('config loading and secrets', () => {
  it('a secret set by an override stays a string, and a wrong value is never quoted', () => {
    const config = validateConfig({ transport: { kind: 'nats' } }, { env: { TRADEBUS__TRANSPORT__PASS: '12345678', TRADEBUS__API__TOKEN: '1234567890123456' } });
    expect(config.transport).toMatchObject({ pass: '12345678' });
    expect(config.api.token).toBe('1234567890123456');
    const wrong = (() => {
      try {
        validateConfig({ transport: { kind: 'nats', pass: 987654321987 }, api: { token: ['tok-in-a-list-1'] } }, { env: {} });
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(wrong.issues).toEqual(
      expect.arrayContaining([
        { path: 'transport.pass', message: 'expected string, received a number (not shown: the field is secret)' },
        { path: 'api.token', message: 'expected string, received an array (not shown: the field is secret)' },
      ]),
    );
    expect(wrong.message).not.toContain('987654321987');
  });

  it('secrets of a validated section become known, so logs and errors drop them', () => {
    validateSection(z.object({ key: secret(z.string()) }), { key: 'section-secret-9876' }, 'agents[0].config');
    expect(scrubSecrets('oops: section-secret-9876')).toBe(`oops: ${REDACTED}`);
  });

  it('references can be left for later and resolved where they are needed', () => {
    const raw = { providers: { a: { kind: 'ccxt', credentials: { apiKey: '${A_KEY}', secret: '${A_SECRET}' } }, b: { kind: 'paper' } } };
    const config = validateConfig(raw, { env: {}, deferEnv: (path) => path[0] === 'providers' && path.length >= 2 });
    expect(hasEnvReferences(config.providers.a)).toBe(true);
    expect(hasEnvReferences(config.providers.b)).toBe(false);
    expect(() => validateConfig(raw, { env: {} })).toThrow(/providers\.a\.credentials\.apiKey: refers to environment variable A_KEY, which is not set/);
    let missing: ConfigError | undefined;
    try {
      resolveEnvReferences(config.providers.a, { env: { A_KEY: 'k' }, path: ['providers', 'a'] });
    } catch (err) {
      missing = err as ConfigError;
    }
    expect(missing?.issues).toEqual([{ path: 'providers.a.credentials.secret', message: 'refers to environment variable A_SECRET, which is not set: export it or remove the reference' }]);
    const secretSchema = z.object({ kind: z.string(), credentials: secret(z.object({ apiKey: z.string(), secret: z.string() })) });
    // A secret that looks like a number stays the string it is.
    const resolved = resolveEnvReferences(config.providers.a, { env: { A_KEY: '0012345', A_SECRET: 'resolved-secret-1' }, path: ['providers', 'a'], schema: secretSchema });
    expect(resolved).toEqual({ kind: 'ccxt', credentials: { apiKey: '0012345', secret: 'resolved-secret-1' } });
    expect(scrubSecrets('resolved-secret-1')).toBe(REDACTED);
  });

  it('the system schema marks its secrets', () => {
    for (const path of [['transport', 'pass'], ['transport', 'token'], ['transport', 'nkeySeed'], ['api', 'token']]) expect(isSecretPath(systemConfigSchema, path)).toBe(true);
    for (const path of [['transport', 'user'], ['transport', 'servers'], ['api', 'host'], ['system', 'name']]) expect(isSecretPath(systemConfigSchema, path)).toBe(false);
  });
});
