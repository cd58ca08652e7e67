import { TradebusError } from '@tradebus/core';

/** Errors the dashboard raises on purpose; `code` is stable. */
export class TradeMonitorError extends TradebusError {}
