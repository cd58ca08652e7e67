import type { Envelope } from './envelope.js';

export type TransportStatus = 'idle' | 'connected' | 'disconnected' | 'reconnecting' | 'closed';

export interface TransportSubscription {
  unsubscribe(): void;
}

export interface TransportSubscribeOptions {
  /** Queue group: exactly one member of the group receives each event. */
  queue?: string | undefined;
  /**
   * Durable name: on transports that persist events, a subscriber with the same durable name
   * resumes where it left off after a restart. Ignored by transports without persistence.
   */
  durable?: string | undefined;
  /**
   * Identity of the subscriber that stays the same across restarts (an agent's id). On transports
   * that persist events, a subscription without a `durable` name gets durable consumers named
   * after it for the durable event types its pattern selects, so events published while the
   * subscriber is down wait for it. Ignored by transports without persistence.
   */
  consumer?: string | undefined;
}

export type Deliver = (envelope: Envelope) => void | Promise<void>;
export type Responder = (request: Envelope) => Envelope | Promise<Envelope>;

/**
 * What the EventBus needs from a medium. A transport moves envelopes; it does not stamp them or
 * call user handlers directly (the bus wraps those with error capture and accounting).
 *
 * `publish` may return a promise when delivery is confirmed asynchronously (e.g. a JetStream ack);
 * a rejected promise means the event was not accepted and the publisher must hear about it.
 *
 * `subscribe` and `respond` work before `connect()`: such a subscription starts receiving once the
 * transport is connected (an agent may be wired before the system starts).
 */
export interface Transport {
  readonly name: string;
  readonly status: TransportStatus;
  connect(): Promise<void>;
  close(): Promise<void>;
  publish(envelope: Envelope): void | Promise<void>;
  subscribe(pattern: string, deliver: Deliver, options?: TransportSubscribeOptions): TransportSubscription;
  request(envelope: Envelope, timeoutMs: number): Promise<Envelope>;
  respond(type: string, responder: Responder, options?: TransportSubscribeOptions): TransportSubscription;
  /** Listens to connection status changes; returns a function that stops listening. */
  onStatus(listener: (status: TransportStatus, detail?: string) => void): () => void;
}

/**
 * What a participant uses on the bus, by event type or pattern. Agent definitions may declare it
 * (`AgentDefinition.bus`); tools that set up least-privilege permissions on a networked transport
 * read it (`tradebus nats-config`).
 */
export interface BusUsage {
  /** Event types (or patterns) it publishes. */
  publishes?: readonly string[];
  /** Event types or patterns it subscribes to. */
  subscribes?: readonly string[];
  /** Event types it sends requests for. */
  requests?: readonly string[];
  /** Event types it answers requests for. */
  responds?: readonly string[];
}
