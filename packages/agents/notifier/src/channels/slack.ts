import type { Logger } from '@tradebus/core';
import { clip, postOnce, withRetries, type Channel, type NotifierMessage, type RetryPolicy } from '../channel.js';
import { LEVEL_ICON, detailFields, plainText } from './format.js';

export interface SlackSettings {
  url: string;
  blocks: boolean;
  retry: RetryPolicy;
}

/** Slack's mrkdwn treats these three as markup; the rest of an alert's text is shown as written. */
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Posts to a Slack incoming webhook: `text` always (notifications use it), Block Kit blocks when enabled. */
export class SlackChannel implements Channel {
  constructor(
    readonly name: string,
    private readonly settings: SlackSettings,
    private readonly logger: Logger,
  ) {}

  body(message: NotifierMessage): Record<string, unknown> {
    const text = clip(escape(plainText(message)), 3000);
    if (!this.settings.blocks) return { text };
    const fields = detailFields(message.details)
      .slice(0, 10)
      .map(([k, v]) => ({ type: 'mrkdwn', text: clip(`*${escape(k)}*\n${escape(v)}`, 2000) }));
    const blocks: unknown[] = [
      { type: 'header', text: { type: 'plain_text', text: clip(`${LEVEL_ICON[message.level]} ${message.title}`, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: clip(escape(message.text) || ' ', 3000) }, ...(fields.length > 0 ? { fields } : {}) },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${message.level} · ${escape(message.code)} · <!date^${Math.floor(message.timestamp / 1000)}^{date_short_pretty} {time_secs}|${new Date(message.timestamp).toISOString()}>` }] },
    ];
    return { text, blocks };
  }

  async send(message: NotifierMessage): Promise<void> {
    const body = JSON.stringify(this.body(message));
    await withRetries(this.name, this.settings.retry, this.logger, () => postOnce(this.name, this.settings.url, body, {}, this.settings.retry.timeoutMs));
  }
}
