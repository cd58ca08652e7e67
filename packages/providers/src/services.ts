import type { ServiceRegistry } from '@tradebus/core';
import { ProviderRoleError, providerServiceName } from './factory.js';
import { SymbolResolver, canonicalSymbol } from './util/symbols.js';
import type { Market, MarketDataProvider } from './types.js';

/**
 * The market-data role of the service registered as `provider:<name>`. The launcher registers
 * what `createProvider` returns (a provider with a `marketData` role); code that builds a system
 * by hand may register a bare MarketDataProvider. Both are accepted.
 */
export function resolveMarketData(services: ServiceRegistry, providerName: string): MarketDataProvider {
  const service = services.get<unknown>(providerServiceName(providerName));
  if (isMarketData(service)) return service;
  const { marketData, kind } = typeof service === 'object' && service !== null ? (service as { marketData?: unknown; kind?: unknown }) : {};
  if (isMarketData(marketData)) return marketData;
  throw new ProviderRoleError(providerName, typeof kind === 'string' ? kind : 'unknown kind', 'market data');
}

function isMarketData(value: unknown): value is MarketDataProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as MarketDataProvider).watchCandles === 'function' &&
    typeof (value as MarketDataProvider).fetchOHLCV === 'function'
  );
}

/**
 * Unified symbols for what the user wrote (`btc/usdt`, `BTCUSDT`, `BTC-USDT`...), as the provider
 * spells them, so events carry the same symbol whoever publishes them. An unknown symbol throws
 * BadSymbolError with near matches. When the market list cannot be read, the canonical form is
 * used and `onUnavailable` is told why.
 */
export async function resolveSymbols(provider: MarketDataProvider, inputs: readonly string[], onUnavailable: (err: unknown) => void): Promise<string[]> {
  let markets: Market[] | undefined;
  try {
    markets = await provider.loadMarkets();
  } catch (err) {
    onUnavailable(err);
  }
  if (markets === undefined || markets.length === 0) return [...new Set(inputs.map(canonicalSymbol))];
  const resolver = new SymbolResolver(
    markets.map((m) => ({ symbol: m.symbol })),
    provider.id,
  );
  return [...new Set(inputs.map((s) => resolver.resolve(s)))];
}

/** The venue name the provider reports (`Provider.venue`), when the registered service is a full provider. */
export function providerVenue(services: ServiceRegistry, providerName: string): string | undefined {
  const service = services.get<unknown>(providerServiceName(providerName));
  const venue = typeof service === 'object' && service !== null ? (service as { venue?: unknown }).venue : undefined;
  return typeof venue === 'string' && venue.length > 0 ? venue : undefined;
}
