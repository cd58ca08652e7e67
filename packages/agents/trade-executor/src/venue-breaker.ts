import { TradebusError } from '@tradebus/core';

export type VenueBreakerState = 'closed' | 'open' | 'half_open';

export interface VenueBreakerSettings {
  /** Consecutive venue failures that open the breaker; 0 turns it off. */
  failures: number;
  /** Only failures this recent count towards `failures`. */
  windowMs: number;
  /** How long the breaker stays open before one request may probe the venue. */
  cooldownMs: number;
}

/** What survives a restart: plain data, stored as is. */
export interface VenueBreakerSnapshot {
  state: VenueBreakerState;
  /** Clock times of the consecutive failures still inside the window, oldest first. */
  failures: number[];
  openedAt?: number | undefined;
  /** When an open breaker lets one request through to probe the venue. */
  probeAt?: number | undefined;
  /** The failure that opened it, for the refusal reason and the alerts. */
  lastError?: string | undefined;
}

export interface VenueBreakerTransition {
  from: VenueBreakerState;
  to: VenueBreakerState;
  at: number;
  reason: string;
  /** Consecutive failures seen when it opened. */
  failures: number;
  probeAt?: number | undefined;
  lastError?: string | undefined;
}

/** What a venue call told about the venue's health. */
export type VenueOutcome = 'answered' | 'failed' | 'neutral';

/**
 * Whether an error from a placement or cancel says the venue is unreachable or broken (a network
 * failure, a timeout, maintenance, a response it could not read), rather than that it answered
 * and said no (insufficient funds, an invalid order: the venue works, the order does not). Rate
 * limits say neither: the token bucket slows down, the venue is fine. Anything that is not a
 * provider error (a timeout raised around the client, a crash inside it) counts as a failure: the
 * venue did not answer. Read from the error's code, so errors from another copy of
 * @tradebus/providers are classified the same way.
 */
export function venueOutcomeOf(err: unknown): VenueOutcome {
  if (!(err instanceof TradebusError) || !err.code.startsWith('PROVIDER_')) return 'failed';
  switch (err.code) {
    case 'PROVIDER_NETWORK':
    case 'PROVIDER_UNAVAILABLE':
    case 'PROVIDER_BAD_RESPONSE':
      return 'failed';
    case 'PROVIDER_RATE_LIMITED':
      return 'neutral';
    default:
      return 'answered';
  }
}

/**
 * Stops new entries from going to a venue that keeps failing, so that a venue outage does not
 * turn into a pile of orders of unknown outcome, while exits and protective orders still go out
 * (the breaker only answers for entries; the caller never asks it about exits).
 *
 * Closed → open after `failures` consecutive failures within `windowMs`. Open → half-open once
 * `cooldownMs` has passed: the next request probes the venue; its success closes the breaker,
 * its failure opens it again for another cooldown. While open, outcomes of calls already under
 * way are ignored: only a probe decides, so the breaker does not flap on stragglers.
 */
export class VenueBreaker {
  private s: VenueBreakerSnapshot;
  /** A half-open breaker has let its probe through and waits for its outcome. */
  private probing = false;

  constructor(
    private readonly settings: VenueBreakerSettings,
    private readonly onTransition: (t: VenueBreakerTransition) => void,
    restored?: VenueBreakerSnapshot,
  ) {
    this.s = restored !== undefined && settings.failures > 0 ? structuredClone(restored) : { state: 'closed', failures: [] };
  }

  get enabled(): boolean {
    return this.settings.failures > 0;
  }

  get state(): VenueBreakerState {
    return this.s.state;
  }

  get probeAt(): number | undefined {
    return this.s.state === 'open' ? this.s.probeAt : undefined;
  }

  snapshot(): VenueBreakerSnapshot {
    return structuredClone(this.s);
  }

  /** Moves an open breaker to half-open once its cooldown is over; call on a timer and before deciding. */
  poll(now: number): void {
    if (this.s.state !== 'open' || this.s.probeAt === undefined || now < this.s.probeAt) return;
    this.probing = false;
    this.move('half_open', now, `cooldown of ${this.settings.cooldownMs} ms over: the next request probes the venue`);
  }

  /**
   * Asks whether a new entry may go to the venue now: `probe` when it may (true when it is the
   * request whose outcome decides a half-open breaker), `refused` with the reason when it may not.
   */
  admitEntry(now: number): { probe: boolean } | { refused: string } {
    if (!this.enabled) return { probe: false };
    this.poll(now);
    if (this.s.state === 'closed') return { probe: false };
    if (this.s.state === 'open') {
      const cause = this.s.lastError !== undefined ? ` (last: ${this.s.lastError})` : '';
      return {
        refused: `venue circuit breaker is open after ${this.settings.failures} consecutive venue failures${cause}; new entries are refused until it probes the venue at ${new Date(this.s.probeAt ?? now).toISOString()}`,
      };
    }
    if (this.probing) return { refused: 'venue circuit breaker is half-open and its probe request is still under way; new entries are refused until it succeeds' };
    this.probing = true;
    return { probe: true };
  }

  /** An exit or protective order goes out whatever the state; on a half-open breaker it probes when nothing else does. */
  admitOther(now: number): { probe: boolean } {
    if (!this.enabled) return { probe: false };
    this.poll(now);
    if (this.s.state !== 'half_open' || this.probing) return { probe: false };
    this.probing = true;
    return { probe: true };
  }

  /** A probe ended without telling anything (refused before it reached the venue): let another request probe. */
  releaseProbe(): void {
    this.probing = false;
  }

  /** Folds in the outcome of one placement or cancel call. */
  record(outcome: VenueOutcome, now: number, error?: string): void {
    if (!this.enabled || outcome === 'neutral') return;
    this.poll(now);
    const s = this.s;
    if (s.state === 'open') return;
    if (outcome === 'answered') {
      s.failures = [];
      if (s.state === 'half_open') this.move('closed', now, 'the probe request reached the venue');
      return;
    }
    s.lastError = error;
    if (s.state === 'half_open') {
      this.open(now, 1, `the probe request failed${error !== undefined ? `: ${error}` : ''}`);
      return;
    }
    s.failures = s.failures.filter((t) => t > now - this.settings.windowMs);
    s.failures.push(now);
    if (s.failures.length >= this.settings.failures) {
      this.open(now, s.failures.length, `${s.failures.length} consecutive venue failures within ${this.settings.windowMs} ms${error !== undefined ? `, the last: ${error}` : ''}`);
    }
  }

  /** Closes the breaker on an operator's word. */
  reset(now: number, reason: string): void {
    this.s.failures = [];
    this.probing = false;
    if (this.s.state !== 'closed') this.move('closed', now, reason);
  }

  private open(now: number, failures: number, reason: string): void {
    this.s.openedAt = now;
    this.s.probeAt = now + this.settings.cooldownMs;
    this.s.failures = [];
    this.probing = false;
    this.move('open', now, reason, failures);
  }

  private move(to: VenueBreakerState, now: number, reason: string, failures = 0): void {
    const from = this.s.state;
    this.s.state = to;
    if (to === 'closed') {
      this.s.openedAt = undefined;
      this.s.probeAt = undefined;
      this.s.lastError = undefined;
    }
    this.onTransition({ from, to, at: now, reason, failures, probeAt: to === 'open' ? this.s.probeAt : undefined, lastError: this.s.lastError });
  }
}
