import { describe, expect, it } from 'vitest';
import { emptyPageHinkley, meanWithInterval, pageHinkleyUpdate, studentTCdf, studentTQuantile, welchTTest } from './stats.js';

describe('Student t', () => {
  it('matches the printed table of critical values', () => {
    // Two-sided 5 % and 1 % critical values (any statistics textbook's table).
    const table: Array<[number, number, number]> = [
      [1, 12.706, 63.657],
      [5, 2.571, 4.032],
      [10, 2.228, 3.169],
      [30, 2.042, 2.75],
      [120, 1.98, 2.617],
    ];
    for (const [df, t05, t01] of table) {
      expect(studentTQuantile(0.975, df)).toBeCloseTo(t05, 2);
      expect(studentTQuantile(0.995, df)).toBeCloseTo(t01, 2);
      expect(2 * (1 - studentTCdf(t05, df))).toBeCloseTo(0.05, 3);
      expect(studentTCdf(-t01, df)).toBeCloseTo(0.005, 4);
    }
    // df = 1 is the Cauchy distribution: P(T ≤ t) = 1/2 + atan(t)/π.
    for (const t of [-3, -0.5, 0, 0.7, 4]) expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 10);
  });

  it('gives the mean interval mean ± t · s/√n', () => {
    const xs = [1.2, -0.4, 0.8, 2.1, -1.5, 0.3, 0.9];
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const s = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
    const e = meanWithInterval(xs, 0.95);
    // t(0.975, 6) = 2.447 from the table.
    expect(e.mean).toBeCloseTo(m, 12);
    expect(e.high! - e.mean).toBeCloseTo((2.447 * s) / Math.sqrt(xs.length), 2);
    expect(meanWithInterval([1]).low).toBeUndefined();
  });
});

describe("Welch's t-test", () => {
  it('matches the published worked examples', () => {
    // Wikipedia, "Welch's t-test", examples 1 and 2: t, ν and p as printed there (to the digits shown).
    const ex1 = welchTTest(
      [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
      [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4],
    )!;
    expect(ex1.t).toBeCloseTo(-2.46, 2);
    expect(ex1.df).toBeCloseTo(25.0, 1);
    expect(ex1.p).toBeCloseTo(0.021, 3);
    const ex2 = welchTTest(
      [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
      [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8],
    )!;
    expect(ex2.t).toBeCloseTo(-1.57, 2);
    expect(ex2.df).toBeCloseTo(9.9, 1);
    expect(ex2.p).toBeCloseTo(0.149, 3);
    expect(welchTTest([1], [1, 2])).toBeUndefined();
    expect(welchTTest([1, 1], [2, 2])).toBeUndefined();
  });
});

describe('Page-Hinkley', () => {
  it('follows its definition: standardised by the history before each value and clipped, cumulative with δ, statistic max − current', () => {
    const xs = [1, 3, 2, 4, 0, 9, -5, -6, -30];
    const options = { delta: 0.1, lambda: 5, minObservations: 3, clip: 2 };
    const state = emptyPageHinkley();
    let m = 0;
    let max = 0;
    xs.forEach((x, i) => {
      const stat = pageHinkleyUpdate(state, x, options);
      const history = xs.slice(0, i);
      if (history.length >= options.minObservations) {
        const mu = history.reduce((a, b) => a + b, 0) / history.length;
        const sd = Math.sqrt(history.reduce((a, h) => a + (h - mu) ** 2, 0) / (history.length - 1));
        m += Math.max(-2, Math.min(2, (x - mu) / sd)) + options.delta;
        max = Math.max(max, m);
      }
      expect(stat).toBeCloseTo(max - m, 12);
    });
    // The last loss is 30 in a history of ±5: it counts as 2 standard deviations, no more.
    expect(max - m).toBeGreaterThan(3);
    expect(max - m).toBeLessThan(8);
  });
});
