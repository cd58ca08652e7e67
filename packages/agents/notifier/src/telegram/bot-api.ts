import { z } from 'zod';
import { errorMessage, type Logger } from '@tradebus/core';
import { TelegramError } from './errors.js';

/** Telegram refuses longer texts (4096 UTF-16 code units); longer ones are cut, saying so. */
export const TELEGRAM_TEXT_LIMIT = 4096;

export interface BotApiRetryOptions {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** First back-off after a 5xx or a failed connection; it doubles on each further failure. */
  baseDelayMs: number;
  /** Longest single wait, also a cap on what a 429's retry_after may ask for. */
  maxDelayMs: number;
}

export const TELEGRAM_DEFAULT_RETRY: BotApiRetryOptions = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 60_000 };

export interface BotApiOptions {
  token: string;
  apiRoot: string;
  retry?: Partial<BotApiRetryOptions>;
  /** Time allowed for one HTTP request (a long poll gets its poll timeout on top). */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** The envelope every Bot API answer comes in. */
const apiResponseSchema = z.object({
  ok: z.boolean(),
  result: z.unknown().optional(),
  error_code: z.number().int().optional(),
  description: z.string().optional(),
  parameters: z.object({ retry_after: z.number().optional(), migrate_to_chat_id: z.number().optional() }).loose().optional(),
});

const userSchema = z.object({ id: z.number(), username: z.string().optional(), first_name: z.string().optional() }).loose();
const chatSchema = z.object({ id: z.number(), type: z.string().optional(), title: z.string().optional(), username: z.string().optional() }).loose();
export const telegramMessageSchema = z
  .object({ message_id: z.number(), date: z.number(), chat: chatSchema, from: userSchema.optional(), text: z.string().optional() })
  .loose();
const callbackQuerySchema = z
  .object({ id: z.string(), from: userSchema, message: telegramMessageSchema.optional(), data: z.string().optional() })
  .loose();

/** The parts of an update the commands use; anything else in it is kept but ignored. */
export const telegramUpdateSchema = z
  .object({ update_id: z.number().int(), message: telegramMessageSchema.optional(), callback_query: callbackQuerySchema.optional() })
  .loose();

export type TelegramUser = z.output<typeof userSchema>;
export type TelegramMessage = z.output<typeof telegramMessageSchema>;
export type TelegramUpdate = z.output<typeof telegramUpdateSchema>;
export type TelegramCallbackQuery = z.output<typeof callbackQuerySchema>;

/** One update as received: parsed when it has the expected shape, otherwise only its id (so the offset still moves past it). */
export type ReceivedUpdate = { update_id: number; parsed: TelegramUpdate | undefined };

export interface InlineButton {
  text: string;
  callback_data: string;
}

export interface SendMessageParams {
  chat_id: string;
  text: string;
  buttons?: InlineButton[][];
}

/**
 * The few Bot API methods Tradebus uses, over plain HTTPS and JSON. Calls that fail because of
 * rate limits (429: waits the `retry_after` Telegram asks for), server errors (5xx) or lost
 * connections are retried with back-off; other refusals are reported at once, since repeating
 * them cannot help.
 */
export class TelegramBotApi {
  private readonly base: string;
  private readonly retry: BotApiRetryOptions;
  private readonly requestTimeoutMs: number;
  private readonly logger: Logger | undefined;

  constructor(options: BotApiOptions) {
    this.base = `${options.apiRoot.replace(/\/+$/, '')}/bot${options.token}`;
    this.retry = { ...TELEGRAM_DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.logger = options.logger;
  }

  async getMe(signal?: AbortSignal): Promise<TelegramUser> {
    const result = await this.call('getMe', {}, { signal });
    const parsed = userSchema.safeParse(result);
    if (!parsed.success) throw new TelegramError('TELEGRAM_REJECTED', 'getMe answered without a bot user: check apiRoot points at a Telegram Bot API server.');
    return parsed.data;
  }

  /** Sends plain text: no parse_mode, so nothing in the text is read as markup. */
  async sendMessage(params: SendMessageParams, signal?: AbortSignal): Promise<{ message_id: number }> {
    const body: Record<string, unknown> = {
      chat_id: params.chat_id,
      text: truncateTelegramText(params.text),
      // Alert texts quote URLs (venues, dashboards); previews would only add noise to the chat.
      link_preview_options: { is_disabled: true },
    };
    if (params.buttons) body['reply_markup'] = { inline_keyboard: params.buttons };
    const result = await this.call('sendMessage', body, { signal });
    const parsed = z.object({ message_id: z.number() }).loose().safeParse(result);
    return { message_id: parsed.success ? parsed.data.message_id : -1 };
  }

  /**
   * One long poll. Passing `offset` confirms every update below it: Telegram will not send them
   * again, to this process or any other.
   */
  async getUpdates(params: { offset?: number; timeoutSec: number; limit?: number }, signal?: AbortSignal): Promise<ReceivedUpdate[]> {
    const body: Record<string, unknown> = { timeout: params.timeoutSec, allowed_updates: ['message', 'callback_query'] };
    if (params.offset !== undefined) body['offset'] = params.offset;
    if (params.limit !== undefined) body['limit'] = params.limit;
    const result = await this.call('getUpdates', body, { signal, extraTimeoutMs: params.timeoutSec * 1_000 });
    if (!Array.isArray(result)) throw new TelegramError('TELEGRAM_REJECTED', 'getUpdates answered without a list of updates: check apiRoot points at a Telegram Bot API server.');
    const out: ReceivedUpdate[] = [];
    for (const raw of result) {
      const id = z.object({ update_id: z.number().int() }).loose().safeParse(raw);
      if (!id.success) continue;
      const parsed = telegramUpdateSchema.safeParse(raw);
      out.push({ update_id: id.data.update_id, parsed: parsed.success ? parsed.data : undefined });
    }
    return out;
  }

  async answerCallbackQuery(params: { callback_query_id: string; text?: string }, signal?: AbortSignal): Promise<void> {
    await this.call('answerCallbackQuery', { ...params }, { signal });
  }

  /** One Bot API method, retried as the class comment says. Errors never quote the URL: it holds the token. */
  async call(method: string, body: Record<string, unknown>, options: { signal?: AbortSignal | undefined; extraTimeoutMs?: number } = {}): Promise<unknown> {
    let lastProblem = '';
    for (let attempt = 1; attempt <= this.retry.maxAttempts; attempt++) {
      if (options.signal?.aborted) throw closedError(method);
      let waitMs: number;
      let res: Response;
      try {
        const timeout = AbortSignal.timeout(this.requestTimeoutMs + (options.extraTimeoutMs ?? 0));
        res = await fetch(`${this.base}/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
          redirect: 'error',
        });
      } catch (err) {
        if (options.signal?.aborted) throw closedError(method, err);
        lastProblem = `no answer (${errorMessage(err)})`;
        waitMs = this.backoff(attempt);
        this.logger?.warn({ method, attempt, waitMs, err: errorMessage(err) }, 'Telegram Bot API unreachable, retrying');
        if (attempt < this.retry.maxAttempts) await sleep(waitMs, options.signal, method);
        continue;
      }
      const payload = await readPayload(res);
      if (res.ok && payload?.ok === true) return payload.result;
      const description = payload?.description ?? res.statusText;
      if (res.status === 429) {
        const retryAfterSec = payload?.parameters?.retry_after;
        waitMs = Math.min(this.retry.maxDelayMs, retryAfterSec !== undefined ? Math.ceil(retryAfterSec * 1_000) : this.backoff(attempt));
        lastProblem = `rate limited (${description})`;
      } else if (res.status >= 500 || payload === undefined) {
        waitMs = this.backoff(attempt);
        lastProblem = `HTTP ${res.status} (${description})`;
      } else {
        throw refusal(method, res.status, description, payload.parameters?.migrate_to_chat_id);
      }
      this.logger?.warn({ method, attempt, status: res.status, waitMs }, 'Telegram Bot API call failed, retrying');
      if (attempt < this.retry.maxAttempts) await sleep(waitMs, options.signal, method);
    }
    throw new TelegramError(
      'TELEGRAM_UNAVAILABLE',
      `Telegram ${method} failed ${this.retry.maxAttempts} times, last: ${lastProblem}. Check the network and https://t.me/BotNews; notifications resume on their own once Telegram answers.`,
      { details: { method, attempts: this.retry.maxAttempts } },
    );
  }

  private backoff(attempt: number): number {
    return Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
  }
}

/** Cuts a text to what Telegram accepts, ending with a mark that it was cut. */
export function truncateTelegramText(text: string): string {
  if (text.length <= TELEGRAM_TEXT_LIMIT) return text;
  const mark = '\n… (cut)';
  return text.slice(0, TELEGRAM_TEXT_LIMIT - mark.length) + mark;
}

async function readPayload(res: Response): Promise<z.output<typeof apiResponseSchema> | undefined> {
  try {
    const parsed = apiResponseSchema.safeParse(await res.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function refusal(method: string, status: number, description: string, migrateTo: number | undefined): TelegramError {
  if (status === 401 || status === 404) {
    return new TelegramError('TELEGRAM_UNAUTHORIZED', `Telegram rejected the bot token (${status} ${description}). Copy the token again from @BotFather into the variable the config reads it from.`, {
      details: { method, status },
    });
  }
  if (status === 409) {
    return new TelegramError(
      'TELEGRAM_CONFLICT',
      `Telegram ${method}: ${description}. Only one process may poll a bot's updates, and not while a webhook is set: stop the other process, or delete the webhook (deleteWebhook).`,
      { details: { method, status } },
    );
  }
  const hint =
    migrateTo !== undefined
      ? ` The group became a supergroup: use chat id ${migrateTo} in the config.`
      : status === 403
        ? ' The bot was blocked or removed from the chat, or never started: open the chat with the bot and press Start, or add it to the group again.'
        : ' Check the chat ids in the config and that the bot is a member of each chat.';
  return new TelegramError('TELEGRAM_REJECTED', `Telegram ${method} refused (${status} ${description}).${hint}`, { details: { method, status, migrateTo } });
}

function closedError(method: string, cause?: unknown): TelegramError {
  return new TelegramError('TELEGRAM_CLOSED', `Telegram ${method} was cancelled because the channel is closing.`, cause === undefined ? {} : { cause });
}

function sleep(ms: number, signal: AbortSignal | undefined, method: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(closedError(method));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(closedError(method));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
