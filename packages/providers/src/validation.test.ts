import { describe, expect, it } from 'vitest';
import { InvalidOrderError } from './errors.js';
import type { OrderRequest } from './types.js';
import { orderRequestSchema, validateOrderRequest } from './validation.js';

const market: OrderRequest = { clientOrderId: 'c-1', symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: 0.5, reduceOnly: false };

function failure(request: unknown): InvalidOrderError {
  try {
    validateOrderRequest(request as OrderRequest, 'paper');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOrderError);
    return err as InvalidOrderError;
  }
  throw new Error('the request was accepted');
}

describe('validateOrderRequest', () => {
  const valid: OrderRequest[] = [
    market,
    { ...market, type: 'limit', price: 42_000, timeInForce: 'PO' },
    { ...market, type: 'stop_market', stopPrice: 41_000, reduceOnly: true },
    { ...market, type: 'stop_limit', price: 40_900, stopPrice: 41_000, timeInForce: 'IOC' },
    { ...market, type: 'take_profit', stopPrice: 45_000, price: undefined },
  ];

  it.each(valid)('accepts what the schema accepts, with the same fields: %o', (request) => {
    const parsed = orderRequestSchema.parse(request);
    const validated = validateOrderRequest(request, 'paper');
    expect(validated).toStrictEqual(parsed);
    // Well-formed requests are checked without zod and come back as they are.
    expect(validated).toBe(request);
  });

  it('drops fields the venue does not take, as the schema does', () => {
    const withExtras = { ...market, purpose: 'entry', tradeId: 't-1' } as OrderRequest;
    const validated = validateOrderRequest(withExtras, 'paper');
    expect(validated).toStrictEqual(market);
    expect(validated).not.toHaveProperty('purpose');
  });

  it.each([
    [{ ...market, type: 'limit' }, 'price: a limit order needs a limit price'],
    [{ ...market, type: 'stop_limit', price: 1 }, 'stopPrice: a stop_limit order needs a trigger price (stopPrice)'],
    [{ ...market, type: 'take_profit' }, 'stopPrice: a take_profit order needs a trigger price (stopPrice)'],
    [{ ...market, timeInForce: 'PO' }, 'timeInForce: post-only (PO) applies to limit orders only'],
  ])('names the field of a rule across fields: %o', (request, message) => {
    expect(failure(request).message).toContain(message);
  });

  it.each([
    [{ ...market, quantity: 0 }, 'quantity'],
    [{ ...market, quantity: Number.NaN }, 'quantity'],
    [{ ...market, clientOrderId: '' }, 'clientOrderId'],
    [{ ...market, clientOrderId: 'x'.repeat(37) }, 'clientOrderId'],
    [{ ...market, side: 'long' }, 'side'],
    [{ ...market, reduceOnly: undefined }, 'reduceOnly'],
    [{ ...market, price: -1 }, 'price'],
  ])('names the field of a malformed request: %o', (request, field) => {
    const err = failure(request);
    expect(err.message).toMatch(new RegExp(`\\b${field}:`));
    expect(err.cause).toBeDefined();
  });

  it('refuses something that is not a request at all', () => {
    expect(failure(undefined).message).toMatch(/\(root\)/);
  });
});
