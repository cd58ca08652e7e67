import { describe, expect, it } from 'vitest';
import { WindowMax, WindowStats, WindowSum } from './window.js';

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('window building blocks with one-step undo', () => {
  it.each([1, 2, 7])('WindowMax(%i) equals a brute-force maximum under random replace sequences', (period) => {
    const next = random(period);
    const max = new WindowMax(period);
    const kept: number[] = [];
    for (let step = 0; step < 3000; step++) {
      // Few distinct values so ties are frequent.
      let value = Math.floor(next() * 10);
      max.save();
      max.push(value);
      const replacements = Math.floor(next() * 3);
      for (let r = 0; r < replacements; r++) {
        value = Math.floor(next() * 10);
        max.rollback();
        max.push(value);
      }
      kept.push(value);
      expect(max.max).toBe(Math.max(...kept.slice(-period)));
    }
  });

  it('WindowSum and WindowStats restore exactly what a replaced push changed', () => {
    const next = random(42);
    const sum = new WindowSum(5);
    const stats = new WindowStats(5);
    const cleanSum = new WindowSum(5);
    const cleanStats = new WindowStats(5);
    for (let step = 0; step < 500; step++) {
      const final = 100 + next();
      sum.save();
      stats.save();
      sum.push(1e6 * next());
      stats.push(1e6 * next());
      sum.rollback();
      stats.rollback();
      sum.push(final);
      stats.push(final);
      cleanSum.push(final);
      cleanStats.push(final);
      expect(sum.sum).toBe(cleanSum.sum);
      expect(stats.mean).toBe(cleanStats.mean);
      expect(stats.std).toBe(cleanStats.std);
    }
  });
});
