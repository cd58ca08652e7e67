/**
 * The statistics behind the watchdog's numbers, written out so each figure it reports can be
 * recomputed from its definition: Student-t confidence intervals, Welch's t-test and the
 * Page-Hinkley change-point test.
 */

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n − 1 in the denominator); NaN below two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9): ~15 significant digits for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-14) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast only below (a + 1) / (a + b + 2); use the symmetry above it.
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as in Welch's test). */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The t with P(T ≤ t) = p, by bisection on the CDF (monotone, so it cannot miss). */
export function studentTQuantile(p: number, df: number): number {
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface MeanEstimate {
  n: number;
  mean: number;
  /** Two-sided Student-t interval of the mean at `level`; undefined below two values. */
  low: number | undefined;
  high: number | undefined;
  level: number;
}

// A report works out an interval per group; the quantile only depends on the level and n.
const quantiles = new Map<string, number>();

function criticalT(level: number, df: number): number {
  const key = `${level}:${df}`;
  let q = quantiles.get(key);
  if (q === undefined) {
    if (quantiles.size > 10_000) quantiles.clear();
    quantiles.set(key, (q = studentTQuantile(1 - (1 - level) / 2, df)));
  }
  return q;
}

/** The mean with its Student-t confidence interval: mean ± t(1 − α/2, n − 1) · s / √n. */
export function meanWithInterval(xs: readonly number[], level = 0.95): MeanEstimate {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { n, mean: m, low: undefined, high: undefined, level };
  const half = criticalT(level, n - 1) * Math.sqrt(variance(xs) / n);
  return { n, mean: m, low: m - half, high: m + half, level };
}

export interface WelchResult {
  t: number;
  df: number;
  /** Two-sided p-value of "the two means are equal". */
  p: number;
}

/**
 * Welch's unequal-variance t-test. Undefined when either sample has fewer than two values, or
 * both have no spread (nothing to test).
 */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchResult | undefined {
  if (a.length < 2 || b.length < 2) return undefined;
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se2 = va + vb;
  if (!(se2 > 0)) return undefined;
  const t = (mean(a) - mean(b)) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1));
  const p = 2 * (1 - studentTCdf(Math.abs(t), df));
  return { t, df, p: Math.min(1, Math.max(0, p)) };
}

export interface PageHinkleyOptions {
  /** Tolerated fall of the mean per observation, in standard deviations of the history. */
  delta: number;
  /** Alarm when the cumulative fall exceeds this, in standard deviations of the history. */
  lambda: number;
  /** Observations that only build the history: the test accumulates from the next one on. */
  minObservations: number;
  /** Standardised values are clipped to ±clip, so one outsized trade cannot alarm alone. */
  clip: number;
}

export interface PageHinkleyState {
  n: number;
  mean: number;
  /** Sum of squared deviations (Welford), for the history's standard deviation. */
  m2: number;
  cumulative: number;
  maxCumulative: number;
}

export const emptyPageHinkley = (): PageHinkleyState => ({ n: 0, mean: 0, m2: 0, cumulative: 0, maxCumulative: 0 });

/**
 * Page-Hinkley test for a fall in the mean of a series (trade returns). Each value is measured
 * against the mean and standard deviation of the series before it (its own history), clipped:
 * z_t = clip((x_t − x̄_{t−1}) / s_{t−1}), m_T = Σ (z_t + δ), M_T = max m_t, alarm when
 * M_T − m_T > λ. The first `minObservations` values only build the history (trade returns are
 * fat-tailed: a deviation from three trades is no yardstick). Returns M_T − m_T after `x`.
 */
export function pageHinkleyUpdate(state: PageHinkleyState, x: number, options: PageHinkleyOptions): number {
  if (state.n >= Math.max(2, options.minObservations)) {
    const sd = Math.sqrt(state.m2 / (state.n - 1));
    const z = sd > 0 ? Math.max(-options.clip, Math.min(options.clip, (x - state.mean) / sd)) : 0;
    state.cumulative += z + options.delta;
    state.maxCumulative = Math.max(state.maxCumulative, state.cumulative);
  }
  state.n++;
  const d = x - state.mean;
  state.mean += d / state.n;
  state.m2 += d * (x - state.mean);
  return state.maxCumulative - state.cumulative;
}
