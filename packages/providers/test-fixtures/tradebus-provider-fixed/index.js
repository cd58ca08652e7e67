// A provider package of a kind of its own, written as a third party would publish one: a market
// that quotes fixed prices, one closed bar per timeframe on the clock it is given. A config
// names it by package name: `providers.<name>.kind: '@acme/tradebus-provider-fixed'`.
import { z } from 'zod';
import { secret } from '@tradebus/core';
import { barOpenTime, defineProvider, timeframeToMs } from '@tradebus/providers';

const configSchema = z
  .object({
    venue: z.string().default('fixed'),
    timeframe: z.string().default('1m'),
    symbols: z.array(z.object({ symbol: z.string().min(3), price: z.number().positive() }).strict()).min(1, 'list at least one symbol'),
    credentials: secret(z.object({ token: z.string().min(1) }).strict()).optional(),
  })
  .strict();

/** Resolves after `ms` on `clock`, or false as soon as `signal` aborts. */
function sleep(clock, ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      timer.cancel();
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

class FixedMarket {
  constructor({ name, config, clock }) {
    this.id = name;
    this.kind = 'fixed-price';
    this.venue = config.venue;
    this.settings = config;
    this.clock = clock;
    this.prices = new Map(config.symbols.map((s) => [s.symbol, s.price]));
    this.closed = false;
  }

  get marketData() {
    return this;
  }

  price(symbol) {
    const price = this.prices.get(symbol);
    if (price === undefined) throw new Error(`${this.id}: no symbol ${symbol}`);
    return price;
  }

  bar(symbol, timeframe, timestamp) {
    const p = this.price(symbol);
    return { symbol, timeframe, timestamp, open: p, high: p, low: p, close: p, volume: 1, closed: true };
  }

  async loadMarkets() {
    return [...this.prices.keys()].map((symbol) => {
      const [base, quote] = symbol.split('/');
      return { symbol, base, quote, settle: quote, type: 'spot', contractSize: 1, active: true, precision: {}, limits: { amount: {}, price: {}, cost: {} } };
    });
  }

  async fetchTicker(symbol) {
    const p = this.price(symbol);
    return { symbol, timestamp: this.clock.now(), last: p, bid: p, ask: p };
  }

  async fetchOrderBookTop(symbol) {
    const p = this.price(symbol);
    return { symbol, timestamp: this.clock.now(), bid: p, ask: p };
  }

  async fetchOHLCV(symbol, timeframe, since, limit = 100) {
    const tf = timeframeToMs(timeframe);
    const lastOpen = barOpenTime(this.clock.now(), tf) - tf;
    const first = since === undefined ? lastOpen - (limit - 1) * tf : barOpenTime(since + tf - 1, tf);
    const bars = [];
    for (let t = first; t <= lastOpen && bars.length < limit; t += tf) bars.push(this.bar(symbol, timeframe, t));
    return bars;
  }

  async *watchCandles(symbol, timeframe, signal) {
    const tf = timeframeToMs(timeframe);
    for (;;) {
      const open = barOpenTime(this.clock.now(), tf);
      if (!(await sleep(this.clock, open + tf - this.clock.now(), signal)) || this.closed) return;
      yield this.bar(symbol, timeframe, open);
    }
  }

  async *watchTicks(symbol, signal) {
    for await (const bar of this.watchCandles(symbol, this.settings.timeframe, signal)) {
      yield { symbol, price: bar.close, volume: bar.volume, timestamp: this.clock.now() };
    }
  }

  async close() {
    this.closed = true;
  }
}

export const provider = defineProvider({
  kind: 'fixed-price',
  description: 'Fixed prices, one bar per timeframe',
  configSchema,
  create: (context) => new FixedMarket(context),
});

export default provider;
