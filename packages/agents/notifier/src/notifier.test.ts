import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryStateStore, VirtualClock, createSystem, parseConfig, secretValuesOf, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { agent, notifierConfigSchema, type NotifierAgent, type NotifierConfigInput } from './index.js';
import { HttpSink, capturingLogger } from './test-support/http-sink.js';
import { quietRemainingMs } from './quiet-hours.js';

const SECRET = 'webhook-signing-secret-0123456789';
const open: Array<{ system: TradebusSystem; sinks: HttpSink[] }> = [];

afterEach(async () => {
  for (const { system, sinks } of open.splice(0)) {
    await system.stop();
    await Promise.all(sinks.map((s) => s.close()));
  }
});

/** Waits a little real time, so that a request that should not come would have come. */
const quietFor = (ms = 150) => new Promise((r) => setTimeout(r, ms));

async function setup(names: string[], config: (urls: Record<string, string>) => Partial<NotifierConfigInput>, startAt = Date.UTC(2026, 0, 5, 8, 0, 0)) {
  const sinks = await Promise.all(names.map(() => HttpSink.start()));
  const urls = Object.fromEntries(names.map((n, i) => [n, sinks[i]!.url]));
  const clock = new VirtualClock(startAt);
  const { logger, lines } = capturingLogger();
  const channels = Object.fromEntries(names.map((n) => [n, { kind: 'webhook' as const, url: urls[n]!, secret: SECRET, rateLimitPerMinute: 1_000 }]));
  const store = new MemoryStateStore();
  const system = createSystem({
    clock,
    logger,
    heartbeatIntervalMs: 3_600_000,
    validateOnPublish: true,
    stateStore: () => store,
    agents: [{ id: 'notifier', definition: agent, config: { channels, ...config(urls) } }],
  });
  await system.start();
  open.push({ system, sinks });
  const bySink = Object.fromEntries(names.map((n, i) => [n, sinks[i]!]));
  return { clock, system, sinks: bySink, lines, notifier: system.agent<NotifierAgent>('notifier'), bus: system.bus };
}

const alert = (clock: VirtualClock, code: string, level: BuiltinEvents['system.alert']['level'], details?: Record<string, unknown>): BuiltinEvents['system.alert'] => ({
  level,
  code,
  message: `${code} happened`,
  agentId: 'prices',
  details,
  timestamp: clock.now(),
});

const riskState = (clock: VirtualClock, overrides: Partial<BuiltinEvents['risk.state']> = {}): BuiltinEvents['risk.state'] => ({
  killSwitch: false,
  reducingOnly: false,
  breakers: [{ name: 'daily-loss', tripped: false }],
  equity: 10_000,
  peakEquity: 10_500,
  drawdownPct: 4.76,
  dailyPnl: -20,
  openPositions: 2,
  exposure: 3_500,
  heat: 1.8,
  timestamp: clock.now(),
  ...overrides,
});

describe('de-duplication', () => {
  it('sends 500 identical alerts as one message, then one "repeated" count when the window closes', async () => {
    const t = await setup(['hook'], () => ({ dedupWindowMs: 60_000 }));
    for (let i = 0; i < 500; i++) t.bus.publish('system.alert', alert(t.clock, 'PRICE_FEED_STALE', 'warning', { symbol: 'BTC/USDT' }));
    // Another symbol is another key: it is not folded into the first.
    t.bus.publish('system.alert', alert(t.clock, 'PRICE_FEED_STALE', 'warning', { symbol: 'ETH/USDT' }));
    const sink = t.sinks['hook']!;
    await sink.waitFor(2);
    await quietFor();
    expect(sink.received.map((r) => r.json.title)).toEqual(['Price feed stale (BTC/USDT)', 'Price feed stale (ETH/USDT)']);

    t.clock.advanceBy(60_000);
    await sink.waitFor(3);
    await quietFor();
    expect(sink.received).toHaveLength(3);
    const summary = sink.received[2]!.json;
    expect(summary.code).toBe('PRICE_FEED_STALE');
    expect(summary.title).toBe('Price feed stale (BTC/USDT): repeated 499 times');
    expect(summary.text).toMatch(/^Repeated 499 times in the last 1 min\./);
    expect(summary.details.repeated).toBe(499);

    // The window is over: the next occurrence is news again.
    t.bus.publish('system.alert', alert(t.clock, 'PRICE_FEED_STALE', 'warning', { symbol: 'BTC/USDT' }));
    await sink.waitFor(4);
    expect(sink.received[3]!.json.title).toBe('Price feed stale (BTC/USDT)');
  });
});

describe('rate limit', () => {
  it('sends a burst up to the bucket, then merges the excess into one digest when a token is back', async () => {
    const t = await setup(['hook'], (urls) => ({ channels: { hook: { kind: 'webhook', url: urls['hook']!, secret: SECRET, rateLimitPerMinute: 2 } } }));
    const codes = ['A_ONE', 'A_TWO', 'A_THREE', 'A_FOUR', 'A_FIVE'];
    codes.forEach((code, i) => t.bus.publish('system.alert', alert(t.clock, code, i === 3 ? 'critical' : 'warning')));
    const sink = t.sinks['hook']!;
    await sink.waitFor(2);
    await quietFor();
    expect(sink.received.map((r) => r.json.code)).toEqual(['A_ONE', 'A_TWO']);

    // Two per minute: one token every 30 s.
    t.clock.advanceBy(29_000);
    await quietFor();
    expect(sink.received).toHaveLength(2);
    t.clock.advanceBy(1_000);
    await sink.waitFor(3);
    const d = sink.received[2]!.json;
    expect(d.code).toBe('NOTIFIER_DIGEST');
    expect(d.level).toBe('critical');
    expect(d.title).toBe('3 notifications over the rate limit');
    expect(d.details).toMatchObject({ count: 3, reason: 'rate-limit', byLevel: { warning: 2, critical: 1 }, codes: ['A_THREE', 'A_FOUR', 'A_FIVE'] });
    expect(d.text.split('\n')).toHaveLength(3);
    await quietFor();
    expect(sink.received).toHaveLength(3);
  });

  it('sends under one message a minute when the rate asks for it', async () => {
    const t = await setup(['hook'], (urls) => ({ channels: { hook: { kind: 'webhook', url: urls['hook']!, secret: SECRET, rateLimitPerMinute: 0.5 } } }));
    t.bus.publish('system.alert', alert(t.clock, 'C_ONE', 'warning'));
    t.bus.publish('system.alert', alert(t.clock, 'C_TWO', 'warning'));
    const sink = t.sinks['hook']!;
    await sink.waitFor(1);
    t.clock.advanceBy(119_000);
    await quietFor();
    expect(sink.received).toHaveLength(1);
    t.clock.advanceBy(1_000);
    await sink.waitFor(2);
    expect(sink.received[1]!.json.code).toBe('C_TWO');
  });

  it('sends what is still queued as a digest when the agent stops, instead of dropping it', async () => {
    const t = await setup(['hook'], (urls) => ({ channels: { hook: { kind: 'webhook', url: urls['hook']!, secret: SECRET, rateLimitPerMinute: 1 } } }));
    for (const code of ['B_ONE', 'B_TWO', 'B_THREE']) t.bus.publish('system.alert', alert(t.clock, code, 'error'));
    const sink = t.sinks['hook']!;
    await sink.waitFor(1);
    await t.system.stop();
    await sink.waitFor(2);
    expect(sink.received[1]!.json.details).toMatchObject({ count: 2, reason: 'shutdown', codes: ['B_TWO', 'B_THREE'] });
  });
});

describe('quiet hours', () => {
  it('holds what is below their level and sends it as one digest when they end', async () => {
    const t = await setup(
      ['hook'],
      (urls) => ({ channels: { hook: { kind: 'webhook', url: urls['hook']!, secret: SECRET, quietHours: { from: '22:00', to: '07:00', minLevel: 'critical' } } } }),
      Date.UTC(2026, 0, 5, 23, 0, 0),
    );
    for (const code of ['Q_ONE', 'Q_TWO', 'Q_THREE']) t.bus.publish('system.alert', alert(t.clock, code, 'warning'));
    t.bus.publish('system.alert', alert(t.clock, 'Q_CRITICAL', 'critical'));
    const sink = t.sinks['hook']!;
    await sink.waitFor(1);
    expect(sink.received[0]!.json.code).toBe('Q_CRITICAL');

    t.clock.advanceTo(Date.UTC(2026, 0, 6, 6, 59, 59));
    await quietFor();
    expect(sink.received).toHaveLength(1);
    t.clock.advanceTo(Date.UTC(2026, 0, 6, 7, 0, 0));
    await sink.waitFor(2);
    const d = sink.received[1]!.json;
    expect(d.code).toBe('NOTIFIER_DIGEST');
    expect(d.title).toBe('3 notifications held during quiet hours');
    expect(d.timestamp).toBe(Date.UTC(2026, 0, 6, 7, 0, 0));
    expect(d.details).toMatchObject({ count: 3, reason: 'quiet-hours', codes: ['Q_ONE', 'Q_TWO', 'Q_THREE'] });

    // Outside quiet hours a warning goes out at once.
    t.bus.publish('system.alert', alert(t.clock, 'Q_DAY', 'warning'));
    await sink.waitFor(3);
    expect(sink.received[2]!.json.code).toBe('Q_DAY');
  });

  it('reads the hours in the configured time zone', () => {
    const quiet = { from: '22:00', to: '07:00', timeZone: 'America/New_York', minLevel: 'critical' as const };
    // 03:30 UTC on 5 January is 22:30 in New York (UTC-5 in winter); 07:00 there is 12:00 UTC.
    const now = Date.UTC(2026, 0, 5, 3, 30);
    expect(quietRemainingMs(quiet, now)).toBe(Date.UTC(2026, 0, 5, 12, 0) - now);
    // 12:30 UTC is 07:30 there: not quiet.
    expect(quietRemainingMs(quiet, Date.UTC(2026, 0, 5, 12, 30))).toBeUndefined();
    // Hours within one day (no midnight).
    expect(quietRemainingMs({ ...quiet, timeZone: 'UTC', from: '12:00', to: '13:00' }, Date.UTC(2026, 0, 5, 12, 15))).toBe(45 * 60_000);
  });
});

describe('daily summary', () => {
  it("sends P&L, trades, open risk and incidents that equal a recomputation from the day's events", async () => {
    const t = await setup(['hook'], () => ({ routes: [], dailySummary: { at: '20:00' } }));
    const pnls = [12.5, -3.25, 0, 40.1, -7.7, 0.35, -1.1];
    const closed = pnls.map(
      (pnl, i): BuiltinEvents['trade.closed'] => ({
        tradeId: `t${i}`,
        symbol: i % 2 === 0 ? 'BTC/USDT' : 'ETH/USDT',
        side: i % 3 === 0 ? 'short' : 'long',
        quantity: 0.1 + i,
        entryPrice: 100 + i,
        exitPrice: 101 + i,
        pnl,
        pnlPct: pnl / 10,
        fees: 0.05 * (i + 1),
        exitReason: 'take_profit',
        openedAt: t.clock.now() - 60_000,
        closedAt: t.clock.now(),
      }),
    );
    for (let i = 0; i < 3; i++) {
      t.bus.publish('trade.opened', { tradeId: `o${i}`, symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, fees: 0.1, openedAt: t.clock.now() });
    }
    for (const c of closed) {
      t.bus.publish('trade.closed', c);
      t.clock.advanceBy(600_000);
    }
    t.bus.publish('risk.state', riskState(t.clock, { openPositions: 5, exposure: 9_000, heat: 3.5 }));
    const last = riskState(t.clock, { openPositions: 3, exposure: 4_250.5, heat: 2.25, equity: 10_044.9 });
    t.bus.publish('risk.state', last);
    const levels = ['warning', 'warning', 'error', 'critical', 'info', 'info', 'info'] as const;
    levels.forEach((level, i) => t.bus.publish('system.alert', alert(t.clock, `INCIDENT_${i}`, level)));

    t.clock.advanceTo(Date.UTC(2026, 0, 5, 19, 59, 59));
    const sink = t.sinks['hook']!;
    await quietFor();
    expect(sink.received).toHaveLength(0);
    t.clock.advanceTo(Date.UTC(2026, 0, 5, 20, 0, 0));
    await sink.waitFor(1);
    const s = sink.received[0]!.json;
    expect(s.code).toBe('DAILY_SUMMARY');
    expect(s.title).toBe('Daily summary 2026-01-05');

    // Independent recomputation from the published trade.closed events.
    const pnl = closed.reduce((a, c) => a + c.pnl, 0);
    const fees = closed.reduce((a, c) => a + c.fees, 0);
    const wins = closed.filter((c) => c.pnl > 0).length;
    const losses = closed.filter((c) => c.pnl < 0).length;
    expect(s.details.pnl).toBeCloseTo(pnl, 9);
    expect(s.details.fees).toBeCloseTo(fees, 9);
    expect(s.details).toMatchObject({ tradesClosed: 7, wins, losses, tradesOpened: 3, openPositions: 3, exposure: 4_250.5, heat: 2.25, equity: 10_044.9 });
    expect(s.details.incidents).toEqual({ info: 3, warning: 2, error: 1, critical: 1 });
    expect(s.text).toContain(`P&L: +${pnl.toFixed(2)} after ${fees.toFixed(2)} fees`);
    expect(s.text).toContain(`Trades: 7 closed (${wins} won, ${losses} lost, ${((wins / 7) * 100).toFixed(1)}% won), 3 opened`);
    expect(s.text).toContain('Open risk: 3 positions, exposure 4250.50, heat 2.25');
    expect(s.text).toContain('Incidents: 7 (1 critical, 1 error, 2 warning, 3 info)');

    // The next day starts from zero, and still knows the open risk.
    t.clock.advanceTo(Date.UTC(2026, 0, 6, 20, 0, 0));
    await sink.waitFor(2);
    expect(sink.received[1]!.json.details).toMatchObject({ pnl: 0, tradesClosed: 0, tradesOpened: 0, openPositions: 3, incidents: { info: 0, warning: 0, error: 0, critical: 0 } });
  });
});

describe('risk and agent changes', () => {
  it('tells only the changes of the kill switch, reducing-only mode and breakers, not every risk.state', async () => {
    const t = await setup(['hook'], () => ({ routes: [{ channels: ['*'], minLevel: 'info', types: { include: ['risk.state'] } }], dedupWindowMs: 0 }));
    for (let i = 0; i < 10; i++) t.bus.publish('risk.state', riskState(t.clock));
    for (let i = 0; i < 5; i++) t.bus.publish('risk.state', riskState(t.clock, { killSwitch: true }));
    for (let i = 0; i < 5; i++) {
      t.bus.publish('risk.state', riskState(t.clock, { killSwitch: true, reducingOnly: true, breakers: [{ name: 'daily-loss', tripped: true, reason: 'lost 3% today' }] }));
    }
    for (let i = 0; i < 5; i++) t.bus.publish('risk.state', riskState(t.clock));
    const sink = t.sinks['hook']!;
    await sink.waitFor(6);
    await quietFor();
    expect(sink.received.map((r) => [r.json.level, r.json.code])).toEqual([
      ['critical', 'RISK_KILL_SWITCH'],
      ['warning', 'RISK_REDUCING_ONLY'],
      ['warning', 'RISK_BREAKER_TRIPPED'],
      ['info', 'RISK_KILL_SWITCH_RELEASED'],
      ['info', 'RISK_REDUCING_ONLY_RELEASED'],
      ['info', 'RISK_BREAKER_RESET'],
    ]);
    expect(sink.received[2]!.json.text).toBe('lost 3% today');
  });

  it('tells an agent failing and coming back, and routes by type and code to different channels', async () => {
    const t = await setup(['ops', 'trades'], () => ({
      routes: [
        { channels: ['ops'], minLevel: 'info', types: { include: ['agent.status', 'system.alert'] }, codes: { exclude: ['NOISY_*'] } },
        { channels: ['trades'], minLevel: 'info', types: { include: ['trade.opened', 'trade.closed'] } },
      ],
    }));
    const status = (from: BuiltinEvents['agent.status']['from'], to: BuiltinEvents['agent.status']['to'], reason?: string) =>
      t.bus.publish('agent.status', { agentId: 'executor', kind: 'trade-executor', from, to, reason, timestamp: t.clock.now() });
    status('running', 'failed', 'venue connection lost');
    status('failed', 'starting');
    status('starting', 'running');
    t.bus.publish('system.alert', alert(t.clock, 'NOISY_THING', 'critical'));
    t.bus.publish('trade.opened', { tradeId: 'x1', symbol: 'BTC/USDT', side: 'long', quantity: 0.5, entryPrice: 50_000, stopLoss: 49_000, fees: 1, openedAt: t.clock.now() });
    t.bus.publish('trade.opened', { tradeId: 'x2', symbol: 'BTC/USDT', side: 'long', quantity: 0.25, entryPrice: 50_100, fees: 1, openedAt: t.clock.now() });
    const ops = t.sinks['ops']!;
    const trades = t.sinks['trades']!;
    await ops.waitFor(2);
    await trades.waitFor(2);
    await quietFor();
    expect(ops.received.map((r) => [r.json.level, r.json.code, r.json.text])).toEqual([
      ['error', 'AGENT_FAILED', 'venue connection lost'],
      ['info', 'AGENT_RECOVERED', 'starting → running'],
    ]);
    // Two trades on one symbol within the de-duplication window are both told.
    expect(trades.received.map((r) => r.json.title)).toEqual(['Opened long 0.5 BTC/USDT @ 50000', 'Opened long 0.25 BTC/USDT @ 50100']);
  });

  it('logs a refused delivery with the answer, counts it, and never logs the URL or the secret', async () => {
    const t = await setup(['hook'], () => ({}));
    const sink = t.sinks['hook']!;
    sink.fallback = { status: 403, body: 'bad signature' };
    t.bus.publish('system.alert', alert(t.clock, 'SOMETHING_BAD', 'error'));
    await sink.waitFor(1);
    await t.notifier.idle();
    expect(t.notifier.deliveries).toEqual({ hook: { delivered: 0, failed: 1 } });
    const logged = t.lines.join('\n');
    expect(logged).toContain('bad signature');
    expect(logged).toContain('NOTIFIER_CHANNEL_REJECTED');
    expect(logged).not.toContain(sink.url);
    expect(logged).not.toContain(SECRET);
  });
});

describe('config', () => {
  const channels = {
    d: { kind: 'discord', url: 'https://discord.com/api/webhooks/1/abc' },
    s: { kind: 'slack', url: 'https://hooks.slack.com/services/T/B/xyz' },
    w: { kind: 'webhook', url: 'https://example.com/in', secret: SECRET },
    m: { kind: 'email', host: 'smtp.example.com', user: 'bot', password: 'smtp-password', from: 'bot@example.com', to: ['ops@example.com'] },
  };

  it('marks webhook URLs, signing secrets and SMTP passwords secret, and defaults to warning and above everywhere', () => {
    const parsed = notifierConfigSchema.parse({ channels });
    expect(secretValuesOf(notifierConfigSchema, parsed).sort()).toEqual(
      ['https://discord.com/api/webhooks/1/abc', 'https://hooks.slack.com/services/T/B/xyz', 'https://example.com/in', SECRET, 'smtp-password'].sort(),
    );
    expect(parsed.routes).toEqual([{ channels: ['*'], minLevel: 'warning' }]);
    expect(parsed.dedupWindowMs).toBe(300_000);
    expect(parsed.channels['d']).toMatchObject({ rateLimitPerMinute: 20, retry: { maxAttempts: 5 } });
  });

  it('names the unknown channel a route points at', () => {
    const result = notifierConfigSchema.safeParse({ channels, routes: [{ channels: ['d', 'pager'] }] });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(['routes', 0, 'channels', 1]);
    expect(result.error!.issues[0]!.message).toContain("no channel named 'pager'");
  });

  it("accepts the README's example, with its secrets taken from the environment", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    const env = {
      DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/9/readme-token',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/readme',
      PAGER_WEBHOOK_URL: 'https://pager.example.com/in',
      PAGER_WEBHOOK_SECRET: 'pager-secret-0123456789',
      SMTP_PASSWORD: 'readme-smtp-password',
      TELEGRAM_BOT_TOKEN: '123456789:AAEreadmereadmereadmereadme',
    };
    const schema = z.object({ agents: z.array(z.object({ id: z.string(), use: z.literal('notifier'), config: notifierConfigSchema })) });
    const config = parseConfig(yaml, { schema, env, format: 'yaml' }).agents[0]!.config;
    expect(Object.keys(config.channels)).toEqual(['ops-discord', 'desk-slack', 'pager', 'mail', 'phone']);
    expect(config.channels['pager']).toMatchObject({ kind: 'webhook', url: env.PAGER_WEBHOOK_URL, secret: env.PAGER_WEBHOOK_SECRET });
    expect(config.channels['mail']).toMatchObject({ kind: 'email', password: env.SMTP_PASSWORD, quietHours: { timeZone: 'Europe/Berlin', minLevel: 'critical' } });
    expect(config.routes).toHaveLength(3);
    expect(config.dailySummary).toEqual({ at: '20:00', channels: ['desk-slack', 'mail'] });
    expect(secretValuesOf(notifierConfigSchema, config)).toEqual(expect.arrayContaining(Object.values(env)));
  });
});

describe('live settings', () => {
  it('routes and the de-duplication window change while running; channels need a restart', async () => {
    const t = await setup(['a', 'b'], () => ({ routes: [{ channels: ['a'], minLevel: 'warning' }] }));
    t.bus.publish('system.alert', alert(t.clock, 'FIRST', 'warning'));
    await t.sinks['a']!.waitFor(1);
    const current = t.notifier as unknown as { config: NotifierConfigInput };
    const next = notifierConfigSchema.parse({ ...current.config, routes: [{ channels: ['b'], minLevel: 'warning' }], dedupWindowMs: 0 });
    await t.system.supervisor.get('notifier').reconfigure(next);
    t.bus.publish('system.alert', alert(t.clock, 'SECOND', 'warning'));
    await t.sinks['b']!.waitFor(1);
    await quietFor();
    expect(t.sinks['a']!.received.map((r) => r.json.code)).toEqual(['FIRST']);
    expect(t.sinks['b']!.received.map((r) => r.json.code)).toEqual(['SECOND']);

    const cold = notifierConfigSchema.parse({ ...next, channels: { a: next.channels['a']! } , routes: [{ channels: ['a'], minLevel: 'warning' }] });
    await expect(t.system.supervisor.get('notifier').reconfigure(cold)).rejects.toThrow(/channels\.b cannot change while the agent runs: restart the agent/);
  });
});
