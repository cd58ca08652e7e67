import { TradebusError, type ServiceRegistry } from '@tradebus/core';
import type { MarketDataProvider } from '@tradebus/providers';

/**
 * The market-data role of the service registered as `provider:<name>`. The launcher registers
 * what `createProvider` returns (a provider with a `marketData` role); code that builds a system
 * by hand may register a bare MarketDataProvider. Both are accepted.
 */
export function resolveMarketData(services: ServiceRegistry, providerName: string, field = 'provider'): MarketDataProvider {
  const service = services.get<unknown>(`provider:${providerName}`);
  if (isMarketData(service)) return service;
  const role = typeof service === 'object' && service !== null ? (service as { marketData?: unknown }).marketData : undefined;
  if (isMarketData(role)) return role;
  throw new TradebusError(
    'PROVIDER_NO_MARKET_DATA',
    `Provider '${providerName}' (config key ${field}) does not supply market data: name a provider of kind ccxt, replay or synthetic.`,
    { details: { provider: providerName } },
  );
}

function isMarketData(value: unknown): value is MarketDataProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as MarketDataProvider).watchCandles === 'function' &&
    typeof (value as MarketDataProvider).fetchOHLCV === 'function'
  );
}
