import type { Logger } from '@tradebus/core';
import { TradebusError, errorMessage } from '@tradebus/core';

export type NotifierLevel = 'info' | 'warning' | 'error' | 'critical';

/** What a channel delivers: one notification, already routed, de-duplicated and rate limited. */
export interface NotifierMessage {
  level: NotifierLevel;
  code: string;
  title: string;
  text: string;
  details?: Record<string, unknown> | undefined;
  timestamp: number;
}

/** A destination for notifications. Every kind (Discord, Slack, webhook, email, Telegram) has this shape. */
export interface Channel {
  readonly name: string;
  send(message: NotifierMessage): Promise<void>;
  close?(): Promise<void>;
}

export const LEVELS: readonly NotifierLevel[] = ['info', 'warning', 'error', 'critical'];
export const levelRank = (level: NotifierLevel): number => LEVELS.indexOf(level);

/** How a channel retries a delivery that failed for a reason that may pass. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 60_000, timeoutMs: 10_000 };

/** A destination refused a notification (a 4xx other than 429): sending it again would not help. */
export class ChannelRejectedError extends TradebusError {
  constructor(channel: string, status: number, answer: string) {
    super('NOTIFIER_CHANNEL_REJECTED', `Channel '${channel}' refused the notification (status ${status}): ${answer}. Check the channel's URL, token and payload settings.`, {
      details: { channel, status },
    });
  }
}

/** A destination stayed unreachable or overloaded through every retry. */
export class ChannelUnavailableError extends TradebusError {
  constructor(channel: string, attempts: number, cause: unknown) {
    super('NOTIFIER_CHANNEL_UNAVAILABLE', `Channel '${channel}' could not be reached after ${attempts} attempts (${errorMessage(cause)}). Check the network and the service's status.`, {
      cause,
      details: { channel, attempts },
    });
  }
}

/** A failure worth another try, with the wait the far side asked for, if it asked. */
export class TransientFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential back-off with full jitter, never shorter than what the far side asked for. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // Full jitter spreads the retries of many senders hit by the same outage.
  const jittered = exponential / 2 + random() * (exponential / 2);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

/**
 * Runs `attempt` until it succeeds, a non-transient error is thrown (returned as is), or the
 * attempts run out (ChannelUnavailableError). Transient: TransientFailure and network errors.
 */
export async function withRetries(channel: string, policy: RetryPolicy, logger: Logger, attempt: () => Promise<void>): Promise<void> {
  let last: unknown;
  for (let n = 1; n <= policy.maxAttempts; n++) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (err instanceof ChannelRejectedError || !(err instanceof TransientFailure || isNetworkError(err))) throw err;
      last = err;
      if (n === policy.maxAttempts) break;
      const waitMs = backoffMs(policy, n, err instanceof TransientFailure ? err.retryAfterMs : undefined);
      logger.warn({ channel, attempt: n, waitMs: Math.round(waitMs), reason: errorMessage(err) }, 'notification delivery failed, retrying');
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
  throw new ChannelUnavailableError(channel, policy.maxAttempts, last);
}

function isNetworkError(err: unknown): boolean {
  // fetch reports refused connections, resets and DNS failures as a TypeError with a system cause;
  // a timeout as an AbortError/TimeoutError.
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return true;
  return err instanceof TypeError && err.message === 'fetch failed';
}

/**
 * POSTs a body to a URL once: 2xx resolves, 429 and 5xx throw TransientFailure (with Retry-After),
 * another status throws ChannelRejectedError with the service's answer. The URL is never put in
 * an error: webhook URLs carry their token.
 */
export async function postOnce(channel: string, url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.ok) {
    await response.body?.cancel().catch(() => undefined);
    return;
  }
  const answer = (await response.text().catch(() => '')).slice(0, 500);
  if (response.status === 429 || response.status >= 500) {
    throw new TransientFailure(`HTTP ${response.status}${answer === '' ? '' : `: ${answer}`}`, parseRetryAfter(response.headers.get('retry-after')));
  }
  throw new ChannelRejectedError(channel, response.status, answer === '' ? '(empty answer)' : answer);
}

/** Cuts text to `max` characters, saying so. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
