import type { Logger } from '@tradebus/core';
import { toError, type Clock, type TimerHandle } from '@tradebus/core';
import { LEVELS, clip, levelRank, type Channel, type NotifierLevel, type NotifierMessage } from './channel.js';
import type { QuietHours, Route } from './config.js';
import type { Notification } from './messages.js';
import { quietRemainingMs } from './quiet-hours.js';

export interface OutletSettings {
  rateLimitPerMinute: number;
  quietHours?: QuietHours | undefined;
}

export interface DispatcherOptions {
  clock: Clock;
  logger: Logger;
  routes: readonly Route[];
  dedupWindowMs: number;
  channels: ReadonlyArray<{ channel: Channel; settings: OutletSettings }>;
  /** Told of every delivery that failed for good (already logged). */
  onDeliveryFailed?: (channel: string, err: Error) => void;
}

export const DIGEST_CODE = 'NOTIFIER_DIGEST';
const CLOSE_WAIT_MS = 15_000;

const maxLevel = (items: readonly NotifierMessage[]): NotifierLevel => LEVELS[Math.max(...items.map((m) => levelRank(m.level)))] ?? 'info';

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Several messages as one: the highest level, a line per message, counts per level. */
export function digest(items: readonly NotifierMessage[], reason: 'rate-limit' | 'quiet-hours' | 'shutdown', now: number): NotifierMessage {
  const byLevel: Record<string, number> = {};
  for (const m of items) byLevel[m.level] = (byLevel[m.level] ?? 0) + 1;
  const why = reason === 'quiet-hours' ? 'held during quiet hours' : reason === 'rate-limit' ? 'over the rate limit' : 'pending at shutdown';
  return {
    level: maxLevel(items),
    code: DIGEST_CODE,
    title: `${items.length} notifications ${why}`,
    text: items.map((m) => `• [${m.level}] ${clip(m.title, 200)}: ${clip(m.text.replace(/\s+/g, ' '), 300)}`).join('\n'),
    details: { count: items.length, reason, byLevel, codes: [...new Set(items.map((m) => m.code))], from: new Date(items[0]!.timestamp).toISOString(), to: new Date(items.at(-1)!.timestamp).toISOString() },
    timestamp: now,
  };
}

function matches(filter: Route['codes'], value: string): boolean {
  if (filter === undefined) return true;
  const hit = (pattern: string) => (pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern);
  if (filter.include !== undefined && !filter.include.some(hit)) return false;
  return !filter.exclude.some(hit);
}

/**
 * One channel's gate: quiet hours hold what is below their level, a token bucket spaces out the
 * rest, and what the bucket cannot take now waits in a queue that leaves as one digest when a
 * token is back. Deliveries to a channel go one after the other, in order.
 */
class Outlet {
  private tokens: number;
  private refilledAt: number;
  private readonly queue: NotifierMessage[] = [];
  private readonly held: NotifierMessage[] = [];
  private flushTimer: TimerHandle | undefined;
  private quietTimer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  delivered = 0;
  failed = 0;

  constructor(
    readonly channel: Channel,
    private readonly settings: OutletSettings,
    private readonly options: DispatcherOptions,
  ) {
    this.tokens = this.capacity;
    this.refilledAt = options.clock.now();
  }

  /** The burst the bucket allows; at least one message, or a rate under one per minute would never send. */
  private get capacity(): number {
    return Math.max(1, this.settings.rateLimitPerMinute);
  }

  offer(message: NotifierMessage): void {
    const quiet = this.settings.quietHours;
    if (quiet !== undefined && levelRank(message.level) < levelRank(quiet.minLevel)) {
      const remaining = quietRemainingMs(quiet, this.options.clock.now());
      if (remaining !== undefined) {
        this.held.push(message);
        this.quietTimer ??= this.options.clock.setTimeout(() => this.endQuiet(), remaining);
        return;
      }
    }
    this.limit(message);
  }

  private endQuiet(): void {
    this.quietTimer = undefined;
    const items = this.held.splice(0);
    if (items.length > 0) this.limit(items.length === 1 ? items[0]! : digest(items, 'quiet-hours', this.options.clock.now()));
  }

  private refill(): void {
    const now = this.options.clock.now();
    const perMs = this.settings.rateLimitPerMinute / 60_000;
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
  }

  private limit(message: NotifierMessage): void {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.deliver(message);
      return;
    }
    this.queue.push(message);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) * 60_000) / this.settings.rateLimitPerMinute));
    this.flushTimer = this.options.clock.setTimeout(() => this.flush(), waitMs);
  }

  private flush(): void {
    this.flushTimer = undefined;
    this.refill();
    if (this.tokens < 1 - 1e-9) {
      this.scheduleFlush();
      return;
    }
    this.tokens = Math.max(0, this.tokens - 1);
    const items = this.queue.splice(0);
    if (items.length > 0) this.deliver(items.length === 1 ? items[0]! : digest(items, 'rate-limit', this.options.clock.now()));
  }

  private deliver(message: NotifierMessage): void {
    this.chain = this.chain.then(
      () =>
        this.channel.send(message).then(
          () => {
            this.delivered++;
          },
          (err: unknown) => {
            this.failed++;
            const error = toError(err);
            this.options.logger.error({ channel: this.channel.name, code: message.code, err: error }, 'notification not delivered');
            this.options.onDeliveryFailed?.(this.channel.name, error);
          },
        ),
    );
  }

  /** Sends what is queued or held as one last digest, waits for deliveries in flight, closes the channel. */
  async close(): Promise<void> {
    this.flushTimer?.cancel();
    this.quietTimer?.cancel();
    const pending = [...this.held.splice(0), ...this.queue.splice(0)];
    if (pending.length > 0) this.deliver(pending.length === 1 ? pending[0]! : digest(pending, 'shutdown', this.options.clock.now()));
    // A channel that keeps failing must not hold a shutdown for the whole of its retries.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([this.chain, bound]);
    clearTimeout(timer);
    await this.channel.close?.();
  }

  /** Resolves when the deliveries started so far have finished. */
  idle(): Promise<void> {
    return this.chain;
  }
}

interface Repeat {
  first: Notification;
  last: Notification;
  count: number;
  level: NotifierLevel;
  timer: TimerHandle;
}

/**
 * Where messages go: de-duplication per key, routes to channels, and each channel's outlet.
 * The first of a key passes at once; repeats within `dedupWindowMs` are counted and, when the
 * window closes, sent as one "repeated N times" message.
 */
export class Dispatcher {
  private readonly outlets = new Map<string, Outlet>();
  private readonly repeats = new Map<string, Repeat>();

  constructor(private options: DispatcherOptions) {
    for (const { channel, settings } of options.channels) this.outlets.set(channel.name, new Outlet(channel, settings, options));
  }

  /** Routes and the de-duplication window from now on; repeats already being counted keep the window they started with. */
  reroute(routes: readonly Route[], dedupWindowMs: number): void {
    this.options = { ...this.options, routes, dedupWindowMs };
  }

  notify(n: Notification): void {
    if (this.options.dedupWindowMs <= 0) {
      this.route(n);
      return;
    }
    const seen = this.repeats.get(n.key);
    if (seen !== undefined) {
      seen.count++;
      seen.last = n;
      if (levelRank(n.message.level) > levelRank(seen.level)) seen.level = n.message.level;
      return;
    }
    const timer = this.options.clock.setTimeout(() => this.closeWindow(n.key), this.options.dedupWindowMs);
    this.repeats.set(n.key, { first: n, last: n, count: 0, level: n.message.level, timer });
    this.route(n);
  }

  private closeWindow(key: string): void {
    const r = this.repeats.get(key);
    this.repeats.delete(key);
    if (r === undefined || r.count === 0) return;
    const m = r.last.message;
    this.route({
      ...r.last,
      message: {
        level: r.level,
        code: m.code,
        title: `${r.first.message.title}: repeated ${r.count} times`,
        text: `Repeated ${r.count} times in the last ${formatDuration(this.options.dedupWindowMs)}. Last: ${m.text}`,
        details: { ...m.details, repeated: r.count, firstAt: new Date(r.first.message.timestamp).toISOString(), lastAt: new Date(m.timestamp).toISOString() },
        timestamp: this.options.clock.now(),
      },
    });
  }

  /** Names of the channels the routes send this notification to. */
  channelsFor(n: Notification): string[] {
    const names = new Set<string>();
    for (const route of this.options.routes) {
      if (levelRank(n.message.level) < levelRank(route.minLevel)) continue;
      if (!matches(route.codes, n.message.code) || !matches(route.types, n.type)) continue;
      for (const c of route.channels) {
        if (c === '*') for (const name of this.outlets.keys()) names.add(name);
        else names.add(c);
      }
    }
    return [...names].filter((name) => this.outlets.has(name));
  }

  private route(n: Notification): void {
    for (const name of this.channelsFor(n)) this.outlets.get(name)!.offer(n.message);
  }

  /** Sends to named channels ('*': all) past routing and de-duplication; quiet hours and rate limits still apply. */
  sendTo(channels: readonly string[], message: NotifierMessage): void {
    const names = channels.includes('*') ? [...this.outlets.keys()] : channels.filter((c) => this.outlets.has(c));
    for (const name of names) this.outlets.get(name)!.offer(message);
  }

  stats(): Record<string, { delivered: number; failed: number }> {
    return Object.fromEntries([...this.outlets].map(([name, o]) => [name, { delivered: o.delivered, failed: o.failed }]));
  }

  /** Resolves when every delivery started so far has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.outlets.values()].map((o) => o.idle()));
  }

  /** Sends pending repeat counts and digests, then closes every channel. */
  async close(): Promise<void> {
    for (const key of [...this.repeats.keys()]) {
      this.repeats.get(key)?.timer.cancel();
      this.closeWindow(key);
    }
    await Promise.all([...this.outlets.values()].map((o) => o.close()));
  }
}
