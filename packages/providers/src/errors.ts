import { TradebusError } from '@tradebus/core';

/**
 * Provider failures, by what the caller should do about them. `retryable` says whether the same
 * call may succeed later unchanged. `outcomeUnknown` is set when a call that changes state
 * (createOrder, cancelOrder) failed in a way that leaves open whether the venue acted on it: look
 * the order up by its client order id before trying again.
 */
export type ProviderErrorCode =
  | 'PROVIDER_AUTH'
  | 'PROVIDER_INSUFFICIENT_FUNDS'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_NETWORK'
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_INVALID_ORDER'
  | 'PROVIDER_ORDER_NOT_FOUND'
  | 'PROVIDER_BAD_SYMBOL'
  | 'PROVIDER_BAD_RESPONSE'
  | 'PROVIDER_NOT_SUPPORTED'
  | 'PROVIDER_EXCHANGE_ERROR';

export interface ProviderErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  outcomeUnknown?: boolean;
}

export class ProviderError extends TradebusError {
  declare readonly code: ProviderErrorCode;
  readonly retryable: boolean;
  readonly outcomeUnknown: boolean;
  readonly provider: string | undefined;

  constructor(code: ProviderErrorCode, message: string, retryable: boolean, provider: string | undefined, options: ProviderErrorOptions = {}) {
    super(code, message, { cause: options.cause, details: { ...options.details, provider, retryable } });
    this.retryable = retryable;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.provider = provider;
  }
}

const prefix = (provider: string | undefined): string => (provider ? `${provider}: ` : '');

export class AuthenticationError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    super(
      'PROVIDER_AUTH',
      `${prefix(provider)}the venue rejected the API credentials (${detail}). Check TRADEBUS_<EXCHANGE>_API_KEY / _SECRET, the key's permissions and IP whitelist, and the machine's clock.`,
      false,
      provider,
      options,
    );
  }
}

export class InsufficientFundsError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    super('PROVIDER_INSUFFICIENT_FUNDS', `${prefix(provider)}insufficient funds (${detail}). Reduce the order size or add funds.`, false, provider, options);
  }
}

export class RateLimitError extends ProviderError {
  readonly retryAfterMs: number | undefined;
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions & { retryAfterMs?: number; banned?: boolean } = {}) {
    const wait = options.retryAfterMs !== undefined ? ` Wait ${options.retryAfterMs} ms before the next request.` : ' Back off before the next request.';
    const ban = options.banned ? ' The venue has banned this IP for a while (HTTP 418): stop sending requests until the ban ends.' : '';
    super('PROVIDER_RATE_LIMITED', `${prefix(provider)}rate limit hit (${detail}).${ban}${wait}`, true, provider, {
      ...options,
      details: { ...options.details, retryAfterMs: options.retryAfterMs, banned: options.banned ?? false },
    });
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class NetworkError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    const hint = options.outcomeUnknown
      ? ' The venue may or may not have acted on the request: fetch the order by its client order id before retrying.'
      : ' Retry with backoff; check connectivity if it persists.';
    super('PROVIDER_NETWORK', `${prefix(provider)}network failure (${detail}).${hint}`, true, provider, options);
  }
}

export class ExchangeUnavailableError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    const hint = options.outcomeUnknown
      ? ' The venue may or may not have acted on the request: fetch the order by its client order id before retrying.'
      : ' Retry with backoff.';
    super('PROVIDER_UNAVAILABLE', `${prefix(provider)}the venue is unavailable or in maintenance (${detail}).${hint}`, true, provider, options);
  }
}

export class InvalidOrderError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    super('PROVIDER_INVALID_ORDER', `${prefix(provider)}order rejected as invalid (${detail}). Fix the order parameters (size, price, precision, limits) before sending it again.`, false, provider, options);
  }
}

export class OrderNotFoundError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    super('PROVIDER_ORDER_NOT_FOUND', `${prefix(provider)}order not found (${detail}). It was never placed, or the venue no longer reports it.`, false, provider, options);
  }
}

export class BadSymbolError extends ProviderError {
  constructor(provider: string | undefined, symbol: string, suggestions: string[], options: ProviderErrorOptions = {}) {
    const hint = suggestions.length > 0 ? ` Did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
    super('PROVIDER_BAD_SYMBOL', `${prefix(provider)}unknown symbol '${symbol}'.${hint} Use unified symbols such as BTC/USDT (spot) or BTC/USDT:USDT (perpetual).`, false, provider, {
      ...options,
      details: { ...options.details, symbol, suggestions },
    });
  }
}

export class BadResponseError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    const hint = options.outcomeUnknown
      ? ' The venue may or may not have acted on the request: fetch the order by its client order id before retrying.'
      : ' Retry later; report it if it persists (the venue API may have changed).';
    super('PROVIDER_BAD_RESPONSE', `${prefix(provider)}unexpected response from the venue (${detail}).${hint}`, true, provider, options);
  }
}

export class NotSupportedError extends ProviderError {
  constructor(provider: string | undefined, what: string, options: ProviderErrorOptions = {}) {
    super('PROVIDER_NOT_SUPPORTED', `${prefix(provider)}${what} is not supported by this provider. Use another provider or order type.`, false, provider, options);
  }
}

export class ExchangeError extends ProviderError {
  constructor(provider: string | undefined, detail: string, options: ProviderErrorOptions = {}) {
    super('PROVIDER_EXCHANGE_ERROR', `${prefix(provider)}the venue returned an error (${detail}). Check the request and the venue's status.`, false, provider, options);
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ProviderError && err.retryable;
}
