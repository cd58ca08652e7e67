import { redactSecrets, silentLogger, type Logger } from '@tradebus/core';
import { TelegramBotApi, type BotApiRetryOptions } from './bot-api.js';
import type { TelegramChannelSettings } from './config.js';
import { TelegramError } from './errors.js';

/** What a notification channel is asked to deliver. */
export interface TelegramChannelMessage {
  level: 'info' | 'warning' | 'error' | 'critical';
  code: string;
  title: string;
  text: string;
  details?: Record<string, unknown>;
  /** Epoch milliseconds. */
  timestamp: number;
}

export interface TelegramChannelOptions {
  logger?: Logger;
  retry?: Partial<BotApiRetryOptions>;
  requestTimeoutMs?: number;
}

// A mark per level lets the reader triage a phone notification before opening it.
const LEVEL_MARK: Record<TelegramChannelMessage['level'], string> = {
  info: 'ℹ️ INFO',
  warning: '⚠️ WARNING',
  error: '❗ ERROR',
  critical: '🚨 CRITICAL',
};

const MAX_DETAIL_VALUE = 300;

/**
 * Plain text for a notification. It is sent without parse_mode, so whatever the title, text or
 * details hold (an exchange's error message, a symbol with underscores) reaches the chat as written.
 */
export function formatTelegramMessage(message: TelegramChannelMessage): string {
  const lines = [`${LEVEL_MARK[message.level]} · ${message.code}`, message.title];
  if (message.text && message.text !== message.title) lines.push(message.text);
  // Details come from event payloads nobody vetted for secrets: the same net as the logs.
  const details = message.details ? redactSecrets(message.details) : undefined;
  if (details && Object.keys(details).length > 0) {
    lines.push('');
    for (const [key, value] of Object.entries(details)) lines.push(`${key}: ${detailValue(value)}`);
  }
  lines.push('', new Date(message.timestamp).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC'));
  return lines.join('\n');
}

function detailValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_DETAIL_VALUE ? `${text.slice(0, MAX_DETAIL_VALUE - 1)}…` : text;
}

/**
 * Sends notifications to every configured Telegram chat. A chat that cannot be reached does not
 * stop delivery to the others; `send` then fails naming the chats that missed the message.
 */
export class TelegramChannel {
  readonly name: string;
  private readonly api: TelegramBotApi;
  private readonly chatIds: readonly string[];
  private readonly logger: Logger;
  // Cancels back-off waits and requests in flight when the channel closes.
  private readonly closing = new AbortController();

  constructor(settings: TelegramChannelSettings, options: TelegramChannelOptions = {}) {
    this.name = settings.name;
    this.chatIds = settings.chatIds;
    this.logger = options.logger ?? silentLogger();
    this.api = new TelegramBotApi({
      token: settings.token,
      apiRoot: settings.apiRoot,
      logger: this.logger,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
  }

  async send(message: TelegramChannelMessage): Promise<void> {
    if (this.closing.signal.aborted) throw new TelegramError('TELEGRAM_CLOSED', `Telegram channel '${this.name}' is closed; the notification ${message.code} was not sent.`);
    const text = formatTelegramMessage(message);
    const failures: { chatId: string; error: unknown }[] = [];
    // One chat after another: Telegram allows about one message per second per chat, and a burst
    // across chats is what its 429s punish.
    for (const chatId of this.chatIds) {
      try {
        await this.api.sendMessage({ chat_id: chatId, text }, this.closing.signal);
      } catch (error) {
        failures.push({ chatId, error });
        this.logger.warn({ channel: this.name, chatId, code: message.code, err: error }, 'Telegram notification not delivered');
      }
    }
    if (failures.length === 0) return;
    const first = failures[0]!.error;
    const reason = first instanceof Error ? first.message : String(first);
    throw new TelegramError(
      'TELEGRAM_DELIVERY_FAILED',
      `Telegram notification ${message.code} missed ${failures.length} of ${this.chatIds.length} chat(s) (${failures.map((f) => f.chatId).join(', ')}): ${reason}`,
      { cause: first, details: { chatIds: failures.map((f) => f.chatId), code: message.code } },
    );
  }

  async close(): Promise<void> {
    this.closing.abort();
  }
}
