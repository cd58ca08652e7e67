import { describe, expect, it } from 'vitest';
import { changedSettingPaths as changedPaths, coldSettingKey as coldKey, formatSettingPath as formatPath, hotSettingsOf, isHotSetting as isHot, mergeSettings as deepMerge, refuseColdChanges, touchedSettingPaths as touchedPaths } from './hot-settings.js';

describe('live settings', () => {
  const hot = ['limits.*', 'sizing.riskPerTradePct', 'strategies[].params.*'];

  it('matches a path under a pattern, never one above it or beside it', () => {
    expect(isHot(['limits', 'maxOpenPositions'], hot)).toBe(true);
    expect(isHot(['limits'], hot)).toBe(true);
    expect(isHot(['sizing', 'riskPerTradePct'], hot)).toBe(true);
    expect(isHot(['sizing'], hot)).toBe(false);
    expect(isHot(['sizing', 'mode'], hot)).toBe(false);
    expect(isHot(['strategies', 0, 'params', 'fast'], hot)).toBe(true);
    expect(isHot(['strategies', 0, 'id'], hot)).toBe(false);
    expect(isHot(['strategies'], hot)).toBe(false);
    expect(isHot(['timeframe'], hot)).toBe(false);
  });

  it('finds what differs, element by element in lists of the same length', () => {
    expect(changedPaths({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } })).toEqual([['b', 'c', 1]]);
    expect(changedPaths({ a: [1] }, { a: [1, 2] })).toEqual([['a']]);
    expect(changedPaths({ a: 1 }, { a: 1, b: 2 })).toEqual([['b']]);
    expect(touchedPaths({ limits: { maxOpenPositions: 1 }, strategies: [{}] })).toEqual([['limits', 'maxOpenPositions']]);
  });

  it('merges nested settings key by key and replaces lists', () => {
    expect(deepMerge({ limits: { a: 1, b: 2 }, list: [1, 2] }, { limits: { b: 3 }, list: [9] })).toEqual({ limits: { a: 1, b: 3 }, list: [9] });
  });

  it('names the first key that is not live, in the notation of the config', () => {
    const before = { timeframe: '5m', limits: { maxOpenPositions: 5 }, strategies: [{ id: 'ema', params: { fast: 9 } }] };
    const ok = { ...before, limits: { maxOpenPositions: 1 }, strategies: [{ id: 'ema', params: { fast: 5 } }] };
    expect(coldKey({ limits: { maxOpenPositions: 1 } }, before, ok, hot)).toBeUndefined();
    const renamed = { ...before, strategies: [{ id: 'ema2', params: { fast: 9 } }] };
    expect(formatPath(coldKey({ strategies: renamed.strategies }, before, renamed, hot)!)).toBe('strategies[0].id');
    // Touching a key counts even when the value stays the same.
    expect(formatPath(coldKey({ timeframe: '5m' }, before, before, hot)!)).toBe('timeframe');
  });

  it('reads the list a definition declares, and none from one that declares nothing usable', () => {
    expect(hotSettingsOf({ hotSettings: ['a.*'] })).toEqual(['a.*']);
    expect(hotSettingsOf({ hotSettings: [1] })).toEqual([]);
    expect(hotSettingsOf({})).toEqual([]);
  });
});

describe('refuseColdChanges', () => {
  const live = ['limits.*', 'strategies[].params.*'];
  it('lets a change of live settings through and names the first key that is not live', () => {
    const before = { limits: { max: 1 }, strategies: [{ id: 'a', params: { fast: 5 } }], timeframe: '5m' };
    expect(() => refuseColdChanges(before, { ...before, limits: { max: 2 }, strategies: [{ id: 'a', params: { fast: 9 } }] }, live)).not.toThrow();
    expect(() => refuseColdChanges(before, { ...before, timeframe: '1h' }, live)).toThrow(/^timeframe cannot change while the agent runs: restart the agent to change it \(live: limits\.\*, strategies\[\]\.params\.\*\)$/);
    expect(() => refuseColdChanges(before, { ...before, strategies: [{ id: 'b', params: { fast: 5 } }] }, live)).toThrow(/^strategies\[0\]\.id cannot change/);
  });
});
