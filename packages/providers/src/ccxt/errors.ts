import * as ccxt from 'ccxt';
import {
  AuthenticationError,
  BadResponseError,
  BadSymbolError,
  ExchangeError,
  ExchangeUnavailableError,
  InsufficientFundsError,
  InvalidOrderError,
  NetworkError,
  NotSupportedError,
  OrderNotFoundError,
  ProviderError,
  RateLimitError,
} from '../errors.js';

export interface MapErrorContext {
  provider: string;
  /** The call may have changed state at the venue (createOrder, cancelOrder). */
  mutating: boolean;
  /** Response headers of the failed call, for Retry-After. */
  responseHeaders?: Record<string, unknown> | undefined;
}

/** Strips the URL query (it carries the signature) from ccxt's messages before they reach a log. */
function scrub(message: string): string {
  return message.replace(/(https?:\/\/[^\s?]+)\?\S*/g, '$1?…').replace(/signature=[^&\s]+/gi, 'signature=…').slice(0, 500);
}

function retryAfterMs(headers: Record<string, unknown> | undefined): number | undefined {
  if (headers === undefined) return undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== 'retry-after') continue;
    const seconds = Number(v);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  }
  return undefined;
}

/** ccxt's error classes, mapped to ours by what the caller should do. Order matters: subclasses first. */
export function mapCcxtError(err: unknown, ctx: MapErrorContext): ProviderError {
  if (err instanceof ProviderError) return err;
  const { provider, mutating } = ctx;
  const message = scrub(err instanceof Error ? err.message : String(err));
  const options = { cause: err, outcomeUnknown: false };
  if (err instanceof ccxt.AuthenticationError) return new AuthenticationError(provider, message, options);
  if (err instanceof ccxt.InsufficientFunds) return new InsufficientFundsError(provider, message, options);
  if (err instanceof ccxt.OrderNotFound) return new OrderNotFoundError(provider, message, options);
  if (err instanceof ccxt.InvalidOrder) return new InvalidOrderError(provider, message, options);
  if (err instanceof ccxt.BadSymbol) return new BadSymbolError(provider, message, [], options);
  if (err instanceof ccxt.NotSupported) return new NotSupportedError(provider, message, options);
  if (err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection) {
    const banned = /\b418\b/.test(message);
    return new RateLimitError(provider, message, { cause: err, banned, retryAfterMs: retryAfterMs(ctx.responseHeaders) });
  }
  if (err instanceof ccxt.ExchangeNotAvailable) return new ExchangeUnavailableError(provider, message, { cause: err, outcomeUnknown: mutating });
  if (err instanceof ccxt.InvalidNonce) {
    return new NetworkError(provider, `${message}; the request timestamp was rejected: sync the system clock or enable adjustForTimeDifference`, {
      cause: err,
      outcomeUnknown: false,
    });
  }
  if (err instanceof ccxt.NetworkError) return new NetworkError(provider, message, { cause: err, outcomeUnknown: mutating });
  if (err instanceof ccxt.BadResponse) return new BadResponseError(provider, message, { cause: err, outcomeUnknown: mutating });
  if (err instanceof ccxt.ExchangeError) return new ExchangeError(provider, message, options);
  // Anything else escaped ccxt's own parsing (a TypeError on a body it could not decode):
  // the venue answered, but not with something we can read.
  return new BadResponseError(provider, message, { cause: err, outcomeUnknown: mutating });
}
