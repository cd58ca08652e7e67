import { describe, expect, it } from 'vitest';
import { formatEta, formatProgressLine, formatRate, ProgressBar } from './progress.js';

const T = Date.UTC(2018, 0, 22, 14, 5);

describe('progress line', () => {
  it('shows bar, percent, count of total, rate, ETA and the replay time', () => {
    // 10,000 of 40,000 in 2 s: 5,000/s, 30,000 left → 6 s; a quarter of 30 cells is 7.5, drawn as 8.
    const line = formatProgressLine({ records: 10_000, total: 40_000, time: T, elapsedMs: 2_000 }, 'backtest', 120);
    expect(line).toBe(`backtest [${'█'.repeat(8)}${'░'.repeat(22)}]  25% 10,000/40,000 candles · 5.0k/s · ETA 6s · 2018-01-22 14:05`);
  });

  it('without a total shows the count and rate only', () => {
    expect(formatProgressLine({ records: 1_500, total: undefined, time: T, elapsedMs: 1_000 }, 'backtest', 120)).toBe('backtest 1,500 candles · 1.5k/s · 2018-01-22 14:05');
  });

  it('fits the terminal width', () => {
    expect(formatProgressLine({ records: 5, total: 10, time: T, elapsedMs: 1_000 }, 'backtest', 40).length).toBeLessThanOrEqual(39);
  });

  it('formats rates and ETAs', () => {
    expect(formatRate(2_500_000)).toBe('2.50M');
    expect(formatRate(950)).toBe('950');
    expect(formatEta(59_001)).toBe('1m00s');
    expect(formatEta(3_600_000 * 2 + 60_000 * 3)).toBe('2h03m');
  });
});

describe('ProgressBar', () => {
  it('redraws in place at most once per interval, then ends the line', () => {
    let now = 0;
    const out: string[] = [];
    const bar = new ProgressBar({ stream: { write: (t: string) => out.push(t), columns: 100 }, intervalMs: 100, now: () => now });
    const p = { records: 1, total: 10, time: T, elapsedMs: 1 };
    bar.update(p);
    now = 50;
    bar.update({ ...p, records: 2 });
    now = 150;
    bar.update({ ...p, records: 3 });
    bar.finish({ ...p, records: 10 });
    expect(out).toHaveLength(4);
    expect(out.slice(0, 3).every((t) => t.startsWith('\r') && t.endsWith('\x1b[K'))).toBe(true);
    expect(out[1]).toContain(' 3/10 ');
    expect(out[2]).toContain('100%');
    expect(out[3]).toBe('\n');
  });
});
