import { TradebusError } from '@tradebus/core';

/**
 * Errors of the Telegram channel and commands; `code` is stable:
 * - TELEGRAM_UNAUTHORIZED: the bot token was rejected (401).
 * - TELEGRAM_REJECTED: the Bot API refused the call (a 4xx other than 429: unknown chat, bot blocked, bad request).
 * - TELEGRAM_CONFLICT: another process polls updates for this bot, or a webhook is set (409).
 * - TELEGRAM_UNAVAILABLE: the Bot API kept failing (429, 5xx or no answer) after every retry.
 * - TELEGRAM_DELIVERY_FAILED: a notification reached none or only some of the configured chats.
 * - TELEGRAM_CLOSED: the channel or poller was closed before the call finished.
 */
export class TelegramError extends TradebusError {}
