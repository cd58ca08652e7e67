import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { TradebusError, TimeoutError, errorMessage, toError } from '../errors.js';
import type { EventCatalogue, EventMap } from '../events/catalogue.js';
import type { BuiltinEvents } from '../events/builtin.js';
import { newTag } from '../ids.js';
import { silentLogger } from '../logger.js';
import { PublishedEnvelope, type Envelope, type EnvelopeOf } from './envelope.js';
import { isPattern, type MatchingKeys, type SubscriptionPattern } from './subjects.js';
import type { Transport, TransportSubscribeOptions } from './transport.js';

type Keys<E> = keyof E & string;

/**
 * Receives one event. What it returns is ignored, except a promise (or any thenable): the bus
 * waits for it to count the handler busy, to report a rejection, and, for durable events, to
 * acknowledge the event only once it was handled. So a concise arrow such as
 * `(e) => this.publish(...)` is a handler too.
 */
export type Handler<Env> = (event: Env) => unknown;

/**
 * The pattern itself when at least one event type of `Keys` matches it; otherwise a message type
 * no string is assignable to, so a subscription that could never receive anything (`'prices.*'`)
 * does not compile.
 */
export type KnownPattern<Keys extends string, P extends string> = [MatchingKeys<Keys, P>] extends [never]
  ? `no event type matches '${P}': check the pattern against the event names`
  : P;

export interface Subscription {
  unsubscribe(): void;
}

export interface PublishOptions {
  /** The event this one answers or follows from: sets causation and correlation ids. */
  cause?: Pick<Envelope, 'id' | 'correlationId'> | undefined;
  correlationId?: string | undefined;
  causationId?: string | undefined;
}

export interface SubscribeOptions extends Omit<TransportSubscribeOptions, 'durable' | 'consumer'> {
  /**
   * Durable name (see TransportSubscribeOptions). On a bus with a `consumer` identity (every
   * agent's bus), durable event types are consumed durably without it, under a name derived from
   * the identity and the pattern; `false` asks for a plain subscription instead.
   */
  durable?: string | false | undefined;
  /**
   * Run this handler one event at a time, in order, even when it is async. Events that arrive
   * while it runs wait in an unbounded in-memory queue (nothing is dropped; watch `pending`).
   */
  serial?: boolean;
}

export interface BusStats {
  eventsIn: number;
  eventsOut: number;
  errors: number;
  lastError: { message: string; type: string; at: number } | undefined;
  /** Async handler invocations not yet settled (including queued serial ones). */
  pending: number;
}

export interface HandlerFailure {
  error: Error;
  envelope: Envelope;
}

export interface EventBusOptions {
  transport: Transport;
  catalogue: EventCatalogue;
  clock: Clock;
  /** Id stamped as `source` on every envelope this bus publishes. */
  source: string;
  logger?: Logger;
  /** Validate payloads against their schema on publish. Off by default on the in-process hot path. */
  validateOnPublish?: boolean;
  /** Called after a handler throws or rejects (after logging and counting). */
  onHandlerError?: (failure: HandlerFailure) => void;
  /**
   * Receives the duration of one in every 64 handler runs (until an async handler settles), for
   * latency metrics. Sampling keeps the cost off the hot path.
   */
  onHandlerTiming?: (type: string, seconds: number) => void;
  /** Default request timeout. */
  requestTimeoutMs?: number;
  /**
   * Identity of this bus's subscriber that stays the same across restarts (the agent id). On a
   * transport that persists events, subscriptions to durable event types then resume after a
   * restart where they stopped, instead of missing what was published meanwhile.
   */
  consumer?: string;
}

/** Reply body of request/reply: the responder's value, or the error it threw. */
type ReplyBody = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

export class RemoteError extends TradebusError {
  constructor(type: string, code: string, message: string) {
    super(code, `Responder for '${type}' failed: ${message}`, { details: { type } });
  }
}

/**
 * The typed face of the bus for one publisher (usually one agent). It stamps envelopes (id, source,
 * clock time, per-source sequence), counts events in and out, and runs every handler behind a
 * guard: a handler that throws or rejects is logged, counted and reported, and neither the
 * publisher nor the other subscribers notice.
 *
 * Ordering: on LocalTransport, handlers run synchronously inside `publish`, in subscription order,
 * so events reach each subscriber in publish order. Async handlers are started in that order but
 * not awaited (use `serial: true` to process one at a time). `idle()` resolves once every started
 * async handler has settled: a publisher that must not outrun its consumers awaits it.
 */
export class EventBus<E extends EventMap = BuiltinEvents> {
  readonly source: string;
  readonly transport: Transport;
  readonly catalogue: EventCatalogue;
  readonly clock: Clock;
  private readonly logger: Logger;
  /** Random per-bus tag that makes this publisher's ids unique among all publishers. */
  private readonly tag = newTag();
  private readonly validateOnPublish: boolean;
  private readonly onHandlerError: ((failure: HandlerFailure) => void) | undefined;
  private readonly onHandlerTiming: ((type: string, seconds: number) => void) | undefined;
  private timingCounter = 0;
  private readonly requestTimeoutMs: number;
  private readonly consumer: string | undefined;
  private seq = 0;
  private lastKnownType: string | undefined;
  private idleWaiters: Array<() => void> = [];
  // Plain fields rather than a stats object: these counters are bumped on every event.
  private eventsIn = 0;
  private eventsOut = 0;
  private errors = 0;
  private pending = 0;
  private lastError: BusStats['lastError'];

  /** Async handler invocations not yet settled (as in `stats.pending`), without building the stats object. */
  get inFlight(): number {
    return this.pending;
  }

  get stats(): BusStats {
    return { eventsIn: this.eventsIn, eventsOut: this.eventsOut, errors: this.errors, lastError: this.lastError, pending: this.pending };
  }

  constructor(options: EventBusOptions) {
    this.transport = options.transport;
    this.catalogue = options.catalogue;
    this.clock = options.clock;
    this.source = options.source;
    this.logger = options.logger ?? silentLogger();
    this.validateOnPublish = options.validateOnPublish ?? false;
    this.onHandlerError = options.onHandlerError;
    this.onHandlerTiming = options.onHandlerTiming;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.consumer = options.consumer;
  }

  /** Publishes an event; returns its envelope once the transport has taken it. */
  publish<K extends Keys<E>>(type: K, payload: E[K], options?: PublishOptions): Envelope<K, E[K]> {
    const envelope = this.envelope(type, payload, options);
    const pending = this.transport.publish(envelope);
    if (pending !== undefined) {
      pending.catch((err: unknown) => {
        this.errors++;
        this.lastError = { message: errorMessage(err), type, at: this.clock.now() };
        this.logger.error({ err: toError(err), type, id: envelope.id }, 'publish was not confirmed by the transport');
      });
    }
    return envelope;
  }

  /**
   * Publishes and waits until the transport confirms it (e.g. a JetStream ack); rejects when it
   * could not be delivered. Use it where losing the event is not acceptable (orders, trades).
   */
  async publishConfirmed<K extends Keys<E>>(type: K, payload: E[K], options?: PublishOptions): Promise<Envelope<K, E[K]>> {
    const envelope = this.envelope(type, payload, options);
    await this.transport.publish(envelope);
    return envelope;
  }

  /**
   * Subscribes to one event type, or to a pattern (`order.*`, `trade.>`, `>`).
   * Returns a handle whose `unsubscribe()` stops delivery.
   */
  subscribe<P extends SubscriptionPattern<Keys<E>>>(
    pattern: KnownPattern<Keys<E>, P>,
    handler: Handler<EnvelopeOf<E, MatchingKeys<Keys<E>, P>>>,
    options: SubscribeOptions = {},
  ): Subscription {
    if (!isPattern(pattern)) this.catalogue.assertKnown(pattern);
    const guarded = options.serial ? this.serialGuard(handler as Handler<Envelope>) : this.guard(handler as Handler<Envelope>);
    const durable = options.durable;
    return this.transport.subscribe(pattern, guarded, {
      queue: options.queue,
      durable: durable === false ? undefined : durable,
      consumer: durable === undefined ? this.consumer : undefined,
    });
  }

  /** Resolves with the next event of `type` (matching `filter`), or rejects after `timeoutMs`. */
  waitFor<K extends Keys<E>>(
    type: K,
    options: { timeoutMs?: number; filter?: (event: Envelope<K, E[K]>) => boolean } = {},
  ): Promise<Envelope<K, E[K]>> {
    this.catalogue.assertKnown(type);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new TimeoutError(`Waiting for '${type}'`, timeoutMs));
      }, timeoutMs);
      const sub = this.transport.subscribe(type, (env) => {
        const event = env as Envelope<K, E[K]>;
        if (options.filter && !options.filter(event)) return;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(event);
      });
    });
  }

  /** Sends a request and resolves with the responder's value; rejects on timeout or responder error. */
  async request<K extends Keys<E>, R = unknown>(type: K, payload: E[K], options: { timeoutMs?: number } & PublishOptions = {}): Promise<R> {
    const envelope = this.envelope(type, payload, options);
    const reply = await this.transport.request(envelope, options.timeoutMs ?? this.requestTimeoutMs);
    const body = reply.payload as ReplyBody;
    if (body === null || typeof body !== 'object' || typeof body.ok !== 'boolean') {
      throw new RemoteError(type, 'REPLY_INVALID', 'the reply is not a Tradebus reply envelope');
    }
    if (!body.ok) throw new RemoteError(type, body.error.code, body.error.message);
    return body.value as R;
  }

  /** Answers requests of `type`. With several responders, each request is answered by one. */
  respond<K extends Keys<E>, R = unknown>(
    type: K,
    handler: (request: Envelope<K, E[K]>) => R | Promise<R>,
    options: { queue?: string } = {},
  ): Subscription {
    this.catalogue.assertKnown(type);
    return this.transport.respond(
      type,
      async (request) => {
        this.eventsIn++;
        let body: ReplyBody;
        try {
          body = { ok: true, value: await handler(request as Envelope<K, E[K]>) };
        } catch (err) {
          this.recordFailure(toError(err), request);
          const code = err instanceof TradebusError ? err.code : 'RESPONDER_FAILED';
          body = { ok: false, error: { code, message: errorMessage(err) } };
        }
        this.eventsOut++;
        return this.stamp(request.type, body, { cause: request });
      },
      options,
    );
  }

  /** Resolves once every async handler started so far has settled. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private envelope<K extends Keys<E>>(type: K, payload: E[K], options: PublishOptions | undefined): Envelope<K, E[K]> {
    // Publishers tend to repeat one type; remembering the last known one skips the catalogue lookup.
    if (type !== this.lastKnownType) {
      this.catalogue.assertKnown(type);
      this.lastKnownType = type;
    }
    if (this.validateOnPublish) {
      const result = this.catalogue.validate(type, payload);
      if (!result.ok) throw result.error;
    }
    this.eventsOut++;
    return this.stamp(type, payload, options);
  }

  private stamp<K extends string, P>(type: K, payload: P, options: PublishOptions | undefined): Envelope<K, P> {
    let correlationId: string | undefined;
    let causationId: string | undefined;
    if (options !== undefined) {
      causationId = options.causationId ?? options.cause?.id;
      correlationId = options.correlationId ?? options.cause?.correlationId ?? options.cause?.id;
    }
    return new PublishedEnvelope(type, this.source, this.clock.now(), ++this.seq, correlationId, causationId, payload, this.tag);
  }

  /**
   * Wraps a handler so it never throws or rejects. For an async handler it returns a promise that
   * settles (always fulfilled) when the handler has finished: transports that acknowledge
   * delivery (JetStream) wait for it, so a durable event is acked only once it was handled.
   */
  private guard(handler: Handler<Envelope>): (envelope: Envelope) => void | Promise<void> {
    return (envelope) => {
      this.eventsIn++;
      if (this.onHandlerTiming !== undefined && (++this.timingCounter & 63) === 0) {
        return this.timed(handler, envelope);
      }
      let result: unknown;
      try {
        result = handler(envelope);
      } catch (err) {
        this.recordFailure(toError(err), envelope);
        return;
      }
      if (isThenable(result)) {
        this.pending++;
        return Promise.resolve(result).then(
          () => this.settle(),
          (err: unknown) => {
            this.recordFailure(toError(err), envelope);
            this.settle();
          },
        );
      }
    };
  }

  private timed(handler: Handler<Envelope>, envelope: Envelope): void | Promise<void> {
    const started = performance.now();
    const report = (): void => this.onHandlerTiming?.(envelope.type, (performance.now() - started) / 1000);
    let result: unknown;
    try {
      result = handler(envelope);
    } catch (err) {
      report();
      this.recordFailure(toError(err), envelope);
      return;
    }
    if (isThenable(result)) {
      this.pending++;
      return Promise.resolve(result).then(
        () => {
          report();
          this.settle();
        },
        (err: unknown) => {
          report();
          this.recordFailure(toError(err), envelope);
          this.settle();
        },
      );
    }
    report();
  }

  private serialGuard(handler: Handler<Envelope>): (envelope: Envelope) => Promise<void> {
    const queue: Array<{ envelope: Envelope; done: () => void }> = [];
    let running = false;
    const drain = async (): Promise<void> => {
      running = true;
      while (queue.length > 0) {
        const { envelope, done } = queue.shift()!;
        try {
          await handler(envelope);
        } catch (err) {
          this.recordFailure(toError(err), envelope);
        }
        this.settle();
        done();
      }
      running = false;
    };
    return (envelope) => {
      this.eventsIn++;
      this.pending++;
      return new Promise<void>((done) => {
        queue.push({ envelope, done });
        if (!running) void drain();
      });
    };
  }

  private settle(): void {
    this.pending--;
    if (this.pending === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private recordFailure(error: Error, envelope: Envelope): void {
    this.errors++;
    this.lastError = { message: error.message, type: envelope.type, at: this.clock.now() };
    this.logger.error({ err: error, type: envelope.type, eventId: envelope.id, source: envelope.source }, 'event handler failed');
    if (this.onHandlerError) {
      try {
        this.onHandlerError({ error, envelope });
      } catch (hookError) {
        this.logger.error({ err: toError(hookError) }, 'handler error hook failed');
      }
    }
  }
}

/** A handler's result the bus waits for: a promise, or anything else with a `then` method. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  // undefined first: most handlers return nothing, and this runs for every delivery.
  return value !== undefined && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
