import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as ccxt from 'ccxt';

/**
 * Binance's public spot REST endpoints on 127.0.0.1, in Binance's own formats (taken from recorded
 * payloads, see data/binance/SOURCE.md), with 1-minute bars that advance while a test runs. A real
 * ccxt `binance` instance is pointed at it, so requests go through ccxt's HTTP client, rate
 * limiter and parsers exactly as they would against api.binance.com.
 *
 * The bars lie in the past (the newest closes about a day before now), so every bar served is
 * final on the wall clock, and a new one appears every `advanceEveryMs`.
 */

const dataDir = new URL('./data/binance/', import.meta.url);
const readJson = <T>(file: string): T => JSON.parse(readFileSync(new URL(file, dataDir), 'utf8')) as T;

const MINUTE = 60_000;
type KlineRow = [number, string, string, string, string, string, number, string, number, string, string, string];

export interface SyntheticBar {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface LoopbackBinance {
  readonly url: string;
  /** A ccxt binance instance whose API URLs point at this server. */
  readonly exchange: ccxt.Exchange;
  /** Bars available now, oldest first, as the venue serves them. */
  bars(symbol: 'BTC/USDT' | 'ETH/USDT'): SyntheticBar[];
  /** Requests by path (`/api/v3/klines`...), with their query strings. */
  readonly requests: Array<{ path: string; query: URLSearchParams }>;
  /** Requests no route answered: anything the system asked that this venue does not know. */
  readonly unanswered: string[];
  close(): Promise<void>;
}

/** Markets as ccxt describes them, with precision turned into tick sizes (ccxt's binance works in TICK_SIZE mode). */
function spotMarkets(): Record<string, Record<string, unknown>> {
  const markets = readJson<Record<string, { precision: Record<string, number> }>>('markets-spot.json');
  for (const m of Object.values(markets)) {
    for (const key of ['amount', 'price', 'base', 'quote']) {
      if (typeof m.precision[key] === 'number') m.precision[key] = 10 ** -m.precision[key];
    }
  }
  return markets as unknown as Record<string, Record<string, unknown>>;
}

/** A deterministic random walk (mulberry32), so every run serves the same prices. */
function walk(startPrice: number, count: number, seed: number, firstOpen: number, tick: number): SyntheticBar[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // The venue's prices are decimal strings; keep the numbers exactly what those strings say.
  const round = (p: number): number => Number((Math.round(p / tick) * tick).toFixed(8));
  const bars: SyntheticBar[] = [];
  let price = startPrice;
  for (let i = 0; i < count; i++) {
    const open = round(price);
    // About 0.1 % per minute, with slow swings so the strategies see crosses.
    const drift = Math.sin(i / 37) * 0.0006;
    const close = round(open * (1 + drift + (random() - 0.5) * 0.002));
    const high = round(Math.max(open, close) * (1 + random() * 0.0008));
    const low = round(Math.min(open, close) * (1 - random() * 0.0008));
    bars.push({ timestamp: firstOpen + i * MINUTE, open, high, low, close, volume: Math.round((5 + random() * 20) * 1e5) / 1e5 });
    price = close;
  }
  return bars;
}

const fixed = (n: number, digits = 8): string => n.toFixed(digits);

function toKline(bar: SyntheticBar): KlineRow {
  const quoteVolume = bar.volume * ((bar.open + bar.close) / 2);
  return [
    bar.timestamp,
    fixed(bar.open),
    fixed(bar.high),
    fixed(bar.low),
    fixed(bar.close),
    fixed(bar.volume),
    bar.timestamp + MINUTE - 1,
    fixed(quoteVolume),
    100 + Math.round(bar.volume * 10),
    fixed(bar.volume / 2),
    fixed(quoteVolume / 2),
    '0',
  ];
}

export async function startLoopbackBinance(options: { historyBars?: number; advanceEveryMs?: number } = {}): Promise<LoopbackBinance> {
  const historyBars = options.historyBars ?? 600;
  const advanceEveryMs = options.advanceEveryMs ?? 400;
  const recordedKlines = readJson<KlineRow[]>('klines-BTCUSDT-1h.json');
  const rolling = readJson<Array<{ symbol: string; lastPrice: string }>>('ticker-rolling-BTCUSDT-ETHUSDT.json');
  const tickerTemplate = readJson<Record<string, string>>('ticker-24hr-BTCUSDT.json');
  const markets = spotMarkets();

  // Room for a day of bars, all closed a day before now, whatever the test's length.
  const total = 1_440;
  const firstOpen = Math.floor(Date.now() / MINUTE) * MINUTE - 2 * total * MINUTE;
  const series: Record<string, SyntheticBar[]> = {
    BTCUSDT: walk(Number(recordedKlines.at(-1)![4]), total, 1, firstOpen, 0.01),
    ETHUSDT: walk(Number(rolling.find((t) => t.symbol === 'ETHUSDT')!.lastPrice), total, 2, firstOpen, 0.01),
  };
  const startedAt = Date.now();
  const available = (): number => Math.min(total, historyBars + Math.floor((Date.now() - startedAt) / advanceEveryMs));

  const requests: LoopbackBinance['requests'] = [];
  const unanswered: string[] = [];
  const binanceError = (status: number, code: number, msg: string) => ({ status, body: { code, msg } });

  const route = (path: string, q: URLSearchParams): { status: number; body: unknown } | undefined => {
    const symbol = q.get('symbol') ?? '';
    const bars = series[symbol]?.slice(0, available());
    if (path === '/api/v3/klines') {
      if (bars === undefined) return binanceError(400, -1121, 'Invalid symbol.');
      if (q.get('interval') !== '1m') return binanceError(400, -1120, 'Invalid interval.');
      const limit = Math.min(Number(q.get('limit') ?? 500), 1_000);
      const start = q.has('startTime') ? Number(q.get('startTime')) : undefined;
      const end = q.has('endTime') ? Number(q.get('endTime')) : Number.POSITIVE_INFINITY;
      const inRange = bars.filter((b) => (start === undefined || b.timestamp >= start) && b.timestamp <= end);
      const page = start === undefined ? inRange.slice(-limit) : inRange.slice(0, limit);
      return { status: 200, body: page.map(toKline) };
    }
    if (path === '/api/v3/ticker/24hr') {
      if (bars === undefined) return binanceError(400, -1121, 'Invalid symbol.');
      const day = bars.slice(-1_440);
      const last = day.at(-1)!;
      const first = day[0]!;
      const volume = day.reduce((s, b) => s + b.volume, 0);
      const quoteVolume = day.reduce((s, b) => s + b.volume * b.close, 0);
      const closeTime = last.timestamp + MINUTE - 1;
      // Every field of the recorded answer, with this market's numbers.
      return {
        status: 200,
        body: {
          ...tickerTemplate,
          symbol,
          priceChange: fixed(last.close - first.open),
          priceChangePercent: ((last.close / first.open - 1) * 100).toFixed(3),
          weightedAvgPrice: fixed(quoteVolume / volume),
          prevClosePrice: fixed(day.at(-2)?.close ?? first.open),
          lastPrice: fixed(last.close),
          bidPrice: fixed(last.close - 0.01),
          askPrice: fixed(last.close),
          openPrice: fixed(first.open),
          highPrice: fixed(Math.max(...day.map((b) => b.high))),
          lowPrice: fixed(Math.min(...day.map((b) => b.low))),
          volume: fixed(volume),
          quoteVolume: fixed(quoteVolume),
          openTime: String(closeTime - 86_400_000),
          closeTime: String(closeTime),
        },
      };
    }
    return undefined;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ path: url.pathname, query: url.searchParams });
    const reply = req.method === 'GET' ? route(url.pathname, url.searchParams) : undefined;
    if (reply === undefined) unanswered.push(`${req.method} ${url.pathname}${url.search}`);
    const { status, body } = reply ?? binanceError(404, -1, 'Unknown endpoint.');
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Markets come with the instance, as ccxt's own offline tests do it: no exchangeInfo request.
  // The rate limiter stays on; its pace is scaled to the test's faster polling.
  const exchange = new ccxt.binance({ markets, enableRateLimit: true, rateLimit: 5, timeout: 5_000 });
  const api = exchange.urls['api'] as Record<string, string>;
  for (const key of Object.keys(api)) api[key] = base + new URL(api[key]!).pathname;

  return {
    url: base,
    exchange,
    bars: (symbol) => series[symbol.replace('/', '')]!.slice(0, available()),
    requests,
    unanswered,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
