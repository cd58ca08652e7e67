import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfigFile, parseConfig } from './loader.js';

function file(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function issuesOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config loader', () => {
  it('loads YAML with defaults filled in', () => {
    const config = loadConfigFile(file('a.yaml', 'system:\n  name: demo\nagents:\n  - id: feed\n    use: "@tradebus/agent-price-watchdog"\n'), { env: {} });
    expect(config.system.name).toBe('demo');
    expect(config.system.heartbeatIntervalMs).toBe(5_000);
    expect(config.transport).toEqual({ kind: 'local' });
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 7070 });
    expect(config.agents[0]).toMatchObject({ id: 'feed', enabled: true, dependsOn: [] });
  });

  it('loads JSON the same way', () => {
    const config = loadConfigFile(file('a.json', JSON.stringify({ system: { env: 'paper' } })), { env: {} });
    expect(config.system.env).toBe('paper');
  });

  it('names the path of an unknown key', () => {
    const err = issuesOf(() => parseConfig('api:\n  prot: 8080\n', { env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.issues).toEqual([{ path: 'api.prot', message: "unknown key 'prot': remove it or check its spelling" }]);
  });

  it('names the path, the expected type and what was found', () => {
    const err = issuesOf(() => parseConfig('agents:\n  - id: feed\n    use: x\n  - id: 7\n    use: y\n', { env: {} }));
    expect(err.message).toContain('agents[1].id: expected string, received number 7');
  });

  it('reports a missing required key as missing', () => {
    const err = issuesOf(() => parseConfig('agents:\n  - id: feed\n', { env: {} }));
    expect(err.message).toContain('agents[0].use: expected string, received nothing (the key is missing)');
  });

  it('reports YAML syntax errors with the file name', () => {
    const path = file('broken.yaml', 'system: [unclosed\n');
    expect(() => loadConfigFile(path, { env: {} })).toThrow(/broken\.yaml is not valid YAML/);
  });

  it('takes secrets from the environment by reference and by override', () => {
    const config = parseConfig('api:\n  token: ${MY_TOKEN}\n', {
      env: { MY_TOKEN: 'a-very-long-secret-token', TRADEBUS__API__PORT: '9090', TRADEBUS__SYSTEM__HEARTBEAT_INTERVAL_MS: '250' },
    });
    expect(config.api.token).toBe('a-very-long-secret-token');
    expect(config.api.port).toBe(9090);
    expect(config.system.heartbeatIntervalMs).toBe(250);
  });

  it('uses the fallback of ${NAME:-fallback} when NAME is unset or empty', () => {
    const yaml = 'system:\n  env: ${MODE:-paper}\n';
    expect(parseConfig(yaml, { env: {} }).system.env).toBe('paper');
    expect(parseConfig(yaml, { env: { MODE: '' } }).system.env).toBe('paper');
    expect(parseConfig(yaml, { env: { MODE: 'live' } }).system.env).toBe('live');
  });

  it('gives a value that is one reference the type of what it resolves to', () => {
    const config = parseConfig('api:\n  port: ${PORT:-7171}\n  enabled: ${API_ON}\nsystem:\n  name: bot-${PORT:-1}\n', { env: { API_ON: 'false' } });
    expect(config.api.port).toBe(7171);
    expect(config.api.enabled).toBe(false);
    expect(config.system.name).toBe('bot-1');
  });

  it('says which environment variable is missing and where it is used', () => {
    const err = issuesOf(() => parseConfig('api:\n  token: ${NOT_SET_ANYWHERE}\n', { env: {} }));
    expect(err.issues[0]).toMatchObject({ path: 'api.token' });
    expect(err.issues[0]!.message).toContain('NOT_SET_ANYWHERE');
  });

  it('says when the file cannot be read', () => {
    expect(() => loadConfigFile('/nonexistent/tradebus.yaml')).toThrow(/Cannot read config file .*ENOENT/);
  });
});
