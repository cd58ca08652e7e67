import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TelegramCommands, type CommandAuditEntry, type CommandContext, type TelegramRiskAction } from './commands.js';
import { telegramChannelSchema } from './config.js';
import { BOT_USERNAME, FakeBotApi } from './test-support/fake-bot-api.js';

const TOKEN = '123456:AAE-test_token_0123456789abcdef';
const ALLOWED = 100;
const STRANGER = 999;

class RecordingContext implements CommandContext {
  readonly risk: { action: TelegramRiskAction; reason: string; by: string }[] = [];
  readonly audits: CommandAuditEntry[] = [];
  statusReads = 0;
  status(): string {
    this.statusReads++;
    return 'running · kill switch off';
  }
  positions(): string {
    return 'BTC/USDT long 0.5 @ 60000';
  }
  pnl(): string {
    return 'realized +120.50 USDT';
  }
  riskCommand(action: TelegramRiskAction, reason: string, by: string): void {
    this.risk.push({ action, reason, by });
  }
  audit(entry: CommandAuditEntry): void {
    this.audits.push(entry);
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('TelegramCommands against a loopback Bot API', () => {
  let api: FakeBotApi;
  let apiRoot: string;
  let context: RecordingContext;
  const running: TelegramCommands[] = [];
  let clock: number;

  const commands = (over: { confirmTimeoutMs?: number; maxAgeMs?: number; token?: string; now?: () => number } = {}): TelegramCommands => {
    const settings = telegramChannelSchema.parse({
      kind: 'telegram',
      token: over.token ?? TOKEN,
      chatIds: [String(ALLOWED)],
      apiRoot,
      commands: {
        enabled: true,
        allowedChatIds: [ALLOWED],
        pollTimeoutSec: 20,
        ...(over.confirmTimeoutMs !== undefined ? { confirmTimeoutMs: over.confirmTimeoutMs } : {}),
        ...(over.maxAgeMs !== undefined ? { maxAgeMs: over.maxAgeMs } : {}),
      },
    });
    const c = new TelegramCommands(settings, context, { pollErrorDelayMs: 20, retry: { baseDelayMs: 10 }, ...(over.now ? { now: over.now } : {}) });
    running.push(c);
    return c;
  };
  const lastReply = (chatId: number): string => api.sentTo(chatId).at(-1) ?? '';
  const replies = (chatId: number): number => api.sentTo(chatId).length;
  /** Sends a text and waits for the bot's answer to it. */
  const say = async (text: string, options: { chatId?: number; userId?: number; date?: number } = {}): Promise<string> => {
    const chatId = options.chatId ?? ALLOWED;
    const before = replies(chatId);
    api.pushMessage(chatId, text, options);
    await until(`an answer to ${text}`, () => replies(chatId) > before);
    return lastReply(chatId);
  };
  const codeIn = (reply: string): string => {
    const match = /\/confirm (\d{6})/.exec(reply);
    if (!match) throw new Error(`no confirmation code in: ${reply}`);
    return match[1]!;
  };

  beforeEach(async () => {
    api = new FakeBotApi(TOKEN);
    apiRoot = await api.listen();
    context = new RecordingContext();
    clock = Date.now();
  });
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
    await api.close();
  });

  it('refuses a command from a chat not on the allow-list, and audits it', async () => {
    await commands().start();

    const reply = await say('/flatten', { chatId: STRANGER });
    await say('/status', { chatId: STRANGER });

    expect(reply).toContain('not allowed');
    expect(reply).toContain(String(STRANGER));
    expect(context.risk).toEqual([]);
    expect(context.statusReads).toBe(0);
    expect(context.audits).toEqual([
      { chatId: String(STRANGER), user: '@user7', command: '/flatten', outcome: 'refused: chat not allowed' },
      { chatId: String(STRANGER), user: '@user7', command: '/status', outcome: 'refused: chat not allowed' },
    ]);
  });

  it('answers /status, /positions and /pnl from the context, and audits them', async () => {
    await commands().start();

    expect(await say('/status')).toBe('running · kill switch off');
    expect(await say('/positions')).toBe('BTC/USDT long 0.5 @ 60000');
    expect(await say(`/pnl@${BOT_USERNAME}`)).toBe('realized +120.50 USDT');
    expect(context.audits.map((a) => [a.command, a.outcome])).toEqual([
      ['/status', 'answered'],
      ['/positions', 'answered'],
      [`/pnl@${BOT_USERNAME}`, 'answered'],
    ]);
  });

  it('ignores a command addressed to another bot in a group', async () => {
    await commands().start();

    api.pushMessage(ALLOWED, '/status@some_other_bot');
    expect(await say('/pnl')).toBe('realized +120.50 USDT');

    expect(context.statusReads).toBe(0);
    expect(api.sentTo(ALLOWED)).toHaveLength(1);
  });

  it('/flatten asks for a confirmation and acts only after /confirm with the right code', async () => {
    await commands().start();

    const prompt = await say('/flatten');
    expect(prompt).toContain('close every position at market');
    expect(prompt).toMatch(/within 60 s/);
    const code = codeIn(prompt);
    expect(context.risk).toEqual([]);

    const wrong = code === '000000' ? '000001' : '000000';
    expect(await say(`/confirm ${wrong}`)).toContain('Wrong code');
    expect(context.risk).toEqual([]);

    expect(await say(`/confirm ${code}`)).toContain('Flatten requested');
    expect(context.risk).toEqual([{ action: 'flatten', reason: '/flatten from Telegram (@user7)', by: `telegram:${ALLOWED}` }]);

    // The code is spent.
    expect(await say(`/confirm ${code}`)).toContain('Nothing is waiting');
    expect(context.risk).toHaveLength(1);
    expect(context.audits.map((a) => a.outcome)).toEqual([
      'awaiting confirmation',
      'refused: wrong code for /flatten',
      'confirmed /flatten',
      'refused: nothing to confirm',
    ]);
  });

  it('does not act on a confirmation that comes after the timeout', async () => {
    await commands({ now: () => clock }).start();

    const code = codeIn(await say('/flatten'));
    clock += 60_001;
    const reply = await say(`/confirm ${code}`, { date: Math.floor(clock / 1000) });

    expect(reply).toContain('expired');
    expect(context.risk).toEqual([]);
    expect(context.audits.at(-1)).toMatchObject({ command: `/confirm ${code}`, outcome: 'refused: confirmation of /flatten expired' });
  });

  it('acts on a confirmation just inside the timeout', async () => {
    await commands({ now: () => clock }).start();

    const code = codeIn(await say('/pause stops look too tight'));
    clock += 59_000;
    await say(`/confirm ${code}`, { date: Math.floor(clock / 1000) });

    expect(context.risk).toEqual([{ action: 'kill', reason: 'stops look too tight', by: `telegram:${ALLOWED}` }]);
  });

  it('maps /kill, /reduce_only and /resume to their risk commands; only /resume needs no confirmation', async () => {
    await commands().start();

    await say(`/confirm ${codeIn(await say('/kill'))}`);
    await say(`/confirm ${codeIn(await say('/reduce_only'))}`);
    expect(await say('/resume')).toContain('Resumed');

    expect(context.risk.map((r) => r.action)).toEqual(['kill', 'reducing_only', 'resume']);
  });

  it('accepts the inline Confirm button, from the person who asked only', async () => {
    await commands().start();
    const code = codeIn(await say('/flatten', { userId: 7 }));

    const before = replies(ALLOWED);
    api.pushButton(ALLOWED, `confirm:${code}`, { userId: 8 });
    await until('the refusal', () => replies(ALLOWED) > before);
    expect(lastReply(ALLOWED)).toContain('person who sent it');
    expect(context.risk).toEqual([]);

    api.pushButton(ALLOWED, `confirm:${code}`, { userId: 7 });
    await until('the flatten', () => context.risk.length === 1);
    expect(context.risk[0]!.action).toBe('flatten');
    await until('both buttons answered', () => api.callsOf('answerCallbackQuery').length === 2);
  });

  it('/cancel drops the command waiting for confirmation', async () => {
    await commands().start();
    const code = codeIn(await say('/flatten'));

    expect(await say('/cancel')).toContain('Cancelled');
    await say(`/confirm ${code}`);

    expect(context.risk).toEqual([]);
  });

  it('does not carry out a command sent long before it arrived', async () => {
    await commands({ now: () => clock, maxAgeMs: 120_000 }).start();

    const reply = await say('/resume', { date: Math.floor((clock - 10 * 60_000) / 1000) });

    expect(reply).toContain('was not carried out');
    expect(context.risk).toEqual([]);
    expect(context.audits.at(-1)?.outcome).toMatch(/^ignored: 60\d s old$/);
  });

  it('never handles an update twice: offsets across polls, a repeated update, and a restart', async () => {
    const first = commands();
    await first.start();

    await say('/status');
    await say('/status');
    const lastId = api.pushMessage(ALLOWED, '/status');
    await until('the third answer', () => replies(ALLOWED) === 3);
    // The server sends the first two again, as if it had not seen them confirmed.
    api.replayOnce([1, 2]);
    await say('/pnl');

    expect(context.statusReads).toBe(3);
    const offsets = api.callsOf('getUpdates').map((c) => c.body['offset']);
    expect(offsets[0]).toBeUndefined();
    // Each poll confirms what the one before it returned, never going back.
    const sent = offsets.filter((o): o is number => typeof o === 'number');
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
    expect(sent).toContain(lastId + 1);

    // Stopping confirms the last update, so a new poller does not see it again.
    await first.stop();
    expect(api.callsOf('getUpdates').at(-1)?.body['offset']).toBe(lastId + 2);
    const second = commands();
    await second.start();
    expect(await say('/positions')).toBe('BTC/USDT long 0.5 @ 60000');
    expect(context.statusReads).toBe(3);
    expect(api.sentTo(ALLOWED)).toHaveLength(5);
  });

  it('stops at once while a long poll is waiting', async () => {
    const c = commands();
    await c.start();
    await until('a long poll', () => api.callsOf('getUpdates').length === 1);

    const stoppingAt = Date.now();
    await c.stop();

    expect(Date.now() - stoppingAt).toBeLessThan(1_000);
    const polls = api.callsOf('getUpdates').length;
    api.pushMessage(ALLOWED, '/status');
    await new Promise((r) => setTimeout(r, 100));
    expect(api.callsOf('getUpdates')).toHaveLength(polls);
    expect(context.statusReads).toBe(0);
  });

  it('keeps polling after getUpdates fails', async () => {
    api.script('getUpdates', { status: 409, body: { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request' } });
    await commands().start();

    expect(await say('/status')).toBe('running · kill switch off');
  });

  it('start() fails with TELEGRAM_UNAUTHORIZED when the token is rejected', async () => {
    await expect(commands({ token: '999:AAE-wrong_token_0123456789abcdef' }).start()).rejects.toMatchObject({ code: 'TELEGRAM_UNAUTHORIZED' });
    expect(api.callsOf('getUpdates')).toHaveLength(0);
  });
});
