import { BaseAgent, toError, type AgentContext, type TimerHandle } from '@tradebus/core';
import type { Logger } from '@tradebus/core';
import type { Channel } from './channel.js';
import type { ChannelSettings, NotifierConfig } from './config.js';
import { DiscordChannel } from './channels/discord.js';
import { EmailChannel } from './channels/email.js';
import { SlackChannel } from './channels/slack.js';
import { WebhookChannel } from './channels/webhook.js';
import { Dispatcher } from './dispatcher.js';
import { AgentChanges, RiskChanges, fromAlert, fromTradeClosed, fromTradeOpened } from './messages.js';
import { msUntilUtc } from './quiet-hours.js';
import { emptyLedger, recordClosed, recordRisk, summaryMessage, type LedgerState } from './summary.js';

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
  }
}

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
      recordRisk(this.ledger, e.payload);
      for (const n of this.risk.next(e.payload)) this.dispatcher.notify(n);
    });
    this.subscribe('agent.status', (e) => {
      const n = this.agents.next(e.payload);
      if (n !== undefined) this.dispatcher.notify(n);
    });
    this.scheduleSummary();
  }

  protected override async cleanup(): Promise<void> {
    this.summaryTimer = undefined;
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
