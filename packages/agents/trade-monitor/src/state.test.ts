import { describe, expect, it } from 'vitest';
import type { BuiltinEvents, Envelope } from '@tradebus/core';
import { tradeMonitorConfigSchema } from './config.js';
import { dashboardSnapshotSchema } from './snapshot.js';
import { MonitorState } from './state.js';

type E = BuiltinEvents;
let seq = 0;
function env<K extends keyof E & string>(type: K, payload: E[K], ts = 1_000 + seq, id?: string): Envelope<K, E[K]> {
  seq++;
  return { id: id ?? `ev-${String(seq).padStart(6, '0')}`, type, source: 'test', ts, seq, payload };
}

function state(overrides: Record<string, unknown> = {}): MonitorState {
  return new MonitorState(tradeMonitorConfigSchema.parse(overrides));
}

const FIVE_MIN = 300_000;
function candle(symbol: string, i: number, close = 100 + i, timeframe = '5m'): E['candle.closed'] {
  return { symbol, timeframe, timestamp: i * FIVE_MIN, open: close - 1, high: close + 1, low: close - 2, close, volume: 10 + i };
}

function heartbeat(agentId: string, status: E['agent.heartbeat']['status'] = 'running', extra: Partial<E['agent.heartbeat']> = {}): E['agent.heartbeat'] {
  return { agentId, kind: agentId, status, uptimeMs: 1_000, errors: 0, eventsIn: 1, eventsOut: 2, pid: 1, host: 'h', transport: 'local', intervalMs: 1_000, timestamp: 0, ...extra };
}

describe('MonitorState', () => {
  it('keeps closed bars per symbol in time order, replacing a bar with the same open time and capping the oldest', () => {
    const s = state({ buffers: { candles: 10 } });
    for (const i of [1, 2, 3, 5, 4]) s.apply(env('candle.closed', candle('BTC/USDT', i)), 0);
    s.apply(env('candle.closed', candle('BTC/USDT', 3, 999)), 0);
    let bars = s.snapshot(0).charts[0]!.candles;
    expect(bars.map((b) => b.time / FIVE_MIN)).toEqual([1, 2, 3, 4, 5]);
    expect(bars[2]!.close).toBe(999);
    for (let i = 6; i <= 14; i++) s.apply(env('candle.closed', candle('BTC/USDT', i)), 0);
    bars = s.snapshot(0).charts[0]!.candles;
    expect(bars).toHaveLength(10);
    expect(bars[0]!.time).toBe(5 * FIVE_MIN);
    // Older than everything kept while full: not kept.
    s.apply(env('candle.closed', candle('BTC/USDT', 0)), 0);
    expect(s.snapshot(0).charts[0]!.candles[0]!.time).toBe(5 * FIVE_MIN);
  });

  it('charts the configured symbols and timeframe only, in the configured order', () => {
    const s = state({ symbols: ['ETH/USDT', 'BTC/USDT'], timeframe: '5m' });
    s.apply(env('candle.closed', candle('BTC/USDT', 1)), 0);
    s.apply(env('candle.closed', candle('XRP/USDT', 1)), 0);
    s.apply(env('candle.closed', candle('ETH/USDT', 1, 50, '1m')), 0);
    s.apply(env('candle.closed', candle('ETH/USDT', 1, 50)), 0);
    const charts = s.snapshot(0).charts;
    expect(charts.map((c) => [c.symbol, c.timeframe, c.candles.length])).toEqual([
      ['ETH/USDT', '5m', 1],
      ['BTC/USDT', '5m', 1],
    ]);
  });

  it('charts the first timeframe seen per symbol, up to maxCharts, and counts new charts', () => {
    const s = state({ maxCharts: 2 });
    s.apply(env('candle.closed', candle('A/USDT', 1, 10, '1m')), 0);
    expect(s.chartsVersion).toBe(1);
    s.apply(env('candle.closed', candle('A/USDT', 2, 10, '1h')), 0);
    s.apply(env('candle.closed', candle('B/USDT', 1)), 0);
    s.apply(env('candle.closed', candle('C/USDT', 1)), 0);
    expect(s.chartsVersion).toBe(2);
    expect(s.snapshot(0).charts.map((c) => `${c.symbol} ${c.timeframe} ${c.candles.length}`)).toEqual(['A/USDT 1m 1', 'B/USDT 5m 1']);
  });

  it('shows the forming bar from candle.updated until the bar closes', () => {
    const s = state();
    s.apply(env('candle.closed', candle('BTC/USDT', 1)), 0);
    s.apply(env('candle.updated', candle('BTC/USDT', 2, 150)), 0);
    expect(s.snapshot(0).charts[0]!.forming?.close).toBe(150);
    s.apply(env('candle.closed', candle('BTC/USDT', 2, 151)), 0);
    const chart = s.snapshot(0).charts[0]!;
    expect(chart.forming).toBeUndefined();
    expect(chart.candles.at(-1)!.close).toBe(151);
  });

  it('turns trade.opened into an open trade and trade.closed into a closed one, ignoring a late trade.opened', () => {
    const s = state();
    s.apply(env('trade.opened', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, stopLoss: 95, takeProfit: 110, strategyId: 'x', fees: 0.1, openedAt: 10 }), 0);
    expect(s.snapshot(0).trades).toMatchObject([{ tradeId: 't1', status: 'open', stopLoss: 95 }]);
    const closed = env('trade.closed', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, exitPrice: 110, pnl: 9.8, pnlPct: 9.8, fees: 0.2, exitReason: 'take_profit', openedAt: 10, closedAt: 20 });
    s.apply(closed, 0);
    s.apply(env('trade.opened', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, fees: 0.1, openedAt: 10 }), 0);
    expect(s.snapshot(0).trades).toMatchObject([{ tradeId: 't1', status: 'closed', exitPrice: 110, pnl: 9.8, stopLoss: 95, takeProfit: 110, strategyId: 'x' }]);
    expect(s.apply(closed, 0)).toBe(false);
  });

  it('drops the oldest closed trades first when the trade buffer is full', () => {
    const s = state({ buffers: { trades: 10 } });
    s.apply(env('trade.opened', { tradeId: 'open-1', symbol: 'A', side: 'short', quantity: 1, entryPrice: 1, fees: 0, openedAt: 1 }), 0);
    for (let i = 0; i < 12; i++) {
      s.apply(env('trade.closed', { tradeId: `c${i}`, symbol: 'A', side: 'long', quantity: 1, entryPrice: 1, exitPrice: 1, pnl: 0, pnlPct: 0, fees: 0, exitReason: 'x', openedAt: 100 + i, closedAt: 200 + i }), 0);
    }
    const ids = s.snapshot(0).trades.map((t) => t.tradeId);
    expect(ids).toHaveLength(10);
    expect(ids).toContain('open-1');
    expect(ids).not.toContain('c0');
    expect(ids[0]).toBe('c11');
  });

  it('keeps open positions by symbol, removes flat ones and ignores updates older than the latest', () => {
    const s = state();
    const pos = (side: 'long' | 'flat', quantity: number, timestamp: number): E['position.updated'] => ({ symbol: 'BTC/USDT', side, quantity, entryPrice: 100, markPrice: 101, unrealizedPnl: 1, realizedPnl: 0, timestamp });
    s.apply(env('position.updated', pos('long', 2, 10)), 0);
    expect(s.snapshot(0).positions).toMatchObject([{ symbol: 'BTC/USDT', quantity: 2 }]);
    s.apply(env('position.updated', pos('flat', 0, 20)), 0);
    expect(s.snapshot(0).positions).toEqual([]);
    s.apply(env('position.updated', pos('long', 2, 15)), 0);
    expect(s.snapshot(0).positions).toEqual([]);
  });

  it('lists working orders only, and a finished order never comes back', () => {
    const s = state();
    const order = (status: E['order.updated']['status'], timestamp: number, id = 'o1'): E['order.updated'] => ({
      clientOrderId: id, symbol: 'BTC/USDT', side: 'buy', type: 'limit', status, quantity: 1, filledQuantity: 0, price: 99, purpose: 'entry', fills: [], fee: 0, timestamp,
    });
    s.apply(env('order.updated', order('accepted', 10)), 0);
    s.apply(env('order.updated', order('submitted', 5)), 0);
    s.apply(env('order.updated', order('accepted', 11, 'o2')), 0);
    expect(s.snapshot(0).orders.map((o) => [o.clientOrderId, o.status])).toEqual([
      ['o2', 'accepted'],
      ['o1', 'accepted'],
    ]);
    s.apply(env('order.updated', order('filled', 20)), 0);
    s.apply(env('order.updated', order('partially_filled', 30)), 0);
    expect(s.snapshot(0).orders.map((o) => o.clientOrderId)).toEqual(['o2']);
  });

  it('keeps the latest account and an equity curve in time order', () => {
    const s = state();
    const account = (equity: number, timestamp: number): E['account.updated'] => ({ venue: 'paper', quoteCurrency: 'USDT', equity, balances: [], timestamp });
    s.apply(env('account.updated', account(100, 10)), 0);
    s.apply(env('account.updated', account(105, 30)), 0);
    s.apply(env('account.updated', account(102, 20)), 0);
    s.apply(env('account.updated', account(106, 30)), 0);
    const snap = s.snapshot(0);
    expect(snap.account).toMatchObject({ equity: 106, timestamp: 30 });
    expect(snap.quoteCurrency).toBe('USDT');
    expect(snap.equity).toEqual([
      { time: 10, equity: 100 },
      { time: 20, equity: 102 },
      { time: 30, equity: 106 },
    ]);
  });

  it('keeps the latest risk state and the newest alerts first', () => {
    const s = state({ buffers: { alerts: 2 } });
    const risk = (killSwitch: boolean, timestamp: number): E['risk.state'] => ({ killSwitch, reducingOnly: false, breakers: [{ name: 'daily-loss', tripped: killSwitch }], equity: 1, peakEquity: 1, drawdownPct: 0, dailyPnl: 0, openPositions: 0, exposure: 0, heat: 0, timestamp });
    s.apply(env('risk.state', risk(true, 20)), 0);
    s.apply(env('risk.state', risk(false, 10)), 0);
    expect(s.snapshot(0).risk).toMatchObject({ killSwitch: true, breakers: [{ name: 'daily-loss', tripped: true }] });
    for (const [code, timestamp] of [['A', 1], ['C', 3], ['B', 2]] as const) s.apply(env('system.alert', { level: 'error', code, message: code, timestamp }), 0);
    expect(s.snapshot(0).alerts.map((a) => a.code)).toEqual(['C', 'B']);
  });

  it('keeps a bounded, time-ordered list of recent events without duplicates or heartbeats, counting every type', () => {
    const s = state({ buffers: { events: 10 } });
    for (let i = 0; i < 12; i++) s.apply(env('price.tick', { symbol: 'X', price: i, timestamp: i }, 1_000 + i * 10), 0);
    const late = env('price.tick', { symbol: 'X', price: -1, timestamp: 0 }, 1_095);
    expect(s.apply(late, 0)).toBe(true);
    expect(s.apply(late, 0)).toBe(false);
    s.apply(env('agent.heartbeat', heartbeat('a')), 0);
    const snap = s.snapshot(0);
    expect(snap.events).toHaveLength(10);
    expect(snap.events.map((e) => e.ts)).toEqual([1_030, 1_040, 1_050, 1_060, 1_070, 1_080, 1_090, 1_095, 1_100, 1_110]);
    expect(snap.eventTypes).toEqual({ 'price.tick': 13, 'agent.heartbeat': 1 });
  });

  it('derives agent health from heartbeats: ok, degraded, down after missed heartbeats, failed and stopped', () => {
    const s = state({ missedHeartbeats: 3 });
    s.apply(env('agent.heartbeat', heartbeat('a')), 1_000);
    s.apply(env('agent.heartbeat', heartbeat('b', 'degraded', { detail: 'feed stale', lastError: 'boom', errors: 2 })), 1_000);
    s.apply(env('agent.heartbeat', heartbeat('c')), 1_000);
    s.apply(env('agent.status', { agentId: 'c', kind: 'c', from: 'running', to: 'stopped', timestamp: 0 }), 1_500);
    let health = s.health(3_000);
    expect(health.agents.map((a) => [a.agentId, a.status, a.heartbeatAgeMs])).toEqual([
      ['a', 'ok', 2_000],
      ['b', 'degraded', 2_000],
      ['c', 'stopped', 1_500],
    ]);
    expect(health.agents[1]).toMatchObject({ detail: 'feed stale', lastError: 'boom', errors: 2 });
    expect(health.status).toBe('degraded');
    health = s.health(4_001);
    expect(health.agents.map((a) => a.status)).toEqual(['down', 'down', 'stopped']);
    expect(health.status).toBe('down');
    s.apply(env('agent.heartbeat', heartbeat('a')), 4_100);
    s.apply(env('agent.heartbeat', heartbeat('b', 'failed')), 4_100);
    expect(s.health(4_200).agents.map((a) => a.status)).toEqual(['ok', 'failed', 'stopped']);
    expect(s.health(4_200).status).toBe('degraded');
  });

  it('produces a snapshot that the report schema accepts unchanged', () => {
    const s = state();
    s.apply(env('candle.closed', candle('BTC/USDT', 1)), 0);
    s.apply(env('agent.heartbeat', heartbeat('a')), 0);
    s.apply(env('trade.opened', { tradeId: 't1', symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, fees: 0, openedAt: 10 }), 0);
    s.apply(env('account.updated', { venue: 'v', quoteCurrency: 'USDT', equity: 10, balances: [{ asset: 'USDT', free: 10, used: 0, total: 10 }], timestamp: 5 }), 0);
    const snap = s.snapshot(42);
    expect(dashboardSnapshotSchema.parse(JSON.parse(JSON.stringify(snap)))).toEqual(snap);
  });
});
