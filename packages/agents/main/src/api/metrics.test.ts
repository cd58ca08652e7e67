import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_STORE_SERVICE, createSystem, openDataStore, type BuiltinEvents, type DataStore, type TradebusSystem } from '@tradebus/core';
import { SystemMetrics } from './metrics.js';

let system: TradebusSystem;
let metrics: SystemMetrics;

beforeEach(async () => {
  system = createSystem({ agents: [] });
  await system.start();
  metrics = new SystemMetrics(system);
  metrics.start();
});

afterEach(async () => {
  metrics.stop();
  await system.stop();
});

/** The value of one series in the text exposition, undefined when it is not there. */
async function value(series: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const riskState: BuiltinEvents['risk.state'] = {
  killSwitch: true,
  reducingOnly: false,
  breakers: [
    { name: 'daily_loss', tripped: true, reason: 'lost 3.1% today' },
    { name: 'consecutive_losses', tripped: false },
  ],
  equity: 970,
  peakEquity: 1_000,
  drawdownPct: 3,
  dailyPnl: -31.5,
  openPositions: 1,
  exposure: 200,
  heat: 1,
  sizeMultiplier: 0.5,
  marginUse: 42.5,
  timestamp: 1,
};

function update(over: Partial<BuiltinEvents['order.updated']>): BuiltinEvents['order.updated'] {
  return { clientOrderId: 'o1', symbol: 'ETH/BTC', side: 'buy', type: 'market', status: 'filled', quantity: 1, filledQuantity: 1, fills: [], fee: 0, timestamp: 2, ...over };
}

function fill(price: number, tradeId = `f${price}`): BuiltinEvents['order.updated']['fills'][number] {
  return { tradeId, price, quantity: 1, fee: 0, feeCurrency: 'BTC', liquidity: 'taker', timestamp: 2 };
}

describe('metrics of the risk state', () => {
  it('exports the kill switch, daily P&L, each breaker, margin use and the entry size of the last risk.state', async () => {
    system.bus.publish('risk.state', riskState);
    expect(await value('tradebus_kill_switch')).toBe(1);
    expect(await value('tradebus_reducing_only')).toBe(0);
    expect(await value('tradebus_daily_pnl')).toBe(-31.5);
    expect(await value('tradebus_drawdown_percent')).toBe(3);
    expect(await value('tradebus_breaker_tripped{breaker="daily_loss"}')).toBe(1);
    expect(await value('tradebus_breaker_tripped{breaker="consecutive_losses"}')).toBe(0);
    expect(await value('tradebus_margin_use_percent')).toBe(42.5);
    expect(await value('tradebus_size_multiplier')).toBe(0.5);
    system.bus.publish('risk.state', { ...riskState, killSwitch: false, breakers: [{ name: 'daily_loss', tripped: false }] });
    expect(await value('tradebus_kill_switch')).toBe(0);
    expect(await value('tradebus_breaker_tripped{breaker="daily_loss"}')).toBe(0);
  });
});

describe('slippage of the last fill', () => {
  // Adverse slippage in bps, from its definition: (fill − reference) / reference × 10⁴, negated for sells.
  const bps = (side: 'buy' | 'sell', reference: number, price: number) => (side === 'buy' ? 1 : -1) * ((price - reference) / reference) * 10_000;

  it("measures a market order against the last price seen when it was requested, a limit order against its limit", async () => {
    system.bus.publish('candle.closed', { symbol: 'ETH/BTC', timeframe: '5m', timestamp: 0, open: 0.05, high: 0.05, low: 0.05, close: 0.05, volume: 1 });
    system.bus.publish('order.requested', { clientOrderId: 'm1', symbol: 'ETH/BTC', side: 'buy', type: 'market', quantity: 1, reduceOnly: false, purpose: 'entry', timestamp: 1 });
    // The market moved after the request: the reference stays what it was then.
    system.bus.publish('price.tick', { symbol: 'ETH/BTC', price: 0.0502, timestamp: 1 });
    system.bus.publish('order.updated', update({ clientOrderId: 'm1', fills: [fill(0.05004)] }));
    expect(await value('tradebus_fill_slippage_bps{symbol="ETH/BTC"}')).toBeCloseTo(bps('buy', 0.05, 0.05004), 9);

    system.bus.publish('order.requested', { clientOrderId: 'l1', symbol: 'ETH/BTC', side: 'sell', type: 'limit', price: 0.051, quantity: 2, reduceOnly: true, purpose: 'take_profit', timestamp: 3 });
    system.bus.publish('order.updated', update({ clientOrderId: 'l1', side: 'sell', type: 'limit', price: 0.051, quantity: 2, filledQuantity: 1, status: 'partially_filled', fills: [fill(0.0509), fill(0.05095, 'g')] }));
    // The last fill of the update counts, and a sell filled below its reference is worse.
    expect(await value('tradebus_fill_slippage_bps{symbol="ETH/BTC"}')).toBeCloseTo(bps('sell', 0.051, 0.05095), 9);
    expect(bps('sell', 0.051, 0.05095)).toBeGreaterThan(0);
  });

  it('leaves restated updates alone', async () => {
    system.bus.publish('order.updated', update({ clientOrderId: 'r1', price: 100, type: 'limit', fills: [fill(90)], restated: true }));
    expect(await value('tradebus_fill_slippage_bps{symbol="ETH/BTC"}')).toBeUndefined();
  });
});

describe('rejected orders and feeds', () => {
  it('counts each rejected order once, however often it is told', async () => {
    const rejected = update({ clientOrderId: 'x1', status: 'rejected', filledQuantity: 0, reason: 'insufficient balance' });
    system.bus.publish('order.updated', rejected);
    system.bus.publish('order.updated', rejected);
    system.bus.publish('order.updated', { ...rejected, restated: true });
    system.bus.publish('order.updated', { ...rejected, clientOrderId: 'x2', symbol: 'LTC/BTC' });
    expect(await value('tradebus_orders_rejected_total{symbol="ETH/BTC"}')).toBe(1);
    expect(await value('tradebus_orders_rejected_total{symbol="LTC/BTC"}')).toBe(1);
  });

  it("follows the price watchdog's feed alerts", async () => {
    const alert = (code: string) => system.bus.publish('system.alert', { level: 'warning', code, message: code, details: { feed: 'ETH/BTC@5m' }, timestamp: 1 });
    alert('FEED_STALE');
    alert('FEED_DISCONNECTED');
    expect(await value('tradebus_feed_stale{feed="ETH/BTC@5m"}')).toBe(1);
    expect(await value('tradebus_feed_disconnected{feed="ETH/BTC@5m"}')).toBe(1);
    alert('FEED_RECOVERED');
    alert('FEED_RECONNECTED');
    expect(await value('tradebus_feed_stale{feed="ETH/BTC@5m"}')).toBe(0);
    expect(await value('tradebus_feed_disconnected{feed="ETH/BTC@5m"}')).toBe(0);
  });
});

describe('data layer', () => {
  it("exports the store's backlog and journal counts", async () => {
    const store: DataStore = await openDataStore({ dir: mkdtempSync(join(tmpdir(), 'tradebus-metrics-')), fsync: 'never' });
    const withStore = createSystem({ agents: [], services: { [DATA_STORE_SERVICE]: store } });
    await withStore.start();
    const m = new SystemMetrics(withStore);
    try {
      const text = await m.registry.metrics();
      const stats = store.stats();
      expect(text).toContain(`tradebus_journal_records ${stats.journal.records}`);
      expect(text).toContain(`tradebus_journal_failed_records 0`);
      expect(text).toMatch(/^tradebus_data_backlog_bytes \d+$/m);
    } finally {
      await withStore.stop();
      await store.close();
    }
  });
});

describe('metrics of sharded agents', () => {
  it('gives every instance of an agent its own series, so two instances do not overwrite each other', async () => {
    const heartbeat = (instance: string, eventsIn: number): BuiltinEvents['agent.heartbeat'] => ({
      agentId: 'strategies',
      kind: 'strategy-runner',
      status: 'running',
      uptimeMs: 1_000,
      errors: 0,
      eventsIn,
      eventsOut: 0,
      pid: 1,
      host: 'h',
      transport: 'local',
      intervalMs: 5_000,
      instance,
      timestamp: 1,
    });
    system.bus.publish('agent.heartbeat', heartbeat('a', 10));
    system.bus.publish('agent.heartbeat', heartbeat('b', 32));
    await new Promise((r) => setImmediate(r));
    expect(await value('tradebus_agent_events_in{agent="strategies",instance="a"}')).toBe(10);
    expect(await value('tradebus_agent_events_in{agent="strategies",instance="b"}')).toBe(32);
    expect(await value('tradebus_agent_up{agent="strategies",kind="strategy-runner",instance="b"}')).toBe(1);
  });
});
