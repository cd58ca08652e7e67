import { defineAgent } from '@tradebus/core';
import { hotSettings } from './hot-settings.js';
import { TradeManagerAgent } from './agent.js';
import { tradeManagerConfigSchema, type TradeManagerConfig } from './config.js';

export { TradeManagerAgent, TradeManagerStateError } from './agent.js';
export { tradeManagerConfigSchema, type TradeManagerConfig, type TradeManagerConfigInput } from './config.js';
export { clientOrderIdFor, tradeIdFor, adoptedTradeIdFor } from './ids.js';
export { sizeEntry, kellyFraction, type EdgeStats, type SizingInput, type SizingResult } from './sizing.js';
export { decideBatch, type TradeDecision, type BatchOutcome } from './aggregation.js';
export type { Book, TradeRecord, OrderRecord, RiskSnapshot, TradeStatus } from './state.js';
export { PortfolioRisk, portfolioConfigSchema, type PortfolioConfig, type PortfolioConfigInput, type PortfolioPosition, type PortfolioState } from './portfolio.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<TradeManagerConfig>({
  kind: 'trade-manager',
  description: 'Clearing house: aggregates signals, applies risk and sizing, requests orders, books fills into trades and positions, manages exits',
  configSchema: tradeManagerConfigSchema,
  create: (context) => new TradeManagerAgent(context),
  hotSettings,
});

export default agent;
