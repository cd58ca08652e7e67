import { z } from 'zod';
import { BaseAgent, errorMessage, toError, type AgentContext, type BuiltinEvents, refuseColdChanges } from '@tradebus/core';
import { SymbolResolver, canonicalSymbol, type Market, type MarketDataProvider } from '@tradebus/providers';
import type { MarketWatchdogConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { providerServiceName, providerVenue, resolveMarketData } from '@tradebus/providers';
import { sleepUnlessAborted } from '@tradebus/core';

export type MarketInfo = BuiltinEvents['market.snapshot']['markets'][number];
export type MarketSnapshot = BuiltinEvents['market.snapshot'];

// Provider answers are checked before they reach the bus: a NaN volume must not select a market.
const optionalPrice = z.number().finite().nonnegative().optional();
const tickerSchema = z.object({
  last: z.number().finite().nonnegative(),
  bid: optionalPrice,
  ask: optionalPrice,
  quoteVolume24h: optionalPrice,
  baseVolume24h: optionalPrice,
  change24hPct: z.number().finite().optional(),
});
const bookTopSchema = z.object({ bid: optionalPrice, ask: optionalPrice });
// Venue rules from the market list: a zero step or a NaN minimum would make every order look
// wrong to whoever rounds with it, so such a value is left out rather than passed on.
const step = z.number().finite().positive().optional().catch(undefined);
const minimum = z.number().finite().nonnegative().optional().catch(undefined);
const rate = z.number().finite().nonnegative().optional().catch(undefined);

const UNIVERSE_KEY = 'universe';

/**
 * Market-wide view: every `intervalMs` it reads the venue's markets (listing status), a ticker per
 * watched market (24h volume and change) and the top of its book (spread), decides which markets
 * are tradable under the universe rules, and publishes a `market.snapshot` whose `added` /
 * `removed` say how the universe changed since the previous one (across restarts too).
 */
export class MarketWatchdogAgent extends BaseAgent<MarketWatchdogConfig> {
  private provider!: MarketDataProvider;
  /** The venue's own terms for the markets it trades, when it has some (a paper venue's leverage and margin rates). */
  private venueTerms: ((markets: readonly Market[]) => Market[]) | undefined;
  private venue = '';
  private universe: string[] = [];
  private markets: Market[] | undefined;
  private marketsLoadedAt = Number.NEGATIVE_INFINITY;
  private truncationReported = false;
  private marketsAlerted = false;
  private excluded = new Set<string>();
  private lastSnapshot: MarketSnapshot | undefined;

  constructor(context: AgentContext<MarketWatchdogConfig>) {
    super(context);
  }

  /** The most recent snapshot published, if any. */
  get snapshot(): MarketSnapshot | undefined {
    return this.lastSnapshot;
  }

  protected override async initialize(): Promise<void> {
    this.provider = resolveMarketData(this.services, this.config.provider);
    // A paper venue trades its source's markets on its own terms: the snapshot describes the
    // markets as traded there (its leverage cap and margin rates), not as the source lists them.
    const service = this.services.get<unknown>(providerServiceName(this.config.provider));
    const venueMarkets = typeof service === 'object' && service !== null ? (service as { venueMarkets?: unknown }).venueMarkets : undefined;
    this.venueTerms = typeof venueMarkets === 'function' ? (markets) => (venueMarkets as (m: readonly Market[]) => Market[]).call(service, markets) : undefined;
    this.venue = this.config.venue ?? providerVenue(this.services, this.config.provider) ?? this.config.provider;
    const stored = await this.store.get<unknown>(UNIVERSE_KEY);
    this.universe = Array.isArray(stored) ? stored.filter((s): s is string => typeof s === 'string') : [];
    this.markets = undefined;
    this.marketsLoadedAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Applies live settings (hotSettings): every snapshot reads the universe rules, the interval and
   * the request settings afresh, so the next snapshot uses them. What is watched (provider, venue,
   * symbols, quotes, types, maxMarkets) is read at start and refused here.
   */
  protected override onReconfigure(next: MarketWatchdogConfig, previous: MarketWatchdogConfig): void {
    refuseColdChanges(previous, next, hotSettings);
    this.logger.info({ intervalMs: next.intervalMs, universe: next.universe }, 'live settings changed: they apply from the next snapshot');
  }

  protected run(): void {
    this.background('snapshots', async (signal) => {
      while (!signal.aborted) {
        const startedAt = this.clock.now();
        await this.takeSnapshot(signal);
        // Fixed cadence: a slow snapshot shortens the wait instead of shifting every later one.
        const waitMs = Math.max(0, startedAt + this.config.intervalMs - this.clock.now());
        if (!(await sleepUnlessAborted(this.clock, waitMs, signal))) return;
      }
    });
  }

  private async takeSnapshot(signal: AbortSignal): Promise<void> {
    const markets = await this.loadMarkets();
    if (markets === undefined || signal.aborted) return;
    const candidates = this.candidates(markets);
    const infos = await mapLimit(candidates, this.config.concurrency, (c) => this.describe(c.symbol, c.market));
    if (signal.aborted) return;

    const { maxSize } = this.config.universe;
    let tradable = infos.filter((m) => m.tradable);
    if (maxSize !== undefined && tradable.length > maxSize) {
      tradable = [...tradable].sort((a, b) => (b.quoteVolume24h ?? 0) - (a.quoteVolume24h ?? 0) || a.symbol.localeCompare(b.symbol));
      for (const dropped of tradable.slice(maxSize)) {
        dropped.tradable = false;
        dropped.reasons.push(`outside the ${maxSize} markets with the highest quote volume`);
      }
      tradable = tradable.slice(0, maxSize);
    }
    const universe = tradable.map((m) => m.symbol).sort();
    const previous = new Set(this.universe);
    const next = new Set(universe);
    const snapshot: MarketSnapshot = {
      timestamp: this.clock.now(),
      venue: this.venue,
      markets: infos,
      universe,
      added: universe.filter((s) => !previous.has(s)),
      removed: this.universe.filter((s) => !next.has(s)),
    };
    this.universe = universe;
    this.lastSnapshot = snapshot;
    this.publish('market.snapshot', snapshot);
    if (snapshot.added.length > 0 || snapshot.removed.length > 0) {
      this.logger.info({ added: snapshot.added, removed: snapshot.removed, size: universe.length }, 'tradable universe changed');
      await this.store.set(UNIVERSE_KEY, universe).catch((err: unknown) => {
        this.recordError(err);
        this.logger.warn({ err: toError(err) }, 'could not persist the universe');
      });
    }

    const failed = infos.filter((m) => m.reasons.some((r) => r.startsWith('market data unavailable'))).length;
    if (infos.length > 0 && failed * 2 > infos.length) {
      this.degrade(`market data unavailable for ${failed} of ${infos.length} markets`);
    } else {
      this.recover();
    }
  }

  private async loadMarkets(): Promise<Market[] | undefined> {
    const now = this.clock.now();
    const due = this.markets === undefined || now - this.marketsLoadedAt >= this.config.reloadMarketsEveryMs;
    if (!due) return this.markets;
    try {
      const listed = await this.provider.loadMarkets(this.markets !== undefined);
      const markets = this.venueTerms === undefined ? listed : this.venueTerms(listed);
      this.markets = markets;
      this.marketsLoadedAt = now;
      this.marketsAlerted = false;
      return markets;
    } catch (err) {
      this.recordError(err);
      this.logger.warn({ err: toError(err) }, 'could not load markets');
      // A stale market list beats none: listing changes are rare next to a failed request.
      if (this.markets !== undefined) return this.markets;
      if (!this.marketsAlerted) {
        this.marketsAlerted = true;
        this.alert('warning', 'MARKETS_UNAVAILABLE', `Could not load the market list of '${this.config.provider}' (${errorMessage(err)}); no snapshot until it loads. Retrying every ${this.config.intervalMs} ms.`);
      }
      this.degrade(`market list unavailable: ${errorMessage(err)}`);
      return undefined;
    }
  }

  private candidates(markets: Market[]): Array<{ symbol: string; market: Market | undefined }> {
    const bySymbol = new Map(markets.map((m) => [m.symbol, m]));
    // Configured symbols may be written as btc/usdt or BTCUSDT: match them to the venue's spelling.
    const resolver = new SymbolResolver(markets.map((m) => ({ symbol: m.symbol })), this.config.provider);
    const unified = (input: string): string => resolver.tryResolve(input) ?? canonicalSymbol(input);
    this.excluded = new Set(this.config.universe.exclude.map(unified));
    let list: Array<{ symbol: string; market: Market | undefined }>;
    if (this.config.symbols !== undefined) {
      list = [...new Set(this.config.symbols.map(unified))].map((symbol) => ({ symbol, market: bySymbol.get(symbol) }));
    } else {
      const quotes = this.config.quotes === undefined ? undefined : new Set(this.config.quotes.map((q) => q.toUpperCase()));
      const types = new Set(this.config.types);
      list = markets
        .filter((m) => types.has(m.type) && (quotes === undefined || quotes.has(m.quote.toUpperCase())))
        .map((m) => ({ symbol: m.symbol, market: m }))
        .sort((a, b) => a.symbol.localeCompare(b.symbol));
    }
    if (list.length > this.config.maxMarkets) {
      if (!this.truncationReported) {
        this.truncationReported = true;
        this.alert('warning', 'MARKETS_TRUNCATED', `${list.length} markets match, only the first ${this.config.maxMarkets} (by symbol) are watched. List the markets in symbols, narrow quotes/types, or raise maxMarkets.`, {
          matching: list.length,
          maxMarkets: this.config.maxMarkets,
        });
      }
      list = list.slice(0, this.config.maxMarkets);
    }
    return list;
  }

  /** One market's line of the snapshot: what the venue says about it and whether the rules select it. */
  private async describe(symbol: string, market: Market | undefined): Promise<MarketInfo> {
    const rules = this.config.universe;
    const [base, quote] = market === undefined ? splitSymbol(symbol) : [market.base, market.quote];
    const info: MarketInfo = { symbol, base, quote, active: market?.active ?? false, tradable: false, reasons: [], ...(market === undefined ? {} : venueRules(market)) };
    const reasons = info.reasons;
    if (market === undefined) reasons.push('not listed by the venue');
    else if (!market.active) reasons.push('inactive on the venue');
    if (this.excluded.has(symbol)) reasons.push('excluded by configuration');
    if (rules.excludeStablecoinPairs && rules.stablecoins.some((s) => s.toUpperCase() === base.toUpperCase())) reasons.push(`stablecoin pair (${base})`);
    // Markets the static rules already rule out cost no requests.
    if (reasons.length > 0) return info;

    try {
      const ticker = tickerSchema.parse(await this.provider.fetchTicker(symbol));
      info.last = ticker.last;
      info.quoteVolume24h = ticker.quoteVolume24h ?? (ticker.baseVolume24h !== undefined ? ticker.baseVolume24h * ticker.last : undefined);
      info.change24hPct = ticker.change24hPct;
      let bid = ticker.bid;
      let ask = ticker.ask;
      if (this.config.spreadSource === 'orderbook') {
        const top = bookTopSchema.parse(await this.provider.fetchOrderBookTop(symbol));
        bid = top.bid;
        ask = top.ask;
      }
      info.bid = bid;
      info.ask = ask;
      if (bid !== undefined && ask !== undefined && bid > 0 && ask > 0) {
        info.spreadBps = (Math.max(0, ask - bid) / ((ask + bid) / 2)) * 10_000;
      }
    } catch (err) {
      this.recordError(err);
      this.logger.warn({ err: toError(err), symbol }, 'market data unavailable');
      reasons.push(`market data unavailable: ${errorMessage(err)}`);
      return info;
    }

    if (rules.minQuoteVolume24h > 0) {
      if (info.quoteVolume24h === undefined) reasons.push('24h quote volume unknown');
      else if (info.quoteVolume24h < rules.minQuoteVolume24h) reasons.push(`24h quote volume ${round(info.quoteVolume24h)} below ${rules.minQuoteVolume24h}`);
    }
    if (rules.maxSpreadBps !== undefined) {
      if (info.spreadBps === undefined) reasons.push('spread unknown (empty side of the book)');
      else if (info.spreadBps > rules.maxSpreadBps) reasons.push(`spread ${round(info.spreadBps)} bps above ${rules.maxSpreadBps}`);
    }
    info.tradable = reasons.length === 0;
    return info;
  }
}

/**
 * Precision, limits and margin rates the venue's market list gives, in the market's own order
 * units (contracts for derivatives, see `Market.contractSize`). They cost no request, so even a
 * market the rules leave out carries them.
 */
type VenueRules = Pick<MarketInfo, 'tickSize' | 'stepSize' | 'minQuantity' | 'minNotional' | 'maxLeverage' | 'initialMarginRate' | 'maintenanceMarginRate'>;

function venueRules(market: Market): VenueRules {
  const rules: VenueRules = {};
  // Keys without a value stay out of the event rather than travelling as undefined.
  const tickSize = step.parse(market.precision.price);
  if (tickSize !== undefined) rules.tickSize = tickSize;
  const stepSize = step.parse(market.precision.amount);
  if (stepSize !== undefined) rules.stepSize = stepSize;
  const minQuantity = minimum.parse(market.limits.amount.min);
  if (minQuantity !== undefined) rules.minQuantity = minQuantity;
  const minNotional = minimum.parse(market.limits.cost.min);
  if (minNotional !== undefined) rules.minNotional = minNotional;
  const maxLeverage = step.parse(market.limits.leverage?.max);
  if (maxLeverage !== undefined) rules.maxLeverage = maxLeverage;
  const initialMarginRate = rate.parse(market.initialMarginRate);
  if (initialMarginRate !== undefined) rules.initialMarginRate = initialMarginRate;
  const maintenanceMarginRate = rate.parse(market.maintenanceMarginRate);
  if (maintenanceMarginRate !== undefined) rules.maintenanceMarginRate = maintenanceMarginRate;
  return rules;
}

function splitSymbol(symbol: string): [string, string] {
  const pair = symbol.split(':', 1)[0]!;
  const slash = pair.indexOf('/');
  return slash < 0 ? [pair, ''] : [pair.slice(0, slash), pair.slice(slash + 1)];
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

