import { TradebusError } from '@tradebus/core';
import type { Candle, Tick } from '../types.js';

/** A data file the replay cannot use; the message names the file and line (or JSON index). */
export class ReplayDataError extends TradebusError {
  constructor(file: string, where: string, problem: string) {
    super('REPLAY_DATA_INVALID', `${file}:${where}: ${problem}. Fix or remove that row and run again.`, { details: { file, where } });
  }
}

const CANDLE_COLUMNS = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
const TRADE_COLUMNS = ['timestamp', 'price', 'amount'] as const;

interface Row {
  /** 1-based line (CSV) or 0-based index (JSON), for messages. */
  where: string;
  get(column: string): unknown;
}

function* csvRows(file: string, text: string, required: readonly string[]): Generator<Row> {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new ReplayDataError(file, '1', `the header lacks column(s) ${missing.join(', ')} (expected ${required.join(',')})`);
  }
  const index = new Map(header.map((h, i) => [h, i]));
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    if (cells.length !== header.length) throw new ReplayDataError(file, String(i + 1), `expected ${header.length} columns, found ${cells.length}`);
    yield { where: String(i + 1), get: (column) => cells[index.get(column)!]?.trim() };
  }
}

function* jsonRows(file: string, text: string, columns: readonly string[]): Generator<Row> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ReplayDataError(file, '1', `not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) throw new ReplayDataError(file, '[root]', 'expected an array of rows');
  for (let i = 0; i < data.length; i++) {
    const item: unknown = data[i];
    const where = `[${i}]`;
    if (Array.isArray(item)) {
      // Arrays follow the column order (ccxt / freqtrade OHLCV layout).
      yield { where, get: (column) => item[columns.indexOf(column)] };
    } else if (item !== null && typeof item === 'object') {
      yield { where, get: (column) => (item as Record<string, unknown>)[column] };
    } else {
      throw new ReplayDataError(file, where, 'expected an array or an object');
    }
  }
}

function num(file: string, row: Row, column: string, opts: { integer?: boolean; positive?: boolean; optional?: boolean } = {}): number {
  const raw = row.get(column);
  if ((raw === undefined || raw === '' || raw === null) && opts.optional) return Number.NaN;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw !== '' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value)) throw new ReplayDataError(file, row.where, `column '${column}' is ${JSON.stringify(raw ?? null)}, not a number`);
  if (opts.integer && !Number.isInteger(value)) throw new ReplayDataError(file, row.where, `column '${column}' must be whole epoch milliseconds, got ${value}`);
  if (value < 0 || (opts.positive && value === 0)) throw new ReplayDataError(file, row.where, `column '${column}' must be ${opts.positive ? 'positive' : 'non-negative'}, got ${value}`);
  return value;
}

export function parseCandles(file: string, text: string, format: 'csv' | 'json', symbol: string, timeframe: string): Candle[] {
  const rows = format === 'csv' ? csvRows(file, text, CANDLE_COLUMNS) : jsonRows(file, text, CANDLE_COLUMNS);
  const out: Candle[] = [];
  let previous: number | undefined;
  for (const row of rows) {
    const timestamp = num(file, row, 'timestamp', { integer: true });
    const open = num(file, row, 'open');
    const high = num(file, row, 'high');
    const low = num(file, row, 'low');
    const close = num(file, row, 'close');
    const volume = num(file, row, 'volume');
    if (high < Math.max(open, close, low) || low > Math.min(open, close)) {
      throw new ReplayDataError(file, row.where, `inconsistent bar: high ${high} and low ${low} must enclose open ${open} and close ${close}`);
    }
    if (previous !== undefined && timestamp <= previous) {
      throw new ReplayDataError(file, row.where, `timestamp ${timestamp} is not after the previous row's ${previous}: rows must be in ascending time order without duplicates`);
    }
    previous = timestamp;
    out.push({ symbol, timeframe, timestamp, open, high, low, close, volume, closed: true });
  }
  return out;
}

export function parseTrades(file: string, text: string, format: 'csv' | 'json', symbol: string): Tick[] {
  const rows = format === 'csv' ? csvRows(file, text, TRADE_COLUMNS) : jsonRows(file, text, ['timestamp', 'id', 'side', 'price', 'amount']);
  const out: Tick[] = [];
  let previous: number | undefined;
  for (const row of rows) {
    const timestamp = num(file, row, 'timestamp', { integer: true });
    const price = num(file, row, 'price', { positive: true });
    const amount = num(file, row, 'amount');
    const sideRaw = row.get('side');
    const side = sideRaw === undefined || sideRaw === '' || sideRaw === null ? undefined : String(sideRaw).toLowerCase();
    if (side !== undefined && side !== 'buy' && side !== 'sell') throw new ReplayDataError(file, row.where, `column 'side' is ${JSON.stringify(sideRaw)}: use buy or sell`);
    if (previous !== undefined && timestamp < previous) {
      throw new ReplayDataError(file, row.where, `timestamp ${timestamp} is before the previous row's ${previous}: rows must be in ascending time order`);
    }
    previous = timestamp;
    const id = row.get('id');
    out.push({ symbol, price, volume: amount, side, tradeId: id === undefined || id === null || id === '' ? undefined : String(id), timestamp });
  }
  return out;
}
