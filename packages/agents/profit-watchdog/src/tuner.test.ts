import { describe, expect, it } from 'vitest';
import { nestedPatch, stepToward } from './tuner.js';

describe('a step of auto-tune', () => {
  it('moves at most maxStep toward the target and never leaves the bounds', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 10_000; i++) {
      const min = rand() * 0.5;
      const max = min + rand() * 0.5;
      const current = rand();
      const target = rand();
      const maxStep = 0.01 + rand() * 0.3;
      const next = stepToward(current, target, maxStep, { min, max });
      expect(next).toBeGreaterThanOrEqual(min - 1e-6);
      expect(next).toBeLessThanOrEqual(max + 1e-6);
      // Inside the bounds it never moves further than maxStep, and never away from the target.
      if (current >= min && current <= max) {
        expect(Math.abs(next - current)).toBeLessThanOrEqual(maxStep + 1e-6);
        expect(Math.abs(target - next)).toBeLessThanOrEqual(Math.abs(target - current) + 1e-6);
      }
    }
    expect(stepToward(0.1, 0.45, 0.1, { min: 0.1, max: 0.5 })).toBe(0.2);
    expect(stepToward(0.45, 0.9, 0.1, { min: 0.1, max: 0.5 })).toBe(0.5);
  });

  it('writes the setting as the nested patch PATCH /config merges', () => {
    expect(nestedPatch('aggregation.minConfidence', 0.3)).toEqual({ aggregation: { minConfidence: 0.3 } });
  });
});
