import type { Candle } from '../types.js';

export type OhlcvRow = readonly [number, number, number, number, number, number | null | undefined, ...unknown[]];

/**
 * Turns repeated snapshots of recent bars (a websocket OHLCV cache or a polled REST answer) into
 * forming updates and exactly one closed bar per period. A bar counts as closed once a newer bar
 * exists, or once its period plus `graceMs` has passed (so a quiet market still closes its bars).
 * History present in the first snapshot is not replayed: watchers start from the current bar.
 */
export class CandleCloser {
  private lastClosed = Number.NEGATIVE_INFINITY;
  private forming: Candle | undefined;
  private initialized = false;

  constructor(
    private readonly symbol: string,
    private readonly timeframe: string,
    private readonly timeframeMs: number,
    private readonly graceMs: number,
  ) {}

  update(rows: ReadonlyArray<OhlcvRow>, now: number): Candle[] {
    const out: Candle[] = [];
    const sorted = [...rows].sort((a, b) => a[0] - b[0]);
    if (!this.initialized) {
      this.initialized = true;
      if (sorted.length >= 2) this.lastClosed = sorted[sorted.length - 2]![0];
    }
    for (let i = 0; i < sorted.length; i++) {
      const row = sorted[i]!;
      const ts = row[0];
      if (ts <= this.lastClosed) continue;
      // Streams that deliver only changed bars (ccxt.pro's newUpdates) never resend the previous
      // bar: a newer bar means the one we were forming is final.
      if (this.forming !== undefined && ts > this.forming.timestamp) {
        out.push({ ...this.forming, closed: true });
        this.lastClosed = this.forming.timestamp;
        this.forming = undefined;
      }
      const candle = this.toCandle(row);
      const newerExists = i < sorted.length - 1;
      if (newerExists || ts + this.timeframeMs + this.graceMs <= now) {
        out.push({ ...candle, closed: true });
        this.lastClosed = ts;
        if (this.forming?.timestamp === ts) this.forming = undefined;
      } else if (!sameBar(this.forming, candle)) {
        this.forming = candle;
        out.push(candle);
      }
    }
    if (this.forming !== undefined && this.forming.timestamp <= this.lastClosed) this.forming = undefined;
    return out;
  }

  /** Closes the forming bar when its time is up and no newer bar arrived. */
  flush(now: number): Candle[] {
    const f = this.forming;
    if (f === undefined || f.timestamp + this.timeframeMs + this.graceMs > now) return [];
    this.forming = undefined;
    this.lastClosed = f.timestamp;
    return [{ ...f, closed: true }];
  }

  /** When the forming bar must close at the latest, for a timer. */
  nextDeadline(): number | undefined {
    return this.forming === undefined ? undefined : this.forming.timestamp + this.timeframeMs + this.graceMs;
  }

  private toCandle(row: OhlcvRow): Candle {
    return {
      symbol: this.symbol,
      timeframe: this.timeframe,
      timestamp: row[0],
      open: row[1],
      high: row[2],
      low: row[3],
      close: row[4],
      volume: row[5] ?? 0,
      closed: false,
    };
  }
}

function sameBar(a: Candle | undefined, b: Candle): boolean {
  return (
    a !== undefined &&
    a.timestamp === b.timestamp &&
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume
  );
}
