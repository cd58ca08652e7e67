export { telegramChannelSchema, telegramCommandsSchema, type TelegramChannelSettings, type TelegramChannelSettingsInput, type TelegramCommandsSettings } from './config.js';
export { TelegramError } from './errors.js';
export { TelegramChannel, formatTelegramMessage, type TelegramChannelMessage, type TelegramChannelOptions } from './channel.js';
export { TelegramCommands, type CommandContext, type CommandAuditEntry, type TelegramRiskAction, type TelegramCommandsOptions } from './commands.js';
export {
  TelegramBotApi,
  TELEGRAM_TEXT_LIMIT,
  TELEGRAM_DEFAULT_RETRY,
  truncateTelegramText,
  type BotApiOptions,
  type BotApiRetryOptions,
  type SendMessageParams,
  type InlineButton,
  type TelegramUpdate,
  type TelegramMessage,
  type TelegramUser,
  type ReceivedUpdate,
} from './bot-api.js';
