import { EventEmitter } from 'eventemitter3';
import { EventBus, EventCatalogue, LocalTransport, WallClock, builtinEvents, type BuiltinEvents } from '@tradebus/core';
import { bestRate, type BenchModule, type BenchResult } from './types.js';

const EVENTS = 2_000_000;
const ROUNDS = 7;
const payload: BuiltinEvents['price.tick'] = { symbol: 'BTC/USDT', price: 42_000.5, bid: 42_000, ask: 42_001, volume: 0.25, timestamp: 1_700_000_000_000 };

function rawRate(subscribers: number): number {
  const emitter = new EventEmitter();
  let sum = 0;
  for (let s = 0; s < subscribers; s++) emitter.on('price.tick', (p: typeof payload) => void (sum += p.price));
  const start = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) emitter.emit('price.tick', payload);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sum === 0) throw new Error('raw handlers did not run');
  return EVENTS / seconds;
}

function busRate(subscribers: number): number {
  const transport = new LocalTransport();
  void transport.connect();
  const common = { transport, catalogue: new EventCatalogue(builtinEvents), clock: new WallClock() };
  const publisher = new EventBus<BuiltinEvents>({ ...common, source: 'bench-publisher' });
  const consumer = new EventBus<BuiltinEvents>({ ...common, source: 'bench-consumer' });
  let sum = 0;
  for (let s = 0; s < subscribers; s++) consumer.subscribe('price.tick', (e) => void (sum += e.payload.price));
  const start = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) publisher.publish('price.tick', payload);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sum === 0 || consumer.stats.eventsIn !== EVENTS * subscribers) throw new Error('bus handlers did not run');
  return EVENTS / seconds;
}

const bench: BenchModule = {
  title: 'Event bus (in-process)',
  target: '≥ 0.5× raw eventemitter3 with 1 subscriber, envelope included',
  description:
    'Publish → deliver throughput on LocalTransport against raw eventemitter3 emitting the same `price.tick` payload object. ' +
    'Each Tradebus publish builds a full envelope (sortable id, source, clock timestamp, per-source sequence) and runs every handler ' +
    'behind the error guard that counts events and failures per agent. Best of ' + ROUNDS + ' rounds of ' + EVENTS.toLocaleString('en') + ' events, rounds interleaved.',
  async run(): Promise<BenchResult[]> {
    const results: BenchResult[] = [];
    for (const subs of [1, 10]) {
      // Warm both paths so the JIT has compiled them before measuring.
      rawRate(subs);
      busRate(subs);
      let raw = 0;
      let ours = 0;
      for (let r = 0; r < ROUNDS; r++) {
        raw = Math.max(raw, bestRate(1, () => rawRate(subs)));
        ours = Math.max(ours, bestRate(1, () => busRate(subs)));
      }
      results.push({
        name: `publish→deliver, ${subs} subscriber${subs > 1 ? 's' : ''}`,
        ours,
        peer: raw,
        peerName: 'eventemitter3 (raw emit)',
        unit: 'events/s',
        ratio: ours / raw,
      });
    }
    return results;
  },
};

export default bench;
