import { z } from 'zod';

/**
 * What we rely on in ccxt's unified structures. ccxt parses the venue's JSON with `safe*`
 * helpers that turn anything unexpected into `undefined`, so a changed or broken venue response
 * shows up here as a missing number: these schemas are the boundary check.
 */
const num = z.number().finite();
const optNum = num.nullish().transform((v) => v ?? undefined);
const optStr = z.string().nullish().transform((v) => v ?? undefined);

export const ccxtMarketSchema = z.looseObject({
  id: optStr,
  symbol: z.string().min(1),
  base: z.string().min(1),
  quote: z.string().min(1),
  settle: optStr,
  type: z.string().nullish(),
  spot: z.boolean().nullish(),
  swap: z.boolean().nullish(),
  future: z.boolean().nullish(),
  option: z.boolean().nullish(),
  linear: z.boolean().nullish(),
  contractSize: optNum,
  active: z.boolean().nullish(),
  precision: z.looseObject({ amount: optNum, price: optNum }).nullish(),
  limits: z
    .looseObject({
      amount: z.looseObject({ min: optNum, max: optNum }).nullish(),
      price: z.looseObject({ min: optNum, max: optNum }).nullish(),
      cost: z.looseObject({ min: optNum, max: optNum }).nullish(),
      leverage: z.looseObject({ min: optNum, max: optNum }).nullish(),
    })
    .nullish(),
  maker: optNum,
  taker: optNum,
});

export const ccxtTickerSchema = z.looseObject({
  symbol: z.string().min(1),
  timestamp: optNum,
  last: optNum,
  close: optNum,
  bid: optNum,
  ask: optNum,
  high: optNum,
  low: optNum,
  baseVolume: optNum,
  quoteVolume: optNum,
  percentage: optNum,
});

const bookLevel = z.array(z.unknown()).min(2).transform((level, ctx) => {
  const price = Number(level[0]);
  const size = Number(level[1]);
  if (!Number.isFinite(price) || !Number.isFinite(size)) {
    ctx.addIssue({ code: 'custom', message: 'order book level must be [price, size] numbers' });
    return z.NEVER;
  }
  return [price, size] as const;
});

export const ccxtOrderBookSchema = z.looseObject({
  symbol: optStr,
  timestamp: optNum,
  bids: z.array(bookLevel),
  asks: z.array(bookLevel),
});

export const ccxtOhlcvSchema = z.array(z.tuple([num, num, num, num, num, num.nullable()]).rest(z.unknown()));

const ccxtFeeSchema = z.looseObject({ cost: optNum, currency: optStr, rate: optNum });

export const ccxtTradeSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).nullish(),
  order: z.union([z.string(), z.number()]).nullish(),
  timestamp: num,
  symbol: z.string().min(1),
  side: z.enum(['buy', 'sell']),
  takerOrMaker: z.enum(['taker', 'maker']).nullish(),
  price: num,
  amount: num,
  fee: ccxtFeeSchema.nullish(),
  fees: z.array(ccxtFeeSchema).nullish(),
});

export const ccxtOrderSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).nullish(),
  clientOrderId: optStr,
  timestamp: optNum,
  lastTradeTimestamp: optNum,
  lastUpdateTimestamp: optNum,
  symbol: z.string().min(1),
  type: optStr,
  timeInForce: optStr,
  postOnly: z.boolean().nullish(),
  reduceOnly: z.boolean().nullish(),
  side: z.enum(['buy', 'sell']),
  price: optNum,
  triggerPrice: optNum,
  stopPrice: optNum,
  takeProfitPrice: optNum,
  stopLossPrice: optNum,
  amount: num,
  filled: optNum,
  remaining: optNum,
  average: optNum,
  cost: optNum,
  status: z.enum(['open', 'closed', 'canceled', 'cancelled', 'expired', 'rejected']).nullish(),
  fee: ccxtFeeSchema.nullish(),
  fees: z.array(ccxtFeeSchema).nullish(),
  trades: z.array(z.unknown()).nullish(),
});

const balanceMap = z.record(z.string(), z.number().nullish());

export const ccxtBalanceSchema = z.looseObject({
  free: balanceMap,
  used: balanceMap,
  total: balanceMap,
});

export const ccxtPositionSchema = z.looseObject({
  symbol: z.string().min(1),
  timestamp: optNum,
  side: z.enum(['long', 'short']).nullish(),
  contracts: optNum,
  contractSize: optNum,
  entryPrice: optNum,
  markPrice: optNum,
  unrealizedPnl: optNum,
  realizedPnl: optNum,
  leverage: optNum,
  liquidationPrice: optNum,
  marginMode: z.string().nullish(),
  initialMargin: optNum,
  maintenanceMargin: optNum,
  collateral: optNum,
});

export type CcxtMarket = z.output<typeof ccxtMarketSchema>;
export type CcxtTicker = z.output<typeof ccxtTickerSchema>;
export type CcxtOrder = z.output<typeof ccxtOrderSchema>;
export type CcxtTrade = z.output<typeof ccxtTradeSchema>;
export type CcxtPosition = z.output<typeof ccxtPositionSchema>;
