import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ccxt from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '@tradebus/core';
import type { Candle, Tick } from '../types.js';
import { CcxtProvider } from './provider.js';

// ccxt.pro's own websocket client and Binance stream parsing, against a minimal RFC 6455 server
// on 127.0.0.1 that speaks Binance's stream format.

const dataDir = fileURLToPath(new URL('../../test-data/binance/', import.meta.url));

function tickSizeMarkets(): Record<string, any> {
  const markets = JSON.parse(readFileSync(dataDir + 'markets.json', 'utf8'));
  for (const m of Object.values<any>(markets)) {
    for (const key of ['amount', 'price', 'base', 'quote']) {
      if (typeof m.precision?.[key] === 'number') m.precision[key] = 10 ** -m.precision[key];
    }
  }
  return markets;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  return Buffer.concat([header, payload]);
}

/** Reads complete client frames (always masked) from `buffer`; returns them and the unread rest. */
function readFrames(buffer: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  while (buffer.length - offset >= 6) {
    const opcode = buffer[offset]! & 0x0f;
    let len = buffer[offset + 1]! & 0x7f;
    let pos = offset + 2;
    if (len === 126) {
      if (buffer.length - pos < 2) break;
      len = buffer.readUInt16BE(pos);
      pos += 2;
    }
    if (buffer.length - pos < 4 + len) break;
    const mask = buffer.subarray(pos, pos + 4);
    const payload = Buffer.from(buffer.subarray(pos + 4, pos + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push({ opcode, payload });
    offset = pos + 4 + len;
  }
  return { frames, rest: buffer.subarray(offset) };
}

interface StreamServer {
  url: string;
  subscriptions: string[];
  subscribed: Promise<void>;
  send(message: unknown): void;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
const providers: CcxtProvider[] = [];

afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function streamServer(): Promise<StreamServer> {
  const clients: Socket[] = [];
  const subscriptions: string[] = [];
  let onSubscribe!: () => void;
  const subscribed = new Promise<void>((r) => (onSubscribe = r));
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket: Socket) => {
    sockets.push(socket);
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    clients.push(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { frames, rest } = readFrames(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const f of frames) {
        if (f.opcode === 0x9) socket.write(frame(0xa, f.payload));
        else if (f.opcode === 0x8) socket.end(frame(0x8, Buffer.alloc(0)));
        else if (f.opcode === 0x1) {
          const msg = JSON.parse(f.payload.toString('utf8'));
          if (msg.method === 'SUBSCRIBE') {
            subscriptions.push(...msg.params);
            socket.write(frame(0x1, Buffer.from(JSON.stringify({ result: null, id: msg.id }))));
            onSubscribe();
          }
        }
      }
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/stream/ws`,
    subscriptions,
    subscribed,
    send: (message) => {
      for (const c of clients) c.write(frame(0x1, Buffer.from(JSON.stringify(message))));
    },
  };
}

async function proBinance(url: string, clock: VirtualClock): Promise<CcxtProvider> {
  const exchange = new ccxt.pro.binance({ markets: tickSizeMarkets() });
  (exchange.urls['api'] as any).ws.spot = url;
  // ccxt needs an http agent for plain ws:// urls (venues use wss://; the loopback server does not).
  await exchange.loadHttpProxyAgent();
  const p = new CcxtProvider({ id: 'binance', exchange: 'binance', instance: exchange, clock, candleCloseGraceMs: 1_000 });
  providers.push(p);
  return p;
}

const kline = (t: number, o: number, h: number, l: number, c: number, v: number) => ({
  e: 'kline',
  E: t + 1,
  s: 'BTCUSDT',
  k: { t, T: t + 59_999, s: 'BTCUSDT', i: '1m', o: String(o), c: String(c), h: String(h), l: String(l), v: String(v), n: 1, x: false },
});

/** Waits for the next item while letting real I/O happen. */
async function next<T>(it: AsyncIterator<T>, onWait?: () => void): Promise<T> {
  let result: IteratorResult<T> | undefined;
  let failure: unknown;
  it.next().then(
    (r) => (result = r),
    (e: unknown) => (failure = e),
  );
  for (let i = 0; result === undefined && failure === undefined; i++) {
    if (i > 1_000) throw new Error('nothing arrived');
    await new Promise((r) => setTimeout(r, 2));
    onWait?.();
  }
  if (failure !== undefined) throw failure;
  if (result!.done) throw new Error('stream ended');
  return result!.value;
}

describe('CcxtProvider over ccxt.pro websockets (loopback)', () => {
  it('candles: forming updates, a closed bar when the next one starts, and on time in a quiet market', async () => {
    const server = await streamServer();
    const t0 = 1_700_000_040_000 - (1_700_000_040_000 % 60_000);
    const clock = new VirtualClock(t0 + 10_000);
    const p = await proBinance(server.url, clock);
    const ac = new AbortController();
    const it = p.watchCandles('BTC/USDT', '1m', ac.signal)[Symbol.asyncIterator]();
    const first = next(it);
    await server.subscribed;
    expect(server.subscriptions).toEqual(['btcusdt@kline_1m']);
    server.send(kline(t0, 100, 101, 99, 100.5, 1));
    const got: Candle[] = [await first];
    server.send(kline(t0, 100, 102, 99, 101.5, 2));
    got.push(await next(it));
    server.send(kline(t0 + 60_000, 101.5, 101.5, 101, 101.2, 0.5));
    got.push(await next(it), await next(it));
    // Nothing more arrives: the bar closes once its minute and the grace period are over.
    clock.advanceTo(t0 + 60_000 + 30_000);
    const quiet = next(it, () => {
      if (clock.now() < t0 + 120_000 + 1_000) clock.advanceTo(t0 + 120_000 + 1_000);
    });
    got.push(await quiet);
    ac.abort();
    expect(got.map((c) => [c.timestamp - t0, c.closed, c.close])).toEqual([
      [0, false, 100.5],
      [0, false, 101.5],
      [0, true, 101.5],
      [60_000, false, 101.2],
      [60_000, true, 101.2],
    ]);
    expect(got[2]).toMatchObject({ symbol: 'BTC/USDT', timeframe: '1m', open: 100, high: 102, low: 99, volume: 2 });
  });

  it('ticks from the mini-ticker stream (ccxt’s default for Binance) carry the last price', async () => {
    const server = await streamServer();
    const clock = new VirtualClock(1_700_000_000_000);
    const p = await proBinance(server.url, clock);
    const ac = new AbortController();
    const it = p.watchTicks('BTC/USDT', ac.signal)[Symbol.asyncIterator]();
    const first = next(it);
    await server.subscribed;
    expect(server.subscriptions).toEqual(['btcusdt@miniTicker']);
    server.send({ e: '24hrMiniTicker', E: 1_700_000_000_500, s: 'BTCUSDT', c: '37000.5', o: '36000', h: '37100', l: '35900', v: '100', q: '3650000' });
    const tick: Tick = await first;
    server.send({ e: '24hrMiniTicker', E: 1_700_000_001_500, s: 'BTCUSDT', c: '37001', o: '36000', h: '37100', l: '35900', v: '101', q: '3650037' });
    const second = await next(it);
    ac.abort();
    expect(tick).toMatchObject({ symbol: 'BTC/USDT', price: 37000.5, timestamp: 1_700_000_000_500 });
    expect(second).toMatchObject({ price: 37001, timestamp: 1_700_000_001_500 });
    expect((await it.next()).done).toBe(true);
  });
});
