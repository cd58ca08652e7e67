import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStateStore, VirtualClock, createSystem, type BuiltinEvents, type TradebusSystem } from '@tradebus/core';
import { agent } from './index.js';
import { HttpSink, capturingLogger, type Received } from './test-support/http-sink.js';

const TOKEN = '123456789:AAEexampleexampleexampleexample';
const open: Array<{ system: TradebusSystem; sink: HttpSink }> = [];
afterEach(async () => {
  for (const { system, sink } of open.splice(0)) {
    await system.stop();
    await sink.close();
  }
});

const ok = (result: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, result }) });

/** A loopback Bot API server: getMe, sendMessage, and getUpdates that hands out `updates` once. */
async function botApi(updates: unknown[]) {
  const sink = await HttpSink.start('');
  let pending = [...updates];
  let messageId = 100;
  sink.respond = (req: Received) => {
    if (req.path === `/bot${TOKEN}/getMe`) return ok({ id: 42, is_bot: true, first_name: 'Tradebus', username: 'tradebus_bot' });
    if (req.path === `/bot${TOKEN}/sendMessage`) return ok({ message_id: messageId++, date: Math.floor(Date.now() / 1000), chat: { id: Number(req.json.chat_id), type: 'private' }, text: req.json.text });
    if (req.path === `/bot${TOKEN}/getUpdates`) {
      const offset = req.json?.offset as number | undefined;
      if (offset !== undefined) pending = pending.filter((u) => (u as { update_id: number }).update_id >= offset);
      if (pending.length > 0) return ok(pending);
      return { ...ok([]), delayMs: 50 };
    }
    return { status: 404, body: JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }) };
  };
  return sink;
}

const sent = (sink: HttpSink) => sink.received.filter((r) => r.path.endsWith('/sendMessage')).map((r) => r.json as { chat_id: string; text: string });

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Telegram in the notifier', () => {
  it('delivers routed messages to the chats and answers commands from what the agent saw on the bus', async () => {
    const message = (id: number, text: string) => ({
      update_id: id,
      message: { message_id: id, date: Math.floor(Date.now() / 1000), chat: { id: 1001, type: 'private' }, from: { id: 7, is_bot: false, first_name: 'Op', username: 'op' }, text },
    });
    const sink = await botApi([message(1, '/status'), message(2, '/resume')]);
    const clock = new VirtualClock(Date.UTC(2026, 0, 5, 8, 0, 0));
    const { logger, lines } = capturingLogger();
    const system = createSystem({
      clock,
      logger,
      heartbeatIntervalMs: 3_600_000,
      validateOnPublish: true,
      stateStore: () => new MemoryStateStore(),
      agents: [
        {
          id: 'notifier',
          definition: agent,
          config: { channels: { tg: { kind: 'telegram', token: TOKEN, chatIds: ['1001'], apiRoot: sink.url, commands: { enabled: true, allowedChatIds: ['1001'], pollTimeoutSec: 0 } } } },
        },
      ],
    });
    const commands: BuiltinEvents['risk.command'][] = [];
    const audits: BuiltinEvents['system.alert'][] = [];
    system.bus.subscribe('risk.command', (e) => {
      commands.push(e.payload);
    });
    system.bus.subscribe('system.alert', (e) => {
      if (e.payload.code === 'OPERATOR_COMMAND') audits.push(e.payload);
    });
    await system.start();
    open.push({ system, sink });
    // Published before the Bot API has answered getMe, so /status already knows it.
    system.bus.publish('risk.state', {
      killSwitch: true,
      reducingOnly: false,
      breakers: [{ name: 'daily-loss', tripped: true, reason: 'lost 3% today' }],
      equity: 9_700,
      peakEquity: 10_000,
      drawdownPct: 3,
      dailyPnl: -300,
      openPositions: 1,
      exposure: 2_000,
      heat: 1,
      timestamp: clock.now(),
    });

    await waitUntil(() => commands.length === 1 && sent(sink).some((m) => m.text.includes('Kill switch: ON')));
    const status = sent(sink).find((m) => m.text.includes('Kill switch: ON'))!;
    expect(status.chat_id).toBe('1001');
    expect(status.text).toContain('Breakers tripped: daily-loss');
    expect(status.text).toContain('Equity 9700.00 · drawdown 3.00% · today -300.00');
    // The kill switch and the breaker went on: routed (critical, warning) to the Telegram chat.
    await waitUntil(() => sent(sink).some((m) => m.text.includes('Kill switch engaged')) && sent(sink).some((m) => m.text.includes('Breaker tripped: daily-loss')));
    expect(commands[0]).toMatchObject({ action: 'resume', by: 'telegram:1001' });
    await waitUntil(() => audits.length >= 2);
    expect(audits.map((a) => a.message).join('\n')).toContain('/resume');
    expect(lines.join('')).not.toContain(TOKEN);
  });
});
