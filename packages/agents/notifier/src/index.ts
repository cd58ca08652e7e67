import { defineAgent } from '@tradebus/core';
import { notifierConfigSchema, type NotifierConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { NotifierAgent } from './notifier.js';

export {
  notifierConfigSchema,
  channelSettingsSchema,
  discordChannelSchema,
  slackChannelSchema,
  webhookChannelSchema,
  emailChannelSchema,
  routeSchema,
  telegramNotifierChannelSchema,
  quietHoursSchema,
  retrySchema,
  type NotifierConfig,
  type NotifierConfigInput,
  type ChannelSettings,
  type QuietHours,
  type Route,
} from './config.js';
export {
  ChannelRejectedError,
  ChannelUnavailableError,
  DEFAULT_RETRY,
  LEVELS,
  type Channel,
  type NotifierLevel,
  type NotifierMessage,
  type RetryPolicy,
} from './channel.js';
export { DiscordChannel, type DiscordSettings } from './channels/discord.js';
export { SlackChannel, type SlackSettings } from './channels/slack.js';
export { WebhookChannel, signBody, type WebhookSettings } from './channels/webhook.js';
export { EmailChannel, type EmailSettings } from './channels/email.js';
export { Dispatcher, DIGEST_CODE, digest, type DispatcherOptions, type OutletSettings } from './dispatcher.js';
export { NotifierAgent, createChannel } from './notifier.js';
export * from './telegram/index.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<NotifierConfig>({
  kind: 'notifier',
  description: 'Alerts, trades, risk changes and a daily summary to Discord, Slack, webhooks, email and Telegram',
  configSchema: notifierConfigSchema,
  // position.updated and risk.command serve Telegram commands (/positions, /pause, /flatten...).
  bus: { publishes: ['risk.command'], subscribes: ['system.alert', 'trade.opened', 'trade.closed', 'risk.state', 'agent.status', 'position.updated'] },
  hotSettings,
  create: (context) => new NotifierAgent(context),
});

export default agent;
