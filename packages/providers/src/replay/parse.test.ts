import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ReplayDataError, parseCandleFile, parseCandles, scanCsvCandles } from './parse.js';

const dataDir = fileURLToPath(new URL('../../test-data/ohlcv/', import.meta.url));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The careful row-by-row parser is the reference: the byte scanner must give the same candles or step aside. */
function both(text: string): { fast: unknown; careful: unknown } {
  const run = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (err) {
      return err instanceof ReplayDataError ? { error: err.message } : { thrown: String(err) };
    }
  };
  return {
    fast: run(() => parseCandleFile('f.csv', bytes(text), 'csv', 'X/Y', '5m')),
    careful: run(() => parseCandles('f.csv', text, 'csv', 'X/Y', '5m')),
  };
}

describe('candle files', () => {
  it('reads the real data files to exactly the numbers Number() gives', () => {
    for (const file of ['binance-XRP-ETH-5m.csv', 'binance-ETH-BTC-5m-slice.csv', 'binance-ADA-BTC-5m-gaps.csv']) {
      const text = readFileSync(join(dataDir, file), 'utf8');
      const { fast, careful } = both(text);
      expect((fast as unknown[]).length).toBeGreaterThan(50);
      expect(fast).toEqual(careful);
      // Well-formed files are read by the scanner itself, not handed back to the careful parser.
      expect(scanCsvCandles(bytes(text), 'X/Y', '5m')).toEqual(careful);
    }
  });

  it('agrees with the careful parser on every odd but valid layout', () => {
    const layouts = [
      'timestamp,open,high,low,close,volume\r\n0,1,2,0.5,1.5,10\r\n300000,1.5,2,1,1.25,0\r\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n\n300000,1.5,2,1,1.25,0',
      'Close, Open ,high,low,volume,timestamp,note\n1.5,1,2,0.5,10,0,x\n1.25,1.5,2,1,0,300000,y\n',
      'timestamp,open,high,low,close,volume\n0, 1 ,2,0.5,1.5,1e3\n300000,.5,1.,0.25,0.75,+2\n',
      'timestamp,open,high,low,close,volume\n0,0.1234567890123456789,1,0.1,0.2,0.000000000000000000000001\n',
      'timestamp,open,high,low,close,volume\n0,123456789012345678,123456789012345679,123456789012345677,123456789012345678,1\n',
    ];
    for (const text of layouts) {
      const { fast, careful } = both(text);
      expect(Array.isArray(careful), text).toBe(true);
      expect(fast, text).toEqual(careful);
    }
    // Digits past what a double holds exactly: still the value Number() gives.
    const long = both('timestamp,open,high,low,close,volume\n0,0.30000000000000004441,1,0.1,0.3,1\n').fast as Array<{ open: number }>;
    expect(long[0]!.open).toBe(Number('0.30000000000000004441'));
  });

  it('names the file and line of a bad row, the same way whichever path reads it', () => {
    const bad = [
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n300000,1,2,0.5,,10\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n300000,1,2,0.5,  ,10\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n0,1,2,0.5,1.5,10\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n300000,1,0.9,0.5,1.5,10\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5,-1\n',
      'timestamp,open,high,low,close,volume\n0,1,2,0.5,1.5\n',
      'timestamp,open,high,low,close\n0,1,2,0.5,1.5\n',
      'timestamp,open,high,low,close,volume\n0.5,1,2,0.5,1.5,1\n',
      'timestamp,open,high,low,close,volume\n0,abc,2,0.5,1.5,1\n',
    ];
    for (const text of bad) {
      const { fast, careful } = both(text);
      expect((careful as { error?: string }).error, text).toMatch(/^f\.csv:\d+: /);
      expect(fast, text).toEqual(careful);
    }
  });
});
