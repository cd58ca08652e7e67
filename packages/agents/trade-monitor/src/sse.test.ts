import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub } from './sse.js';

describe('SseHub', () => {
  let server: Server | undefined;
  let hub: SseHub | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    hub?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
  });

  async function serve(options: Partial<ConstructorParameters<typeof SseHub>[0]> = {}): Promise<number> {
    const h = new SseHub({ keepAliveMs: 60_000, retryMs: 1_000, maxClients: 2, maxBufferedBytes: 64 * 1024, ...options });
    hub = h;
    server = createServer((req, res) => {
      if (!h.add(req, res, () => ({ hello: 'world' }))) {
        res.writeHead(503).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  /** A raw client that sends the request and reads nothing more than the first `bytes` it is sent. */
  async function rawClient(port: number): Promise<{ socket: Socket; head: Promise<string> }> {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    const head = new Promise<string>((resolve) => {
      let text = '';
      const onData = (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('"hello"')) {
          socket.off('data', onData);
          socket.pause();
          resolve(text);
        }
      };
      socket.on('data', onData);
    });
    return { socket, head };
  }

  it('opens each stream with the retry delay and the first snapshot, and refuses streams beyond maxClients', async () => {
    const port = await serve();
    const a = await rawClient(port);
    const head = await a.head;
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head).toContain('Content-Type: text/event-stream');
    expect(head).toContain('retry: 1000\n\n');
    expect(head).toContain('event: snapshot\ndata: {"hello":"world"}\n\n');
    await (await rawClient(port)).head;
    expect(hub!.size).toBe(2);
    const refused = await fetch(`http://127.0.0.1:${port}/`);
    expect(refused.status).toBe(503);
  });

  it('disconnects a client that stops reading instead of buffering for it without bound', async () => {
    const port = await serve();
    const slow = await rawClient(port);
    await slow.head;
    const closed = new Promise((resolve) => slow.socket.once('close', resolve));
    const payload = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 256 && hub!.dropped === 0; i++) {
      hub!.broadcast('event', { payload });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub!.dropped).toBe(1);
    expect(hub!.size).toBe(0);
    slow.socket.resume();
    await closed;
  });

  it('ends every stream on close and accepts no new ones', async () => {
    const port = await serve();
    const client = await rawClient(port);
    await client.head;
    // The response ends with the last (empty) chunk; the connection itself may stay open.
    const ended = new Promise<void>((resolve) => {
      let text = '';
      client.socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.endsWith('0\r\n\r\n')) resolve();
      });
    });
    client.socket.resume();
    hub!.close();
    await ended;
    expect(hub!.size).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(503);
  });
});
