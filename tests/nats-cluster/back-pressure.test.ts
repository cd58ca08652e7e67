import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus, EventCatalogue, NatsTransport, WallClock, builtinEvents, type BuiltinEvents } from '@tradebus/core';
import { NatsServer } from '@tradebus/core/testing';

// A subscriber that stops reading for 10 s (its process frozen with SIGSTOP, as a long GC pause or
// a blocked event loop would): the server cuts it off as a slow consumer. Plain events sent
// meanwhile are lost; durable ones wait in JetStream and all arrive, once, when it reads again.
const here = dirname(fileURLToPath(import.meta.url));
const children: ChildProcess[] = [];
const servers: NatsServer[] = [];

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null) continue;
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  for (const s of servers) await s.dispose();
});

interface Report {
  ready?: boolean;
  status?: string;
  ticks?: number;
  lastTick?: number;
  orders?: number;
  orderRepeats?: number;
  reconnects?: number;
}

describe('back-pressure: a subscriber stalled for 10 s', () => {
  it('loses plain events to the slow-consumer cut, keeps every durable one, and says so', async () => {
    // A small outbound buffer per client, so a frozen reader is cut within the test's traffic.
    const server = await NatsServer.start({ config: 'max_payload: 65536\nmax_pending: 262144\nwrite_deadline: "2s"\n' });
    servers.push(server);
    const prefix = `bp${process.pid}`;
    const child = spawn(process.execPath, [join(here, 'fixtures', 'stalled-subscriber.mjs')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NATS_URL: server.url, TRADEBUS_PREFIX: prefix } });
    children.push(child);
    const reports: Report[] = [];
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) reports.push(JSON.parse(line) as Report);
    });
    let errors = '';
    child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
    const until = async (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${errors}\n${JSON.stringify(reports.slice(-5))}\n${server.logs}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const latest = (): Report => [...reports].reverse().find((r) => r.ticks !== undefined) ?? {};
    await until('the subscriber', () => reports.some((r) => r.ready));

    const catalogue = new EventCatalogue(builtinEvents);
    const transport = new NatsTransport({ servers: server.url, catalogue, prefix, name: 'publisher', durable: ['order.*'] });
    await transport.connect();
    const bus = new EventBus<BuiltinEvents>({ transport, catalogue, clock: new WallClock(), source: 'publisher' });

    child.kill('SIGSTOP');
    const stalledAt = Date.now();
    let tick = 0;
    let orders = 0;
    const symbol = 'BTC/USDT'.padEnd(8);
    // 10 s of traffic while it is frozen: ticks in bursts, and an order update every 100 ms.
    while (Date.now() - stalledAt < 10_000) {
      for (let i = 0; i < 400; i++) bus.publish('price.tick', { symbol, price: ++tick, timestamp: Date.now() });
      await bus.publishConfirmed('order.updated', { clientOrderId: `o-${orders++}`, symbol, side: 'buy', type: 'market', status: 'filled', quantity: 1, filledQuantity: 1, fills: [], fee: 0, timestamp: Date.now() });
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGCONT');
    await until('every order update', () => (latest().orders ?? 0) >= orders);
    // A last tick after the stall: plain delivery works again once the subscriber is back.
    const afterStall = tick;
    await until('plain events flowing again', () => {
      bus.publish('price.tick', { symbol, price: ++tick, timestamp: Date.now() });
      return (latest().lastTick ?? 0) > afterStall;
    });
    const last = latest();

    // Kept: every durable event, each handed over once.
    expect(last.orders).toBe(orders);
    expect(last.orderRepeats).toBe(0);
    // Dropped: plain events sent while it was cut off (the server said so in its log).
    expect(last.ticks!).toBeLessThan(tick);
    expect(server.logs).toMatch(/Slow Consumer/i);
    // Noticed: the connection was cut and came back (TRANSPORT_DISCONNECTED / _RECONNECTED alerts in a system).
    expect(last.reconnects!).toBeGreaterThanOrEqual(1);
    expect(reports.some((r) => r.status === 'disconnected')).toBe(true);
    console.log(`back-pressure: ${tick} ticks published, ${last.ticks} received (${tick - last.ticks!} dropped); ${orders} durable order updates, all received once`);
    await transport.close();
    child.kill('SIGTERM');
  }, 60_000);
});
