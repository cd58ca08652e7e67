import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfigFile, TradebusError } from '@tradebus/core';
import { csvHeader, csvLine, datasetColumns, datasetRows, FeatureConfigError, featureNames, jsonLine, parseFeatureConfig, type DatasetSeries, type FeatureConfig } from '@tradebus/models';
import type { Candle } from '@tradebus/providers';
import { z } from 'zod';
import { loadScreenMarket, seriesKey } from './backtest/screen/data.js';
import { ScreenUnsupportedError } from './backtest/screen/errors.js';
import { prepareSystem } from './prepare.js';

/**
 * `tradebus dataset`: a training set for models. The config's market data is played exactly as a
 * backtest plays it (warm-up history first), every bar goes through the feature pipeline the
 * config declares, and each row gets forward-return labels: the only future values in the file,
 * in columns named `label_return_<h>`.
 */

export type DatasetFormat = 'csv' | 'jsonl';

export interface DatasetOptions {
  /** A YAML/JSON file holding the feature configuration; default: the `features` of an agent of the config. */
  features?: string;
  /** The agent whose `config.features` to use when several declare features. */
  agent?: string;
  /** Label horizons in bars. */
  horizons: number[];
  /** Output file. */
  out: string;
  /** Default: jsonl for a .jsonl/.ndjson file, csv otherwise. */
  format?: DatasetFormat;
  env?: Record<string, string | undefined>;
}

export interface DatasetSeriesSummary {
  symbol: string;
  timeframe: string;
  bars: number;
  rows: number;
  /** Bars dropped because they repeated or preceded an earlier bar of the series. */
  skipped: number;
}

export interface DatasetResult {
  file: string;
  format: DatasetFormat;
  columns: string[];
  rows: number;
  /** Where the features came from: a file or `agents[i].config.features`. */
  featuresFrom: string;
  series: DatasetSeriesSummary[];
}

/** Where the feature configuration comes from, parsed and validated. */
function findFeatures(prepared: Awaited<ReturnType<typeof prepareSystem>>, options: DatasetOptions): { config: FeatureConfig; from: string } {
  if (options.features !== undefined) {
    const file = resolve(options.features);
    const raw = loadConfigFile(file, { schema: z.unknown(), env: options.env });
    try {
      return { config: parseFeatureConfig(raw), from: file };
    } catch (err) {
      if (!(err instanceof FeatureConfigError)) throw err;
      throw new FeatureConfigError(err.field, `${file}: ${err.message}`, { cause: err, issues: err.issues });
    }
  }
  const declaring = prepared.config.agents
    .map((entry, index) => ({ entry, path: `agents[${index}].config.features` }))
    .filter(({ entry }) => (options.agent === undefined || entry.id === options.agent) && (entry.config as { features?: unknown } | undefined)?.features !== undefined);
  if (declaring.length === 1) {
    const { entry, path } = declaring[0]!;
    return { config: parseFeatureConfig((entry.config as { features: unknown }).features, { path }), from: path };
  }
  const issue =
    options.agent !== undefined
      ? { path: '--agent', message: `agent '${options.agent}' has no config.features in ${prepared.source}` }
      : declaring.length === 0
        ? { path: 'agents', message: `no agent of ${prepared.source} declares config.features: give the features with --features <file>` }
        : { path: '--agent', message: `${declaring.map((d) => d.entry.id).join(', ')} all declare config.features: choose one with --agent <id>` };
  throw new ConfigError(`Cannot tell which features to export: ${issue.message}.`, [issue]);
}

/** The bars of every series, history first, oldest first, as the replay hands them out. */
async function loadSeries(prepared: Awaited<ReturnType<typeof prepareSystem>>): Promise<{ series: DatasetSeries[]; skipped: Map<string, number> }> {
  let market: Awaited<ReturnType<typeof loadScreenMarket>>;
  try {
    market = await loadScreenMarket(prepared);
  } catch (err) {
    if (!(err instanceof ScreenUnsupportedError)) throw err;
    const path = String(err.details?.path ?? 'providers');
    const message = 'trade (tick) sources cannot be turned into rows: the dataset export reads candles; give candle files';
    throw new ConfigError(`Cannot export a dataset: ${path}: ${message}.`, [{ path, message }], { cause: err });
  }
  const bars = new Map<string, Candle[]>();
  const skipped = new Map<string, number>();
  const add = (bar: Candle): void => {
    const key = seriesKey(bar.symbol, bar.timeframe);
    let list = bars.get(key);
    if (list === undefined) bars.set(key, (list = []));
    // A redelivered or late bar would shift every later row: a runner ignores it too.
    if (list.length > 0 && bar.timestamp <= list[list.length - 1]!.timestamp) {
      skipped.set(key, (skipped.get(key) ?? 0) + 1);
      return;
    }
    list.push(bar);
  };
  for (const history of market.history.values()) for (const bar of history) add(bar);
  for (const moment of market.moments) for (const bar of moment.bars) add(bar);
  const series = [...bars].map(([key, list]) => {
    const [symbol, timeframe] = key.split('|') as [string, string];
    return { symbol, timeframe, bars: list };
  });
  return { series, skipped };
}

export async function exportDataset(configPath: string, options: DatasetOptions): Promise<DatasetResult> {
  const prepared = await prepareSystem(configPath, { env: options.env });
  const { config, from } = findFeatures(prepared, options);
  const format: DatasetFormat = options.format ?? (['.jsonl', '.ndjson'].includes(extname(options.out).toLowerCase()) ? 'jsonl' : 'csv');
  const names = featureNames(config);
  const { horizons } = options;
  const { series, skipped } = await loadSeries(prepared);
  const file = resolve(options.out);
  mkdirSync(dirname(file), { recursive: true });
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (err) {
    throw new TradebusError('DATASET_WRITE', `Cannot write the dataset to ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check --out.`, { cause: err });
  }
  const summaries: DatasetSeriesSummary[] = [];
  let total = 0;
  try {
    let chunk = format === 'csv' ? `${csvHeader(names, horizons)}\n` : '';
    for (const s of series) {
      let rows = 0;
      for (const row of datasetRows(config, s, horizons)) {
        chunk += `${format === 'csv' ? csvLine(row) : jsonLine(row, names, horizons)}\n`;
        rows++;
        if (chunk.length > 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      total += rows;
      summaries.push({ symbol: s.symbol, timeframe: s.timeframe, bars: s.bars.length, rows, skipped: skipped.get(seriesKey(s.symbol, s.timeframe)) ?? 0 });
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return { file, format, columns: datasetColumns(names, horizons), rows: total, featuresFrom: from, series: summaries };
}

function parseHorizons(value: string): number[] {
  const horizons = value.split(',').map((part) => Number(part.trim()));
  if (horizons.some((h) => !Number.isInteger(h) || h < 1)) throw new InvalidArgumentError('--horizons must be whole numbers of bars ≥ 1, separated by commas, e.g. 1,12,48.');
  if (new Set(horizons).size !== horizons.length) throw new InvalidArgumentError('--horizons must not repeat a horizon.');
  return horizons;
}

export function addDatasetCommand(program: Command): Command {
  return program
    .command('dataset')
    .description("replay the config's market data through its feature pipeline and write one row per bar: features, then forward-return labels")
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON) with a replay (or synthetic) provider')
    .requiredOption('-o, --out <file>', 'dataset file to write (.csv, or .jsonl for JSON Lines)')
    .option('--features <file>', "feature configuration (YAML or JSON); default: the config.features of the config's agent that declares them")
    .option('--agent <id>', 'take the features of this agent when several declare them')
    .addOption(new Option('--horizons <bars>', 'label horizons in bars, comma-separated').argParser(parseHorizons).default([1], '1'))
    .addOption(new Option('--format <format>', 'csv or jsonl (default: from the --out extension)').choices(['csv', 'jsonl']))
    .option('--json', 'print the summary as JSON', false)
    .action(async (opts: { config: string; out: string; features?: string; agent?: string; horizons: number[]; format?: DatasetFormat; json: boolean }) => {
      const result = await exportDataset(opts.config, opts);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const lines = [
        `Wrote ${result.rows} rows (${result.format}) to ${result.file}`,
        `  features from ${result.featuresFrom}: ${result.columns.length - 3 - opts.horizons.length} columns; labels: ${opts.horizons.map((h) => `label_return_${h}`).join(', ')}`,
        ...result.series.map((s) => `  ${s.symbol} ${s.timeframe}: ${s.bars} bars, ${s.rows} rows${s.skipped > 0 ? `, ${s.skipped} repeated bars skipped` : ''}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
