import { createHmac } from 'node:crypto';
import type { Logger } from '@tradebus/core';
import { postOnce, withRetries, type Channel, type NotifierMessage, type RetryPolicy } from '../channel.js';

export interface WebhookSettings {
  url: string;
  secret: string;
  headers: Record<string, string>;
  retry: RetryPolicy;
}

/** `sha256=<hex>` of the raw body: what a receiver recomputes with the shared secret to trust a request. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs the message as JSON, signed: `X-Tradebus-Signature: sha256=<HMAC-SHA256 of the raw body>`
 * and `X-Tradebus-Timestamp` (epoch ms of the message). The timestamp is inside the signed body
 * too, so a receiver can refuse a replayed request that is too old.
 */
export class WebhookChannel implements Channel {
  constructor(
    readonly name: string,
    private readonly settings: WebhookSettings,
    private readonly logger: Logger,
  ) {}

  async send(message: NotifierMessage): Promise<void> {
    const body = JSON.stringify(message);
    const headers = {
      ...this.settings.headers,
      'x-tradebus-signature': signBody(this.settings.secret, body),
      'x-tradebus-timestamp': String(message.timestamp),
    };
    await withRetries(this.name, this.settings.retry, this.logger, () => postOnce(this.name, this.settings.url, body, headers, this.settings.retry.timeoutMs));
  }
}
