import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import type { Envelope } from '../bus/envelope.js';
import type { Transport } from '../bus/transport.js';
import { errorMessage, toError } from '../errors.js';
import { NatsTransport } from '../transports/nats/nats-transport.js';
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
  let messages: ConsumerMessages;
  try {
    const consumer = await js.consumers.get(transport.options.streamName, { filter_subjects: [subject], ...start });
    messages = await consumer.consume({
      callback: (m) => {
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
  } catch (err) {
    throw new ShardingError('SHARDING_FEED_FAILED', `Could not follow '${options.type}' on stream ${transport.options.streamName}: ${errorMessage(err)}.`, { cause: err });
  }
  return {
    get delivered() {
      return delivered;
    },
    stop: async () => {
      await messages.close().catch(() => undefined);
    },
  };
}
