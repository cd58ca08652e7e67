import type { EventMap } from '../events/catalogue.js';
import { eventId } from '../ids.js';

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

/**
 * The envelope the bus creates on publish. Its id is derived from (ts, seq, publisher tag) and
 * spelt out only when first read: most in-process events (ticks, candles) are never asked for
 * their id, and building the string costs more than delivering the event. `toJSON` includes the
 * id, so serialised envelopes (journal, NATS) always carry it.
 */
export class PublishedEnvelope<K extends string = string, P = unknown> implements Envelope<K, P> {
  private cachedId: string | undefined;

  constructor(
    readonly type: K,
    readonly source: string,
    readonly ts: number,
    readonly seq: number,
    readonly correlationId: string | undefined,
    readonly causationId: string | undefined,
    readonly payload: P,
    private readonly tag: string,
  ) {}

  get id(): string {
    return (this.cachedId ??= eventId(this.ts, this.seq, this.tag));
  }

  toJSON(): Envelope<K, P> {
    const out: { -readonly [F in keyof Envelope<K, P>]: Envelope<K, P>[F] } = {
      id: this.id,
      type: this.type,
      source: this.source,
      ts: this.ts,
      seq: this.seq,
      payload: this.payload,
    };
    if (this.correlationId !== undefined) out.correlationId = this.correlationId;
    if (this.causationId !== undefined) out.causationId = this.causationId;
    return out;
  }
}

/** A plain-object copy of an envelope (id included), e.g. for storage or `{ ...spread }`. */
export function toPlainEnvelope<K extends string, P>(envelope: Envelope<K, P>): Envelope<K, P> {
  return envelope instanceof PublishedEnvelope ? envelope.toJSON() : envelope;
}
