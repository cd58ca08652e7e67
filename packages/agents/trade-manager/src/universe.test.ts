import { describe, expect, it } from 'vitest';
import { builtinEvents, type BuiltinEvents } from '@tradebus/core';
import { UniverseGate, UniverseStateError, universeConfigSchema } from './universe.js';

type Snapshot = BuiltinEvents['market.snapshot'];
type MarketInfo = Snapshot['markets'][number];

const market = (symbol: string, overrides: Partial<MarketInfo> = {}): MarketInfo => {
  const [base, quote] = symbol.split('/') as [string, string];
  return { symbol, base, quote, active: true, tradable: true, reasons: [], ...overrides };
};

/** A snapshot as the market watchdog publishes it, checked against the event's own schema. */
function snapshot(venue: string, markets: MarketInfo[], timestamp = 1_700_000_000_000): Snapshot {
  const universe = markets.filter((m) => m.tradable).map((m) => m.symbol);
  return builtinEvents['market.snapshot'].parse({ timestamp, venue, markets, universe, added: universe, removed: [] });
}

const wide = (symbol: string): MarketInfo => market(symbol, { tradable: false, spreadBps: 45, reasons: ['spread 45 bps above 30'] });

describe('UniverseGate entries', () => {
  it('blocks nothing before the first snapshot, then only symbols outside the latest universe', () => {
    const gate = new UniverseGate({ follow: true });
    expect(gate.entryBlocker('ETH/BTC')).toBeUndefined();
    expect(gate.symbols()).toBeUndefined();
    const first = gate.onSnapshot(snapshot('binance', [market('BTC/USDT'), market('ETH/BTC')]));
    expect(first).toEqual({ added: ['BTC/USDT', 'ETH/BTC'], removed: [] });
    expect(gate.entryBlocker('ETH/BTC')).toBeUndefined();

    const second = gate.onSnapshot(snapshot('binance', [market('BTC/USDT'), wide('ETH/BTC')]));
    expect(second).toEqual({ added: [], removed: ['ETH/BTC'] });
    expect(gate.entryBlocker('ETH/BTC')).toBe('ETH/BTC left the tradable universe of binance (spread 45 bps above 30)');
    expect(gate.entryBlocker('BTC/USDT')).toBeUndefined();
    expect(gate.symbols()).toEqual(['BTC/USDT']);

    // Back in: entries go ahead again, and the change says so.
    expect(gate.onSnapshot(snapshot('binance', [market('BTC/USDT'), market('ETH/BTC')]))).toEqual({ added: ['ETH/BTC'], removed: [] });
    expect(gate.entryBlocker('ETH/BTC')).toBeUndefined();
  });

  it('tells a symbol that was never selected from one that left, and one the watchdog does not watch', () => {
    const gate = new UniverseGate({ follow: true });
    gate.onSnapshot(snapshot('binance', [market('BTC/USDT'), market('DOGE/USDT', { tradable: false, reasons: ['24h quote volume 90000 below 100000', 'spread 40 bps above 30'] })]));
    expect(gate.entryBlocker('DOGE/USDT')).toBe('DOGE/USDT is not in the tradable universe of binance (24h quote volume 90000 below 100000; spread 40 bps above 30)');
    const unwatched = gate.entryBlocker('SOL/USDT');
    expect(unwatched).toMatch(/^SOL\/USDT is not in the tradable universe of binance \(not among the markets the market watchdog watches/);
  });

  it('with follow off blocks nothing, yet keeps the precision', () => {
    const gate = new UniverseGate({ follow: false });
    gate.onSnapshot(snapshot('binance', [wide('ETH/BTC')]));
    expect(gate.entryBlocker('ETH/BTC')).toBeUndefined();
    gate.onSnapshot(snapshot('binance', [{ ...wide('ETH/BTC'), tickSize: 0.000001 }]));
    expect(gate.precision('ETH/BTC')).toEqual({ tickSize: 0.000001 });
  });

  it('follows only its venue when one is configured', () => {
    const gate = new UniverseGate({ follow: true, venue: 'binance' });
    expect(gate.onSnapshot(snapshot('kraken', [wide('ETH/BTC')]))).toEqual({ added: [], removed: [] });
    // A snapshot of another venue is not a first snapshot of this one: nothing is blocked yet.
    expect(gate.entryBlocker('ETH/BTC')).toBeUndefined();
    expect(gate.precision('ETH/BTC')).toBeUndefined();
    gate.onSnapshot(snapshot('binance', [wide('ETH/BTC')]));
    expect(gate.entryBlocker('ETH/BTC')).toContain('of binance');
    gate.onSnapshot(snapshot('kraken', [market('ETH/BTC')]));
    expect(gate.entryBlocker('ETH/BTC')).toContain('of binance');
  });

  it('counts changes against the snapshots it saw, not the watchdog\'s added/removed', () => {
    const gate = new UniverseGate({ follow: true });
    gate.onSnapshot(snapshot('binance', [market('BTC/USDT'), market('ETH/USDT')]));
    // The watchdog says nothing changed (relative to a snapshot this gate missed).
    const s = { ...snapshot('binance', [market('BTC/USDT'), wide('ETH/USDT'), market('SOL/USDT')]), added: [], removed: [] };
    expect(gate.onSnapshot(s)).toEqual({ added: ['SOL/USDT'], removed: ['ETH/USDT'] });
  });
});

describe('UniverseGate precision and margin terms', () => {
  it("gives each market's tick, step, minimums and margin terms, keeps them for a market a later snapshot leaves out, and updates them", () => {
    const gate = new UniverseGate({ follow: true });
    expect(gate.precision('BTC/USDT:USDT')).toBeUndefined();
    gate.onSnapshot(
      snapshot('binance', [
        market('BTC/USDT:USDT', { tickSize: 0.1, stepSize: 0.001, minQuantity: 0.001, minNotional: 5, maxLeverage: 125, maintenanceMarginRate: 0.004 }),
        market('ETH/USDT'),
      ]),
    );
    expect(gate.precision('BTC/USDT:USDT')).toEqual({ tickSize: 0.1, stepSize: 0.001, minQuantity: 0.001, minNotional: 5 });
    expect(gate.marginTerms('BTC/USDT:USDT')).toEqual({ maxLeverage: 125, maintenanceMarginRate: 0.004 });
    // A market described without any rule has none to give.
    expect(gate.precision('ETH/USDT')).toBeUndefined();
    expect(gate.marginTerms('ETH/USDT')).toBeUndefined();
    gate.onSnapshot(snapshot('binance', [market('ETH/USDT')]));
    expect(gate.precision('BTC/USDT:USDT')).toEqual({ tickSize: 0.1, stepSize: 0.001, minQuantity: 0.001, minNotional: 5 });
    gate.onSnapshot(snapshot('binance', [market('BTC/USDT:USDT', { tickSize: 0.5, stepSize: 0.001 })]));
    expect(gate.precision('BTC/USDT:USDT')).toEqual({ tickSize: 0.5, stepSize: 0.001 });
    // The market's latest description replaces the earlier one as a whole.
    expect(gate.marginTerms('BTC/USDT:USDT')).toBeUndefined();
    gate.onSnapshot(snapshot('binance', [market('ETH/USDT:USDT', { initialMarginRate: 0.1, maintenanceMarginRate: 0.01, maxLeverage: 10 })]));
    expect(gate.marginTerms('ETH/USDT:USDT')).toEqual({ maxLeverage: 10, initialMarginRate: 0.1, maintenanceMarginRate: 0.01 });
    expect(gate.precision('ETH/USDT:USDT')).toBeUndefined();
    // The caller's copy cannot change the gate.
    gate.precision('BTC/USDT:USDT')!.tickSize = 7;
    expect(gate.precision('BTC/USDT:USDT')?.tickSize).toBe(0.5);
  });
});

describe('UniverseGate persistence', () => {
  it('restores the universe, reasons and precision from plain data that survives JSON', () => {
    const gate = new UniverseGate({ follow: true, venue: 'binance' });
    gate.onSnapshot(snapshot('binance', [market('BTC/USDT', { tickSize: 0.01 }), market('ETH/BTC')]));
    gate.onSnapshot(snapshot('binance', [market('BTC/USDT', { tickSize: 0.01 }), wide('ETH/BTC'), market('BTC/USDT:USDT', { maxLeverage: 20, maintenanceMarginRate: 0.005 })], 1_700_000_060_000));
    const data = JSON.parse(JSON.stringify(gate.snapshot())) as unknown;
    const restored = UniverseGate.restore(data, { follow: true, venue: 'binance' });
    expect(restored.snapshot()).toEqual(gate.snapshot());
    expect(restored.entryBlocker('ETH/BTC')).toBe(gate.entryBlocker('ETH/BTC'));
    expect(restored.entryBlocker('ETH/BTC')).toContain('left the tradable universe');
    expect(restored.precision('BTC/USDT')).toEqual({ tickSize: 0.01 });
    expect(restored.marginTerms('BTC/USDT:USDT')).toEqual({ maxLeverage: 20, maintenanceMarginRate: 0.005 });
    expect(restored.snapshot().timestamp).toBe(1_700_000_060_000);
    // The next snapshot's changes are counted from the restored universe.
    expect(restored.onSnapshot(snapshot('binance', [market('BTC/USDT'), market('ETH/BTC')]))).toEqual({ added: ['ETH/BTC'], removed: ['BTC/USDT:USDT'] });
  });

  it('under the options in force: follow turned off blocks nothing, another venue waits for its own snapshot', () => {
    const gate = new UniverseGate({ follow: true, venue: 'binance' });
    gate.onSnapshot(snapshot('binance', [wide('ETH/BTC'), market('BTC/USDT', { stepSize: 0.0001 })]));
    const data = gate.snapshot();
    expect(UniverseGate.restore(data, { follow: false }).entryBlocker('ETH/BTC')).toBeUndefined();
    const moved = UniverseGate.restore(data, { follow: true, venue: 'kraken' });
    expect(moved.entryBlocker('ETH/BTC')).toBeUndefined();
    expect(moved.symbols()).toBeUndefined();
    expect(moved.precision('BTC/USDT')).toEqual({ stepSize: 0.0001 });
  });

  it('a gate that never saw a snapshot restores as one that blocks nothing', () => {
    const restored = UniverseGate.restore(new UniverseGate({ follow: true }).snapshot(), { follow: true });
    expect(restored.entryBlocker('ETH/BTC')).toBeUndefined();
    expect(restored.symbols()).toBeUndefined();
  });

  it('refuses unreadable data with a coded error that says what to do', () => {
    for (const bad of [undefined, { version: 2 }, { version: 1, reasons: {}, everIn: [], terms: { 'BTC/USDT': { tickSize: -1 } } }]) {
      const attempt = () => UniverseGate.restore(bad, { follow: true });
      expect(attempt).toThrow(UniverseStateError);
      try {
        attempt();
      } catch (err) {
        expect((err as UniverseStateError).code).toBe('UNIVERSE_STATE');
        expect((err as Error).message).toContain('start from an empty gate');
        expect((err as Error).cause).toBeDefined();
      }
    }
  });
});

describe('universeConfigSchema', () => {
  it('defaults to not following, takes a venue, and names an unknown key', () => {
    expect(universeConfigSchema.parse(undefined)).toEqual({ follow: false });
    expect(universeConfigSchema.parse({ follow: true, venue: 'binance' })).toEqual({ follow: true, venue: 'binance' });
    const typo = universeConfigSchema.safeParse({ folow: true });
    expect(typo.success).toBe(false);
    expect(JSON.stringify(typo.error?.issues)).toContain('folow');
    expect(universeConfigSchema.description).toBeDefined();
  });
});
