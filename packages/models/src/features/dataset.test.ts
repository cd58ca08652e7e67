import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Candle } from '@tradebus/indicators';
import { describe, expect, it } from 'vitest';
import { parseFeatureConfig } from './config.js';
import { csvHeader, csvLine, datasetColumns, datasetRows, jsonLine } from './dataset.js';
import { FeatureConfigError } from './errors.js';
import { FeaturePipeline } from './pipeline.js';

function loadCandles(): Candle[] {
  const file = fileURLToPath(new URL('../../test-data/binance-LTC-BTC-5m.csv', import.meta.url));
  const [, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  return lines.map((line) => {
    const [timestamp, open, high, low, close, volume] = line.split(',').map(Number);
    return { timestamp: timestamp!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
  });
}

const bars = loadCandles().slice(0, 800);
const config = parseFeatureConfig({ returns: [1, 6], volatility: [12], volumeZScore: [12], calendar: { dayOfWeek: false }, indicators: { ema: { type: 'ema', period: 9 }, bands: { type: 'bollinger', period: 10 } } });
const horizons = [1, 3, 24];

describe('dataset rows', () => {
  const rows = [...datasetRows(config, { symbol: 'LTC/BTC', timeframe: '5m', bars }, horizons)];

  it('hold the pipeline values bar for bar and forward returns as labels', () => {
    const pipeline = new FeaturePipeline(config);
    const expected = bars.map((bar) => pipeline.update(bar));
    const first = pipeline.warmupPeriod - 1;
    expect(rows).toHaveLength(bars.length - first);
    rows.forEach((row, k) => {
      const t = first + k;
      expect(row.timestamp).toBe(bars[t]!.timestamp);
      expect(row.features).toEqual(expected[t]);
      // The label is the log return from this close to the close h bars later; none past the end.
      expect(row.labels).toEqual(horizons.map((h) => (t + h < bars.length ? Math.log(bars[t + h]!.close / bars[t]!.close) : null)));
    });
    expect(rows.at(-1)!.labels).toEqual([null, null, null]);
    expect(rows.at(-24)!.labels[2]).toBeNull();
    expect(rows.at(-25)!.labels[2]).not.toBeNull();
  });

  it('write CSV and JSON Lines that read back to the same numbers', () => {
    const names = new FeaturePipeline(config).names;
    const columns = datasetColumns(names, horizons);
    expect(columns).toEqual(['timestamp', 'symbol', 'timeframe', ...names, 'label_return_1', 'label_return_3', 'label_return_24']);
    expect(csvHeader(names, horizons)).toBe(columns.join(','));
    for (const row of [rows[0]!, rows[400]!, rows.at(-1)!]) {
      const cells = csvLine(row).split(',');
      expect(cells).toHaveLength(columns.length);
      expect(Number(cells[0])).toBe(row.timestamp);
      expect(cells.slice(3, 3 + names.length).map(Number)).toEqual(row.features);
      expect(cells.slice(3 + names.length).map((c) => (c === '' ? null : Number(c)))).toEqual(row.labels);
      const record = JSON.parse(jsonLine(row, names, horizons)) as Record<string, unknown>;
      expect(Object.keys(record)).toEqual(columns);
      expect(names.map((n) => record[n])).toEqual(row.features);
      expect(horizons.map((h) => record[`label_return_${h}`])).toEqual(row.labels);
    }
  });

  it('refuses unusable horizons', () => {
    const rowsOf = (h: number[]) => [...datasetRows(config, { symbol: 'X', timeframe: '5m', bars: bars.slice(0, 40) }, h)];
    expect(() => rowsOf([])).toThrow(FeatureConfigError);
    expect(() => rowsOf([0])).toThrow(/whole number of bars/);
    expect(() => rowsOf([2, 2])).toThrow(/repeats/);
  });
});
