import { readFileSync } from 'node:fs';
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { nkeyAuthenticator } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { NatsTransportConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { EventCatalogue } from '../../events/catalogue.js';
import { streamNameFor } from './subjects.js';

export interface NatsTlsOptions {
  /** CA certificate (PEM) that signed the server's certificate. */
  caFile?: string | undefined;
  /** Client certificate (PEM), when the server verifies clients. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

export interface NatsTransportOptions {
  /** The events this process knows: every inbound payload is checked against it. */
  catalogue: EventCatalogue;
  /** Server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers?: string | string[];
  /** Subject prefix: event `price.tick` travels on `<prefix>.price.tick`. One prefix per system and environment. */
  prefix?: string;
  /** Connection name shown by the server's monitoring (`connz`); default `tradebus-<pid>`. */
  name?: string;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  /** NKey seed (`SU...`) for nkey authentication. */
  nkeySeed?: string | undefined;
  tls?: NatsTlsOptions | undefined;
  /**
   * Subject prefix of this process's reply inboxes (request replies, JetStream acks and
   * deliveries). A per-process prefix lets the server allow each user to read only its own
   * replies (see natsAuthorization).
   */
  inboxPrefix?: string;
  /** Event patterns that travel through JetStream: stored, acknowledged, replayed to durable subscribers. */
  durable?: string[];
  /** Non-durable publishes held while disconnected; beyond it publish throws. */
  publishBufferSize?: number;
  /** First reconnect delay; later ones double up to `reconnectMaxWaitMs`. */
  reconnectWaitMs?: number;
  reconnectMaxWaitMs?: number;
  /** Random extra delay added to each reconnect attempt, so many clients do not retry in lockstep. */
  reconnectJitterMs?: number;
  /** -1: never give up. */
  maxReconnectAttempts?: number;
  /** Largest envelope accepted in either direction, in bytes. */
  maxPayloadBytes?: number;
  /** How long one JetStream publish waits for its ack. */
  ackTimeoutMs?: number;
  /** How long a durable publish may keep retrying (same message id) before it rejects. */
  durablePublishTimeoutMs?: number;
  /** How long JetStream waits for a durable subscriber's ack before redelivering. */
  ackWaitMs?: number;
  /**
   * Events a durable subscriber may hold unacknowledged; once reached, JetStream stops delivering
   * to it until it acks (the stream keeps the rest). Bounds the memory a stalled subscriber can
   * take and how much is redelivered after it dies.
   */
  maxAckPending?: number;
  /**
   * Copies of each durable event the cluster keeps (JetStream `num_replicas`): 1 on a single
   * server, 3 on a 3-node cluster so losing any one node loses nothing acknowledged. Applies to
   * the streams and key-value buckets this process creates, and is raised on existing ones.
   */
  replicas?: number;
  /**
   * Messages a plain (non-durable) subscription may have waiting in this process before the
   * client reports it as a slow consumer (counted in stats.slowConsumers and logged). The server
   * itself drops a connection whose unread data exceeds its `max_pending`: plain events sent
   * meanwhile are lost, durable ones are delivered again.
   */
  slowConsumerPending?: number;
  /** Event ids remembered per subscription to drop repeats. */
  dedupeWindow?: number;
  /** JetStream stream for durable events; default derived from the prefix (`tradebus.dev` → `TRADEBUS_DEV`). */
  streamName?: string;
  /** How long durable events are kept. */
  streamMaxAgeMs?: number;
  /**
   * Check every message on the bus and publish a dead letter for each bad one. Processes that do
   * form one NATS queue group, so each bad message is reported once per bus however many of them
   * run; the others only count and drop what their own subscriptions reject. Default false: the
   * launcher turns it on in the process that records history (docs/nats.md).
   */
  reportDeadLetters?: boolean;
  /** Keep dead letters in a stream (`<stream>_DLQ`) so they can be inspected later (created by a reporting process). */
  deadLetterStream?: boolean;
  /** How long the dead-letter stream keeps a dead letter. */
  deadLetterMaxAgeMs?: number;
  /** Size the dead-letter stream may reach; beyond it the oldest dead letters are discarded. */
  deadLetterMaxBytes?: number;
  /** Initial connection timeout. */
  connectTimeoutMs?: number;
  /** Client pings: a silent server is noticed after about 2 × this. */
  pingIntervalMs?: number;
  logger?: Logger;
}

export type ResolvedNatsOptions = Required<Omit<NatsTransportOptions, 'user' | 'pass' | 'token' | 'nkeySeed' | 'tls' | 'logger' | 'streamName'>> &
  Pick<NatsTransportOptions, 'user' | 'pass' | 'token' | 'nkeySeed' | 'tls' | 'logger'> & { streamName: string };

export const NATS_DEFAULTS = {
  servers: 'nats://127.0.0.1:4222',
  prefix: 'tradebus.dev',
  inboxPrefix: '_INBOX',
  durable: ['order.*', 'trade.*', 'position.*', 'account.*'],
  publishBufferSize: 10_000,
  reconnectWaitMs: 500,
  reconnectMaxWaitMs: 3_000,
  reconnectJitterMs: 500,
  maxReconnectAttempts: -1,
  maxPayloadBytes: 1_048_576,
  ackTimeoutMs: 2_000,
  durablePublishTimeoutMs: 10_000,
  ackWaitMs: 30_000,
  maxAckPending: 1_000,
  replicas: 1,
  slowConsumerPending: 10_000,
  dedupeWindow: 10_000,
  streamMaxAgeMs: 7 * 24 * 3600 * 1000,
  reportDeadLetters: false,
  deadLetterStream: true,
  deadLetterMaxAgeMs: 7 * 24 * 3600 * 1000,
  deadLetterMaxBytes: 128 * 1024 * 1024,
  connectTimeoutMs: 5_000,
  pingIntervalMs: 10_000,
} as const;

const PREFIX = /^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$/;

export function resolveOptions(options: NatsTransportOptions): ResolvedNatsOptions {
  const prefix = options.prefix ?? NATS_DEFAULTS.prefix;
  if (!PREFIX.test(prefix)) {
    throw new ConfigError(`transport.prefix '${prefix}' is not a valid subject prefix: use '.'-separated words of letters, digits, '-' and '_' (e.g. 'tradebus.prod').`, [
      { path: 'transport.prefix', message: 'invalid subject prefix' },
    ]);
  }
  const resolved: ResolvedNatsOptions = {
    catalogue: options.catalogue,
    servers: splitServers(options.servers ?? NATS_DEFAULTS.servers),
    prefix,
    name: options.name ?? `tradebus-${process.pid}`,
    user: options.user,
    pass: options.pass,
    token: options.token,
    nkeySeed: options.nkeySeed,
    tls: options.tls,
    inboxPrefix: options.inboxPrefix ?? NATS_DEFAULTS.inboxPrefix,
    durable: options.durable ?? [...NATS_DEFAULTS.durable],
    publishBufferSize: options.publishBufferSize ?? NATS_DEFAULTS.publishBufferSize,
    reconnectWaitMs: options.reconnectWaitMs ?? NATS_DEFAULTS.reconnectWaitMs,
    reconnectMaxWaitMs: options.reconnectMaxWaitMs ?? NATS_DEFAULTS.reconnectMaxWaitMs,
    reconnectJitterMs: options.reconnectJitterMs ?? NATS_DEFAULTS.reconnectJitterMs,
    maxReconnectAttempts: options.maxReconnectAttempts ?? NATS_DEFAULTS.maxReconnectAttempts,
    maxPayloadBytes: options.maxPayloadBytes ?? NATS_DEFAULTS.maxPayloadBytes,
    ackTimeoutMs: options.ackTimeoutMs ?? NATS_DEFAULTS.ackTimeoutMs,
    durablePublishTimeoutMs: options.durablePublishTimeoutMs ?? NATS_DEFAULTS.durablePublishTimeoutMs,
    ackWaitMs: options.ackWaitMs ?? NATS_DEFAULTS.ackWaitMs,
    maxAckPending: options.maxAckPending ?? NATS_DEFAULTS.maxAckPending,
    replicas: options.replicas ?? NATS_DEFAULTS.replicas,
    slowConsumerPending: options.slowConsumerPending ?? NATS_DEFAULTS.slowConsumerPending,
    dedupeWindow: options.dedupeWindow ?? NATS_DEFAULTS.dedupeWindow,
    streamName: options.streamName ?? streamNameFor(prefix),
    streamMaxAgeMs: options.streamMaxAgeMs ?? NATS_DEFAULTS.streamMaxAgeMs,
    reportDeadLetters: options.reportDeadLetters ?? NATS_DEFAULTS.reportDeadLetters,
    deadLetterStream: options.deadLetterStream ?? NATS_DEFAULTS.deadLetterStream,
    deadLetterMaxAgeMs: options.deadLetterMaxAgeMs ?? NATS_DEFAULTS.deadLetterMaxAgeMs,
    deadLetterMaxBytes: options.deadLetterMaxBytes ?? NATS_DEFAULTS.deadLetterMaxBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? NATS_DEFAULTS.connectTimeoutMs,
    pingIntervalMs: options.pingIntervalMs ?? NATS_DEFAULTS.pingIntervalMs,
    logger: options.logger,
  };
  if (!PREFIX.test(resolved.inboxPrefix)) {
    throw new ConfigError(`transport.inboxPrefix '${resolved.inboxPrefix}' is not a valid subject prefix: use '.'-separated words of letters, digits, '-' and '_' (e.g. '_INBOX_executor').`, [
      { path: 'transport.inboxPrefix', message: 'invalid subject prefix' },
    ]);
  }
  if (!Number.isInteger(resolved.replicas) || resolved.replicas < 1 || resolved.replicas > 5) {
    throw new ConfigError(`transport.replicas is ${resolved.replicas}: JetStream keeps 1 to 5 copies; use 1 on a single server, 3 on a 3-node cluster.`, [
      { path: 'transport.replicas', message: 'must be an integer from 1 to 5' },
    ]);
  }
  if (resolved.pass !== undefined && resolved.user === undefined) {
    throw new ConfigError('transport.pass is set without transport.user: set both, or use transport.token.', [{ path: 'transport.user', message: 'required with pass' }]);
  }
  return resolved;
}

/**
 * One URL, a list, or a comma-separated list in one string (as an environment variable gives it:
 * `NATS_URLS=nats://a:4222,nats://b:4222`).
 */
function splitServers(servers: string | string[]): string | string[] {
  if (Array.isArray(servers)) return servers;
  const list = servers.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return list.length > 1 ? list : servers;
}

/**
 * Reconnect delays double from `reconnectWaitMs` up to `reconnectMaxWaitMs`, plus jitter. The
 * client asks for a delay on every turn of its reconnect loop without saying which attempt it is,
 * so the attempt is derived from the time since the connection was lost.
 */
export function backoffDelay(elapsedMs: number, baseMs: number, maxMs: number, jitterMs: number, random = Math.random): number {
  const attempt = Math.floor(Math.log2(Math.max(0, elapsedMs) / baseMs + 1));
  return Math.min(maxMs, baseMs * 2 ** attempt) + Math.floor(random() * jitterMs);
}

/** Client options for @nats-io/transport-node: servers, auth, TLS, reconnect policy. */
export function connectionOptions(o: ResolvedNatsOptions, reconnectDelay: () => number): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: o.servers,
    name: o.name,
    maxReconnectAttempts: o.maxReconnectAttempts,
    reconnect: true,
    reconnectDelayHandler: reconnectDelay,
    timeout: o.connectTimeoutMs,
    pingInterval: o.pingIntervalMs,
    maxPingOut: 2,
    // Stack traces captured per request cost more than a local round trip; errors here carry their own context.
    noAsyncTraces: true,
    ignoreClusterUpdates: false,
    inboxPrefix: o.inboxPrefix,
  };
  if (o.user !== undefined) {
    opts.user = o.user;
    if (o.pass !== undefined) opts.pass = o.pass;
  }
  if (o.token !== undefined) opts.token = o.token;
  if (o.nkeySeed !== undefined) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed.trim()));
  if (o.tls !== undefined) {
    const tls: NonNullable<NodeConnectionOptions['tls']> = {};
    // Files are read here so a wrong path is reported as a config error, not a TLS handshake failure.
    if (o.tls.caFile !== undefined) tls.ca = readPem(o.tls.caFile, 'transport.tls.caFile');
    if (o.tls.certFile !== undefined) tls.cert = readPem(o.tls.certFile, 'transport.tls.certFile');
    if (o.tls.keyFile !== undefined) tls.key = readPem(o.tls.keyFile, 'transport.tls.keyFile');
    opts.tls = tls;
  }
  return opts;
}

function readPem(file: string, path: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Check the path.`, [{ path, message: 'file not readable' }], { cause: err });
  }
}

/** Transport options from the validated `transport:` section of the config file. */
export function natsOptionsFromConfig(config: NatsTransportConfig, catalogue: EventCatalogue, logger?: Logger): NatsTransportOptions {
  const { kind: _kind, ...rest } = config;
  const out: NatsTransportOptions = { catalogue, logger };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}
