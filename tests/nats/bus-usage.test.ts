import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalTransport, silentLogger, type Deliver, type Envelope, type TransportSubscribeOptions, type TransportSubscription } from '@tradebus/core';
import { API_PROCESS_BUS_USAGE, BUILTIN_BUS_USAGE, launchSystem, prepareSystem } from '@tradebus/agent-main';
import type { ReplayProvider } from '@tradebus/providers';

// The NATS permissions `tradebus nats-config` grants come from each agent's declared bus use
// (BUILTIN_BUS_USAGE for the built-in agents). Here every built-in agent runs on replayed real
// candles through the launcher, on a transport that notes who publishes what and who subscribes
// to what: nothing an agent does may be missing from its declaration, or its process would be
// refused by a server that enforces the permissions.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const data = join(root, 'examples', 'data');

/** Every process publishes these (heartbeats, state changes, alerts); they need no declaration. */
const EVERY_PROCESS = ['agent.heartbeat', 'agent.status', 'system.alert'];

class WatchedTransport extends LocalTransport {
  readonly published = new Map<string, Set<string>>();
  readonly subscribed = new Map<string, Set<string>>();

  override publish(envelope: Envelope): void {
    note(this.published, envelope.source, envelope.type);
    super.publish(envelope);
  }

  override subscribe(pattern: string, deliver: Deliver, options: TransportSubscribeOptions = {}): TransportSubscription {
    note(this.subscribed, options.consumer ?? '(process)', pattern);
    return super.subscribe(pattern, deliver, options);
  }
}

function note(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

describe('declared bus use of the built-in agents', () => {
  it('covers everything they publish and subscribe to while trading on replayed candles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradebus-bus-use-'));
    const symbols = '[ETH/BTC, LTC/BTC, XLM/BTC]';
    const file = join(dir, 'tradebus.yaml');
    writeFileSync(
      file,
      `system: { name: bus-use, env: test, clock: market, heartbeatIntervalMs: 3600000 }
log: { level: silent }
data: { dir: ./data, fsync: never }
api: { port: 0 }
providers:
  replay:
    kind: replay
    venue: binance-replay
    speed: max
    warmupBars: 200
    endAt: 2018-01-14T00:00:00Z
    sources:
${['ETH-BTC', 'LTC-BTC', 'XLM-BTC'].map((p) => `      - { type: candles, file: ${join(data, `binance-${p}-5m.csv`)}, symbol: ${p.replace('-', '/')}, timeframe: 5m }`).join('\n')}
  paper: { kind: paper, venue: paper, quoteCurrency: BTC, balances: { BTC: 1 }, symbols: ${symbols} }
agents:
  - { id: prices, use: price-watchdog, config: { provider: replay, symbols: ${symbols}, timeframes: [5m], ticks: true } }
  - { id: market, use: market-watchdog, config: { provider: replay } }
  - id: strategies
    use: strategy-runner
    config:
      provider: replay
      symbols: ${symbols}
      timeframes: [5m]
      strategies: [{ type: ema-cross, id: ema-cross }, { type: rsi-reversion, id: rsi-reversion }]
  - { id: manager, use: trade-manager, config: { equity: { initial: 1 } } }
  - { id: executor, use: trade-executor, config: { provider: paper, mode: paper } }
  - { id: account, use: account-sync, config: { provider: paper, quoteCurrency: BTC } }
  - { id: monitor, use: trade-monitor, config: { port: 0, apiUrl: "http://127.0.0.1:1" } }
  - id: notifier
    use: notifier
    config:
      channels: { hook: { kind: webhook, url: "http://127.0.0.1:1/hook", secret: "0123456789abcdef0123", retry: { maxAttempts: 1 } } }
      dailySummary: { at: "00:00", channels: [hook] }
`,
    );
    const transport = new WatchedTransport();
    const prepared = await prepareSystem(file);
    const running = await launchSystem(prepared, { transport, logger: silentLogger() });
    try {
      await running.system.services.get<ReplayProvider>('provider:replay').done;
    } finally {
      await running.stop();
    }

    // The run did trade: orders went out and came back, so the trading paths were exercised.
    expect(transport.published.get('manager')).toContain('order.requested');
    expect(transport.published.get('executor')).toContain('order.updated');
    const kinds = Object.fromEntries(prepared.agents.map((a) => [a.entry.id, a.definition.kind]));
    for (const [id, kind] of Object.entries(kinds)) {
      const declared = BUILTIN_BUS_USAGE[kind];
      expect(declared, kind).toBeDefined();
      const published = [...(transport.published.get(id) ?? [])].filter((t) => !EVERY_PROCESS.includes(t));
      expect(published.filter((t) => !(declared!.publishes ?? []).includes(t)), `${id} (${kind}) publishes undeclared`).toEqual([]);
      const subscribed = [...(transport.subscribed.get(id) ?? [])];
      expect(subscribed.filter((p) => !(declared!.subscribes ?? []).includes(p)), `${id} (${kind}) subscribes undeclared`).toEqual([]);
    }
    // What the launcher's own parts publish (supervisor, health monitor, API) is the API process's extra.
    const processWide = [...transport.published.entries()].filter(([source]) => kinds[source] === undefined).flatMap(([, types]) => [...types]);
    expect(processWide.filter((t) => !EVERY_PROCESS.includes(t) && !(API_PROCESS_BUS_USAGE.publishes ?? []).includes(t))).toEqual([]);
  }, 120_000);
});
