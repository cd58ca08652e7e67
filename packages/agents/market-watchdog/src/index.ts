import { defineAgent } from '@tradebus/core';
import { hotSettings } from './hot-settings.js';
import { marketWatchdogConfigSchema, type MarketWatchdogConfig } from './config.js';
import { MarketWatchdogAgent } from './market-watchdog.js';

export { marketWatchdogConfigSchema, DEFAULT_STABLECOINS, type MarketWatchdogConfig, type MarketWatchdogConfigInput } from './config.js';
export { MarketWatchdogAgent, type MarketInfo, type MarketSnapshot } from './market-watchdog.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<MarketWatchdogConfig>({
  kind: 'market-watchdog',
  description: 'Market-wide snapshots (24h volume and change, spreads, listing status) and the tradable universe',
  configSchema: marketWatchdogConfigSchema,
  create: (context) => new MarketWatchdogAgent(context),
  hotSettings,
});

export default agent;
