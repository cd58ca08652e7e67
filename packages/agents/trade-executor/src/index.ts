import { defineAgent } from '@tradebus/core';
import { hotSettings } from './hot-settings.js';
import { TradeExecutorAgent } from './agent.js';
import { tradeExecutorConfigSchema, type TradeExecutorConfig } from './config.js';

export { TradeExecutorAgent, ExecutorConfigError, type ExecutedOrder, type VenueSafetyState } from './agent.js';
export { tradeExecutorConfigSchema, type TradeExecutorConfig, type TradeExecutorConfigInput } from './config.js';
export { canTransition, isFinal, nextStatuses } from './order-state.js';
export { TokenBucket } from './token-bucket.js';
export { VenueBreaker, venueOutcomeOf, type VenueBreakerSettings, type VenueBreakerSnapshot, type VenueBreakerState, type VenueBreakerTransition, type VenueOutcome } from './venue-breaker.js';
export { SlippageGuard, adverseSlippageBps, type SlippageGuardSettings, type SymbolHalt } from './slippage-guard.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<TradeExecutorConfig>({
  kind: 'trade-executor',
  description: 'Places order intents at a venue (live, paper or disabled), exactly once per client order id, throttled and retried only when safe',
  configSchema: tradeExecutorConfigSchema,
  create: (context) => new TradeExecutorAgent(context),
  hotSettings,
});

export default agent;
