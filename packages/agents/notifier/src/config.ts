import { z } from 'zod';
import { secret } from '@tradebus/core';
import { telegramChannelSchema } from './telegram/index.js';

const level = z.enum(['info', 'warning', 'error', 'critical']);
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "must be a time of day as HH:MM, e.g. '22:00'" });

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { error: "must be an IANA time zone such as 'UTC' or 'Europe/Berlin'" },
);

export const quietHoursSchema = z.strictObject({
  from: clockTime.describe('Start of the quiet hours (local time of timeZone)'),
  to: clockTime.describe('End of the quiet hours; earlier than from means they run over midnight'),
  timeZone: timeZone.default('UTC'),
  minLevel: level.default('critical').describe('Messages at this level or above are sent at once; the others are held and sent as one digest when the quiet hours end'),
});

export const retrySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(20).default(5).describe('Attempts per delivery, the first included'),
  baseDelayMs: z.number().int().min(0).default(500).describe('First back-off; doubled per attempt, with jitter'),
  maxDelayMs: z.number().int().min(0).default(60_000).describe('Longest back-off (a Retry-After the service sends is honoured even when longer)'),
  timeoutMs: z.number().int().positive().default(10_000).describe('Time allowed for one request'),
});

/** Settings every channel kind has. */
const common = {
  rateLimitPerMinute: z
    .number()
    .positive()
    .default(20)
    .describe('Token bucket: at most this many messages per minute (and as a burst); the excess is merged into one digest message'),
  quietHours: quietHoursSchema.optional(),
  retry: retrySchema.prefault({}),
};

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL; set it from the environment, e.g. ${ALERTS_WEBHOOK_URL}' });

export const discordChannelSchema = z.strictObject({
  kind: z.literal('discord'),
  url: secret(httpUrl).describe('Discord webhook URL (secret: it carries the token)'),
  username: z.string().min(1).max(80).optional().describe('Name the messages are posted under'),
  embeds: z.boolean().default(true).describe('Post a coloured embed per message rather than plain content'),
  ...common,
});

export const slackChannelSchema = z.strictObject({
  kind: z.literal('slack'),
  url: secret(httpUrl).describe('Slack incoming-webhook URL (secret: it carries the token)'),
  blocks: z.boolean().default(true).describe('Add Block Kit blocks (header, text, fields) to the plain text'),
  ...common,
});

export const webhookChannelSchema = z.strictObject({
  kind: z.literal('webhook'),
  url: secret(httpUrl).describe('Where the message is POSTed as JSON'),
  secret: secret(z.string().min(16, { error: 'use at least 16 characters' })).describe(
    'HMAC-SHA256 key: the body is signed in X-Tradebus-Signature: sha256=<hex> (secret)',
  ),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers'),
  ...common,
});

export const emailChannelSchema = z.strictObject({
  kind: z.literal('email'),
  host: z.string().min(1).describe('SMTP server'),
  port: z.number().int().min(1).max(65_535).default(587),
  secure: z.boolean().default(false).describe('TLS from the start (port 465); otherwise STARTTLS when the server offers it'),
  user: z.string().min(1).optional(),
  password: secret(z.string().min(1)).optional().describe('SMTP password (secret)'),
  from: z.string().min(3).describe("Sender, e.g. 'Tradebus <bot@example.com>'"),
  to: z.array(z.string().min(3)).min(1, { error: 'list at least one recipient' }),
  subjectPrefix: z.string().default('[Tradebus]'),
  ...common,
});

/** Telegram's own settings (bot token, chats, commands) plus those every channel has; the channel's name is its key. */
export const telegramNotifierChannelSchema = telegramChannelSchema.omit({ name: true }).extend(common);

export const channelSettingsSchema = z.discriminatedUnion('kind', [discordChannelSchema, slackChannelSchema, webhookChannelSchema, emailChannelSchema, telegramNotifierChannelSchema]);

const filter = z.strictObject({
  include: z.array(z.string().min(1)).optional().describe("Only these; a trailing '*' matches a prefix, e.g. 'AGENT_*'"),
  exclude: z.array(z.string().min(1)).default([]).describe('Never these'),
});

export const routeSchema = z.strictObject({
  channels: z.array(z.string().min(1)).min(1).describe("Channel names; '*' means every channel"),
  minLevel: level.default('warning'),
  codes: filter.optional().describe('Message codes (an alert code such as AGENT_DOWN, or TRADE_OPENED, TRADE_CLOSED, RISK_*, AGENT_FAILED)'),
  types: filter.optional().describe('Event types the message came from: system.alert, trade.opened, trade.closed, risk.state, agent.status'),
});

export const notifierConfigSchema = z
  .strictObject({
    channels: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'a channel name uses letters, digits, - and _' }), channelSettingsSchema).default({}),
    routes: z
      .array(routeSchema)
      .default([{ channels: ['*'], minLevel: 'warning', codes: undefined, types: undefined }])
      .describe('A message goes to the union of the channels of every route it matches; by default everything at warning and above goes everywhere'),
    dedupWindowMs: z
      .number()
      .int()
      .min(0)
      .default(300_000)
      .describe('The same code for the same symbol or agent within this window is sent once, then once more as "repeated N times"'),
    dailySummary: z
      .strictObject({
        at: clockTime.describe('UTC time of day the summary of the past 24 hours is sent'),
        channels: z.array(z.string().min(1)).default(['*']),
      })
      .optional(),
  })
  .superRefine((config, ctx) => {
    const names = new Set(Object.keys(config.channels));
    const check = (list: readonly string[], path: (string | number)[]) => {
      list.forEach((name, i) => {
        if (name !== '*' && !names.has(name)) {
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `no channel named '${name}': channels are ${[...names].join(', ') || '(none)'}` });
        }
      });
    };
    config.routes.forEach((route, i) => check(route.channels, ['routes', i, 'channels']));
    if (config.dailySummary) check(config.dailySummary.channels, ['dailySummary', 'channels']);
  });

export type NotifierConfig = z.output<typeof notifierConfigSchema>;
export type NotifierConfigInput = z.input<typeof notifierConfigSchema>;
export type ChannelSettings = z.output<typeof channelSettingsSchema>;
export type QuietHours = z.output<typeof quietHoursSchema>;
export type Route = z.output<typeof routeSchema>;
