import type { Logger } from '@tradebus/core';
import { clip, postOnce, withRetries, type Channel, type NotifierLevel, type NotifierMessage, type RetryPolicy } from '../channel.js';
import { detailFields, plainText } from './format.js';

export interface DiscordSettings {
  url: string;
  username?: string | undefined;
  embeds: boolean;
  retry: RetryPolicy;
}

const COLOR: Record<NotifierLevel, number> = { info: 0x3498db, warning: 0xf1c40f, error: 0xe67e22, critical: 0xe74c3c };

/** Posts to a Discord webhook: an embed per message (or plain content), within Discord's limits. */
export class DiscordChannel implements Channel {
  constructor(
    readonly name: string,
    private readonly settings: DiscordSettings,
    private readonly logger: Logger,
  ) {}

  /** The JSON body posted for a message (Discord's execute-webhook payload). */
  body(message: NotifierMessage): Record<string, unknown> {
    const base = this.settings.username === undefined ? {} : { username: this.settings.username };
    // Mentions in alert text (an agent id such as @everyone) must not ping anyone.
    const quiet = { allowed_mentions: { parse: [] } };
    if (!this.settings.embeds) return { ...base, ...quiet, content: clip(plainText(message), 2000) };
    return {
      ...base,
      ...quiet,
      embeds: [
        {
          title: clip(message.title, 256),
          description: clip(message.text, 4096),
          color: COLOR[message.level],
          timestamp: new Date(message.timestamp).toISOString(),
          footer: { text: clip(`${message.level} · ${message.code}`, 2048) },
          fields: detailFields(message.details)
            .slice(0, 25)
            .map(([name, value]) => ({ name: clip(name, 256), value: clip(value === '' ? '-' : value, 1024), inline: value.length <= 40 })),
        },
      ],
    };
  }

  async send(message: NotifierMessage): Promise<void> {
    const body = JSON.stringify(this.body(message));
    await withRetries(this.name, this.settings.retry, this.logger, () => postOnce(this.name, this.settings.url, body, {}, this.settings.retry.timeoutMs));
  }
}
