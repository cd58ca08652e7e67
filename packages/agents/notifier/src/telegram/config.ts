import { z } from 'zod';
import { secret } from '@tradebus/core';

/** A Telegram chat id as the Bot API gives it: a number (negative for groups), or `@channelname` for a public channel. */
const chatId = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .pipe(
    z
      .string()
      .regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/, 'a chat id is a number such as 123456789 or -1001234567890, or @channelname for a public channel'),
  );

/** Commands come from a chat whose numeric id the update carries, so only numeric ids can be allowed. */
const commandChatId = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .pipe(z.string().regex(/^-?\d{1,20}$/, 'an allowed chat id is the numeric id of the chat, such as 123456789 or -1001234567890'));

export const telegramCommandsSchema = z
  .object({
    enabled: z.boolean().default(false).describe('Answer operator commands (/status, /pause, /flatten, ...) sent to the bot'),
    allowedChatIds: z
      .array(commandChatId)
      .default([])
      .describe('Chats whose commands are obeyed; every member of a listed group can command the bot. Other chats get a refusal, and their attempt is audited'),
    confirmTimeoutMs: z
      .number()
      .int()
      .min(1)
      .max(3_600_000)
      .default(60_000)
      .describe('How long a /confirm <code> for /pause, /kill, /reduce_only or /flatten is accepted'),
    maxAgeMs: z
      .number()
      .int()
      .min(1_000)
      .max(86_400_000)
      .default(120_000)
      .describe('Commands older than this when they reach the bot (sent while it was offline) are not carried out'),
    pollTimeoutSec: z.number().int().min(0).max(50).default(25).describe('Long-poll timeout of getUpdates'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.enabled && value.allowedChatIds.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedChatIds'],
        message: 'commands are enabled but no chat is allowed: add the numeric id of your chat (the bot tells it in its refusal when you send it /status)',
      });
    }
  });

export const telegramChannelSchema = z
  .object({
    kind: z.literal('telegram'),
    name: z.string().min(1).default('telegram').describe('Name of this channel in logs and alerts'),
    token: secret(z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'a bot token looks like 123456789:AAE...; take it from @BotFather and pass it through an environment variable, e.g. ${TELEGRAM_BOT_TOKEN}')).describe(
      'Bot token from @BotFather; set it from the environment (${TELEGRAM_BOT_TOKEN}), never in the file',
    ),
    chatIds: z.array(chatId).min(1, 'list at least one chat to send notifications to').describe('Chats notifications are sent to'),
    apiRoot: z
      .url({ protocol: /^https?$/, error: 'apiRoot must be an http(s) URL, e.g. https://api.telegram.org' })
      .default('https://api.telegram.org')
      .transform((v) => v.replace(/\/+$/, ''))
      .describe('Bot API server; change it only for a self-hosted Bot API server'),
    commands: telegramCommandsSchema.prefault({}),
  })
  .strict();

export type TelegramChannelSettings = z.output<typeof telegramChannelSchema>;
export type TelegramChannelSettingsInput = z.input<typeof telegramChannelSchema>;
export type TelegramCommandsSettings = z.output<typeof telegramCommandsSchema>;
