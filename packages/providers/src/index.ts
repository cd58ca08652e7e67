export * from './types.js';
export * from './errors.js';
export { orderRequestSchema, validateOrderRequest } from './validation.js';
export { canonicalSymbol, splitSymbol, SymbolResolver } from './util/symbols.js';
export { timeframeToMs, barOpenTime } from './util/timeframes.js';
export { CandleCloser } from './util/candle-closer.js';
export { MarketTimeline, UnsupportedTimeframeError, NoDataYetError, type TimelineRecord, type TimelineSummary } from './util/timeline.js';
// ccxt loads on demand: the ccxt provider, ccxtExchangeIds, assertKnownExchange and mapCcxtError
// come from `await loadCcxt()` (or `buildProviders`); only types and credential helpers load here.
export { credentialsFromEnv, credentialEnvNames, type CcxtCredentials } from './ccxt/credentials.js';
export type { CcxtProvider, CcxtProviderOptions, CcxtExchange } from './ccxt/provider.js';
export { PaperExchange, type FundingOptions, type PaperExchangeOptions, type SlippageModel } from './paper/paper-exchange.js';
export { PaperBooksError } from './paper/ledger.js';
export { pathPoints, firstReach, type BarPrices } from './paper/intrabar.js';
export { applyLinearFill, type LinearPosition, type MarginWallet } from './paper/linear-fill.js';
export { ReplayProvider, type ReplayProviderOptions, type ReplaySource } from './replay/replay-provider.js';
export { ReplayDataError } from './replay/parse.js';
export { SyntheticProvider, SeededRandom, syntheticCandles, type SyntheticProviderOptions, type SyntheticSymbol, type SyntheticSeriesOptions } from './synthetic/synthetic-provider.js';
export * from './config.js';
export * from './factory.js';
export {
  defineProvider,
  isBuiltinProviderKind,
  loadProviderDefinition,
  loadCustomProviderKinds,
  loadedProviderDefinition,
  providerConfigSchemaFor,
  type ProviderContext,
  type ProviderDefinition,
} from './definition.js';
export { resolveMarketData, resolveSymbols, providerVenue } from './services.js';
