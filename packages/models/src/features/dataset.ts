import { FeatureConfigError } from './errors.js';
import { FeaturePipeline, type FeatureBar } from './pipeline.js';
import type { FeatureConfig } from './config.js';

/** One series of closed bars, oldest first. */
export interface DatasetSeries {
  symbol: string;
  timeframe: string;
  bars: readonly FeatureBar[];
}

/** One row of a training set: the features known at the close of a bar, and what came after. */
export interface DatasetRow {
  /** Open time of the bar (epoch ms, UTC). */
  timestamp: number;
  symbol: string;
  timeframe: string;
  /** In {@link datasetColumns} order, exactly the vector the pipeline produced at this bar. */
  features: readonly number[];
  /** Forward log returns ln(close[t+h] / close[t]) per horizon; null where the series ends first. */
  labels: (number | null)[];
}

/** The label column of a horizon: the only future value in a row, and named as one. */
export const labelName = (horizon: number): string => `label_return_${horizon}`;

/** Column names of an exported dataset: timestamp, symbol, timeframe, every feature, every label. */
export function datasetColumns(featureNames: readonly string[], horizons: readonly number[]): string[] {
  return ['timestamp', 'symbol', 'timeframe', ...featureNames, ...horizons.map(labelName)];
}

export function checkHorizons(horizons: readonly number[], field = 'horizons'): void {
  if (horizons.length === 0) throw new FeatureConfigError(field, `${field} is empty: give at least one label horizon in bars, e.g. 1,12.`);
  for (const h of horizons) {
    if (!Number.isInteger(h) || h < 1) throw new FeatureConfigError(field, `${field} holds ${h}; a label horizon is a whole number of bars ≥ 1.`);
  }
  if (new Set(horizons).size !== horizons.length) throw new FeatureConfigError(field, `${field} repeats a horizon; list each once.`);
}

/**
 * The rows of one series: the pipeline is fed every bar in order (the same way a runner feeds it
 * live), a row is emitted for every bar once the pipeline is warm, and each row's labels are the
 * forward returns over `horizons` bars. Features only ever see bars up to their own.
 */
export function* datasetRows(config: FeatureConfig, series: DatasetSeries, horizons: readonly number[]): Generator<DatasetRow> {
  checkHorizons(horizons);
  const pipeline = new FeaturePipeline(config);
  const { bars } = series;
  for (let t = 0; t < bars.length; t++) {
    const features = pipeline.update(bars[t]!);
    if (features === undefined) continue;
    const close = bars[t]!.close;
    const labels = horizons.map((h) => (t + h < bars.length ? Math.log(bars[t + h]!.close / close) : null));
    yield { timestamp: bars[t]!.timestamp, symbol: series.symbol, timeframe: series.timeframe, features, labels };
  }
}

/** A number as CSV/JSON text: shortest round-trip form, so parsing the file gives the same double. */
const text = (value: number | null): string => (value === null ? '' : String(value));

const quote = (value: string): string => (/[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

/** One CSV line (no newline). Missing labels are empty cells. */
export function csvLine(row: DatasetRow): string {
  return [String(row.timestamp), quote(row.symbol), quote(row.timeframe), ...row.features.map(text), ...row.labels.map(text)].join(',');
}

/** The CSV header line (no newline). */
export function csvHeader(featureNames: readonly string[], horizons: readonly number[]): string {
  return datasetColumns(featureNames, horizons).map(quote).join(',');
}

/** One JSON Lines record (no newline): `{ timestamp, symbol, timeframe, <feature>: v, ..., label_return_<h>: v|null }`. */
export function jsonLine(row: DatasetRow, featureNames: readonly string[], horizons: readonly number[]): string {
  const record: Record<string, number | string | null> = { timestamp: row.timestamp, symbol: row.symbol, timeframe: row.timeframe };
  featureNames.forEach((name, i) => (record[name] = row.features[i]!));
  horizons.forEach((h, i) => (record[labelName(h)] = row.labels[i]!));
  return JSON.stringify(record);
}
