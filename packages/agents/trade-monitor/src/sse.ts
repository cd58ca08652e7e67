import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SseHubOptions {
  /** Interval of keep-alive comments. */
  keepAliveMs: number;
  /** Reconnect delay sent to the browser (`retry:`). */
  retryMs: number;
  maxClients: number;
  /** A client whose unsent output exceeds this is disconnected (it reconnects and resyncs). */
  maxBufferedBytes: number;
  /** Called every `pulseMs` of wall time: the moment to send what changes without events of its own. */
  onPulse?: () => void;
  pulseMs?: number;
  /** Receives what `onPulse` throws (it never escapes into the timer). */
  onPulseError?: (err: unknown) => void;
}

interface Client {
  res: ServerResponse;
}

/**
 * Server-Sent Events to every open page. Each message is serialised once for all clients. A page
 * that cannot keep up is disconnected instead of buffered without bound: EventSource reconnects
 * by itself and starts again from a fresh snapshot, so nothing it shows is lost, only skipped.
 */
export class SseHub {
  private readonly clients = new Set<Client>();
  private readonly keepAlive: NodeJS.Timeout;
  private readonly pulse: NodeJS.Timeout | undefined;
  private closed = false;
  /** Clients dropped because they fell behind. */
  dropped = 0;

  constructor(private readonly options: SseHubOptions) {
    // Wall time on purpose: keep-alives are about idle TCP connections and proxies, not about
    // the system's (possibly virtual) clock.
    this.keepAlive = setInterval(() => this.write(': keep-alive\n\n'), options.keepAliveMs);
    this.keepAlive.unref();
    // Wall time too: how often a page is refreshed is about the screen, and a backtest on a
    // virtual clock would otherwise push hundreds of updates per replayed bar, or none at all
    // once the replay stops.
    const onPulse = options.onPulse;
    if (onPulse !== undefined && options.pulseMs !== undefined) {
      this.pulse = setInterval(() => {
        try {
          onPulse();
        } catch (err) {
          options.onPulseError?.(err);
        }
      }, options.pulseMs);
      this.pulse.unref();
    }
  }

  get size(): number {
    return this.clients.size;
  }

  /** Opens a stream on `res` and sends `first()` as the initial `snapshot` message. Returns false when full. */
  add(req: IncomingMessage, res: ServerResponse, first: () => unknown): boolean {
    if (this.closed || this.clients.size >= this.options.maxClients) return false;
    // Taken before the client joins, so nothing broadcast while it is built reaches this page first.
    const snapshot = JSON.stringify(first());
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    const client: Client = { res };
    this.clients.add(client);
    const remove = (): void => void this.clients.delete(client);
    res.once('close', remove);
    res.once('error', remove);
    res.write(`retry: ${this.options.retryMs}\n\n`);
    this.send(client, frame('snapshot', snapshot));
    return true;
  }

  /** Sends one named message to every client; `data` is serialised once. */
  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    this.write(frame(event, JSON.stringify(data)));
  }

  /** Ends every stream; new ones are refused. */
  close(): void {
    this.closed = true;
    clearInterval(this.keepAlive);
    clearInterval(this.pulse);
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const client of this.clients) this.send(client, text);
  }

  private send(client: Client, text: string): void {
    const res = client.res;
    if (res.destroyed || res.writableEnded) {
      this.clients.delete(client);
      return;
    }
    res.write(text);
    if (res.writableLength > this.options.maxBufferedBytes) {
      this.dropped++;
      this.clients.delete(client);
      res.destroy();
    }
  }
}

/** JSON never contains a raw newline, so one `data:` line holds the whole message. */
function frame(event: string, json: string): string {
  return `event: ${event}\ndata: ${json}\n\n`;
}
