// Child process of crash.test.ts: writes orders, trades, journal events and agent state as fast
// as it can and prints one line per acknowledged write, until it is killed with SIGKILL.
// Usage: node crash-writer.fixture.mjs <dir> <fsync policy> <round>
// The data layer alone: it starts faster than the whole core, which keeps the twenty rounds short.
import { openDataStore } from '../../dist/data/index.js';

const [dir, fsync, round] = process.argv.slice(2);
const store = await openDataStore({
  dir,
  fsync,
  fsyncIntervalMs: 10,
  // Small segments so that kills also land in the middle of rotations.
  maxSegmentBytes: 32 * 1024,
  blockBytes: 4096,
  journal: { maxSegmentBytes: 32 * 1024 },
  // A small state log: kills also land while a new generation (snapshot + log) is started.
  stateCompactBytes: 16 * 1024,
});
const state = store.stateStore('crash-writer');
const ack = (line) => process.stdout.write(`${line}\n`);
const order = (id, status, ts, fills) => ({
  clientOrderId: id,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  status,
  quantity: 1,
  filledQuantity: fills.length,
  price: 100,
  fills,
  fee: 0.01 * fills.length,
  timestamp: ts,
});

/** Keeps `window` writes of one kind in flight at all times. */
async function flood(window, write) {
  const inflight = new Set();
  for (let n = 1; ; n++) {
    const p = write(n);
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= window) await Promise.race(inflight);
  }
}

process.stdout.write('ready\n');
await Promise.all([
  flood(16, (n) => {
    // Odd: a new order; even: the fill of the order before it.
    const ts = Date.now();
    if (n % 2 === 1) return store.orders.upsert(order(`r${round}-${n}`, 'accepted', ts, [])).then(() => ack(`O r${round}-${n}`));
    const id = `r${round}-${n - 1}`;
    const fill = { tradeId: `f-${id}`, price: 100, quantity: 1, fee: 0.01, feeCurrency: 'USDT', liquidity: 'maker', timestamp: ts };
    return store.orders.upsert(order(id, 'filled', ts + 1, [fill])).then(() => ack(`F ${id}`));
  }),
  flood(16, (n) => {
    const ts = Date.now();
    const tradeId = `r${round}-${n}`;
    return store.trades
      .append({ tradeId, symbol: 'BTC/USDT', side: 'long', quantity: 1, entryPrice: 100, exitPrice: 101, pnl: 1, pnlPct: 1, fees: 0.02, exitReason: 'tp', openedAt: ts - 1000, closedAt: ts })
      .then(() => ack(`T ${tradeId}`));
  }),
  flood(32, (n) => {
    const ts = Date.now();
    const id = `r${round}-${n}`;
    return store.journal
      .append({ id, type: 'system.alert', source: 'crash-writer', ts, seq: n, payload: { level: 'info', code: 'X', message: id, apiKey: 'hidden', timestamp: ts } })
      .then(() => ack(`E ${id}`));
  }),
  flood(2, (n) => {
    // Grows across rounds, so the stored value can be compared with the largest acknowledged one.
    // Two keys in one change: after a crash they must agree (all of a change or none of it).
    const peakEquity = Number(round) * 1_000_000 + n;
    const filler = 'x'.repeat(200 + (n % 7) * 50);
    return state
      .setMany([
        ['risk', { peakEquity, breakers: ['none'] }],
        ['mirror', { peakEquity, filler }],
        [`tmp:${n % 5}`, n % 3 === 0 ? undefined : { n }],
      ])
      .then(() => ack(`S ${peakEquity}`));
  }),
]);
