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

/** Candles from the bytes of a file: CSV is scanned without decoding it to a string first. */
export function parseCandleFile(file: string, bytes: Uint8Array, format: 'csv' | 'json', symbol: string, timeframe: string): Candle[] {
  if (format === 'csv') {
    const fast = scanCsvCandles(bytes, symbol, timeframe);
    if (fast !== undefined) return fast;
  }
  return parseCandles(file, new TextDecoder().decode(bytes), format, symbol, timeframe);
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

/**
 * The common case of a candle file read in one pass without per-row closures or arrays: a
 * header naming the columns, then well-formed rows. Returns undefined at the first thing it is
 * not sure about (an odd cell, a bad bar, rows out of order) and the caller parses the file again
 * the careful way, which accepts what is acceptable and names the file and line of what is not.
 */
export function scanCsvCandles(text: Uint8Array, symbol: string, timeframe: string): Candle[] | undefined {
  const headerEnd = text.indexOf(10) < 0 ? text.length : text.indexOf(10);
  const header = new TextDecoder().decode(text.subarray(0, headerEnd)).replace(/\r$/, '').split(',').map((h) => h.trim().toLowerCase());
  const columns = header.length;
  const at = CANDLE_COLUMNS.map((c) => header.indexOf(c));
  if (at.some((i) => i < 0)) return undefined;
  const [ti, oi, hi, li, ci, vi] = at as [number, number, number, number, number, number];
  const values = new Float64Array(columns);
  const out: Candle[] = [];
  let previous = Number.NEGATIVE_INFINITY;
  const length = text.length;
  let pos = headerEnd + 1;
  while (pos < length) {
    let c = text[pos]!;
    if (c === 10 || (c === 13 && text[pos + 1] === 10)) {
      pos += c === 10 ? 1 : 2;
      continue;
    }
    let column = 0;
    for (;;) {
      // One cell: plain decimals are read digit by digit; anything else goes to Number().
      const start = pos;
      let mantissa = 0;
      let significant = 0;
      let scale = 0;
      let dot = false;
      let plain = true;
      for (; pos < length; pos++) {
        c = text[pos]!;
        if (c >= 48 && c <= 57) {
          if (mantissa !== 0 || c !== 48) significant++;
          mantissa = mantissa * 10 + (c - 48);
          if (dot) scale++;
        } else if (c === 46 && !dot) dot = true;
        else if (c === 44 || c === 10 || c === 13) break;
        else plain = false;
      }
      if (pos === start || column >= columns) return undefined;
      let value: number;
      // Up to 15 significant digits and 22 decimals both the digits and the power of ten are exact
      // doubles, so one division is correctly rounded: the same number Number() gives.
      if (plain && significant <= 15 && scale <= 22 && !(dot && pos - start === 1)) value = scale === 0 ? mantissa : mantissa / POWERS_OF_TEN[scale]!;
      else {
        const cell = new TextDecoder().decode(text.subarray(start, pos));
        value = Number(cell);
        // Number('  ') is 0: a blank cell must fail like an empty one.
        if (value === 0 && cell.trim() === '') return undefined;
      }
      values[column++] = value;
      if (pos >= length || c !== 44) break;
      pos++;
    }
    if (pos < length && c === 13) {
      if (text[pos + 1] !== 10) return undefined;
      pos++;
    }
    pos++;
    if (column !== columns) return undefined;
    const timestamp = values[ti]!;
    const open = values[oi]!;
    const high = values[hi]!;
    const low = values[li]!;
    const close = values[ci]!;
    const volume = values[vi]!;
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp <= previous) return undefined;
    if (!(open >= 0 && high >= 0 && low >= 0 && close >= 0 && volume >= 0) || !Number.isFinite(high + open + close + volume)) return undefined;
    if (high < open || high < close || high < low || low > open || low > close) return undefined;
    previous = timestamp;
    out.push({ symbol, timeframe, timestamp, open, high, low, close, volume, closed: true });
  }
  return out;
}

// Literals, not 10 ** i: the parsed literal is the exact power of ten.
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
