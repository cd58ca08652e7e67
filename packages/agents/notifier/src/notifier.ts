import { BaseAgent, errorMessage, refuseColdChanges, toError, type AgentContext, type BuiltinEvents, type TimerHandle } from '@tradebus/core';
import type { Logger } from '@tradebus/core';
import type { Channel } from './channel.js';
import type { ChannelSettings, NotifierConfig } from './config.js';
import { DiscordChannel } from './channels/discord.js';
import { EmailChannel } from './channels/email.js';
import { SlackChannel } from './channels/slack.js';
import { WebhookChannel } from './channels/webhook.js';
import { Dispatcher } from './dispatcher.js';
import { hotSettings } from './hot-settings.js';
import { AgentChanges, RiskChanges, fromAlert, fromTradeClosed, fromTradeOpened } from './messages.js';
import { msUntilUtc } from './quiet-hours.js';
import { emptyLedger, recordClosed, recordRisk, summaryMessage, type LedgerState } from './summary.js';
import { TelegramChannel, TelegramCommands, type CommandContext, type TelegramChannelSettings } from './telegram/index.js';

const LEDGER_KEY = 'daily-ledger';

/** Builds the channel a config entry describes; its logger is the agent's, tagged with the channel name. */
export function createChannel(name: string, settings: ChannelSettings, logger: Logger): Channel {
  const log = logger.child({ channel: name });
  switch (settings.kind) {
    case 'discord':
      return new DiscordChannel(name, settings, log);
    case 'slack':
      return new SlackChannel(name, settings, log);
    case 'webhook':
      return new WebhookChannel(name, settings, log);
    case 'email':
      return new EmailChannel(name, settings, log);
    case 'telegram': {
      const { maxAttempts, baseDelayMs, maxDelayMs, timeoutMs } = settings.retry;
      return new TelegramChannel(telegramSettings(name, settings), { logger: log, retry: { maxAttempts, baseDelayMs, maxDelayMs }, requestTimeoutMs: timeoutMs });
    }
  }
}

function telegramSettings(name: string, settings: Extract<ChannelSettings, { kind: 'telegram' }>): TelegramChannelSettings {
  return { kind: 'telegram', name, token: settings.token, chatIds: settings.chatIds, apiRoot: settings.apiRoot, commands: settings.commands };
}

type Position = BuiltinEvents['position.updated'];
const n = (v: number, d = 2): string => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/**
 * Tells people what the system does: alerts, trades, risk changes and agents in trouble become
 * messages, routed to channels by level, code and event type, de-duplicated, rate limited and
 * held through quiet hours; once a day a summary of P&L, trades, open risk and incidents.
 */
export class NotifierAgent extends BaseAgent<NotifierConfig> {
  private dispatcher!: Dispatcher;
  private risk = new RiskChanges();
  private agents = new AgentChanges();
  private ledger: LedgerState = emptyLedger(0);
  private summaryTimer: TimerHandle | undefined;
  private commands: TelegramCommands[] = [];
  private readonly positions = new Map<string, Position>();
  private lastRisk: BuiltinEvents['risk.state'] | undefined;

  constructor(context: AgentContext<NotifierConfig>) {
    super(context);
  }

  protected override async initialize(): Promise<void> {
    const channels = Object.entries(this.config.channels).map(([name, settings]) => ({ channel: createChannel(name, settings, this.logger), settings }));
    this.dispatcher = new Dispatcher({
      clock: this.clock,
      logger: this.logger,
      routes: this.config.routes,
      dedupWindowMs: this.config.dedupWindowMs,
      channels,
      onDeliveryFailed: (_channel, err) => this.recordError(err),
    });
    this.risk = new RiskChanges();
    this.agents = new AgentChanges();
    // The day's figures survive a restart: the summary covers the whole day, not the time since the last start.
    const stored = await this.store.get<LedgerState>(LEDGER_KEY).catch(() => undefined);
    this.ledger = stored !== undefined && typeof stored.since === 'number' ? stored : emptyLedger(this.clock.now());
    this.commands = Object.entries(this.config.channels).flatMap(([name, settings]) =>
      settings.kind === 'telegram' && settings.commands.enabled
        ? [new TelegramCommands(telegramSettings(name, settings), this.commandContext(), { logger: this.logger.child({ channel: name, part: 'commands' }) })]
        : [],
    );
  }

  protected override onReconfigure(next: NotifierConfig, previous: NotifierConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    this.dispatcher.reroute(next.routes, next.dedupWindowMs);
  }

  protected run(): void {
    this.subscribe('system.alert', (e) => {
      this.ledger.incidents[e.payload.level]++;
      this.dispatcher.notify(fromAlert(e.payload));
    });
    this.subscribe('trade.opened', (e) => {
      this.ledger.opened++;
      this.dispatcher.notify(fromTradeOpened(e.payload));
    });
    this.subscribe('trade.closed', (e) => {
      recordClosed(this.ledger, e.payload);
      this.saveLedger();
      this.dispatcher.notify(fromTradeClosed(e.payload));
    });
    this.subscribe('risk.state', (e) => {
      this.lastRisk = e.payload;
      recordRisk(this.ledger, e.payload);
      for (const n of this.risk.next(e.payload)) this.dispatcher.notify(n);
    });
    this.subscribe('agent.status', (e) => {
      const n = this.agents.next(e.payload);
      if (n !== undefined) this.dispatcher.notify(n);
    });
    if (this.commands.length > 0) {
      this.subscribe('position.updated', (e) => {
        if (e.payload.side === 'flat' || e.payload.quantity === 0) this.positions.delete(e.payload.symbol);
        else this.positions.set(e.payload.symbol, e.payload);
      });
      for (const commands of this.commands) {
        // A bot that cannot be reached must not keep the notifications from going out: say so and go on.
        commands.start().catch((err: unknown) => {
          this.recordError(err);
          this.logger.error({ err: toError(err) }, 'Telegram commands not available');
          this.alert('error', 'TELEGRAM_COMMANDS_UNAVAILABLE', `Telegram commands are not available: ${errorMessage(err)}. Notifications still go out; check the bot token and the network, then restart the notifier.`);
        });
      }
    }
    this.scheduleSummary();
  }

  /** What Telegram commands read and do, answered from what the agent has seen on the bus. */
  private commandContext(): CommandContext {
    return {
      status: () => {
        const r = this.lastRisk;
        const troubled = this.agents.troubledAgents();
        const lines =
          r === undefined
            ? ['Risk: no risk state received yet']
            : [
                `Kill switch: ${r.killSwitch ? 'ON' : 'off'}${r.reducingOnly ? ' · reducing only' : ''}`,
                `Breakers tripped: ${r.breakers.filter((b) => b.tripped).map((b) => b.name).join(', ') || 'none'}`,
                `Equity ${n(r.equity)} · drawdown ${n(r.drawdownPct)}% · today ${r.dailyPnl >= 0 ? '+' : ''}${n(r.dailyPnl)}`,
                `Open positions ${r.openPositions} · exposure ${n(r.exposure)} · heat ${n(r.heat)}`,
              ];
        lines.push(`Agents in trouble: ${troubled.length === 0 ? 'none' : troubled.join(', ')}`);
        return lines.join('\n');
      },
      positions: () => {
        if (this.positions.size === 0) return 'No open positions.';
        return [...this.positions.values()]
          .map((p) => `${p.symbol} ${p.side} ${p.quantity} @ ${p.entryPrice}${p.markPrice === undefined ? '' : `, mark ${p.markPrice}`}, unrealised ${p.unrealizedPnl >= 0 ? '+' : ''}${n(p.unrealizedPnl)}`)
          .join('\n');
      },
      pnl: () => summaryMessage(this.ledger, this.clock.now()).text,
      riskCommand: (action, reason, by) => {
        this.publish('risk.command', { action, reason, by, timestamp: this.clock.now() });
      },
      audit: (entry) => {
        this.alert('info', 'OPERATOR_COMMAND', `${entry.command} from Telegram chat ${entry.chatId}${entry.user === undefined ? '' : ` (${entry.user})`}: ${entry.outcome}`, { ...entry });
      },
    };
  }

  protected override async cleanup(): Promise<void> {
    this.summaryTimer = undefined;
    await Promise.all(this.commands.map((c) => c.stop().catch((err: unknown) => this.logger.warn({ err: toError(err) }, 'Telegram commands did not stop cleanly'))));
    this.commands = [];
    await this.store.set(LEDGER_KEY, this.ledger).catch((err: unknown) => this.logger.warn({ err: toError(err) }, 'could not store the daily figures'));
    await this.dispatcher.close();
  }

  private scheduleSummary(): void {
    const daily = this.config.dailySummary;
    if (daily === undefined) return;
    this.summaryTimer = this.after(msUntilUtc(daily.at, this.clock.now()), () => {
      this.sendSummary();
      this.scheduleSummary();
    });
  }

  /** Sends the summary of everything since the previous one and starts counting afresh. */
  sendSummary(): void {
    const channels = this.config.dailySummary?.channels ?? ['*'];
    const now = this.clock.now();
    this.dispatcher.sendTo(channels, summaryMessage(this.ledger, now));
    this.ledger = emptyLedger(now, this.ledger.risk);
    this.saveLedger();
  }

  private saveLedger(): void {
    this.store.set(LEDGER_KEY, this.ledger).catch((err: unknown) => {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'could not store the daily figures');
    });
  }

  /** Deliveries per channel so far. */
  get deliveries(): Record<string, { delivered: number; failed: number }> {
    return this.dispatcher.stats();
  }

  /** Resolves when every delivery started so far has finished (for a clean hand-over or a test). */
  idle(): Promise<void> {
    return this.dispatcher.idle();
  }
}
