import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake Bot API received. */
export interface RecordedCall {
  method: string;
  body: Record<string, unknown>;
  /** Milliseconds since the server started, when the request arrived. */
  at: number;
}

export interface ScriptedAnswer {
  status: number;
  body: unknown;
}

interface Waiter {
  resolve: () => void;
}

export const BOT_USERNAME = 'tradebus_test_bot';

/**
 * A Bot API server on loopback that answers like api.telegram.org for the methods Tradebus uses:
 * getMe, sendMessage, getUpdates (offset confirms, long polls wait for updates, unconfirmed
 * updates are sent again) and answerCallbackQuery. Answers can be scripted per method (429, 5xx).
 */
export class FakeBotApi {
  readonly calls: RecordedCall[] = [];
  private readonly server: Server;
  private readonly started = Date.now();
  private readonly scripted = new Map<string, ScriptedAnswer[]>();
  private updates: Record<string, unknown>[] = [];
  private nextUpdateId = 1;
  private nextMessageId = 1;
  private waiters: Waiter[] = [];
  /** Updates sent again on the next getUpdates whatever its offset, as a misbehaving server or proxy might. */
  private replay: Record<string, unknown>[] = [];

  constructor(readonly token: string) {
    this.server = createServer((req, res) => void this.route(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `method` requests get these answers, in order, instead of the normal one. */
  script(method: string, ...answers: ScriptedAnswer[]): void {
    this.scripted.set(method, [...(this.scripted.get(method) ?? []), ...answers]);
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  sentTo(chatId: string | number): string[] {
    return this.callsOf('sendMessage')
      .filter((c) => String(c.body['chat_id']) === String(chatId))
      .map((c) => String(c.body['text']));
  }

  /** Queues a text message as a user in a chat sends it; returns its update id. */
  pushMessage(chatId: number, text: string, options: { userId?: number; username?: string; date?: number } = {}): number {
    const userId = options.userId ?? 7;
    return this.push({
      message: {
        message_id: this.nextMessageId++,
        date: options.date ?? Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: chatId < 0 ? 'group' : 'private' },
        from: { id: userId, is_bot: false, first_name: 'Op', username: options.username ?? `user${userId}` },
        text,
      },
    });
  }

  /** Queues an inline button press on a message of the bot in a chat. */
  pushButton(chatId: number, data: string, options: { userId?: number } = {}): number {
    const userId = options.userId ?? 7;
    return this.push({
      callback_query: {
        id: `cb${this.nextUpdateId}`,
        from: { id: userId, is_bot: false, first_name: 'Op', username: `user${userId}` },
        message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' }, text: 'prompt' },
        chat_instance: '1',
        data,
      },
    });
  }

  /** Sends every update with an id in `ids` again on the next getUpdates, ignoring its offset. */
  replayOnce(ids: number[]): void {
    this.replay.push(...this.allSeen.filter((u) => ids.includes(u['update_id'] as number)));
  }

  private readonly allSeen: Record<string, unknown>[] = [];

  private push(content: Record<string, unknown>): number {
    const update = { update_id: this.nextUpdateId++, ...content };
    this.updates.push(update);
    this.allSeen.push(update);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    return update.update_id;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = match as unknown as [string, string, string];
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid JSON' });
    }
    this.calls.push({ method, body, at: Date.now() - this.started });
    if (token !== this.token) return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const scripted = this.scripted.get(method)?.shift();
    if (scripted) return send(res, scripted.status, scripted.body);
    switch (method) {
      case 'getMe':
        return send(res, 200, { ok: true, result: { id: 42, is_bot: true, first_name: 'Tradebus', username: BOT_USERNAME } });
      case 'sendMessage':
        return send(res, 200, {
          ok: true,
          result: { message_id: this.nextMessageId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(body['chat_id']) }, text: body['text'] },
        });
      case 'getUpdates':
        return this.getUpdates(body, req, res);
      default:
        return send(res, 200, { ok: true, result: true });
    }
  }

  private async getUpdates(body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const offset = typeof body['offset'] === 'number' ? body['offset'] : undefined;
    // As Telegram does: an offset confirms every update below it, for good.
    if (offset !== undefined) this.updates = this.updates.filter((u) => (u['update_id'] as number) >= offset);
    const limit = typeof body['limit'] === 'number' ? body['limit'] : 100;
    const timeoutSec = typeof body['timeout'] === 'number' ? body['timeout'] : 0;
    if (this.updates.length === 0 && this.replay.length === 0 && timeoutSec > 0) {
      let gone = false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, timeoutSec * 1000);
        this.waiters.push({ resolve: done });
        // The client gave up (stopped polling): nothing to answer.
        res.once('close', () => {
          if (!res.writableEnded) gone = true;
          done();
        });
      });
      if (gone || res.destroyed) return;
    }
    const replayed = this.replay;
    this.replay = [];
    send(res, 200, { ok: true, result: [...replayed, ...this.updates.slice(0, limit)] });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
