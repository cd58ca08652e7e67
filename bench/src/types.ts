import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One line of a benchmark table: our rate against a peer measured in the same run. */
export interface BenchResult {
  name: string;
  /** Our measurement. */
  ours: number;
  /** The peer's measurement on the same input. */
  peer: number;
  peerName: string;
  unit: string;
  /** ours / peer for rates (higher is better); peer / ours for latencies, so > 1 always means we are faster. */
  ratio: number;
  notes?: string;
}

export interface BenchModule {
  title: string;
  /** Markdown shown under the section title in docs/benchmarks.md: what is measured and how. */
  description?: string;
  /** Optional target, e.g. "≥ 0.5× raw eventemitter3 with 1 subscriber". */
  target?: string;
  run(): Promise<BenchResult[]>;
  /** Markdown added under the section's table after a run (a table of its own, a breakdown). */
  markdown?: () => string;
}

/** Runs `fn` `rounds` times and returns the best (highest) rate: the least disturbed by the rest of the machine. */
export function bestRate(rounds: number, fn: () => number): number {
  let best = 0;
  for (let i = 0; i < rounds; i++) best = Math.max(best, fn());
  return best;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** Two decimals, or two significant digits for ratios below 0.1 (0.015×, 0.00029×). */
export function fmtRatio(ratio: number): string {
  return ratio >= 0.1 || ratio === 0 ? ratio.toFixed(2) : ratio.toPrecision(2);
}

/** One bar of a project CSV (`timestamp,open,high,low,close,volume`). */
export interface CsvBar {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** Reads a candle CSV of the repository, `path` relative to the repository root. */
export function readCandleCsv(path: string): CsvBar[] {
  const file = fileURLToPath(new URL(`../../${path}`, import.meta.url));
  return readFileSync(file, 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((row) => {
      const [timestamp, open, high, low, close, volume] = row.split(',').map(Number);
      return { timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
    });
}
