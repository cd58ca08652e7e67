import { z } from 'zod';
import type { Envelope } from '../../bus/envelope.js';
import { TransportError, errorMessage } from '../../errors.js';
import type { EventCatalogue } from '../../events/catalogue.js';
import type { ConfigIssue } from '../../errors.js';
import { formatZodIssues } from '../../validation.js';
import { compileAcceptor, type Acceptor } from '../../fast-check.js';

/**
 * Wire format: the whole envelope as one JSON document, UTF-8. JSON keeps messages readable with
 * the `nats` CLI and by non-Node consumers; the benchmark in docs/benchmarks.md shows encoding is
 * not what limits throughput.
 */

const EVENT_NAME = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;
const id = z.string().min(1).max(256);

/** The shape every envelope arriving from another process must have before its payload is checked. */
export const wireEnvelopeSchema = z.object({
  id,
  type: z.string().regex(EVENT_NAME, 'must be a dotted lowercase event name'),
  source: z.string().min(1).max(256),
  ts: z.number().finite(),
  seq: z.number().int().nonnegative(),
  correlationId: id.optional(),
  causationId: id.optional(),
  replyTo: z.string().max(256).optional(),
  payload: z.unknown(),
});

const acceptEnvelope = compileAcceptor(wireEnvelopeSchema);

export const deadLetterCodes = ['TOO_LARGE', 'UNDECODABLE', 'ENVELOPE_INVALID', 'TYPE_MISMATCH', 'PAYLOAD_INVALID'] as const;
export type DeadLetterCode = (typeof deadLetterCodes)[number];

/** What is published on `<prefix>._dlq.<type>` for each message that failed validation. */
export const deadLetterSchema = z.object({
  code: z.enum(deadLetterCodes),
  reason: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** Subject the message arrived on. */
  subject: z.string(),
  /** Event type taken from the subject when the catalogue knows it, else 'unknown'. */
  type: z.string(),
  /** Connection name of the transport that rejected it. */
  receivedBy: z.string(),
  receivedAt: z.number(),
  /** Size of the original message in bytes. */
  size: z.number().int().nonnegative(),
  /** The original bytes, base64 (cut to the first `truncatedTo` bytes when `truncated`). */
  data: z.string(),
  truncated: z.boolean(),
});
export type DeadLetter = z.output<typeof deadLetterSchema>;

export type Decoded =
  | { ok: true; envelope: Envelope }
  | { ok: false; code: DeadLetterCode; reason: string; issues?: ConfigIssue[] }
  /** Well-formed, but of a type this process's catalogue does not know: it cannot be checked. */
  | { ok: 'unknown-type'; type: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and checks one inbound message: size, UTF-8 JSON, envelope shape, that the envelope's
 * type is the one its subject names, and the payload against the catalogue schema. The delivered
 * payload is the schema's output (unknown keys stripped, defaults applied).
 */
export function decodeInbound(
  data: Uint8Array,
  expectedType: string,
  catalogue: EventCatalogue,
  maxBytes: number,
  checkPayload = true,
): Decoded {
  if (data.length > maxBytes) {
    return { ok: false, code: 'TOO_LARGE', reason: `message is ${data.length} bytes, more than the ${maxBytes} bytes allowed (transport.maxPayloadBytes)` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, code: 'UNDECODABLE', reason: `not UTF-8 JSON: ${errorMessage(err)}` };
  }
  let envelope: { -readonly [K in keyof Envelope]: Envelope[K] };
  if (acceptEnvelope !== undefined && acceptEnvelope(raw)) {
    envelope = raw as Envelope;
  } else {
    const shape = wireEnvelopeSchema.safeParse(raw);
    if (!shape.success) {
      const issues = formatZodIssues(shape.error.issues, { input: raw });
      return { ok: false, code: 'ENVELOPE_INVALID', reason: `not a Tradebus envelope: ${describe(issues)}`, issues };
    }
    envelope = shape.data as Envelope;
  }
  if (envelope.type !== expectedType) {
    return { ok: false, code: 'TYPE_MISMATCH', reason: `envelope type '${envelope.type}' arrived on the subject of '${expectedType}'` };
  }
  if (!checkPayload) return { ok: true, envelope };
  const accept = payloadAcceptor(catalogue, envelope.type);
  if (accept === undefined) return { ok: 'unknown-type', type: envelope.type };
  // Most events are valid: the compiled check accepts them without zod's per-check overhead.
  if (accept !== null && accept(envelope.payload)) return { ok: true, envelope };
  const payload = catalogue.validate(envelope.type, envelope.payload);
  if (!payload.ok) {
    return { ok: false, code: 'PAYLOAD_INVALID', reason: payload.error.message, issues: payload.error.issues };
  }
  envelope.payload = payload.value;
  return { ok: true, envelope };
}

const acceptors = new WeakMap<EventCatalogue, Map<string, Acceptor | null>>();

/** The compiled check for a type's payload; null when zod must do it all; undefined for an unknown type. */
function payloadAcceptor(catalogue: EventCatalogue, type: string): Acceptor | null | undefined {
  let byType = acceptors.get(catalogue);
  if (byType === undefined) acceptors.set(catalogue, (byType = new Map()));
  let accept = byType.get(type);
  if (accept === undefined) {
    if (!catalogue.has(type)) return undefined;
    accept = compileAcceptor(catalogue.schema(type)) ?? null;
    byType.set(type, accept);
  }
  return accept;
}

/** Serialises an envelope (a PublishedEnvelope serialises through its toJSON). */
export function encodeEnvelope(envelope: Envelope): Buffer {
  let json: string;
  try {
    json = JSON.stringify(envelope);
  } catch (err) {
    throw new TransportError('EVENT_NOT_SERIALIZABLE', `Event '${envelope.type}' cannot be sent to another process: ${errorMessage(err)}. Payloads must be plain JSON data.`, {
      cause: err,
    });
  }
  return Buffer.from(json, 'utf8');
}

function describe(issues: ConfigIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
}
