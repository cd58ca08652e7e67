import type { BacktestProgress } from './engine.js';

/**
 * A one-line progress bar for a terminal: bar, percent, records done of the total, rate and ETA,
 * redrawn in place at most every `intervalMs` of wall time. Only for a TTY: piped output and
 * `--json` runs get no progress lines at all.
 */
export interface ProgressBarOptions {
  /** Where the bar is drawn; a TTY. */
  stream: { write(text: string): unknown; columns?: number | undefined };
  label?: string;
  /** What is counted: candles for a backtest, runs for a sweep. */
  unit?: string;
  /** Show the replay's virtual time after the rate (not for sweeps). */
  showTime?: boolean;
  intervalMs?: number;
  now?: () => number;
}

export class ProgressBar {
  private readonly stream: ProgressBarOptions['stream'];
  private readonly label: string;
  private readonly unit: string;
  private readonly showTime: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(options: ProgressBarOptions) {
    this.stream = options.stream;
    this.label = options.label ?? 'backtest';
    this.unit = options.unit ?? 'candles';
    this.showTime = options.showTime ?? true;
    this.intervalMs = options.intervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  update(progress: BacktestProgress, force = false): void {
    const now = this.now();
    if (!force && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.stream.write(`\r${formatProgressLine(progress, this.label, terminalWidth(this.stream.columns), this.unit, this.showTime)}\x1b[K`);
    this.drawn = true;
  }

  /** Draws the final state and moves to a fresh line. */
  finish(progress?: BacktestProgress): void {
    if (progress !== undefined) this.update(progress, true);
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** A terminal that does not report a usable width (0 under some multiplexers) is taken as 80 columns. */
function terminalWidth(columns: number | undefined): number {
  return columns !== undefined && columns >= 40 ? columns : 80;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

export function formatEta(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.ceil(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `backtest [██████░░░░]  61% 10,366/16,978 candles · 2.1k/s · ETA 3s · 2018-01-22 14:05` */
export function formatProgressLine(p: BacktestProgress, label: string, columns: number, unit = 'candles', showTime = true): string {
  const rate = p.elapsedMs > 0 ? (p.records / p.elapsedMs) * 1_000 : Number.NaN;
  const date = new Date(p.time).toISOString().slice(0, 16).replace('T', ' ');
  const total = p.total !== undefined && p.total > 0 ? p.total : undefined;
  const count = total !== undefined ? `${p.records.toLocaleString('en-US')}/${total.toLocaleString('en-US')}` : p.records.toLocaleString('en-US');
  const eta = total !== undefined && rate > 0 ? ` · ETA ${formatEta(((total - Math.min(p.records, total)) / rate) * 1_000)}` : '';
  const tail = ` ${count} ${unit} · ${formatRate(rate)}/s${eta}${showTime ? ` · ${date}` : ''}`;
  if (total === undefined) return `${label}${tail}`.slice(0, Math.max(20, columns - 1));
  const fraction = Math.min(1, p.records / total);
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const width = Math.max(10, Math.min(30, columns - label.length - tail.length - pct.length - 6));
  const filled = Math.round(fraction * width);
  return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${pct}${tail}`.slice(0, Math.max(20, columns - 1));
}
