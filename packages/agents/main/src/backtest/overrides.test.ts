import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tradebus/core';
import { describe, expect, it } from 'vitest';
import { prepareSystem } from '../prepare.js';
import { applyOverrides, parseAssignment, parsePath } from './overrides.js';

async function prepared() {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-overrides-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `
providers:
  data: { kind: replay, sources: [{ type: candles, file: x.csv, symbol: ETH/BTC, timeframe: 5m }] }
agents:
  - id: strategy
    use: strategy-runner
    config: { provider: data, symbols: [ETH/BTC], timeframes: [5m], strategies: [{ type: ema-cross, params: { fast: 12, slow: 26 } }] }
`,
  );
  return prepareSystem(file);
}

describe('config paths', () => {
  it('parses dotted paths with list indexes', () => {
    expect(parsePath('strategy.strategies[0].params.fast')).toEqual(['strategy', 'strategies', 0, 'params', 'fast']);
    for (const bad of ['', 'a..b', '.a', 'a.', 'a.[0]']) expect(() => parsePath(bad)).toThrow(ConfigError);
  });

  it('parses --set assignments, values as JSON when they read as JSON', () => {
    expect(parseAssignment('a.b=9')).toEqual(['a.b', 9]);
    expect(parseAssignment('a.b=[1,2]')).toEqual(['a.b', [1, 2]]);
    expect(parseAssignment('a.b=hl2')).toEqual(['a.b', 'hl2']);
    expect(() => parseAssignment('a.b')).toThrow(/path=value/);
  });
});

describe('applyOverrides', () => {
  it('sets an agent value and validates it again with the agent schema, leaving the original untouched', async () => {
    const p = await prepared();
    const next = applyOverrides(p, { 'strategy.strategies[0].params.fast': 9 });
    const config = next.agents[0]!.config as { strategies: Array<{ params: { fast: number; slow: number } }> };
    expect(config.strategies[0]!.params).toMatchObject({ fast: 9, slow: 26 });
    expect((p.agents[0]!.config as typeof config).strategies[0]!.params.fast).toBe(12);
  });

  it('sets provider values', async () => {
    const next = applyOverrides(await prepared(), { 'providers.data.endAt': 1234 });
    expect(next.config.providers.data).toMatchObject({ endAt: 1234 });
  });

  it('names the problem: unknown provider, missing list, refused value', async () => {
    const p = await prepared();
    expect(() => applyOverrides(p, { 'providers.nope.x': 1 })).toThrow(/no provider named 'nope'.*providers: data/);
    expect(() => applyOverrides(p, { 'strategy.extra[2].x': 1 })).toThrow(/extra is not a list/);
    expect(() => applyOverrides(p, { 'strategy.strategies[0].params.fast': 'quick' })).toThrow(/agents\[0\]\.config\.strategies\[0\]\.params\.fast/);
  });
});
