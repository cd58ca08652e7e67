import { z } from 'zod';

export const accountSyncConfigSchema = z
  .object({
    provider: z.string().min(1).describe("Name of the provider in the config's providers section (registered as provider:<name>)"),
    venue: z.string().optional().describe("Venue name in account.updated and position.reconcile; the provider's venue when absent"),
    quoteCurrency: z.string().min(1).default('USDT').describe('Currency equity is reported in'),
    intervalMs: z.number().int().positive().default(30_000).describe('How often balances, positions and open orders are fetched'),
    syncOnFills: z.boolean().default(true).describe('Fetch again right after an order.updated with fills'),
    usePushedSnapshots: z
      .boolean()
      .default(true)
      .describe('Publish account.updated from account snapshots the provider pushes (the paper exchange does), between fetches'),
    symbols: z.array(z.string().min(1)).optional().describe('Only reconcile positions and orders of these symbols'),
    reconcile: z
      .object({
        enabled: z.boolean().default(true),
        startupGraceMs: z
          .number()
          .int()
          .nonnegative()
          .default(70_000)
          .describe("Listen this long before the first reconciliation, to hear the trade manager's positions (it republishes them every positionSnapshotIntervalMs)"),
        confirmations: z.number().int().positive().default(2).describe('Consecutive checks a discrepancy must survive before it is acted on'),
        quantityTolerancePct: z.number().nonnegative().default(0.5).describe('Quantity differences within this percent are rounding, not discrepancies'),
        minNotional: z.number().nonnegative().default(0).describe('Differences worth less than this (quote currency) are dust and ignored'),
        orderGraceMs: z.number().int().nonnegative().default(15_000).describe('An order must be this old before it counts as unknown or missing'),
        adoptPositions: z.boolean().default(true).describe('Hand venue positions the trade manager does not hold to it (position.reconcile adopt)'),
        resolvePositions: z.boolean().default(true).describe('Tell the trade manager to book out positions the venue no longer holds (position.reconcile resolve)'),
        adoptOrders: z.boolean().default(true).describe('Publish venue orders nobody on the bus placed as order.updated with purpose adopt'),
        resolveOrders: z.boolean().default(true).describe('Publish the final state of orders the bus thinks open but the venue has finished'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type AccountSyncConfig = z.output<typeof accountSyncConfigSchema>;
export type AccountSyncConfigInput = z.input<typeof accountSyncConfigSchema>;
