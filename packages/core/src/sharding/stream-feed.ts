import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { Envelope } from '../bus/envelope.js';
import type { Transport } from '../bus/transport.js';
import { errorMessage, toError } from '../errors.js';
import { NatsTransport, PULL_EXPIRES_MS } from '../transports/nats/nats-transport.js';
import { RecentIds } from '../transports/nats/recent-ids.js';
import { ShardingError } from './leases.js';

export interface StreamFeedOptions {
  /** A connected NATS transport whose `durable` patterns include `type`. */
  transport: Transport;
  /** The durable event type to follow, e.g. `candle.closed`. */
  type: string;
  /**
   * Where to start: `all` (everything the stream still holds), `new` (from now on), or an epoch-ms
   * time (events stored since then).
   */
  from: 'all' | 'new' | number;
  /** Called for each valid event, in stream order, one at a time. */
  onEvent: (envelope: Envelope) => void;
}

export interface StreamFeed {
  /** Events handed to `onEvent`. */
  readonly delivered: number;
  stop(): Promise<void>;
}

/**
 * Follows one durable event type in stream order, without gaps or repeats, through a JetStream
 * ordered consumer: when the connection moves to another node the client recreates the consumer
 * from the last sequence it saw. Nothing is acknowledged (the consumer is this process's alone),
 * so a sharded agent can read every key's events and keep the ones it owns.
 */
export async function followStream(options: StreamFeedOptions): Promise<StreamFeed> {
  const transport = options.transport;
  if (!(transport instanceof NatsTransport)) {
    throw new ShardingError('SHARDING_NEEDS_NATS', `Following '${options.type}' from the stream needs the NATS transport (transport.kind: nats).`);
  }
  const js = transport.jetstreamClient;
  if (js === undefined) throw new ShardingError('SHARDING_NOT_CONNECTED', `Following '${options.type}': the NATS transport is not connected yet.`);
  if (!transport.isDurableType(options.type)) {
    throw new ShardingError(
      'SHARDING_EVENT_NOT_DURABLE',
      `Sharded agents read '${options.type}' from the JetStream stream, but it is not in transport.durable (${transport.durablePatterns.join(', ') || 'empty'}): add '${options.type}' there in every process's config.`,
    );
  }
  const subject = transport.subjectOf(options.type);
  const start =
    options.from === 'all'
      ? { deliver_policy: DeliverPolicy.All }
      : options.from === 'new'
        ? { deliver_policy: DeliverPolicy.New }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(options.from).toISOString() };
  const recent = new RecentIds(transport.options.dedupeWindow);
  let delivered = 0;
  let lastSeq = 0;
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  const stream = transport.options.streamName;
  const open = async (): Promise<void> => {
    // After the first open, a fresh consumer starts right after the last event handed over.
    const from = lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 } : start;
    const consumer = await js.consumers.get(stream, { filter_subjects: subject, ...from });
    const current = await consumer.consume({
      expires: PULL_EXPIRES_MS,
      callback: (m) => {
        if (m.seq <= lastSeq) return;
        lastSeq = m.seq;
        const envelope = transport.accept(m, options.type, m.data);
        // A publish retried under a new id is the only way a repeat reaches the stream.
        if (envelope === undefined || !recent.add(envelope.id)) return;
        delivered++;
        try {
          options.onEvent(envelope);
        } catch (err) {
          transport.log.error({ err: toError(err), type: options.type }, 'stream feed handler failed');
        }
      },
    });
    if (stopped) {
      await current.close().catch(() => undefined);
      return;
    }
    messages = current;
    void watch(current);
  };
  let reopening: Promise<void> | undefined;
  /** Replaces the consumer (its node died, the connection moved): reading goes on after the last sequence seen. */
  const reopen = (why: string): Promise<void> => {
    reopening ??= (async () => {
      const old = messages;
      messages = undefined;
      await old?.close().catch(() => undefined);
      for (let attempt = 0; !stopped; attempt++) {
        try {
          await open();
          transport.log.info({ type: options.type, after: lastSeq, why }, 'stream feed resumed');
          return;
        } catch (err) {
          transport.log.warn({ err: toError(err), type: options.type, attempt }, 'stream feed not resumed yet; retrying');
          await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
        }
      }
    })().finally(() => (reopening = undefined));
    return reopening;
  };
  const watch = async (current: ConsumerMessages): Promise<void> => {
    try {
      for await (const s of current.status()) {
        if (messages !== current || stopped) return;
        if ((s.type === 'heartbeats_missed' && s.count >= 2) || s.type === 'consumer_deleted' || s.type === 'consumer_not_found') {
          void reopen(s.type);
          return;
        }
      }
    } catch {
      // the iterator ends with the consumer
    }
    if (messages === current && !stopped) void reopen('consumer closed');
  };
  // The connection moved to another node: the consumer may have lived on the one that went.
  let wasDown = false;
  const unwatch = transport.onStatus((status) => {
    if (status === 'disconnected' || status === 'reconnecting') wasDown = true;
    else if (status === 'connected' && wasDown && !stopped) {
      wasDown = false;
      void reopen('reconnected');
    }
  });
  try {
    await open();
  } catch (err) {
    unwatch();
    throw new ShardingError('SHARDING_FEED_FAILED', `Could not follow '${options.type}' on stream ${stream}: ${errorMessage(err)}.`, { cause: err });
  }
  return {
    get delivered() {
      return delivered;
    },
    stop: async () => {
      stopped = true;
      unwatch();
      await reopening?.catch(() => undefined);
      await messages?.close().catch(() => undefined);
    },
  };
}
