import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBacktest } from '@tradebus/agent-main';

/**
 * docs/strategies.md quotes a backtest of every config in examples/strategies/: its signal count,
 * trade count and return. These runs keep those lines true to the code (a change of a strategy's
 * rules shows here as a changed number, to be explained in the docs).
 */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const doc = readFileSync(join(root, 'docs/strategies.md'), 'utf8');
const configs = readdirSync(join(root, 'examples/strategies')).filter((f) => f.endsWith('.yaml')).sort();

interface Quoted {
  signals?: number;
  trades: number;
  returnPct: number;
}

const number = (text: string): number => Number(text.replace(/,/g, '').replace('−', '-'));

function quoted(file: string): Quoted | undefined {
  const name = file.replace(/[.]/g, '\\.');
  const line = new RegExp(`Backtest \\(\`examples/strategies/${name}\`[^)]*\\):\\s*([\\d,]+)\\s+signals[\\s\\S]*?([\\d,]+)\\s+trades?[\\s\\S]*?([−+-][\\d.]+)\\s*%`).exec(doc);
  if (line) return { signals: number(line[1]!), trades: number(line[2]!), returnPct: number(line[3]!) };
  // The trend filter is quoted in prose: "it made N trades and R % against ...".
  const prose = new RegExp(`\`examples/strategies/${name}\`[\\s\\S]*?made\\s+([\\d,]+)\\s+trades\\s+and\\s+([−+-][\\d.]+)\\s*%`).exec(doc);
  if (prose) return { trades: number(prose[1]!), returnPct: number(prose[2]!) };
  return undefined;
}

describe('the backtests docs/strategies.md quotes', () => {
  it('covers every config in examples/strategies', () => {
    expect(configs.length).toBeGreaterThanOrEqual(6);
    expect(configs.filter((f) => quoted(f) === undefined)).toEqual([]);
  });

  for (const file of configs) {
    it(`examples/strategies/${file} gives the numbers the docs quote`, { timeout: 180_000 }, async () => {
      const want = quoted(file);
      expect(want, `docs/strategies.md quotes no backtest of ${file}`).toBeDefined();
      const { report } = await runBacktest(join(root, 'examples/strategies', file), { logLevel: 'silent' });
      if (want!.signals !== undefined) expect(report.signals.generated).toBe(want!.signals);
      expect(report.trades.length).toBe(want!.trades);
      expect((report.metrics.totalReturn * 100).toFixed(2)).toBe(want!.returnPct.toFixed(2));
    });
  }
});
