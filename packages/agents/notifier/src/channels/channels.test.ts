import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { ChannelRejectedError, ChannelUnavailableError, backoffMs, parseRetryAfter, type NotifierMessage, type RetryPolicy } from '../channel.js';
import { HttpSink, capturingLogger } from '../test-support/http-sink.js';
import { DiscordChannel } from './discord.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

const fast: RetryPolicy = { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 2_000 };
const message: NotifierMessage = {
  level: 'error',
  code: 'AGENT_DOWN',
  title: 'Agent down (executor)',
  text: "Agent 'executor' sent no heartbeat for 15000 ms.",
  details: { agentId: 'executor', symbol: 'BTC/USDT' },
  timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
};

const sinks: HttpSink[] = [];
const sink = async (): Promise<HttpSink> => {
  const s = await HttpSink.start('/webhooks/123/token-abc');
  sinks.push(s);
  return s;
};
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});

describe('Discord channel', () => {
  it('posts an embed with the title, text, level colour and details as fields', async () => {
    const s = await sink();
    const { logger } = capturingLogger();
    await new DiscordChannel('ops', { url: s.url, username: 'Tradebus', embeds: true, retry: fast }, logger).send(message);
    const [req] = s.received;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/webhooks/123/token-abc');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.json.username).toBe('Tradebus');
    expect(req!.json.allowed_mentions).toEqual({ parse: [] });
    const embed = req!.json.embeds[0];
    expect(embed.title).toBe(message.title);
    expect(embed.description).toBe(message.text);
    expect(embed.color).toBe(0xe67e22);
    expect(embed.timestamp).toBe('2026-01-02T03:04:05.000Z');
    expect(embed.fields).toEqual([
      { name: 'agentId', value: 'executor', inline: true },
      { name: 'symbol', value: 'BTC/USDT', inline: true },
    ]);
  });

  it('posts plain content within 2000 characters when embeds are off', async () => {
    const s = await sink();
    const { logger } = capturingLogger();
    await new DiscordChannel('ops', { url: s.url, embeds: false, retry: fast }, logger).send({ ...message, text: 'x'.repeat(5000) });
    const content: string = s.received[0]!.json.content;
    expect(content.length).toBe(2000);
    expect(content.startsWith('❗ [ERROR] Agent down (executor)\nxxx')).toBe(true);
    expect(s.received[0]!.json.embeds).toBeUndefined();
  });
});

describe('Slack channel', () => {
  it('posts text and Block Kit blocks, escaping the markup characters', async () => {
    const s = await sink();
    const { logger } = capturingLogger();
    await new SlackChannel('team', { url: s.url, blocks: true, retry: fast }, logger).send({ ...message, text: 'spread <5 bps & rising' });
    const body = s.received[0]!.json;
    expect(body.text).toContain('Agent down (executor)');
    expect(body.text).toContain('spread &lt;5 bps &amp; rising');
    expect(body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '❗ Agent down (executor)', emoji: true } });
    expect(body.blocks[1].text).toEqual({ type: 'mrkdwn', text: 'spread &lt;5 bps &amp; rising' });
    expect(body.blocks[1].fields).toEqual([
      { type: 'mrkdwn', text: '*agentId*\nexecutor' },
      { type: 'mrkdwn', text: '*symbol*\nBTC/USDT' },
    ]);
  });

  it('sends only text when blocks are off', async () => {
    const s = await sink();
    const { logger } = capturingLogger();
    await new SlackChannel('team', { url: s.url, blocks: false, retry: fast }, logger).send(message);
    expect(Object.keys(s.received[0]!.json)).toEqual(['text']);
  });
});

describe('generic webhook channel', () => {
  it('posts the message as JSON with a signature that an independent HMAC-SHA256 verifies', async () => {
    const s = await sink();
    const { logger } = capturingLogger();
    const secret = 'a-shared-secret-of-32-characters';
    await new WebhookChannel('hook', { url: s.url, secret, headers: { 'x-team': 'desk-1' }, retry: fast }, logger).send(message);
    const req = s.received[0]!;
    expect(req.json).toEqual(message);
    const expected = createHmac('sha256', secret).update(Buffer.from(req.raw, 'utf8')).digest('hex');
    expect(req.headers['x-tradebus-signature']).toBe(`sha256=${expected}`);
    expect(req.headers['x-tradebus-timestamp']).toBe(String(message.timestamp));
    expect(req.headers['x-team']).toBe('desk-1');
    // A different key does not verify: the signature depends on the secret.
    expect(req.headers['x-tradebus-signature']).not.toBe(`sha256=${createHmac('sha256', 'another-secret-of-32-characters!').update(req.raw).digest('hex')}`);
  });
});

describe('retries', () => {
  it('retries a 429 after its Retry-After and a 503, then delivers', async () => {
    const s = await sink();
    s.replies = [{ status: 429, headers: { 'retry-after': '1' }, body: 'slow down' }, { status: 503, body: 'maintenance' }];
    const { logger, lines } = capturingLogger();
    const started = Date.now();
    await new WebhookChannel('hook', { url: s.url, secret: 'a-shared-secret-of-32-characters', headers: {}, retry: fast }, logger).send(message);
    expect(s.received).toHaveLength(3);
    // The second attempt waited for the second the service asked for, not the 20 ms back-off.
    expect(s.received[1]!.at - s.received[0]!.at).toBeGreaterThanOrEqual(990);
    expect(s.received[2]!.at - s.received[1]!.at).toBeLessThan(900);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    // Every attempt carried the same body.
    expect(new Set(s.received.map((r) => r.raw)).size).toBe(1);
    expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(2);
    expect(lines.join('')).not.toContain(s.url);
  });

  it('does not retry a 400 and reports the answer, without the URL', async () => {
    const s = await sink();
    s.fallback = { status: 400, body: '{"message":"Cannot send an empty message","code":50006}' };
    const { logger, lines } = capturingLogger();
    const channel = new DiscordChannel('ops', { url: s.url, embeds: true, retry: fast }, logger);
    const err = await channel.send(message).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChannelRejectedError);
    expect((err as ChannelRejectedError).code).toBe('NOTIFIER_CHANNEL_REJECTED');
    expect((err as Error).message).toContain('status 400');
    expect((err as Error).message).toContain('Cannot send an empty message');
    expect((err as Error).message).not.toContain('token-abc');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.received).toHaveLength(1);
    expect(lines.join('')).not.toContain('token-abc');
  });

  it('retries network errors, then gives up with every attempt counted', async () => {
    // A port that was free a moment ago: nothing listens, every connection is refused.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const { logger } = capturingLogger();
    const channel = new SlackChannel('team', { url: `http://127.0.0.1:${port}/x`, blocks: false, retry: { ...fast, maxAttempts: 3 } }, logger);
    const err = await channel.send(message).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ChannelUnavailableError);
    expect((err as ChannelUnavailableError).details).toEqual({ channel: 'team', attempts: 3 });
  });

  it('reads Retry-After as seconds or as an HTTP date, and never waits less than it asks', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(10_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, timeoutMs: 1 };
    // Exponential: attempt n waits between half and all of base·2^(n-1), capped.
    expect(backoffMs(policy, 1, undefined, () => 0)).toBe(50);
    expect(backoffMs(policy, 3, undefined, () => 1)).toBe(400);
    expect(backoffMs(policy, 10, undefined, () => 1)).toBe(1_000);
    expect(backoffMs(policy, 1, 5_000, () => 1)).toBe(5_000);
  });
});

describe('email channel', () => {
  it('sends the message over SMTP with authentication to a local server', async () => {
    const mails: Array<{ from: string; to: string[]; data: string; user: string | undefined }> = [];
    const server = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'bot' && auth.password === 'smtp-pass-123') cb(null, { user: auth.username });
        else cb(new Error('invalid credentials'));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString('utf8'),
            user: session.user as string | undefined,
          });
          cb();
        });
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.server.address() as { port: number }).port;
    const { logger, lines } = capturingLogger();
    const channel = new EmailChannel(
      'mail',
      { host: '127.0.0.1', port, secure: false, user: 'bot', password: 'smtp-pass-123', from: 'Tradebus <bot@example.com>', to: ['ops@example.com', 'cto@example.com'], subjectPrefix: '[Tradebus]', retry: fast },
      logger,
    );
    try {
      await channel.send(message);
    } finally {
      await channel.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(mails).toHaveLength(1);
    expect(mails[0]!.user).toBe('bot');
    expect(mails[0]!.from).toBe('bot@example.com');
    expect(mails[0]!.to).toEqual(['ops@example.com', 'cto@example.com']);
    expect(mails[0]!.data).toMatch(/^Subject: \[Tradebus\] ERROR: Agent down \(executor\)\r?$/m);
    // The body is quoted-printable (RFC 2045): soft line breaks and =XX bytes decoded here.
    const body = mails[0]!.data.split(/\r?\n\r?\n/).slice(1).join('\n\n');
    const decoded = Buffer.from(
      body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => `%${hex}`),
      'latin1',
    ).toString('latin1');
    const text = decodeURIComponent(decoded.replace(/%(?![0-9A-F]{2})/g, '%25'));
    expect(text).toContain("Agent 'executor' sent no heartbeat for 15000 ms.");
    expect(text).toContain('❗ [ERROR] Agent down (executor)');
    expect(text).toContain('symbol: BTC/USDT');
    expect(lines.join('')).not.toContain('smtp-pass-123');
  });
});
