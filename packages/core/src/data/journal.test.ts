import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../bus/event-bus.js';
import { LocalTransport } from '../bus/local-transport.js';
import { VirtualClock } from '../clock.js';
import { builtinEvents, type BuiltinEvents } from '../events/builtin.js';
import { EventCatalogue } from '../events/catalogue.js';
import { DataArgumentError } from './errors.js';
import { openDataStore, type DataStore, type DataStoreOptions } from './data-store.js';
import type { JournalEntry } from './repositories.js';

const dirs: string[] = [];
const stores: DataStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(journal: DataStoreOptions['journal'] = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tradebus-journal-'));
  dirs.push(dir);
  const store = await openDataStore({ dir, fsync: 'batch', fsyncIntervalMs: 5, journal });
  stores.push(store);
  const transport = new LocalTransport();
  await transport.connect();
  const clock = new VirtualClock(1_700_000_000_000);
  const catalogue = new EventCatalogue(builtinEvents);
  const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock, source: 'tester' });
  const recorderBus = new EventBus<BuiltinEvents>({ transport, catalogue, clock, source: 'journal' });
  return { dir, store, bus, recorderBus, clock };
}

const tick = (price: number): BuiltinEvents['price.tick'] => ({ symbol: 'BTC/USDT', price, timestamp: 1 });
const alert = (code: string, details?: Record<string, unknown>): BuiltinEvents['system.alert'] => ({
  level: 'warning',
  code,
  message: code,
  details,
  timestamp: 1,
});
const order = (id: string, status: BuiltinEvents['order.updated']['status']): BuiltinEvents['order.updated'] => ({
  clientOrderId: id,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'market',
  status,
  quantity: 1,
  filledQuantity: 0,
  fills: [],
  fee: 0,
  timestamp: 1,
});

describe('EventJournal', () => {
  it('records the selected bus events once each, whole envelope, minus the excluded types', async () => {
    const { store, bus, recorderBus, clock } = await setup();
    // Overlapping patterns must not record an event twice; the configured exclusions apply.
    store.journal.attach(recorderBus, { types: ['order.*', '>'] });
    const first = bus.publish('order.updated', order('o1', 'submitted'));
    clock.advanceBy(10);
    bus.publish('price.tick', tick(1)); // excluded by the default configuration
    bus.publish('agent.heartbeat', {
      agentId: 'a',
      kind: 'k',
      status: 'running',
      uptimeMs: 0,
      errors: 0,
      eventsIn: 0,
      eventsOut: 0,
      pid: 1,
      host: 'h',
      transport: 'local',
      intervalMs: 1000,
      timestamp: 1,
    });
    bus.publish('order.updated', order('o1', 'filled'), { cause: first });
    await store.flush();

    const entries = await store.journal.query({ order: 'asc' });
    expect(entries.map((e) => e.envelope.type)).toEqual(['order.updated', 'order.updated']);
    const [a, b] = entries as [JournalEntry, JournalEntry];
    expect(a.envelope).toEqual({
      id: first.id,
      type: 'order.updated',
      source: 'tester',
      ts: 1_700_000_000_000,
      seq: 1,
      payload: order('o1', 'submitted'),
    });
    expect(b.envelope).toMatchObject({ causationId: first.id, correlationId: first.id, seq: 4, ts: 1_700_000_000_010 });
    expect(b.seq).toBe(a.seq + 1);
    expect(store.journal.stats().recorded).toBe(2);
  });

  it('never writes secrets: fields named like secrets are redacted before they reach the disk', async () => {
    const { dir, store, bus, recorderBus } = await setup();
    store.journal.attach(recorderBus);
    bus.publish('system.alert', alert('LEAK', { apiKey: 'AKIA-very-secret', nested: { password: 'hunter2', keep: 'visible' }, list: [{ token: 't0k3n' }] }));
    await store.flush();
    const [entry] = await store.journal.query({ type: 'system.alert' });
    expect(entry?.envelope.payload).toMatchObject({
      details: { apiKey: '[REDACTED]', nested: { password: '[REDACTED]', keep: 'visible' }, list: [{ token: '[REDACTED]' }] },
    });
    const raw = readdirSync(join(dir, 'journal'))
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => readFileSync(join(dir, 'journal', n), 'utf8'))
      .join('');
    expect(raw).toContain('visible');
    expect(raw).not.toContain('AKIA-very-secret');
    expect(raw).not.toContain('hunter2');
    expect(raw).not.toContain('t0k3n');
  });

  it('queries by type, pattern, time range and limit, newest first by default, and pages by seq', async () => {
    const { store, bus, recorderBus, clock } = await setup({ exclude: [] });
    store.journal.attach(recorderBus, { types: ['order.updated', 'system.alert', 'price.tick'] });
    for (let i = 0; i < 30; i++) {
      clock.advanceBy(1000);
      if (i % 3 === 0) bus.publish('system.alert', alert(`A${i}`));
      else if (i % 3 === 1) bus.publish('order.updated', order(`o${i}`, 'submitted'));
      else bus.publish('price.tick', tick(i));
    }
    await store.flush();
    const t0 = 1_700_000_000_000;

    const latestAlerts = await store.journal.query({ type: 'system.alert', limit: 3 });
    expect(latestAlerts.map((e) => (e.envelope.payload as { code: string }).code)).toEqual(['A27', 'A24', 'A21']);
    const window = await store.journal.query({ types: ['order.*', 'price.tick'], since: t0 + 5000, until: t0 + 9000, order: 'asc' });
    expect(window.map((e) => e.envelope.ts - t0)).toEqual([5000, 6000, 8000, 9000]);
    const pattern = await store.journal.query({ type: 'system.*', order: 'asc', limit: 2 });
    expect(pattern.map((e) => (e.envelope.payload as { code: string }).code)).toEqual(['A0', 'A3']);

    const page1 = await store.journal.query({ limit: 10 });
    const page2 = await store.journal.query({ limit: 10, beforeSeq: page1.at(-1)!.seq });
    expect(page2[0]!.seq).toBe(page1.at(-1)!.seq - 1);
    expect(new Set([...page1, ...page2].map((e) => e.seq)).size).toBe(20);
  });

  it('rejects a bad query naming the field', async () => {
    const { store } = await setup();
    await expect(store.journal.query({ limit: 0 })).rejects.toBeInstanceOf(DataArgumentError);
    await expect(store.journal.query({ type: 'order.>.x' })).rejects.toThrow(/type/);
    await expect(store.journal.query({ order: 'sideways' as 'asc' })).rejects.toThrow(/order/);
  });

  it('replays from a point in time or after a seq, in journal order, across a restart', async () => {
    const { dir, store, bus, recorderBus, clock } = await setup();
    store.journal.attach(recorderBus);
    for (let i = 0; i < 10; i++) {
      clock.advanceBy(1000);
      bus.publish('system.alert', alert(`A${i}`));
    }
    await store.close();
    stores.splice(stores.indexOf(store), 1);

    const reopened = await openDataStore({ dir });
    stores.push(reopened);
    const codes: string[] = [];
    let lastSeq = 0;
    for await (const entry of reopened.journal.replay({ from: 1_700_000_000_000 + 7000 })) {
      codes.push((entry.envelope.payload as { code: string }).code);
      lastSeq = entry.seq;
    }
    expect(codes).toEqual(['A6', 'A7', 'A8', 'A9']);
    await reopened.journal.append({ id: 'x', type: 'system.alert', source: 's', ts: 1_700_000_020_000, seq: 1, payload: alert('LATE') });
    const resumed: string[] = [];
    for await (const entry of reopened.journal.replay({ afterSeq: lastSeq })) resumed.push((entry.envelope.payload as { code: string }).code);
    expect(resumed).toEqual(['LATE']);
  });
});
