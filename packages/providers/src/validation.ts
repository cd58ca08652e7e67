import { z } from 'zod';
import { compileAcceptor, formatZodIssues, orderSide, orderType } from '@tradebus/core';
import { InvalidOrderError } from './errors.js';
import type { OrderRequest } from './types.js';

const positive = z.number().finite().positive();

const orderRequestFields = z.object({
  clientOrderId: z.string().min(1).max(36),
  symbol: z.string().min(1),
  side: orderSide,
  type: orderType,
  quantity: positive,
  price: positive.optional(),
  stopPrice: positive.optional(),
  reduceOnly: z.boolean(),
  timeInForce: z.enum(['GTC', 'IOC', 'FOK', 'PO']).optional(),
});

/** Rules across fields: which order types need which prices. */
function checkTerms(o: z.output<typeof orderRequestFields>, problem: (field: 'price' | 'stopPrice' | 'timeInForce', message: string) => void): void {
  if ((o.type === 'limit' || o.type === 'stop_limit') && o.price === undefined) problem('price', `a ${o.type} order needs a limit price`);
  if ((o.type === 'stop_market' || o.type === 'stop_limit' || o.type === 'take_profit') && o.stopPrice === undefined) {
    problem('stopPrice', `a ${o.type} order needs a trigger price (stopPrice)`);
  }
  if (o.timeInForce === 'PO' && o.type !== 'limit') problem('timeInForce', 'post-only (PO) applies to limit orders only');
}

/** The checks every provider applies before an order leaves the process. */
export const orderRequestSchema = orderRequestFields.superRefine((o, ctx) =>
  checkTerms(o, (field, message) => ctx.addIssue({ code: 'custom', path: [field], message })),
);

// Every order a backtest places passes here: the compiled fields check and the cross-field rules
// accept a well-formed request without zod; anything else goes to zod, which explains.
const acceptFields = compileAcceptor(orderRequestFields);

function wellFormed(request: OrderRequest): boolean {
  if (acceptFields === undefined || !acceptFields(request)) return false;
  let ok = true;
  checkTerms(request, () => (ok = false));
  return ok;
}

export function validateOrderRequest(request: OrderRequest, provider: string): OrderRequest {
  if (wellFormed(request)) return request;
  const result = orderRequestSchema.safeParse(request);
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
  throw new InvalidOrderError(provider, issues.join('; '), { cause: result.error, details: { clientOrderId: request?.clientOrderId } });
}
