import { defineAgent } from '@tradebus/core';
import { hotSettings } from './hot-settings.js';
import { priceWatchdogConfigSchema, type PriceWatchdogConfig } from './config.js';
import { PriceWatchdogAgent } from './price-watchdog.js';

export { priceWatchdogConfigSchema, type PriceWatchdogConfig, type PriceWatchdogConfigInput } from './config.js';
export { PriceWatchdogAgent, FeedEndedError, type FeedStatus } from './price-watchdog.js';
export { Backoff, type BackoffPolicy } from './backoff.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<PriceWatchdogConfig>({
  kind: 'price-watchdog',
  description: 'Keeps price feeds alive per symbol: ticks and candles, reconnects with backfill, flags stale feeds',
  configSchema: priceWatchdogConfigSchema,
  create: (context) => new PriceWatchdogAgent(context),
  hotSettings,
});

export default agent;
