import { defineAgent } from '@tradebus/core';
import { hotSettings } from './hot-settings.js';
import { AccountSyncAgent } from './agent.js';
import { accountSyncConfigSchema, type AccountSyncConfig } from './config.js';

export { AccountSyncAgent, AccountSyncConfigError, type Discrepancy, type SeenOrder, type SeenPosition } from './agent.js';
export { accountSyncConfigSchema, type AccountSyncConfig, type AccountSyncConfigInput } from './config.js';

export { hotSettings } from './hot-settings.js';

export const agent = defineAgent<AccountSyncConfig>({
  kind: 'account-sync',
  description: 'Balances, positions and open orders from the venue; account.updated; reconciliation with the trade manager',
  configSchema: accountSyncConfigSchema,
  create: (context) => new AccountSyncAgent(context),
  hotSettings,
});

export default agent;
