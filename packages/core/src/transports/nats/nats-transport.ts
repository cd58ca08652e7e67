import {
  connect,
  errors as natsErrors,
  nanos,
  type Msg,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Envelope } from '../../bus/envelope.js';
import { compilePattern, isPattern } from '../../bus/subjects.js';
import type {
  Deliver,
  Responder,
  Transport,
  TransportStatus,
  TransportSubscribeOptions,
  TransportSubscription,
} from '../../bus/transport.js';
import { NoResponderError, TimeoutError, TransportError, errorMessage, toError } from '../../errors.js';
import type { EventCatalogue } from '../../events/catalogue.js';
import { newId } from '../../ids.js';
import { silentLogger } from '../../logger.js';
import { decodeInbound, encodeEnvelope, type DeadLetter, type Decoded } from './codec.js';
import { backoffDelay, connectionOptions, natsOptionsFromConfig, resolveOptions, type NatsTransportOptions, type ResolvedNatsOptions } from './options.js';
import { RecentIds } from './recent-ids.js';
import { assertDurableName, consumerName, derivedConsumerName, durableParts, isSubsetPattern, normalizePatterns, patternToken } from './subjects.js';
import type { NatsTransportConfig } from '../../config/schema.js';

export interface NatsTransportStats {
  /** Events the server accepted: handed to the connection (core) or acknowledged by JetStream (durable). */
  published: number;
  /** Envelopes handed to subscribers, after validation and the duplicate check. */
  delivered: number;
  /**
   * Dead letters this process published: bad messages its dead-letter check found (with
   * `reportDeadLetters`), and invalid requests it answered.
   */
  deadLettered: number;
  /** Inbound messages a subscription of this process dropped because they failed validation (each subscription counts its copy). */
  rejected: number;
  /** Dead letters that could not be sent (connection down and buffer full); each one is logged. */
  deadLettersDropped: number;
  /** Repeats of an event id a subscription had already received (redeliveries, retried publishes), dropped. */
  duplicatesDropped: number;
  /** Well-formed events of types this process's catalogue does not know: not delivered (they cannot be checked). */
  unknownTypes: number;
  /** Times the connection came back after being lost. */
  reconnects: number;
  /** Publishes held in the buffer while disconnected, in total. */
  bufferedPublishes: number;
  /** Publishes waiting in the buffer right now. */
  buffered: number;
  /** Publishes refused because the buffer was full (the publisher got a TransportError). */
  bufferOverflows: number;
  /** Buffered publishes discarded because the transport was closed before the connection came back (logged). */
  droppedOnClose: number;
  /** Durable publishes sent again (same message id) after an unanswered attempt. */
  durableRetries: number;
  /** Durable publishes that were rejected: not confirmed by JetStream. */
  durablePublishFailures: number;
  /** JetStream acks saying the event was already stored (a retry of one that had made it). */
  duplicatePublishes: number;
  /** Failures setting up a durable subscription (retried until it works or is unsubscribed). */
  subscriptionErrors: number;
  requests: number;
  /**
   * Times a plain subscription had more than `slowConsumerPending` messages waiting in this
   * process (the client's slow-consumer report). The server's own slow-consumer cut shows as a
   * disconnect (TRANSPORT_DISCONNECTED) and `reconnects`.
   */
  slowConsumers: number;
  /** Requests that arrived invalid and were answered with an error (also dead-lettered). */
  invalidRequests: number;
}

/** Bytes of the original message kept in a dead letter. */
const DEAD_LETTER_SAMPLE_BYTES = 64 * 1024;
/** Dead-letter warnings logged per code before the log goes quiet (the count keeps going). */
const DEAD_LETTER_LOG_LIMIT = 20;
const DUPLICATE_WINDOW_MS = 120_000;
const RESPONDER_QUEUE = 'tradebus-responders';
/** Queue group of the processes that report dead letters: each bad message goes to one of them. */
const DEAD_LETTER_QUEUE = 'tradebus-dead-letters';
const UNDERSCORE = 95;
/** How long one pull request of a durable subscription lasts (see DurableConsumer.open). */
export const PULL_EXPIRES_MS = 4_000;

interface BufferedPublish {
  subject: string;
  data: Uint8Array;
}

/** A subscription made before the connection exists, attached once it does. */
interface PendingSubscription {
  attach: (nc: NatsConnection) => TransportSubscription;
  attached: TransportSubscription | undefined;
}

type ReplyBody = { ok: false; error: { code: string; message: string } };

/**
 * The bus across processes and machines, on NATS.
 *
 * - Event `price.tick` travels on subject `<prefix>.price.tick`; subscription patterns are NATS
 *   patterns (`order.*`, `trade.>`), queue groups are NATS queue groups, request/reply is NATS
 *   request/reply (on `<prefix>._req.<type>`).
 * - Every inbound message is decoded and checked (envelope shape, then the payload against the
 *   catalogue); a bad one never reaches a handler and is counted in `stats.rejected`. With
 *   `reportDeadLetters`, the transport also checks every message on the bus, in a queue group
 *   shared with the other reporting processes, and sends each bad one once to
 *   `<prefix>._dlq.<type or unknown>` with the reason and the original bytes.
 * - Events matching `durable` patterns go through JetStream: `publish` returns a promise that
 *   resolves on the JetStream ack (and rejects when the event could not be stored); subscribers
 *   passing `durable: '<name>'`, or a `consumer` identity, get durable consumers and receive what
 *   they missed while down. Every subscription drops event ids it has already seen, so a
 *   redelivery never reaches a handler twice.
 * - Subscriptions and responders made before `connect()` are attached once it succeeds.
 * - While the connection is down, non-durable publishes wait in a bounded buffer (sent in order on
 *   reconnect); durable publishes and requests fail at once; nothing is dropped silently.
 */
export class NatsTransport implements Transport {
  readonly name = 'nats';
  readonly stats: NatsTransportStats = {
    published: 0,
    delivered: 0,
    deadLettered: 0,
    rejected: 0,
    deadLettersDropped: 0,
    duplicatesDropped: 0,
    unknownTypes: 0,
    reconnects: 0,
    bufferedPublishes: 0,
    buffered: 0,
    bufferOverflows: 0,
    droppedOnClose: 0,
    durableRetries: 0,
    durablePublishFailures: 0,
    duplicatePublishes: 0,
    subscriptionErrors: 0,
    requests: 0,
    slowConsumers: 0,
    invalidRequests: 0,
  };
  readonly options: Readonly<ResolvedNatsOptions>;
  /** Durable patterns after normalisation (none covering another). */
  readonly durablePatterns: readonly string[];
  private readonly catalogue: EventCatalogue;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly prefixLength: number;
  private readonly durableMatchers: Array<(type: string) => boolean>;
  private readonly durableTypes = new Map<string, boolean>();
  private readonly subjects = new Map<string, string>();
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private currentStatus: TransportStatus = 'idle';
  private readonly statusListeners = new Set<(status: TransportStatus, detail?: string) => void>();
  private buffer: BufferedPublish[] = [];
  private disconnectedAt: number | undefined;
  private connecting: Promise<void> | undefined;
  private readonly consumers = new Set<DurableConsumer>();
  private readonly setups = new Set<Promise<void>>();
  private readonly pending = new Set<PendingSubscription>();
  /** Durable consumer names derived from `consumer` identities that a subscription of this process holds. */
  private readonly derivedNames = new Set<string>();
  private readonly deadLetterLogCount = new Map<string, number>();
  private readonly unknownTypesLogged = new Set<string>();
  private readonly durableInFlight = new Set<Promise<void>>();

  constructor(options: NatsTransportOptions) {
    this.options = resolveOptions(options);
    this.catalogue = options.catalogue;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'nats-transport' });
    this.prefix = this.options.prefix;
    this.prefixLength = this.prefix.length + 1;
    this.durablePatterns = normalizePatterns(this.options.durable);
    this.durableMatchers = this.durablePatterns.map((p) => compilePattern(p));
  }

  /** A transport from the validated `transport:` section of a config file (`kind: nats`). */
  static fromConfig(config: NatsTransportConfig, catalogue: EventCatalogue, logger?: Logger): NatsTransport {
    return new NatsTransport(natsOptionsFromConfig(config, catalogue, logger));
  }

  get status(): TransportStatus {
    return this.currentStatus;
  }

  /** The underlying NATS connection, for tools that need the raw client (undefined before connect). */
  get connection(): NatsConnection | undefined {
    return this.nc;
  }

  /** Subject an event type travels on. */
  subjectOf(type: string): string {
    let subject = this.subjects.get(type);
    if (subject === undefined) {
      subject = `${this.prefix}.${type}`;
      this.subjects.set(type, subject);
    }
    return subject;
  }

  /** Subject where messages that failed validation are published. */
  deadLetterSubject(type = 'unknown'): string {
    return `${this.prefix}._dlq.${type}`;
  }

  /** True when events of `type` travel through JetStream. */
  isDurableType(type: string): boolean {
    let durable = this.durableTypes.get(type);
    if (durable === undefined) {
      durable = this.durableMatchers.some((m) => m(type));
      this.durableTypes.set(type, durable);
    }
    return durable;
  }

  connect(): Promise<void> {
    if (this.currentStatus === 'closed') {
      return Promise.reject(new TransportError('TRANSPORT_CLOSED', 'This NATS transport was closed: create a new NatsTransport to connect again.'));
    }
    if (this.nc !== undefined) return Promise.resolve();
    // Two callers at once (the system and an agent process, say) share one connection attempt.
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<void> {
    const servers = Array.isArray(this.options.servers) ? this.options.servers.join(', ') : this.options.servers;
    // Built outside the try: an unreadable TLS file is a config error, not a connection failure.
    const clientOptions = connectionOptions(this.options, () => this.reconnectDelay());
    let nc: NatsConnection;
    try {
      nc = await connect(clientOptions);
    } catch (err) {
      throw new TransportError(
        'NATS_CONNECT_FAILED',
        `Cannot connect to NATS at ${servers}: ${errorMessage(err)}. Check that nats-server is running there (transport.servers), and the credentials or TLS files if it requires them.`,
        { cause: err },
      );
    }
    this.disconnectedAt = undefined;
    try {
      this.js = jetstream(nc, { timeout: this.options.ackTimeoutMs });
      if (this.durablePatterns.length > 0 || this.keepsDeadLetters) {
        this.jsm = await jetstreamManager(nc, { timeout: Math.max(this.options.ackTimeoutMs, 5_000) });
        await this.ensureStreams(this.jsm);
      }
    } catch (err) {
      await nc.close().catch(() => undefined);
      if (/Permissions Violation/i.test(errorMessage(err))) {
        throw new TransportError(
          'NATS_PERMISSION_DENIED',
          `Connected to NATS at ${servers}, but this process may not set up its JetStream streams: ${errorMessage(err)}. ` +
            'With per-process permissions (tradebus nats-config) only the recording process creates or changes the streams: start it first, with the same transport.durable, or grant this user the permission.',
          { cause: err },
        );
      }
      throw new TransportError(
        'NATS_JETSTREAM_UNAVAILABLE',
        `Connected to NATS at ${servers}, but JetStream could not be set up: ${errorMessage(err)}. Start nats-server with JetStream (-js -sd <dir>, or 'jetstream {}' in its config), ` +
          'or set transport.durable: [] and transport.deadLetterStream: false to run without persistence.',
        { cause: err },
      );
    }
    if (this.currentStatus === 'closed') {
      // close() was called while connecting: honour it.
      await nc.close().catch(() => undefined);
      throw new TransportError('TRANSPORT_CLOSED', 'The NATS transport was closed while it was connecting.');
    }
    this.nc = nc;
    this.watch(nc);
    if (this.options.reportDeadLetters) this.checkEveryMessage(nc);
    for (const pending of [...this.pending]) {
      this.pending.delete(pending);
      try {
        pending.attached = pending.attach(nc);
      } catch (err) {
        this.logger.error({ err: toError(err) }, 'a subscription made before connect could not be set up');
      }
    }
    this.setStatus('connected', nc.getServer());
  }

  /** Several servers configured: a lost connection is expected to move to another node at once. */
  private get clustered(): boolean {
    return Array.isArray(this.options.servers) && this.options.servers.length > 1;
  }

  /** True when this process keeps dead letters in the dead-letter stream (it reports them, and the stream is on). */
  private get keepsDeadLetters(): boolean {
    return this.options.reportDeadLetters && this.options.deadLetterStream;
  }

  async close(): Promise<void> {
    if (this.currentStatus === 'closed') return;
    const nc = this.nc;
    for (const consumer of [...this.consumers]) consumer.stop();
    await Promise.allSettled([...this.consumers].map((c) => c.stopped));
    this.pending.clear();
    if (this.buffer.length > 0) {
      this.stats.droppedOnClose += this.buffer.length;
      this.logger.error({ count: this.buffer.length }, 'transport closed while disconnected: buffered events were not sent');
      this.buffer = [];
      this.stats.buffered = 0;
    }
    this.setStatus('closed');
    if (nc === undefined || nc.isClosed()) return;
    // drain() delivers what has arrived and flushes pending acks; with no server it would wait, so it is bounded.
    const drained = this.isLive(nc) ? withTimeout(nc.drain(), 2_000) : Promise.resolve(false);
    if (!(await drained.catch(() => false))) await nc.close().catch(() => undefined);
  }

  /**
   * Resolves once every durable publish made so far has settled: true when all were confirmed by
   * JetStream, false when any failed. A sharded agent saves its checkpoint only after the events
   * a bar produced are stored, so a failure makes the next owner process that bar again.
   */
  durablePublished(): Promise<boolean> {
    if (this.durableInFlight.size === 0) return Promise.resolve(true);
    return Promise.allSettled([...this.durableInFlight]).then((results) => results.every((r) => r.status === 'fulfilled'));
  }

  publish(envelope: Envelope): void | Promise<void> {
    const result = this.publishEnvelope(envelope);
    if (result === undefined) return undefined;
    this.durableInFlight.add(result);
    const done = (): void => void this.durableInFlight.delete(result);
    result.then(done, done);
    return result;
  }

  private publishEnvelope(envelope: Envelope): void | Promise<void> {
    const type = envelope.type;
    const nc = this.usable(`publish '${type}'`);
    const subject = this.subjectOf(type);
    const data = encodeEnvelope(envelope);
    if (data.length > this.options.maxPayloadBytes) {
      throw new TransportError(
        'EVENT_TOO_LARGE',
        `Event '${type}' is ${data.length} bytes encoded, more than transport.maxPayloadBytes (${this.options.maxPayloadBytes}). Send less data per event, or raise the limit (also max_payload on the server).`,
      );
    }
    if (this.isDurableType(type)) {
      if (this.currentStatus !== 'connected' && this.clustered && this.currentStatus !== 'closed') {
        // On a cluster the client moves to another node within moments: the publish waits for it
        // (up to durablePublishTimeoutMs) instead of failing every event of that moment.
        return this.whenConnected(this.options.durablePublishTimeoutMs).then((connected) => {
          if (connected) return this.publishDurable(subject, data, envelope.id, type);
          this.stats.durablePublishFailures++;
          throw new TransportError(
            'TRANSPORT_DISCONNECTED',
            `Durable event '${type}' (id ${envelope.id}) was not published: no NATS server of the cluster took the connection back within ${this.options.durablePublishTimeoutMs} ms (transport.durablePublishTimeoutMs). Nothing was sent; publish it again once the transport is connected.`,
          );
        });
      }
      if (this.currentStatus !== 'connected') {
        this.stats.durablePublishFailures++;
        throw new TransportError(
          'TRANSPORT_DISCONNECTED',
          `Durable event '${type}' (id ${envelope.id}) was not published: the NATS connection is ${this.currentStatus}. Nothing was sent; publish it again once the transport is connected (onStatus).`,
        );
      }
      return this.publishDurable(subject, data, envelope.id, type);
    }
    this.send(nc, subject, data, type);
  }

  subscribe(pattern: string, deliver: Deliver, options: TransportSubscribeOptions = {}): TransportSubscription {
    compilePattern(pattern);
    const { durable, consumer, queue } = options;
    if (durable !== undefined) assertDurableName(durable);
    return this.onceConnected(`subscribe to '${pattern}'`, (nc) => {
      if (durable !== undefined) return this.subscribeDurable(nc, pattern, deliver, { durable }, queue);
      if (consumer !== undefined && this.selectsDurable(pattern)) return this.subscribeDurable(nc, pattern, deliver, { consumer }, queue);
      return this.subscribeCore(nc, pattern, deliver, queue, undefined, new RecentIds(this.options.dedupeWindow));
    });
  }

  async request(envelope: Envelope, timeoutMs: number): Promise<Envelope> {
    const type = envelope.type;
    const nc = this.usable(`request '${type}'`);
    if (this.currentStatus !== 'connected') {
      throw new TransportError('TRANSPORT_DISCONNECTED', `Request '${type}' was not sent: the NATS connection is ${this.currentStatus}. Retry once it is connected again.`);
    }
    const data = encodeEnvelope(envelope);
    if (data.length > this.options.maxPayloadBytes) {
      throw new TransportError('EVENT_TOO_LARGE', `Request '${type}' is ${data.length} bytes encoded, more than transport.maxPayloadBytes (${this.options.maxPayloadBytes}).`);
    }
    this.stats.requests++;
    let reply: Msg;
    try {
      reply = await nc.request(this.requestSubject(type), data, { timeout: timeoutMs });
    } catch (err) {
      if (err instanceof natsErrors.RequestError && err.isNoResponders()) throw new NoResponderError(type);
      if (err instanceof natsErrors.NoRespondersError) throw new NoResponderError(type);
      if (err instanceof natsErrors.TimeoutError) throw new TimeoutError(`Request '${type}'`, timeoutMs);
      throw new TransportError('REQUEST_FAILED', `Request '${type}' failed: ${errorMessage(err)}`, { cause: err });
    }
    const decoded = decodeInbound(reply.data, type, this.catalogue, this.options.maxPayloadBytes, false);
    if (decoded.ok !== true) {
      const reason = decoded.ok === false ? decoded.reason : 'unknown type';
      throw new TransportError('REPLY_INVALID', `The reply to request '${type}' is not a valid Tradebus envelope (${reason}). Check the responder's version.`);
    }
    return decoded.envelope;
  }

  respond(type: string, responder: Responder, options: TransportSubscribeOptions = {}): TransportSubscription {
    return this.onceConnected(`respond to '${type}'`, (nc) => {
      // Responders always form one queue group, so each request is answered exactly once.
      const sub = nc.subscribe(this.requestSubject(type), {
        queue: options.queue ?? RESPONDER_QUEUE,
        callback: (err, msg) => {
          if (err !== null) {
            this.logger.error({ err, type }, 'responder subscription failed');
            return;
          }
          this.answer(msg, type, responder);
        },
      });
      return { unsubscribe: () => sub.unsubscribe() };
    });
  }

  onStatus(listener: (status: TransportStatus, detail?: string) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * Resolves once every subscription made so far is active on the server (durable consumers
   * included) and what was published so far has reached it. Rejects if a durable subscription
   * cannot be set up (a conflicting consumer, for instance).
   */
  async flush(): Promise<void> {
    await Promise.all([...this.setups]);
    const nc = this.nc;
    if (nc !== undefined && this.currentStatus === 'connected') await nc.flush();
  }

  /**
   * How far behind a durable subscriber is, from the server's view: events it has not received
   * yet (`pending`) and events it received but has not acknowledged (`ackPending`). `consumer` is
   * the durable name, or `<durable>-<pattern>` for a subscription split over several patterns.
   */
  async durableInfo(consumer: string): Promise<{ pending: number; ackPending: number; redelivered: number }> {
    const jsm = this.jsm;
    if (jsm === undefined) throw new TransportError('NATS_JETSTREAM_UNAVAILABLE', 'No durable events on this transport: transport.durable is empty or it is not connected.');
    const info = await jsm.consumers.info(this.options.streamName, consumer);
    return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Runs `attach` now when connected, or once the connection exists: a subscription may be made
   * before `connect()`, as on the local transport. Refused once the transport is closed.
   */
  private onceConnected(what: string, attach: (nc: NatsConnection) => TransportSubscription): TransportSubscription {
    if (this.currentStatus === 'closed') throw new TransportError('TRANSPORT_CLOSED', `Cannot ${what}: the NATS transport is closed; create a new one.`);
    const nc = this.nc;
    if (nc !== undefined) return attach(nc);
    const pending: PendingSubscription = { attach, attached: undefined };
    this.pending.add(pending);
    return {
      unsubscribe: () => {
        this.pending.delete(pending);
        pending.attached?.unsubscribe();
        pending.attached = undefined;
      },
    };
  }

  /** True when `pattern` selects at least one durable event type. */
  private selectsDurable(pattern: string): boolean {
    return durableParts(pattern, this.durablePatterns).length > 0;
  }

  private usable(what: string): NatsConnection {
    const nc = this.nc;
    if (nc === undefined || this.currentStatus === 'closed') {
      throw new TransportError(
        this.currentStatus === 'closed' ? 'TRANSPORT_CLOSED' : 'TRANSPORT_NOT_CONNECTED',
        `Cannot ${what}: the NATS transport is ${this.currentStatus === 'closed' ? 'closed' : 'not connected yet (call connect() first)'}.`,
      );
    }
    return nc;
  }

  private isLive(nc: NatsConnection): boolean {
    return !nc.isClosed() && this.disconnectedAt === undefined;
  }

  private requestSubject(type: string): string {
    return `${this.prefix}._req.${type}`;
  }

  /** Core publish, or into the buffer while the connection is down. */
  private send(nc: NatsConnection, subject: string, data: Uint8Array, what: string): void {
    if (this.currentStatus === 'connected') {
      nc.publish(subject, data);
      this.stats.published++;
      return;
    }
    if (this.buffer.length >= this.options.publishBufferSize) {
      this.stats.bufferOverflows++;
      throw new TransportError(
        'PUBLISH_BUFFER_FULL',
        `Event '${what}' was not published: the NATS connection is ${this.currentStatus} and the publish buffer is full (${this.options.publishBufferSize} events, transport.publishBufferSize). ` +
          'Publish again once the transport is connected, or raise the buffer size.',
      );
    }
    this.buffer.push({ subject, data });
    this.stats.bufferedPublishes++;
    this.stats.buffered = this.buffer.length;
  }

  private flushBuffer(nc: NatsConnection): void {
    const pending = this.buffer;
    this.buffer = [];
    for (const m of pending) {
      nc.publish(m.subject, m.data);
      this.stats.published++;
    }
    this.stats.buffered = 0;
    if (pending.length > 0) this.logger.info({ count: pending.length }, 'sent events buffered while disconnected');
  }

  /**
   * Publishes through JetStream and resolves on its ack. An attempt that goes unanswered (timeout,
   * connection lost) is repeated with the same message id until `durablePublishTimeoutMs`: the
   * stream drops the copy if the first one had been stored, so the event is stored exactly once.
   */
  private async publishDurable(subject: string, data: Uint8Array, id: string, type: string): Promise<void> {
    const js = this.js!;
    const deadline = Date.now() + this.options.durablePublishTimeoutMs;
    let attempts = 0;
    let lastError: unknown;
    for (;;) {
      attempts++;
      const left = deadline - Date.now();
      try {
        const ack = await js.publish(subject, data, { msgID: id, timeout: Math.max(100, Math.min(this.options.ackTimeoutMs, left)) });
        this.stats.published++;
        if (ack.duplicate) this.stats.duplicatePublishes++;
        return;
      } catch (err) {
        lastError = err;
        // The server answered with a definite refusal (limits, permissions): repeating will not help.
        if (err instanceof JetStreamApiError || this.currentStatus === 'closed') break;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await this.whenConnected(remaining);
      await sleep(Math.min(Math.max(0, deadline - Date.now()), 50 * attempts));
      if (this.currentStatus !== 'connected' || Date.now() >= deadline) break;
      this.stats.durableRetries++;
    }
    this.stats.durablePublishFailures++;
    throw new TransportError(
      'DURABLE_PUBLISH_FAILED',
      `Durable event '${type}' (id ${id}) was not confirmed by JetStream after ${attempts} attempt(s): ${errorMessage(lastError)}. ` +
        'It may or may not be stored: publish the same envelope again (JetStream drops a repeat with the same id within 2 minutes), and check the server and stream.',
      { cause: lastError },
    );
  }

  private whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.currentStatus === 'connected') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(false);
      }, timeoutMs);
      const stop = this.onStatus((status) => {
        if (status !== 'connected' && status !== 'closed') return;
        clearTimeout(timer);
        stop();
        resolve(status === 'connected');
      });
    });
  }

  private subscribeCore(
    nc: NatsConnection,
    pattern: string,
    deliver: Deliver,
    queue: string | undefined,
    skipType: ((type: string) => boolean) | undefined,
    recent: RecentIds,
  ): TransportSubscription {
    // An exact subscription knows its type without decoding each message's subject.
    const fixedType = isPattern(pattern) ? undefined : pattern;
    const sub: NatsSubscription = nc.subscribe(this.subjectOf(pattern), {
      queue,
      slow: this.options.slowConsumerPending,
      callback: (err, msg) => {
        if (err !== null) {
          this.logger.error({ err, pattern }, 'subscription failed');
          return;
        }
        let type = fixedType;
        if (type === undefined) {
          type = msg.subject.slice(this.prefixLength);
          // `_req` and `_dlq` subjects belong to the transport; '>' subscribers must not see them.
          if (type.charCodeAt(0) === UNDERSCORE) return;
          if (skipType !== undefined && skipType(type)) return;
        }
        const envelope = this.accept(msg, type, msg.data);
        if (envelope === undefined) return;
        if (this.isDurableType(type) && !recent.add(envelope.id)) {
          this.stats.duplicatesDropped++;
          return;
        }
        this.stats.delivered++;
        this.hand(deliver, envelope);
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  /**
   * A durable subscription: one JetStream consumer per durable pattern the subscription overlaps
   * (named after the durable name), plus a plain subscription for the non-durable events the
   * pattern also selects. Both paths share one set of seen ids.
   *
   * Consumer names: an explicit durable name is used as given (`<durable>-<pattern>` per part of a
   * split wildcard). A `consumer` identity gives `<consumer>-<pattern>` for every part, so an
   * agent's consumers keep their names across restarts; a second subscription of the same
   * identity to the same pattern in this process gets `-2`, and so on, instead of sharing (and
   * splitting) the first one's events.
   */
  private subscribeDurable(
    nc: NatsConnection,
    pattern: string,
    deliver: Deliver,
    name: { durable: string } | { consumer: string },
    queue: string | undefined,
  ): TransportSubscription {
    const parts = durableParts(pattern, this.durablePatterns);
    const recent = new RecentIds(this.options.dedupeWindow);
    if (parts.length === 0) {
      this.logger.warn({ pattern, durable: (name as { durable: string }).durable }, 'durable name ignored: the pattern selects no durable event types (transport.durable)');
      return this.subscribeCore(nc, pattern, deliver, queue, undefined, recent);
    }
    const handles: TransportSubscription[] = [];
    if (!this.durablePatterns.some((d) => isSubsetPattern(pattern, d))) {
      handles.push(this.subscribeCore(nc, pattern, deliver, queue, (type) => this.isDurableType(type), recent));
    }
    for (const part of parts) {
      let consumerName: string;
      let release = (): void => undefined;
      if ('durable' in name) {
        consumerName = parts.length === 1 && part === pattern ? name.durable : `${name.durable}-${patternToken(part)}`;
      } else {
        consumerName = this.claimDerivedName(name.consumer, part);
        const claimed = consumerName;
        release = () => void this.derivedNames.delete(claimed);
      }
      const consumer = new DurableConsumer(this, consumerName, this.subjectOf(part), deliver, recent);
      this.consumers.add(consumer);
      const setup = consumer.start().finally(() => this.setups.delete(setup));
      // flush() reports a failed setup; nobody else has to handle the rejection.
      setup.catch(() => undefined);
      this.setups.add(setup);
      handles.push({
        unsubscribe: () => {
          consumer.stop();
          this.consumers.delete(consumer);
          release();
        },
      });
    }
    return { unsubscribe: () => handles.forEach((h) => h.unsubscribe()) };
  }

  /** The durable consumer name for `consumer`'s subscription to `part`, free in this process. */
  private claimDerivedName(consumer: string, part: string): string {
    const base = derivedConsumerName(consumer, part);
    let name = base;
    for (let n = 2; this.derivedNames.has(name); n++) name = consumerName(`${base}-${n}`);
    this.derivedNames.add(name);
    return name;
  }

  /** @internal Decodes and checks one inbound message for a subscription; returns undefined (and counts it) when it is bad. */
  accept(msg: { readonly subject: string }, type: string, data: Uint8Array): Envelope | undefined {
    const decoded = decodeInbound(data, type, this.catalogue, this.options.maxPayloadBytes);
    if (decoded.ok === true) return decoded.envelope;
    if (decoded.ok === 'unknown-type') {
      this.stats.unknownTypes++;
      if (this.unknownTypesLogged.size < 100 && !this.unknownTypesLogged.has(decoded.type)) {
        this.unknownTypesLogged.add(decoded.type);
        this.logger.warn({ type: decoded.type }, 'event of a type this process does not know: not delivered (register it with defineEvents to receive it)');
      }
      return undefined;
    }
    this.stats.rejected++;
    // A reporting process logs the dead letter it sends; the others say what their subscription dropped.
    if (!this.options.reportDeadLetters) this.logLimited(decoded.code, { subject: msg.subject, code: decoded.code, reason: decoded.reason, size: data.length }, 'invalid message dropped');
    return undefined;
  }

  /**
   * The dead-letter check: one subscription to every event subject of the prefix, in a queue group
   * shared by all reporting processes, so each message is checked by one of them and each bad one
   * is reported once. Valid messages are decoded and forgotten; this is the cost of reporting.
   */
  private checkEveryMessage(nc: NatsConnection): void {
    nc.subscribe(`${this.prefix}.>`, {
      queue: DEAD_LETTER_QUEUE,
      callback: (err, msg) => {
        if (err !== null) {
          this.logger.error({ err }, 'dead-letter check subscription failed');
          return;
        }
        const type = msg.subject.slice(this.prefixLength);
        // `_req` requests are checked by their responder, `_dlq` holds the reports themselves.
        if (type.charCodeAt(0) === UNDERSCORE) return;
        const decoded = decodeInbound(msg.data, type, this.catalogue, this.options.maxPayloadBytes);
        if (decoded.ok === false) this.deadLetter(msg.subject, type, msg.data, decoded);
      },
    });
  }

  private logLimited(code: string, fields: Record<string, unknown>, message: string): void {
    const logged = this.deadLetterLogCount.get(code) ?? 0;
    if (logged >= DEAD_LETTER_LOG_LIMIT) return;
    this.deadLetterLogCount.set(code, logged + 1);
    this.logger.warn(fields, message);
  }

  /** @internal Hands an envelope to a subscriber; returns its promise when the subscriber returned one. */
  hand(deliver: Deliver, envelope: Envelope): Promise<void> | undefined {
    try {
      const result = deliver(envelope);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).catch((err: unknown) => {
          this.logger.error({ err: toError(err), type: envelope.type }, 'subscriber failed');
        });
      }
    } catch (err) {
      // The EventBus guards handlers itself; this only catches a subscriber that bypasses it.
      this.logger.error({ err: toError(err), type: envelope.type }, 'subscriber failed');
    }
    return undefined;
  }

  private deadLetter(subject: string, type: string, data: Uint8Array, failure: Extract<Decoded, { ok: false }>): void {
    this.stats.deadLettered++;
    const knownType = this.catalogue.has(type) ? type : 'unknown';
    const truncated = data.length > DEAD_LETTER_SAMPLE_BYTES;
    const letter: DeadLetter = {
      code: failure.code,
      reason: failure.reason,
      subject,
      type: knownType,
      receivedBy: this.options.name,
      receivedAt: Date.now(),
      size: data.length,
      data: Buffer.from(data.buffer, data.byteOffset, truncated ? DEAD_LETTER_SAMPLE_BYTES : data.length).toString('base64'),
      truncated,
    };
    if (failure.issues !== undefined) letter.issues = failure.issues.slice(0, 20);
    this.logLimited(failure.code, { subject, code: failure.code, reason: failure.reason, size: data.length }, 'invalid message dead-lettered');
    const nc = this.nc;
    if (nc === undefined || this.currentStatus === 'closed') return;
    try {
      this.send(nc, this.deadLetterSubject(knownType), Buffer.from(JSON.stringify(letter), 'utf8'), 'dead letter');
    } catch (err) {
      this.stats.deadLettersDropped++;
      this.logger.error({ err: toError(err), subject, code: failure.code, reason: failure.reason }, 'dead letter could not be sent');
    }
  }

  private answer(msg: Msg, type: string, responder: Responder): void {
    if (msg.reply === undefined || msg.reply === '') {
      this.deadLetter(msg.subject, type, msg.data, { ok: false, code: 'ENVELOPE_INVALID', reason: 'request without a reply subject' });
      return;
    }
    const decoded = decodeInbound(msg.data, type, this.catalogue, this.options.maxPayloadBytes);
    if (decoded.ok !== true) {
      this.stats.invalidRequests++;
      const reason = decoded.ok === false ? decoded.reason : `event type '${decoded.type}' is not known here`;
      if (decoded.ok === false) this.deadLetter(msg.subject, type, msg.data, decoded);
      this.reply(msg, type, { ok: false, error: { code: 'REQUEST_INVALID', message: `the request was rejected by the responder's transport: ${reason}` } });
      return;
    }
    this.stats.delivered++;
    const failed = (err: unknown): void => {
      this.logger.error({ err: toError(err), type }, 'responder failed');
      this.reply(msg, type, { ok: false, error: { code: 'RESPONDER_FAILED', message: errorMessage(err) } });
    };
    const send = (reply: Envelope): void => {
      try {
        if (!msg.respond(encodeEnvelope(reply))) this.logger.warn({ type }, 'reply not sent: connection closed');
      } catch (err) {
        failed(err);
      }
    };
    let result: Envelope | Promise<Envelope>;
    try {
      // Called right away rather than on a later tick: the reply leaves with the next flush.
      result = responder(decoded.envelope);
    } catch (err) {
      failed(err);
      return;
    }
    if (typeof (result as Promise<Envelope>).then === 'function') (result as Promise<Envelope>).then(send, failed);
    else send(result as Envelope);
  }

  /** A reply built by the transport itself, in the EventBus reply format. */
  private reply(msg: Msg, type: string, body: ReplyBody): void {
    const now = Date.now();
    const envelope: Envelope = { id: newId(now), type, source: this.options.name, ts: now, seq: 0, payload: body };
    msg.respond(encodeEnvelope(envelope));
  }

  private async ensureStreams(jsm: JetStreamManager): Promise<void> {
    const maxAge = nanos(this.options.streamMaxAgeMs);
    if (this.durablePatterns.length > 0) {
      await this.ensureStream(jsm, this.options.streamName, this.durablePatterns.map((p) => this.subjectOf(p)), {
        max_age: maxAge,
        duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, this.options.streamMaxAgeMs)),
      });
    }
    if (this.keepsDeadLetters) {
      const limits = {
        max_age: nanos(this.options.deadLetterMaxAgeMs),
        max_bytes: this.options.deadLetterMaxBytes,
        max_msgs: 1_000_000,
      };
      await this.ensureStream(jsm, `${this.options.streamName}_DLQ`, [`${this.prefix}._dlq.>`], {
        ...limits,
        duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, this.options.deadLetterMaxAgeMs)),
      }, limits);
    }
  }

  /**
   * Creates the stream, or adds our subjects to an existing one. Subjects are only ever added, so
   * processes started with different `durable` lists never take persistence away from each other.
   * `limits` are set on an existing stream too when they differ (the dead-letter stream's bounds
   * follow the config of the processes that write to it).
   */
  private async ensureStream(jsm: JetStreamManager, name: string, subjects: string[], extra: Partial<StreamConfig>, limits: Partial<StreamConfig> = {}): Promise<void> {
    const existing = await jsm.streams.info(name).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === 10059) return undefined;
      throw err;
    });
    if (existing === undefined) {
      try {
        await jsm.streams.add({
          name,
          subjects,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: this.options.replicas,
          ...extra,
        });
        this.logger.info({ stream: name, subjects }, 'created JetStream stream');
        return;
      } catch (err) {
        // Another process may have created it at the same moment; anything else is a real error.
        const raced = await jsm.streams.info(name).catch(() => undefined);
        if (raced === undefined) throw err;
        return this.extendStream(jsm, name, raced.config, subjects, limits);
      }
    }
    return this.extendStream(jsm, name, existing.config, subjects, limits);
  }

  private async extendStream(jsm: JetStreamManager, name: string, config: StreamConfig, subjects: string[], limits: Partial<StreamConfig>): Promise<void> {
    const current = config.subjects ?? [];
    const merged = dropCovered([...current, ...subjects]);
    const sameSubjects = merged.length === current.length && merged.every((s) => current.includes(s));
    const changedLimits = Object.entries(limits).filter(([key, value]) => (config as unknown as Record<string, unknown>)[key] !== value);
    // Replicas are only ever raised: a process configured for one server must not shrink a cluster's copies.
    const replicas = Math.max(config.num_replicas ?? 1, this.options.replicas);
    if (replicas !== (config.num_replicas ?? 1)) changedLimits.push(['num_replicas', replicas]);
    if (sameSubjects && changedLimits.length === 0) return;
    await jsm.streams.update(name, { ...config, ...limits, num_replicas: replicas, subjects: merged });
    this.logger.info({ stream: name, subjects: merged, limits: Object.fromEntries(changedLimits) }, 'updated JetStream stream');
  }

  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        switch (s.type) {
          case 'disconnect':
            this.disconnectedAt ??= Date.now();
            this.setStatus('disconnected', `lost ${s.server}`);
            break;
          case 'reconnecting':
            if (this.currentStatus !== 'reconnecting' && this.currentStatus !== 'closed') this.setStatus('reconnecting');
            break;
          case 'reconnect':
            this.disconnectedAt = undefined;
            this.stats.reconnects++;
            // Buffered events go out before anything a status listener publishes, to keep their order.
            this.flushBuffer(nc);
            this.setStatus('connected', `reconnected to ${s.server}`);
            break;
          case 'error':
            this.logger.error({ err: s.error }, 'NATS connection error');
            break;
          case 'slowConsumer':
            this.stats.slowConsumers++;
            this.logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'slow consumer: the server is dropping messages for this subscription');
            break;
          case 'staleConnection':
            this.logger.warn('NATS connection went silent; reconnecting');
            break;
          default:
            break;
        }
      }
    })().catch((err: unknown) => this.logger.error({ err: toError(err) }, 'status watcher failed'));
    void nc.closed().then((err) => {
      if (this.currentStatus === 'closed') return;
      for (const consumer of [...this.consumers]) consumer.stop();
      this.setStatus('closed', err ? `connection closed: ${err.message}` : 'connection closed');
      if (this.buffer.length > 0) {
        this.stats.droppedOnClose += this.buffer.length;
        this.logger.error({ count: this.buffer.length }, 'connection closed for good: buffered events were not sent');
        this.buffer = [];
        this.stats.buffered = 0;
      }
    });
  }

  private reconnectDelay(): number {
    const now = Date.now();
    this.disconnectedAt ??= now;
    return backoffDelay(now - this.disconnectedAt, this.options.reconnectWaitMs, this.options.reconnectMaxWaitMs, this.options.reconnectJitterMs);
  }

  private setStatus(status: TransportStatus, detail?: string): void {
    if (status === this.currentStatus && status !== 'connected') return;
    this.currentStatus = status;
    if (status === 'connected' || status === 'disconnected' || status === 'closed') this.logger.info({ status, detail }, 'NATS transport status');
    for (const listener of [...this.statusListeners]) {
      try {
        listener(status, detail);
      } catch (err) {
        this.logger.error({ err: toError(err) }, 'status listener failed');
      }
    }
  }

  /** @internal */
  get jetstreamClient(): JetStreamClient | undefined {
    return this.js;
  }

  /** @internal */
  get jetstreamManagerClient(): JetStreamManager | undefined {
    return this.jsm;
  }

  /** @internal */
  get log(): Logger {
    return this.logger;
  }

  /** @internal */
  get isClosed(): boolean {
    return this.currentStatus === 'closed';
  }
}

/**
 * One JetStream durable consumer feeding one subscription. The consumer outlives the process:
 * unsubscribing stops reading but keeps the consumer, so the next start resumes after the last
 * acknowledged event. Messages are acknowledged once the subscriber has taken them (after its
 * promise settles when it returns one); invalid ones are dead-lettered and terminated.
 */
class DurableConsumer {
  private messages: ConsumerMessages | undefined;
  private halted = false;
  private readonly inProgress = new Set<string>();
  private resolveStopped!: () => void;
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  constructor(
    private readonly transport: NatsTransport,
    readonly name: string,
    private readonly filter: string,
    private readonly deliver: Deliver,
    private readonly recent: RecentIds,
  ) {}

  /** Sets up the consumer, retrying while the server is unreachable; rejects on a configuration conflict. */
  async start(): Promise<void> {
    let attempt = 0;
    while (!this.halted) {
      try {
        await this.open();
        return;
      } catch (err) {
        this.transport.stats.subscriptionErrors++;
        if (err instanceof TransportError || this.transport.isClosed) {
          this.transport.log.error({ err, consumer: this.name }, 'durable subscription cannot be set up');
          this.stop();
          throw err;
        }
        attempt++;
        this.transport.log.warn({ err: toError(err), consumer: this.name, attempt }, 'durable subscription not ready yet; retrying');
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  stop(): void {
    if (this.halted) return;
    this.halted = true;
    const messages = this.messages;
    this.messages = undefined;
    if (messages === undefined) {
      this.resolveStopped();
      return;
    }
    void messages
      .close()
      .catch(() => undefined)
      .finally(() => this.resolveStopped());
  }

  private async open(): Promise<void> {
    const t = this.transport;
    const jsm = t.jetstreamManagerClient;
    const js = t.jetstreamClient;
    if (jsm === undefined || js === undefined) throw new TransportError('NATS_JETSTREAM_UNAVAILABLE', 'Durable subscriptions need JetStream: the transport has no JetStream manager.');
    const stream = t.options.streamName;
    const info = await jsm.consumers.info(stream, this.name).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === 10014) return undefined;
      throw err;
    });
    if (info === undefined) {
      await jsm.consumers.add(stream, {
        durable_name: this.name,
        ack_policy: AckPolicy.Explicit,
        // A new durable starts with events published from now on; afterwards it resumes where it stopped.
        deliver_policy: DeliverPolicy.New,
        filter_subject: this.filter,
        ack_wait: nanos(t.options.ackWaitMs),
        max_ack_pending: t.options.maxAckPending,
        max_deliver: -1,
      });
    } else if (info.config.filter_subject !== this.filter) {
      throw new TransportError(
        'NATS_DURABLE_CONFLICT',
        `Durable consumer '${this.name}' on stream ${stream} already exists for '${info.config.filter_subject ?? '(all)'}', not '${this.filter}'. ` +
          `Use another durable name, or delete the old consumer (nats consumer rm ${stream} ${this.name}).`,
      );
    } else if (info.config.ack_wait !== nanos(t.options.ackWaitMs) || info.config.max_ack_pending !== t.options.maxAckPending) {
      await jsm.consumers.update(stream, this.name, { ack_wait: nanos(t.options.ackWaitMs), max_ack_pending: t.options.maxAckPending });
    }
    if (this.halted) return;
    const consumer = await js.consumers.get(stream, this.name);
    // Never ask for more than the consumer lets us hold unacknowledged: the surplus would only time out.
    // Short pulls: after a node dies, a pull sent to it is noticed missing (two idle heartbeats,
    // half the expiry each) and sent again within seconds, not the default half minute.
    const messages = await consumer.consume({ callback: (m) => this.onMessage(m), max_messages: Math.min(256, t.options.maxAckPending), expires: PULL_EXPIRES_MS });
    if (this.halted) {
      await messages.close().catch(() => undefined);
      return;
    }
    this.messages = messages;
    void this.watch(messages);
  }

  private async watch(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of messages.status()) {
        if (s.type === 'heartbeats_missed' && s.count >= 2) {
          // The pull went to a node that is gone (its leader moved): pull again from the new one.
          if (this.halted || this.messages !== messages) return;
          this.transport.log.warn({ consumer: this.name }, 'durable consumer went silent; pulling again');
          this.messages = undefined;
          await messages.close().catch(() => undefined);
          await this.start().catch(() => undefined);
          return;
        }
        if (s.type === 'consumer_deleted' || (s.type === 'consumer_not_found' && s.count >= 3)) {
          this.transport.log.error({ consumer: this.name, status: s.type }, 'durable consumer disappeared; creating it again (events published meanwhile are not replayed)');
          if (this.halted || this.messages !== messages) return;
          this.messages = undefined;
          await messages.close().catch(() => undefined);
          await this.start().catch(() => undefined);
          return;
        }
      }
    } catch (err) {
      this.transport.log.warn({ err: toError(err), consumer: this.name }, 'durable consumer status watch ended');
    }
  }

  private onMessage(m: JsMsg): void {
    const t = this.transport;
    const type = m.subject.slice(t.options.prefix.length + 1);
    const envelope = t.accept(m, type, m.data);
    if (envelope === undefined) {
      // Invalid (already dead-lettered) or of an unknown type: redelivering it would not change that.
      m.term();
      return;
    }
    const id = envelope.id;
    if (this.inProgress.has(id)) return;
    if (!this.recent.add(id)) {
      t.stats.duplicatesDropped++;
      this.ack(m);
      return;
    }
    t.stats.delivered++;
    const pending = t.hand(this.deliver, envelope);
    if (pending === undefined) {
      this.ack(m);
      return;
    }
    this.inProgress.add(id);
    void pending.finally(() => {
      this.inProgress.delete(id);
      this.ack(m);
    });
  }

  /** Acknowledges unless the connection has gone: the event then stays unacknowledged and is delivered again. */
  private ack(m: JsMsg): void {
    try {
      m.ack();
    } catch (err) {
      this.transport.log.warn({ err: toError(err), consumer: this.name, seq: m.seq }, 'event handled but not acknowledged (connection closed): it will be delivered again');
    }
  }
}

/** Patterns minus those another one covers. */
function dropCovered(patterns: string[]): string[] {
  const unique = [...new Set(patterns)];
  return unique.filter((p) => !unique.some((q) => q !== p && isSubsetPattern(p, q)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

