import type { Fill } from '@tradebus/core';
import type { z } from 'zod';
import { BadResponseError } from '../errors.js';
import type { Balance, Candle, Market, MyTrade, Order, OrderRequest, OrderStatus, OrderType, Position, Ticker, TimeInForce } from '../types.js';
import { formatZodIssues } from '@tradebus/core';
import type { CcxtMarket, CcxtOrder, CcxtPosition, CcxtTicker, CcxtTrade } from './schemas.js';
import { ccxtTradeSchema } from './schemas.js';

export const TICK_SIZE_MODE = 4;
export const DECIMAL_PLACES_MODE = 2;

/** Validates a ccxt result against `schema`, naming the field that failed. */
export function check<S extends z.ZodType>(schema: S, value: unknown, provider: string, what: string, outcomeUnknown = false): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues)
    .slice(0, 3)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
  throw new BadResponseError(provider, `${what}: ${issues}`, { cause: result.error, outcomeUnknown });
}

function precisionToStep(value: number | undefined, precisionMode: number): number | undefined {
  if (value === undefined) return undefined;
  if (precisionMode === TICK_SIZE_MODE) return value;
  if (precisionMode === DECIMAL_PLACES_MODE) return 10 ** -value;
  return undefined;
}

export function toMarket(m: CcxtMarket, precisionMode: number): Market {
  const type = m.spot ? 'spot' : m.swap ? 'swap' : m.future ? 'future' : m.option ? 'option' : ((m.type as Market['type'] | null | undefined) ?? 'spot');
  return {
    symbol: m.symbol,
    base: m.base,
    quote: m.quote,
    settle: m.settle ?? m.quote,
    type,
    linear: type === 'spot' ? undefined : (m.linear ?? undefined),
    contractSize: m.contractSize ?? 1,
    active: m.active ?? true,
    precision: { price: precisionToStep(m.precision?.price, precisionMode), amount: precisionToStep(m.precision?.amount, precisionMode) },
    limits: {
      amount: { min: m.limits?.amount?.min, max: m.limits?.amount?.max },
      price: { min: m.limits?.price?.min, max: m.limits?.price?.max },
      cost: { min: m.limits?.cost?.min, max: m.limits?.cost?.max },
      leverage: m.limits?.leverage ? { min: m.limits.leverage.min, max: m.limits.leverage.max } : undefined,
    },
    maker: m.maker,
    taker: m.taker,
  };
}

export function toTicker(t: CcxtTicker, now: number, provider: string): Ticker {
  const last = t.last ?? t.close;
  if (last === undefined) throw new BadResponseError(provider, `ticker for ${t.symbol} has no last price`);
  return {
    symbol: t.symbol,
    timestamp: t.timestamp ?? now,
    last,
    bid: t.bid,
    ask: t.ask,
    high24h: t.high,
    low24h: t.low,
    baseVolume24h: t.baseVolume,
    quoteVolume24h: t.quoteVolume ?? (t.baseVolume !== undefined ? t.baseVolume * last : undefined),
    change24hPct: t.percentage,
  };
}

export function toCandles(rows: ReadonlyArray<readonly unknown[]>, symbol: string, timeframe: string, timeframeMs: number, now: number): Candle[] {
  return rows.map((r) => {
    const timestamp = r[0] as number;
    return {
      symbol,
      timeframe,
      timestamp,
      open: r[1] as number,
      high: r[2] as number,
      low: r[3] as number,
      close: r[4] as number,
      volume: (r[5] as number | null) ?? 0,
      closed: timestamp + timeframeMs <= now,
    };
  });
}

export function mapStatus(status: CcxtOrder['status'], filled: number, amount: number): OrderStatus {
  switch (status) {
    case 'closed':
      return 'filled';
    case 'canceled':
    case 'cancelled':
      return 'cancelled';
    case 'expired':
      return 'expired';
    case 'rejected':
      return 'rejected';
    case 'open':
      return filled > 0 && filled < amount ? 'partially_filled' : 'accepted';
    default:
      return 'submitted';
  }
}

/** ccxt reports venue-specific type strings (stop_loss_limit, take_profit_market, limit_maker...). */
export function mapOrderType(o: CcxtOrder): OrderType {
  const type = (o.type ?? '').toLowerCase();
  const trigger = o.triggerPrice ?? o.stopPrice;
  if (type.includes('take_profit') || (o.takeProfitPrice !== undefined && trigger === undefined)) return 'take_profit';
  if (type.includes('stop')) return type.includes('limit') || type === 'stop' ? 'stop_limit' : 'stop_market';
  if (trigger !== undefined && trigger > 0) return type === 'market' ? 'stop_market' : 'stop_limit';
  if (type === 'market') return 'market';
  return 'limit';
}

function mapTimeInForce(o: CcxtOrder): TimeInForce | undefined {
  if (o.postOnly) return 'PO';
  const tif = o.timeInForce?.toUpperCase();
  return tif === 'GTC' || tif === 'IOC' || tif === 'FOK' ? tif : tif === 'PO' || tif === 'GTX' ? 'PO' : undefined;
}

function feeOf(fee: { cost?: number | undefined; currency?: string | undefined } | null | undefined): { cost: number; currency: string | undefined } {
  // Fill fees are non-negative in the event catalogue; a maker rebate is reported as zero fee.
  return { cost: Math.max(0, fee?.cost ?? 0), currency: fee?.currency };
}

export function toFill(t: CcxtTrade, fallbackId: string, quote: string): Fill {
  const fee = feeOf(t.fee ?? t.fees?.[0]);
  return {
    tradeId: t.id !== undefined && t.id !== null && String(t.id) !== '' ? String(t.id) : fallbackId,
    price: t.price,
    quantity: t.amount,
    fee: fee.cost,
    feeCurrency: fee.currency ?? quote,
    liquidity: t.takerOrMaker === 'maker' ? 'maker' : 'taker',
    timestamp: t.timestamp,
  };
}

export function toMyTrade(t: CcxtTrade, quote: string): MyTrade {
  return {
    ...toFill(t, `${t.order ?? 'trade'}-${t.timestamp}`, quote),
    symbol: t.symbol,
    side: t.side,
    venueOrderId: t.order !== undefined && t.order !== null ? String(t.order) : undefined,
  };
}

export function toOrder(o: CcxtOrder, now: number, quote: string, request?: OrderRequest): Order {
  const amount = o.amount;
  const filled = o.filled ?? 0;
  const venueOrderId = o.id !== undefined && o.id !== null && String(o.id) !== '' ? String(o.id) : undefined;
  const fills: Fill[] = [];
  for (const [i, raw] of (o.trades ?? []).entries()) {
    const parsed = ccxtTradeSchema.safeParse(raw);
    if (parsed.success) fills.push(toFill(parsed.data, `${venueOrderId ?? 'order'}-${i}`, quote));
  }
  let fee = 0;
  let feeCurrency: string | undefined;
  if (o.fees && o.fees.length > 0) {
    for (const f of o.fees) {
      const x = feeOf(f);
      fee += x.cost;
      feeCurrency ??= x.currency;
    }
  } else if (o.fee) {
    const x = feeOf(o.fee);
    fee = x.cost;
    feeCurrency = x.currency;
  } else if (fills.length > 0) {
    fee = fills.reduce((s, f) => s + f.fee, 0);
    feeCurrency = fills[0]!.feeCurrency;
  }
  const type = request?.type ?? mapOrderType(o);
  const createdAt = o.timestamp ?? now;
  const average = o.average ?? (filled > 0 && o.cost !== undefined && o.cost > 0 ? o.cost / filled : undefined);
  return {
    clientOrderId: request?.clientOrderId ?? o.clientOrderId ?? venueOrderId ?? '',
    venueOrderId,
    symbol: o.symbol,
    side: o.side,
    type,
    status: mapStatus(o.status, filled, amount),
    quantity: amount,
    filledQuantity: filled,
    remainingQuantity: o.remaining ?? Math.max(0, amount - filled),
    averagePrice: filled > 0 ? average : undefined,
    price: type === 'market' || type === 'stop_market' || type === 'take_profit' ? (request?.price ?? undefined) : (o.price ?? request?.price),
    stopPrice: o.triggerPrice ?? o.stopPrice ?? o.takeProfitPrice ?? o.stopLossPrice ?? request?.stopPrice,
    reduceOnly: o.reduceOnly ?? request?.reduceOnly ?? false,
    timeInForce: mapTimeInForce(o) ?? request?.timeInForce,
    fills,
    fee,
    feeCurrency,
    reason: undefined,
    createdAt,
    updatedAt: o.lastUpdateTimestamp ?? o.lastTradeTimestamp ?? createdAt,
  };
}

export function toBalances(b: { total: Record<string, number | null | undefined>; free: Record<string, number | null | undefined>; used: Record<string, number | null | undefined> }): Balance[] {
  const out: Balance[] = [];
  for (const [asset, total] of Object.entries(b.total)) {
    if (total === null || total === undefined || total === 0) continue;
    const free = b.free[asset] ?? 0;
    const used = b.used[asset] ?? Math.max(0, total - free);
    out.push({ asset, free, used, total });
  }
  return out.sort((a, c) => a.asset.localeCompare(c.asset));
}

export function toPosition(p: CcxtPosition, now: number, contractSizeFallback: number): Position | undefined {
  const contracts = p.contracts ?? 0;
  if (contracts === 0 || p.side === undefined || p.side === null) return undefined;
  const marginMode = p.marginMode === 'isolated' || p.marginMode === 'cross' ? p.marginMode : undefined;
  return {
    symbol: p.symbol,
    side: p.side,
    quantity: Math.abs(contracts) * (p.contractSize ?? contractSizeFallback),
    entryPrice: p.entryPrice ?? 0,
    markPrice: p.markPrice,
    unrealizedPnl: p.unrealizedPnl ?? 0,
    realizedPnl: p.realizedPnl,
    leverage: p.leverage,
    liquidationPrice: p.liquidationPrice === 0 ? undefined : p.liquidationPrice,
    marginMode,
    margin: p.initialMargin ?? p.collateral,
    maintenanceMargin: p.maintenanceMargin,
    timestamp: p.timestamp ?? now,
  };
}

/** Our order request as ccxt's unified createOrder arguments. */
export function toCcxtOrderArgs(
  request: OrderRequest,
  isContract: boolean,
): { type: 'market' | 'limit'; price: number | undefined; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { clientOrderId: request.clientOrderId };
  if (request.reduceOnly && isContract) params.reduceOnly = true;
  if (request.timeInForce === 'PO') params.postOnly = true;
  else if (request.timeInForce !== undefined && request.type !== 'market' && request.type !== 'stop_market' && request.type !== 'take_profit') {
    params.timeInForce = request.timeInForce;
  }
  switch (request.type) {
    case 'market':
      return { type: 'market', price: undefined, params };
    case 'limit':
      return { type: 'limit', price: request.price, params };
    case 'stop_market':
      return { type: 'market', price: undefined, params: { ...params, triggerPrice: request.stopPrice } };
    case 'stop_limit':
      return { type: 'limit', price: request.price, params: { ...params, triggerPrice: request.stopPrice } };
    case 'take_profit':
      return { type: 'market', price: undefined, params: { ...params, takeProfitPrice: request.stopPrice } };
  }
}
