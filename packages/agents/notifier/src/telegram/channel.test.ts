import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSecretPath } from '@tradebus/core';
import { TelegramChannel, formatTelegramMessage, type TelegramChannelMessage } from './channel.js';
import { telegramChannelSchema, type TelegramChannelSettings } from './config.js';
import { TelegramError } from './errors.js';
import { TELEGRAM_TEXT_LIMIT, type BotApiRetryOptions } from './bot-api.js';
import { FakeBotApi } from './test-support/fake-bot-api.js';

const TOKEN = '123456:AAE-test_token_0123456789abcdef';

const message = (over: Partial<TelegramChannelMessage> = {}): TelegramChannelMessage => ({
  level: 'critical',
  code: 'KILL_SWITCH',
  title: 'Kill switch on',
  text: 'Drawdown 12% > limit 10% on <b>BTC_USDT</b> *now*',
  details: { symbol: 'BTC_USDT', drawdown: 0.12 },
  timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
  ...over,
});

describe('TelegramChannel against a loopback Bot API', () => {
  let api: FakeBotApi;
  let apiRoot: string;
  const channels: TelegramChannel[] = [];

  const settings = (over: Partial<Record<string, unknown>> = {}): TelegramChannelSettings =>
    telegramChannelSchema.parse({ kind: 'telegram', token: TOKEN, chatIds: ['111', -1002], apiRoot, ...over });
  const channel = (s: TelegramChannelSettings, retry: Partial<BotApiRetryOptions> = { baseDelayMs: 10 }): TelegramChannel => {
    const c = new TelegramChannel(s, { retry });
    channels.push(c);
    return c;
  };

  beforeEach(async () => {
    api = new FakeBotApi(TOKEN);
    apiRoot = await api.listen();
  });
  afterEach(async () => {
    for (const c of channels.splice(0)) await c.close();
    await api.close();
  });

  it('delivers the message to every chat id, as plain text with nothing read as markup', async () => {
    await channel(settings()).send(message());

    const calls = api.callsOf('sendMessage');
    expect(calls.map((c) => c.body['chat_id'])).toEqual(['111', '-1002']);
    for (const call of calls) {
      expect(call.body['parse_mode']).toBeUndefined();
      const text = String(call.body['text']);
      expect(text).toContain('CRITICAL · KILL_SWITCH');
      expect(text).toContain('Kill switch on');
      // Markup characters arrive exactly as written.
      expect(text).toContain('Drawdown 12% > limit 10% on <b>BTC_USDT</b> *now*');
      expect(text).toContain('symbol: BTC_USDT');
      expect(text).toContain('drawdown: 0.12');
      expect(text).toContain('2026-01-02 03:04:05 UTC');
    }
  });

  it('retries a 429 after the retry_after Telegram asks for, not its own shorter back-off', async () => {
    api.script('sendMessage', { status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } } });

    await channel(settings({ chatIds: ['111'] })).send(message());

    const calls = api.callsOf('sendMessage');
    expect(calls).toHaveLength(2);
    // The back-off alone would wait 10 ms.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(api.sentTo('111')).toHaveLength(2);
  });

  it('retries 5xx answers with back-off until one succeeds', async () => {
    const failure = { status: 502, body: { ok: false, error_code: 502, description: 'Bad Gateway' } };
    api.script('sendMessage', failure, failure);

    await channel(settings({ chatIds: ['111'] }), { baseDelayMs: 50 }).send(message());

    const calls = api.callsOf('sendMessage');
    expect(calls).toHaveLength(3);
    // 50 ms, then 100 ms (less a millisecond of clock rounding).
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(49);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(99);
  });

  it('gives up after maxAttempts with TELEGRAM_DELIVERY_FAILED caused by TELEGRAM_UNAVAILABLE', async () => {
    const failure = { status: 500, body: { ok: false, error_code: 500, description: 'Internal Server Error' } };
    api.script('sendMessage', failure, failure, failure);

    const error = await channel(settings({ chatIds: ['111'] }), { baseDelayMs: 1, maxAttempts: 3 })
      .send(message())
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TelegramError);
    expect((error as TelegramError).code).toBe('TELEGRAM_DELIVERY_FAILED');
    expect(((error as TelegramError).cause as TelegramError).code).toBe('TELEGRAM_UNAVAILABLE');
    expect(api.callsOf('sendMessage')).toHaveLength(3);
  });

  it('does not retry a refusal, and still delivers to the other chats', async () => {
    api.script('sendMessage', { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } });

    const error = (await channel(settings({ chatIds: ['111', '222'] }))
      .send(message())
      .catch((e: unknown) => e)) as TelegramError;

    expect(error.code).toBe('TELEGRAM_DELIVERY_FAILED');
    expect(error.message).toContain('missed 1 of 2 chat(s) (111)');
    expect(error.message).toContain('chat not found');
    expect((error.cause as TelegramError).code).toBe('TELEGRAM_REJECTED');
    expect(api.sentTo('111')).toHaveLength(1);
    expect(api.sentTo('222')).toHaveLength(1);
  });

  it('reports a rejected token without quoting it', async () => {
    const error = (await channel(settings({ chatIds: ['111'], token: '999:AAE-wrong_token_0123456789abcdef' }))
      .send(message())
      .catch((e: unknown) => e)) as TelegramError;

    expect((error.cause as TelegramError).code).toBe('TELEGRAM_UNAUTHORIZED');
    expect(error.message).not.toContain('wrong_token');
    expect(api.callsOf('sendMessage')).toHaveLength(1);
  });

  it('close() cancels a pending retry wait at once', async () => {
    api.script('sendMessage', { status: 429, body: { ok: false, error_code: 429, description: 'Too Many Requests', parameters: { retry_after: 30 } } });
    const c = channel(settings({ chatIds: ['111'] }));
    const sending = c.send(message()).catch((e: unknown) => e);
    while (api.callsOf('sendMessage').length === 0) await new Promise((r) => setTimeout(r, 5));
    const closedAt = Date.now();

    await c.close();
    const error = (await sending) as TelegramError;

    expect(Date.now() - closedAt).toBeLessThan(1_000);
    expect((error.cause as TelegramError).code).toBe('TELEGRAM_CLOSED');
    await expect(c.send(message())).rejects.toMatchObject({ code: 'TELEGRAM_CLOSED' });
  });

  it('cuts a text longer than Telegram accepts, saying so', async () => {
    await channel(settings({ chatIds: ['111'] })).send(message({ text: 'x'.repeat(10_000) }));

    const [text] = api.sentTo('111');
    expect(text).toHaveLength(TELEGRAM_TEXT_LIMIT);
    expect(text!.endsWith('… (cut)')).toBe(true);
  });
});

describe('formatTelegramMessage', () => {
  it('hides values under secret-looking keys in the details', () => {
    const text = formatTelegramMessage(message({ details: { apiKey: 'abcd-1234-secret', venue: 'binance' } }));
    expect(text).not.toContain('abcd-1234-secret');
    expect(text).toContain('apiKey: [REDACTED]');
    expect(text).toContain('venue: binance');
  });
});

describe('telegramChannelSchema', () => {
  it('fills the defaults and reads numeric chat ids as strings', () => {
    const s = telegramChannelSchema.parse({ kind: 'telegram', token: TOKEN, chatIds: [123, '-1001234567890', '@alerts_channel'] });
    expect(s.chatIds).toEqual(['123', '-1001234567890', '@alerts_channel']);
    expect(s.apiRoot).toBe('https://api.telegram.org');
    expect(s.commands).toEqual({ enabled: false, allowedChatIds: [], confirmTimeoutMs: 60_000, maxAgeMs: 120_000, pollTimeoutSec: 25 });
  });

  it('marks the token as a secret', () => {
    expect(isSecretPath(telegramChannelSchema, ['token'])).toBe(true);
    expect(isSecretPath(telegramChannelSchema, ['chatIds'])).toBe(false);
  });

  it('refuses commands enabled with no allowed chat, naming the key', () => {
    const result = telegramChannelSchema.safeParse({ kind: 'telegram', token: TOKEN, chatIds: ['1'], commands: { enabled: true } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['commands', 'allowedChatIds']);
  });

  it('refuses a malformed token and a channel name among the allowed command chats', () => {
    expect(telegramChannelSchema.safeParse({ kind: 'telegram', token: 'not-a-token', chatIds: ['1'] }).success).toBe(false);
    expect(
      telegramChannelSchema.safeParse({ kind: 'telegram', token: TOKEN, chatIds: ['1'], commands: { enabled: true, allowedChatIds: ['@alerts_channel'] } }).success,
    ).toBe(false);
  });
});
