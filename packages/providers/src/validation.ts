import { z } from 'zod';
import { formatZodIssues, orderSide, orderType } from '@tradebus/core';
import { InvalidOrderError } from './errors.js';
import type { OrderRequest } from './types.js';

const positive = z.number().finite().positive();

/** The checks every provider applies before an order leaves the process. */
export const orderRequestSchema = z
  .object({
    clientOrderId: z.string().min(1).max(36),
    symbol: z.string().min(1),
    side: orderSide,
    type: orderType,
    quantity: positive,
    price: positive.optional(),
    stopPrice: positive.optional(),
    reduceOnly: z.boolean(),
    timeInForce: z.enum(['GTC', 'IOC', 'FOK', 'PO']).optional(),
  })
  .superRefine((o, ctx) => {
    if ((o.type === 'limit' || o.type === 'stop_limit') && o.price === undefined) {
      ctx.addIssue({ code: 'custom', path: ['price'], message: `a ${o.type} order needs a limit price` });
    }
    if ((o.type === 'stop_market' || o.type === 'stop_limit' || o.type === 'take_profit') && o.stopPrice === undefined) {
      ctx.addIssue({ code: 'custom', path: ['stopPrice'], message: `a ${o.type} order needs a trigger price (stopPrice)` });
    }
    if (o.timeInForce === 'PO' && o.type !== 'limit') {
      ctx.addIssue({ code: 'custom', path: ['timeInForce'], message: 'post-only (PO) applies to limit orders only' });
    }
  });

export function validateOrderRequest(request: OrderRequest, provider: string): OrderRequest {
  const result = orderRequestSchema.safeParse(request);
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
  throw new InvalidOrderError(provider, issues.join('; '), { cause: result.error, details: { clientOrderId: request?.clientOrderId } });
}
