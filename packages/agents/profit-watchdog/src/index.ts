import { defineAgent } from '@tradebus/core';
import { profitWatchdogConfigSchema, type ProfitWatchdogConfig } from './config.js';
import { hotSettings } from './hot-settings.js';
import { ProfitWatchdogAgent } from './watchdog.js';

export { profitWatchdogConfigSchema, tunableSchema, type ProfitWatchdogConfig, type ProfitWatchdogConfigInput, type Tunable } from './config.js';
export { ProfitWatchdogAgent } from './watchdog.js';
export { WindowSet, groupQuality, recommend, windowsOf, candidateValues, type GroupKey, type DecisionRecord, type GroupQuality, type Recommendation, type ReplaySettings } from './quality.js';
export {
  mean,
  variance,
  meanWithInterval,
  welchTTest,
  studentTCdf,
  studentTQuantile,
  incompleteBeta,
  pageHinkleyUpdate,
  emptyPageHinkley,
  type MeanEstimate,
  type WelchResult,
  type PageHinkleyOptions,
  type PageHinkleyState,
} from './stats.js';
export { ApiSettingApplier, AutoTuneError, nestedPatch, stepToward, type SettingApplier } from './tuner.js';
export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<ProfitWatchdogConfig>({
  kind: 'profit-watchdog',
  description: 'Decision quality per strategy, symbol and regime, drift of trade returns, threshold recommendations with evidence and a guarded auto-tune',
  configSchema: profitWatchdogConfigSchema,
  bus: {
    publishes: ['watchdog.recommendation', 'watchdog.report', 'watchdog.tuning'],
    subscribes: ['candle.closed', 'signal.generated', 'signal.decided', 'trade.opened', 'trade.closed', 'config.changed'],
  },
  hotSettings,
  create: (context) => new ProfitWatchdogAgent(context),
});

export default agent;
