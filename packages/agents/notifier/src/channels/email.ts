import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type { Logger } from '@tradebus/core';
import { TransientFailure, withRetries, type Channel, type NotifierMessage, type RetryPolicy } from '../channel.js';
import { ChannelRejectedError } from '../channel.js';
import { plainText } from './format.js';

export interface EmailSettings {
  host: string;
  port: number;
  secure: boolean;
  user?: string | undefined;
  password?: string | undefined;
  from: string;
  to: string[];
  subjectPrefix: string;
  retry: RetryPolicy;
}

/** Sends each message as a plain-text email over SMTP (nodemailer), one pooled connection. */
export class EmailChannel implements Channel {
  private readonly transport: Transporter;

  constructor(
    readonly name: string,
    private readonly settings: EmailSettings,
    private readonly logger: Logger,
  ) {
    this.transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.secure,
      pool: true,
      maxConnections: 1,
      connectionTimeout: settings.retry.timeoutMs,
      greetingTimeout: settings.retry.timeoutMs,
      socketTimeout: settings.retry.timeoutMs,
      ...(settings.user === undefined ? {} : { auth: { user: settings.user, pass: settings.password ?? '' } }),
    });
  }

  subject(message: NotifierMessage): string {
    return `${this.settings.subjectPrefix} ${message.level.toUpperCase()}: ${message.title}`.trim();
  }

  async send(message: NotifierMessage): Promise<void> {
    await withRetries(this.name, this.settings.retry, this.logger, async () => {
      try {
        await this.transport.sendMail({ from: this.settings.from, to: this.settings.to, subject: this.subject(message), text: plainText(message) });
      } catch (err) {
        const smtp = err as { responseCode?: number; response?: string; message?: string };
        // SMTP 4xx replies are temporary by definition (RFC 5321), 5xx permanent; no reply at all is a network failure.
        if (typeof smtp.responseCode === 'number' && smtp.responseCode >= 500) {
          throw new ChannelRejectedError(this.name, smtp.responseCode, smtp.response ?? smtp.message ?? '');
        }
        throw new TransientFailure(typeof smtp.responseCode === 'number' ? `SMTP ${smtp.responseCode}: ${smtp.response ?? ''}` : (smtp.message ?? String(err)));
      }
    });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
