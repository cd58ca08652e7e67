import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@tradebus/core';

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  json: any;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer after this long (a long poll that finds nothing). */
  delayMs?: number;
}

/**
 * A loopback HTTP server that records every request and answers from a script: the next reply
 * in `replies`, then `fallback` (204) once the script is used up.
 */
export class HttpSink {
  readonly received: Received[] = [];
  replies: Reply[] = [];
  fallback: Reply = { status: 204 };
  /** Answers by request (path, body) before the script is consulted; undefined falls through. */
  respond: ((req: Received) => Reply | undefined) | undefined;
  private server!: Server;
  url = '';

  static async start(path = '/hook'): Promise<HttpSink> {
    const sink = new HttpSink();
    sink.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(raw);
        } catch {
          json = undefined;
        }
        const received: Received = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json };
        sink.received.push(received);
        const reply = sink.respond?.(received) ?? sink.replies.shift() ?? sink.fallback;
        const answer = () => {
          if (res.destroyed) return;
          res.writeHead(reply.status, reply.headers);
          res.end(reply.body ?? '');
        };
        if (reply.delayMs === undefined) answer();
        else setTimeout(answer, reply.delayMs).unref();
      });
    });
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    sink.url = `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}${path}`;
    return sink;
  }

  /** Waits (real time) until `n` requests have arrived; fails after `timeoutMs`. */
  async waitFor(n: number, timeoutMs = 5_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} requests, got ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.received;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A pino logger whose lines are kept in `lines`, to check what is (and is not) logged. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: stream }), lines };
}
