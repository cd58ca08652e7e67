import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '..', '..', 'dist', 'cli.js');
const example = resolve(here, '../../../../../examples/backtest/backtest.yaml');

function tradebus(args: string[]) {
  return spawnSync(process.execPath, [cli, 'backtest', ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('tradebus backtest (command line)', () => {
  it('says what is wrong with an option and exits 64', () => {
    const bad = tradebus(['-c', example, '--risk-free', 'abc']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toContain("--risk-free must be a fraction between -1 and 1");
    const folds = tradebus(['-c', example, '--folds', '2']);
    expect(folds.status).toBe(64);
    expect(folds.stderr).toContain('--folds needs at least one --grid parameter');
  });

  it('refuses a config that names a live venue, exit 2 naming the provider', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-backtest-cli-'));
    const file = join(dir, 'live.yaml');
    writeFileSync(file, 'providers:\n  binance: { kind: ccxt, exchange: binance }\n  paper: { kind: paper }\n');
    const run = tradebus(['-c', file, '--json']);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/providers\.binance\.kind: ccxt is not allowed in a backtest/);
  });

  it('names a swept value the agent refuses before running anything, exit 2', () => {
    const run = tradebus(['-c', example, '--grid', 'strategy.strategies[0].params.fast=8,99']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('agents[1].config.strategies[0].params.fast: must be shorter than slow');
  });
});
