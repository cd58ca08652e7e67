import { randomInt } from 'node:crypto';
import { errorMessage, silentLogger, type Logger } from '@tradebus/core';
import { TelegramBotApi, type BotApiRetryOptions, type InlineButton, type TelegramMessage, type TelegramUpdate, type TelegramUser } from './bot-api.js';
import type { TelegramChannelSettings } from './config.js';
import { TelegramError } from './errors.js';

export type TelegramRiskAction = 'kill' | 'resume' | 'flatten' | 'reducing_only';

export interface CommandAuditEntry {
  chatId: string;
  user?: string;
  command: string;
  outcome: string;
}

/** What the commands read and do; the agent answers it from the bus. */
export interface CommandContext {
  /** System and risk summary, as plain text. */
  status(): string;
  positions(): string;
  pnl(): string;
  /** Publishes risk.command; `by` is `telegram:<chatId>`. */
  riskCommand(action: TelegramRiskAction, reason: string, by: string): void;
  /** Records an operator command and what came of it (published as an OPERATOR_COMMAND alert). */
  audit(entry: CommandAuditEntry): void;
}

export interface TelegramCommandsOptions {
  logger?: Logger;
  retry?: Partial<BotApiRetryOptions>;
  requestTimeoutMs?: number;
  /** Wall clock in epoch milliseconds; confirmation windows and command age are measured with it. */
  now?: () => number;
  /** First wait after getUpdates keeps failing; doubles up to a minute. */
  pollErrorDelayMs?: number;
}

interface RiskCommandSpec {
  action: TelegramRiskAction;
  /** What the confirmation prompt says will happen. */
  effect: string;
  done: string;
}

// Every command that stops or unwinds trading asks for a confirmation first: a mistyped or
// autocompleted /flatten must not close positions.
const CONFIRMED_COMMANDS: Record<string, RiskCommandSpec> = {
  pause: {
    action: 'kill',
    effect: 'pause trading: the kill switch goes on, new entries stop and entry orders are cancelled; open positions keep their stops',
    done: 'Paused: the kill switch is on. /resume lifts it.',
  },
  kill: {
    action: 'kill',
    effect: 'turn the kill switch on: new entries stop and entry orders are cancelled; open positions keep their protective stops',
    done: 'Kill switch on. /resume lifts it.',
  },
  reduce_only: {
    action: 'reducing_only',
    effect: 'switch to reducing-only: only orders that shrink positions are allowed',
    done: 'Reducing-only mode on. /resume lifts it.',
  },
  flatten: {
    action: 'flatten',
    effect: 'FLATTEN: turn the kill switch on, then close every position at market',
    done: 'Flatten requested: the kill switch is on and every position is being closed at market. /positions shows progress.',
  },
};

const HELP = [
  'Commands:',
  '/status – system and risk summary',
  '/positions – open positions',
  '/pnl – profit and loss',
  '/pause – kill switch on (entries stop, stops kept)',
  '/kill – kill switch on',
  '/reduce_only – only position-reducing orders',
  '/flatten – kill switch on and close every position at market',
  '/resume – lift the kill switch and reducing-only mode',
  '/confirm <code> – carry out the command waiting for confirmation',
  '/cancel – drop it',
  '',
  '/pause, /kill, /reduce_only and /flatten act only after /confirm.',
].join('\n');

const MAX_WRONG_CODES = 3;
const MAX_AUDITED_COMMAND = 200;

interface Pending {
  command: string;
  spec: RiskCommandSpec;
  code: string;
  reason: string;
  /** Who asked: only they may confirm. */
  userId: number | undefined;
  expiresAt: number;
  wrongCodes: number;
}

interface ParsedCommand {
  name: string;
  args: string;
  text: string;
}

/**
 * Answers operator commands sent to the bot, through getUpdates long polling. Only chats in
 * `commands.allowedChatIds` are obeyed; every command, obeyed or refused, goes to the audit.
 * Each update is handled at most once: the offset moves past it before it is handled, and is
 * confirmed to Telegram on stop, so a restart does not see it again.
 */
export class TelegramCommands {
  private readonly api: TelegramBotApi;
  private readonly logger: Logger;
  private readonly allowed: ReadonlySet<string>;
  private readonly confirmTimeoutMs: number;
  private readonly maxAgeMs: number;
  private readonly pollTimeoutSec: number;
  private readonly pollErrorDelayMs: number;
  private readonly now: () => number;
  private readonly pending = new Map<string, Pending>();
  private readonly stopping = new AbortController();
  private botUsername: string | undefined;
  private nextOffset: number | undefined;
  private confirmedOffset: number | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    settings: TelegramChannelSettings,
    private readonly context: CommandContext,
    options: TelegramCommandsOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger();
    this.api = new TelegramBotApi({
      token: settings.token,
      apiRoot: settings.apiRoot,
      logger: this.logger,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
    this.allowed = new Set(settings.commands.allowedChatIds);
    this.confirmTimeoutMs = settings.commands.confirmTimeoutMs;
    this.maxAgeMs = settings.commands.maxAgeMs;
    this.pollTimeoutSec = settings.commands.pollTimeoutSec;
    this.pollErrorDelayMs = options.pollErrorDelayMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  /** The offset the next poll sends: one past the last update received. */
  get offset(): number | undefined {
    return this.nextOffset;
  }

  /**
   * Checks the token (getMe) and starts polling in the background. Fails with
   * TELEGRAM_UNAUTHORIZED when the token is wrong, rather than polling in vain.
   */
  async start(): Promise<void> {
    if (this.loop) return;
    const me = await this.api.getMe(this.stopping.signal);
    this.botUsername = me.username;
    this.logger.info({ bot: me.username, chats: this.allowed.size }, 'Telegram commands listening');
    this.loop = this.poll();
  }

  /** Stops polling (the pending long poll is cancelled) and confirms the updates handled so far. */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.loop;
    this.pending.clear();
    if (this.loop && this.nextOffset !== undefined && this.nextOffset !== this.confirmedOffset) {
      try {
        await this.api.getUpdates({ offset: this.nextOffset, timeoutSec: 0, limit: 1 }, AbortSignal.timeout(5_000));
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'Could not confirm the last Telegram updates; the next start may show them again');
      }
    }
  }

  private async poll(): Promise<void> {
    let failures = 0;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const offset = this.nextOffset;
      let updates;
      try {
        updates = await this.api.getUpdates({ ...(offset !== undefined ? { offset } : {}), timeoutSec: this.pollTimeoutSec }, signal);
        this.confirmedOffset = offset;
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        const waitMs = Math.min(60_000, this.pollErrorDelayMs * 2 ** Math.min(failures - 1, 10));
        const code = err instanceof TelegramError ? err.code : undefined;
        this.logger[code === 'TELEGRAM_UNAUTHORIZED' || code === 'TELEGRAM_CONFLICT' ? 'error' : 'warn'](
          { err: errorMessage(err), code, waitMs },
          'Telegram getUpdates failed; commands are not read until it works again',
        );
        await pause(waitMs, signal);
        continue;
      }
      for (const update of updates) {
        // Telegram may repeat updates it has not seen confirmed; the offset says what was handled.
        if (this.nextOffset !== undefined && update.update_id < this.nextOffset) continue;
        this.nextOffset = update.update_id + 1;
        if (!update.parsed) continue;
        try {
          await this.handle(update.parsed);
        } catch (err) {
          this.logger.error({ err: errorMessage(err), updateId: update.update_id }, 'Telegram command failed');
        }
      }
    }
  }

  private async handle(update: TelegramUpdate): Promise<void> {
    if (update.callback_query) {
      await this.handleButton(update.callback_query.id, update.callback_query.from, update.callback_query.message, update.callback_query.data);
      return;
    }
    const message = update.message;
    if (!message?.text) return;
    const command = this.parse(message.text);
    if (!command) return;
    const chatId = String(message.chat.id);
    const user = describeUser(message.from);
    const audit = (outcome: string): void => this.audit({ chatId, user, command: command.text, outcome });

    if (!this.allowed.has(chatId)) {
      audit('refused: chat not allowed');
      await this.reply(chatId, `This chat is not allowed to control this bot. To allow it, add its id ${chatId} to commands.allowedChatIds.`);
      return;
    }
    const ageMs = this.now() - message.date * 1_000;
    if (ageMs > this.maxAgeMs) {
      audit(`ignored: ${Math.round(ageMs / 1_000)} s old`);
      await this.reply(chatId, `${command.text} was sent ${Math.round(ageMs / 1_000)} s ago, while the bot was not listening; it was not carried out. Send it again if it still applies.`);
      return;
    }
    await this.run(chatId, message.from, command, audit);
  }

  private async run(chatId: string, from: TelegramUser | undefined, command: ParsedCommand, audit: (outcome: string) => void): Promise<void> {
    const by = `telegram:${chatId}`;
    const reasonFor = (name: string): string => command.args || `/${name} from Telegram${from ? ` (${describeUser(from)})` : ''}`;
    switch (command.name) {
      case 'start':
      case 'help':
        audit('answered');
        await this.reply(chatId, HELP);
        return;
      case 'status':
      case 'positions':
      case 'pnl': {
        const read = this.context[command.name].bind(this.context);
        let text: string;
        try {
          text = read();
        } catch (err) {
          audit(`failed: ${errorMessage(err)}`);
          await this.reply(chatId, `Could not read ${command.name}: ${errorMessage(err)}`);
          return;
        }
        audit('answered');
        await this.reply(chatId, text.trim() === '' ? '(nothing to show)' : text);
        return;
      }
      case 'resume':
        await this.act(chatId, { action: 'resume', effect: '', done: 'Resumed: the kill switch and reducing-only mode are lifted.' }, reasonFor('resume'), by, audit, 'done');
        return;
      case 'confirm':
        await this.confirm(chatId, from, command.args.trim(), audit);
        return;
      case 'cancel': {
        const had = this.pending.delete(chatId);
        audit(had ? 'cancelled' : 'nothing to cancel');
        await this.reply(chatId, had ? 'Cancelled; nothing was done.' : 'Nothing is waiting for confirmation.');
        return;
      }
      default: {
        const spec = CONFIRMED_COMMANDS[command.name];
        if (!spec) {
          audit('unknown command');
          await this.reply(chatId, `Unknown command /${command.name}. Send /help for the list.`);
          return;
        }
        const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
        // One command waits per chat: a newer one replaces it, so /confirm never acts on a forgotten request.
        this.pending.set(chatId, {
          command: `/${command.name}`,
          spec,
          code,
          reason: reasonFor(command.name),
          userId: from?.id,
          expiresAt: this.now() + this.confirmTimeoutMs,
          wrongCodes: 0,
        });
        const seconds = Math.round(this.confirmTimeoutMs / 1_000);
        const buttons: InlineButton[][] = [[{ text: `Confirm /${command.name}`, callback_data: `confirm:${code}` }, { text: 'Cancel', callback_data: 'cancel' }]];
        audit('awaiting confirmation');
        await this.reply(chatId, `This will ${spec.effect}.\nSend /confirm ${code} within ${seconds} s to go ahead, or /cancel.`, buttons);
      }
    }
  }

  private async confirm(chatId: string, from: TelegramUser | undefined, code: string, audit: (outcome: string) => void): Promise<void> {
    const pending = this.pending.get(chatId);
    if (!pending) {
      audit('refused: nothing to confirm');
      await this.reply(chatId, 'Nothing is waiting for confirmation. Send the command again.');
      return;
    }
    if (this.now() > pending.expiresAt) {
      this.pending.delete(chatId);
      audit(`refused: confirmation of ${pending.command} expired`);
      await this.reply(chatId, `The confirmation of ${pending.command} expired; nothing was done. Send ${pending.command} again.`);
      return;
    }
    if (pending.userId !== undefined && from?.id !== pending.userId) {
      audit(`refused: ${pending.command} confirmed by someone else`);
      await this.reply(chatId, `${pending.command} waits for confirmation by the person who sent it.`);
      return;
    }
    if (code !== pending.code) {
      pending.wrongCodes++;
      const dropped = pending.wrongCodes >= MAX_WRONG_CODES;
      if (dropped) this.pending.delete(chatId);
      audit(`refused: wrong code for ${pending.command}`);
      await this.reply(chatId, dropped ? `Wrong code ${MAX_WRONG_CODES} times; ${pending.command} was dropped. Send it again.` : `Wrong code; ${pending.command} still waits for /confirm <code>.`);
      return;
    }
    this.pending.delete(chatId);
    await this.act(chatId, pending.spec, pending.reason, `telegram:${chatId}`, audit, `confirmed ${pending.command}`);
  }

  private async act(chatId: string, spec: RiskCommandSpec, reason: string, by: string, audit: (outcome: string) => void, outcome: string): Promise<void> {
    try {
      this.context.riskCommand(spec.action, reason, by);
    } catch (err) {
      audit(`failed: ${errorMessage(err)}`);
      await this.reply(chatId, `Could not send the ${spec.action} command: ${errorMessage(err)}`);
      return;
    }
    audit(outcome);
    await this.reply(chatId, spec.done);
  }

  private async handleButton(queryId: string, from: TelegramUser, message: TelegramMessage | undefined, data: string | undefined): Promise<void> {
    // Telegram shows a spinner on the button until the query is answered, whatever the outcome.
    const answer = (text?: string): Promise<void> =>
      this.api.answerCallbackQuery({ callback_query_id: queryId, ...(text ? { text } : {}) }, this.stopping.signal).catch((err: unknown) => {
        this.logger.warn({ err: errorMessage(err) }, 'Could not answer a Telegram button press');
      });
    if (!message || !data) {
      await answer();
      return;
    }
    const chatId = String(message.chat.id);
    const user = describeUser(from);
    const commandText = data === 'cancel' ? '/cancel' : data.startsWith('confirm:') ? `/confirm ${data.slice('confirm:'.length)}` : `button ${data}`;
    const audit = (outcome: string): void => this.audit({ chatId, user, command: commandText, outcome });
    if (!this.allowed.has(chatId)) {
      audit('refused: chat not allowed');
      await answer('This chat is not allowed to control this bot.');
      return;
    }
    await answer();
    if (data === 'cancel') await this.run(chatId, from, { name: 'cancel', args: '', text: commandText }, audit);
    else if (data.startsWith('confirm:')) await this.confirm(chatId, from, data.slice('confirm:'.length), audit);
    else audit('ignored: unknown button');
  }

  /** `/name@bot args` → name and args; undefined for plain text and commands addressed to another bot. */
  private parse(text: string): ParsedCommand | undefined {
    const match = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+([\s\S]*))?$/.exec(text.trim());
    if (!match) return undefined;
    const [, name, bot, args] = match;
    if (bot && this.botUsername && bot.toLowerCase() !== this.botUsername.toLowerCase()) return undefined;
    const trimmed = text.trim();
    return {
      name: name!.toLowerCase(),
      args: (args ?? '').trim(),
      text: trimmed.length > MAX_AUDITED_COMMAND ? `${trimmed.slice(0, MAX_AUDITED_COMMAND - 1)}…` : trimmed,
    };
  }

  private async reply(chatId: string, text: string, buttons?: InlineButton[][]): Promise<void> {
    try {
      await this.api.sendMessage({ chat_id: chatId, text, ...(buttons ? { buttons } : {}) }, this.stopping.signal);
    } catch (err) {
      if (!this.stopping.signal.aborted) this.logger.warn({ err: errorMessage(err), chatId }, 'Could not answer a Telegram command');
    }
  }

  /** Called before the reply is sent: the record of a command must not depend on Telegram taking the answer. */
  private audit(entry: CommandAuditEntry): void {
    try {
      this.context.audit(entry.user === undefined ? { chatId: entry.chatId, command: entry.command, outcome: entry.outcome } : entry);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), ...entry }, 'Could not audit a Telegram command');
    }
  }
}

function describeUser(user: TelegramUser | undefined): string | undefined {
  if (!user) return undefined;
  return user.username ? `@${user.username}` : `${user.first_name ?? 'user'} (${user.id})`;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
