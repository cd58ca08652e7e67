import type { ServiceRegistry } from '@tradebus/core';
import { ProviderRoleError, providerServiceName, type MarketDataProvider } from '@tradebus/providers';

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
