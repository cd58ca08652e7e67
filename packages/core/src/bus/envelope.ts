import type { EventMap } from '../events/catalogue.js';

/**
 * What travels on the bus: the payload plus who sent it, when, in which order, and why.
 * `seq` counts per source, so a consumer can tell a gap or a repeat from one publisher.
 */
export interface Envelope<K extends string = string, P = unknown> {
  /** Sortable unique id. */
  readonly id: string;
  readonly type: K;
  /** Id of the publishing agent (or component). */
  readonly source: string;
  /** Publish time from the publisher's clock, epoch ms. */
  readonly ts: number;
  /** 1-based sequence number per source. */
  readonly seq: number;
  /** Id shared by every event of one flow (defaults to the id of the first event of the flow). */
  readonly correlationId?: string | undefined;
  /** Id of the event that directly caused this one. */
  readonly causationId?: string | undefined;
  /** Set on requests: where the reply goes. */
  readonly replyTo?: string | undefined;
  readonly payload: P;
}

/** The envelope of one event type of a map, or a union of envelopes when K is a union. */
export type EnvelopeOf<E extends EventMap, K extends keyof E & string = keyof E & string> = K extends keyof E
  ? Envelope<K, E[K]>
  : never;
