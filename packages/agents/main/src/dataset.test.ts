import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@tradebus/core';
import { createFeaturePipeline, type FeatureBar } from '@tradebus/models';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './cli.js';
import { exportDataset } from './dataset.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '..', 'test-fixtures', 'dataset');
const files = { 'ETH/BTC': join(fixtures, 'binance-ETH-BTC-5m.csv'), 'XMR/BTC': join(fixtures, 'binance-XMR-BTC-5m.csv') };

function readBars(file: string): FeatureBar[] {
  const [, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
}

const features = {
  returns: [1, 12],
  volatility: [24],
  volumeZScore: [24],
  calendar: {},
  indicators: { rsi: { type: 'rsi', period: 14 }, macd: { type: 'macd' } },
};

let dir: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tradebus-dataset-'));
  config = join(dir, 'tradebus.yaml');
  writeFileSync(
    config,
    [
      'system: { name: dataset-test }',
      'api: { enabled: false }',
      'providers:',
      '  market:',
      '    kind: replay',
      '    warmupBars: 100',
      '    sources:',
      ...Object.entries(files).map(([symbol, file]) => `      - { type: candles, file: ${JSON.stringify(file)}, symbol: ${symbol}, timeframe: 5m }`),
      '  paper: { kind: paper, marketData: market, quoteCurrency: BTC, balances: { BTC: 1 } }',
      'agents: []',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'features.json'), JSON.stringify(features));
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('tradebus dataset', () => {
  it('writes one CSV row per warm bar with the pipeline values and forward-return labels', async () => {
    const out = join(dir, 'out', 'set.csv');
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    const code = await main(['node', 'tradebus', 'dataset', '-c', config, '--features', join(dir, 'features.json'), '--horizons', '1,6', '-o', out]);
    vi.restoreAllMocks();
    expect(code ?? 0).toBe(0);

    const [header, ...lines] = readFileSync(out, 'utf8').trimEnd().split('\n');
    const columns = header!.split(',');
    const names = createFeaturePipeline(features).names;
    expect(columns).toEqual(['timestamp', 'symbol', 'timeframe', ...names, 'label_return_1', 'label_return_6']);
    expect(printed.join('')).toMatch(/Wrote \d+ rows \(csv\)/);

    let checked = 0;
    for (const [symbol, file] of Object.entries(files)) {
      const bars = readBars(file);
      // An independent pipeline fed the file from its first bar, as a runner warmed on the whole history is.
      const pipeline = createFeaturePipeline(features);
      const vectors = bars.map((bar) => pipeline.update(bar));
      const rows = lines.map((l) => l.split(',')).filter((cells) => cells[1] === symbol);
      expect(rows).toHaveLength(bars.length - pipeline.warmupPeriod + 1);
      for (const cells of rows) {
        const t = bars.findIndex((b) => b.timestamp === Number(cells[0]));
        expect(cells[2]).toBe('5m');
        expect(cells.slice(3, 3 + names.length).map(Number)).toEqual(vectors[t]);
        const labels = cells.slice(3 + names.length).map((c) => (c === '' ? null : Number(c)));
        expect(labels).toEqual([1, 6].map((h) => (t + h < bars.length ? Math.log(bars[t + h]!.close / bars[t]!.close) : null)));
        checked++;
      }
    }
    expect(checked).toBe(lines.length);
  });

  it('writes JSON Lines and reports each series', async () => {
    const out = join(dir, 'set.jsonl');
    const result = await exportDataset(config, { features: join(dir, 'features.json'), horizons: [3], out });
    expect(result.format).toBe('jsonl');
    expect(result.series.map((s) => [s.symbol, s.bars])).toEqual([['ETH/BTC', 600], ['XMR/BTC', 600]]);
    const records = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(result.rows);
    const eth = readBars(files['ETH/BTC']);
    const pipeline = createFeaturePipeline(features);
    const vectors = eth.map((bar) => pipeline.update(bar));
    const first = records.find((r) => r.symbol === 'ETH/BTC')!;
    expect(first.timestamp).toBe(eth[pipeline.warmupPeriod - 1]!.timestamp);
    expect(pipeline.names.map((n) => first[n])).toEqual(vectors[pipeline.warmupPeriod - 1]);
    expect(records.filter((r) => r.symbol === 'XMR/BTC').at(-1)!.label_return_3).toBeNull();
  });

  it('refuses bad horizons as a usage error (exit 64) before reading anything', async () => {
    const errors: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      errors.push(String(chunk));
      return true;
    });
    const code = await main(['node', 'tradebus', 'dataset', '-c', join(dir, 'missing.yaml'), '--horizons', '1,0', '-o', join(dir, 'x.csv')]);
    vi.restoreAllMocks();
    expect(code).toBe(64);
    expect(errors.join('')).toContain('--horizons must be whole numbers of bars ≥ 1');
  });

  it("takes the features of the agent that declares them, or of the one --agent names", async () => {
    const agentModule = join(fixtures, 'features-agent.mjs');
    const withAgents = (agents: string[]): string => {
      const file = join(dir, `agents-${agents.length}.yaml`);
      writeFileSync(file, `${readFileSync(config, 'utf8').replace('agents: []\n', '')}agents:\n${agents.join('')}`);
      return file;
    };
    const entry = (id: string, returns: number[] | undefined) =>
      `  - id: ${id}\n    use: ${JSON.stringify(agentModule)}\n    config: ${returns === undefined ? '{}' : JSON.stringify({ features: { returns: returns } })}\n`;
    const out = join(dir, 'a.jsonl');

    const one = await exportDataset(withAgents([entry('idle', undefined), entry('models', [2, 5])]), { horizons: [1], out });
    expect(one.featuresFrom).toBe('agents[1].config.features');
    expect(one.columns).toEqual(['timestamp', 'symbol', 'timeframe', 'return_2', 'return_5', 'label_return_1']);

    const two = withAgents([entry('fast', [1]), entry('slow', [48])]);
    await expect(exportDataset(two, { horizons: [1], out })).rejects.toThrow(/fast, slow all declare config\.features: choose one with --agent <id>/);
    const chosen = await exportDataset(two, { agent: 'slow', horizons: [1], out });
    expect(chosen.columns.slice(3)).toEqual(['return_48', 'label_return_1']);
    // Each series from its first bar: 600 bars, warm after 49.
    expect(chosen.series.map((s) => s.rows)).toEqual([552, 552]);
    await expect(exportDataset(two, { agent: 'nobody', horizons: [1], out })).rejects.toThrow(/agent 'nobody' has no config\.features/);
  });

  it('refuses trade sources, which give no bars', async () => {
    const trades = join(dir, 'trades.yaml');
    writeFileSync(trades, readFileSync(config, 'utf8').replace('    sources:\n', `    sources:\n      - { type: trades, file: ${JSON.stringify(join(dir, 'none.csv'))}, symbol: ETH/BTC }\n`));
    await expect(exportDataset(trades, { features: join(dir, 'features.json'), horizons: [1], out: join(dir, 't.csv') })).rejects.toThrow(
      /providers\.market\.sources: trade \(tick\) sources cannot be turned into rows/,
    );
  });

  it('says where the features should come from', async () => {
    const out = join(dir, 'x.csv');
    await expect(exportDataset(config, { horizons: [1], out })).rejects.toThrow(ConfigError);
    await expect(exportDataset(config, { horizons: [1], out })).rejects.toThrow(/no agent of .* declares config\.features: give the features with --features/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...features, volatilty: [5] }));
    await expect(exportDataset(config, { features: join(dir, 'bad.json'), horizons: [1], out })).rejects.toThrow(/bad\.json: Invalid feature configuration: volatilty unknown key 'volatilty'/);
  });
});
