import { z } from 'zod';
import { secret } from './secrets.js';

const restartPolicy = z
  .object({
    maxRestarts: z.number().int().nonnegative(),
    windowMs: z.number().int().positive(),
    initialDelayMs: z.number().int().nonnegative(),
    maxDelayMs: z.number().int().nonnegative(),
    factor: z.number().min(1),
  })
  .partial()
  .strict();

export const agentEntrySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, - and _').describe('Unique agent id'),
    use: z
      .string()
      .min(1)
      .describe("Package (or built-in kind) that exports the agent definition, e.g. '@tradebus/agent-price-watchdog'"),
    enabled: z.boolean().default(true),
    dependsOn: z.array(z.string()).default([]),
    providers: z
      .array(z.string().min(1))
      .optional()
      .describe(
        "Providers this agent uses, by name. Default: the one its settings name as 'provider'. A process builds only the providers its agents use, and reads only their credentials",
      ),
    restart: restartPolicy.optional(),
    config: z.unknown().optional().describe("The agent's own settings, validated by the agent's schema"),
  })
  .strict();

export const natsTransportSchema = z
  .object({
    kind: z.literal('nats'),
    servers: z
      .union([z.string(), z.array(z.string()).min(1)])
      .default('nats://127.0.0.1:4222')
      .describe('NATS server URL(s); credentials in a URL (nats://user:pass@host) are redacted wherever the URL is shown'),
    prefix: z.string().regex(/^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$/).default('tradebus.dev'),
    name: z.string().optional(),
    user: z.string().optional(),
    pass: secret(z.string()).optional().describe('Password for user (secret: prefer ${VAR} or TRADEBUS__TRANSPORT__PASS)'),
    token: secret(z.string()).optional().describe('Authentication token (secret)'),
    nkeySeed: secret(z.string()).optional().describe('NKey seed (secret)'),
    tls: z
      .object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() })
      .strict()
      .optional(),
    inboxPrefix: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$/, "use '.'-separated words of letters, digits, '-' and '_'")
      .optional()
      .describe("Subject prefix of this process's reply inboxes (default _INBOX); give each process its own (e.g. _INBOX_<user>) when the server restricts who reads replies"),
    durable: z
      .array(z.string())
      .default(['order.*', 'trade.*', 'position.*', 'account.*'])
      .describe('Event patterns that travel through JetStream and survive a subscriber being down'),
    publishBufferSize: z
      .number()
      .int()
      .nonnegative()
      .default(10_000)
      .describe('Non-durable events held while disconnected; beyond it publish throws'),
    reconnectWaitMs: z.number().int().positive().default(500).describe('First reconnect delay; later ones double up to reconnectMaxWaitMs'),
    reconnectMaxWaitMs: z.number().int().positive().optional().describe('Longest reconnect delay (default 3000)'),
    reconnectJitterMs: z.number().int().nonnegative().optional().describe('Random delay added to each reconnect attempt (default 500)'),
    maxReconnectAttempts: z.number().int().min(-1).default(-1).describe('-1: never give up'),
    maxPayloadBytes: z.number().int().positive().default(1_048_576).describe('Largest envelope accepted in either direction'),
    ackTimeoutMs: z.number().int().positive().optional().describe('How long one JetStream publish waits for its ack (default 2000)'),
    durablePublishTimeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('How long a durable publish keeps retrying with the same message id before it rejects (default 10000)'),
    ackWaitMs: z.number().int().positive().optional().describe('How long JetStream waits for a durable subscriber to ack before redelivering (default 30000)'),
    maxAckPending: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Durable events a subscriber may hold unacknowledged before JetStream stops delivering to it; the stream keeps the rest (default 1000)'),
    replicas: z
      .number()
      .int()
      .min(1)
      .max(5)
      .optional()
      .describe('Copies JetStream keeps of durable events, dead letters and shard leases: 1 on one server (default), 3 on a 3-node cluster'),
    slowConsumerPending: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Messages a plain subscription may have waiting in the process before it is reported as a slow consumer (default 10000)'),
    dedupeWindow: z.number().int().positive().optional().describe('Event ids remembered per subscription to drop repeats (default 10000)'),
    streamName: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '-' and '_'")
      .optional()
      .describe('JetStream stream for durable events (default: the prefix in capitals, dots as underscores)'),
    streamMaxAgeMs: z.number().int().positive().optional().describe('How long durable events are kept (default 7 days)'),
    reportDeadLetters: z
      .boolean()
      .optional()
      .describe('Check every message on the bus and publish one dead letter per bad one (default: on in the process that records history, off in the others)'),
    deadLetterStream: z.boolean().optional().describe('Keep dead letters in the <stream>_DLQ stream (default true)'),
    deadLetterMaxAgeMs: z.number().int().positive().optional().describe('How long the dead-letter stream keeps a dead letter (default 7 days)'),
    deadLetterMaxBytes: z
      .number()
      .int()
      .min(1024 * 1024, 'use at least 1048576 (1 MiB)')
      .optional()
      .describe('Size of the dead-letter stream; beyond it the oldest dead letters go (default 134217728, 128 MiB)'),
    connectTimeoutMs: z.number().int().positive().optional().describe('How long the first connection may take (default 5000)'),
    pingIntervalMs: z.number().int().positive().optional().describe('Client pings; a silent server is noticed after about twice this (default 10000)'),
  })
  .strict();

export const transportConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local') }).strict(),
  natsTransportSchema,
]);

const perfMs = z.number().finite().nonnegative();

/** Thresholds of the decision pipeline's timings (GET /perf), which raise PERF_SLOW when a p99 exceeds them. */
export const perfSettingsSchema = z
  .object({
    windowMs: z.number().int().positive().default(300_000).describe('The p99 of each stage is taken over the samples of this last stretch of wall time'),
    checkIntervalMs: z.number().int().positive().default(15_000).describe('How often the p99s are compared with their thresholds'),
    minSamples: z.number().int().positive().default(20).describe('Fewer samples in the window than this raise no alert: one slow bar is not a trend'),
    thresholdsMs: z
      .object({
        candleToSignal: perfMs.default(500).describe('candle.closed (or price.tick) to the signal.generated it caused: the strategies'),
        signalToDecision: perfMs.default(500).describe("signal.generated to the trade manager's decision on it: its order.requested or signal.decided, whichever comes first"),
        decisionToOrder: perfMs.default(500).describe("the decision (or an order.requested of no signal: stops, exits) to the executor's order.updated 'submitted': the order stored and on its way to the venue"),
        orderToAck: perfMs.default(5_000).describe("'submitted' to the venue's first answer: the first order.updated past submitted"),
        cycle: perfMs.default(6_000).describe("candle.closed to the venue's first answer on the order it led to"),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const systemConfigSchema = z
  .object({
    system: z
      .object({
        name: z.string().default('tradebus').describe('Name shown in logs, the API and the dashboard'),
        env: z.string().regex(/^[a-z0-9_-]+$/i).default('dev').describe('Environment name (dev, paper, live...)'),
        heartbeatIntervalMs: z.number().int().positive().default(5_000).describe('How often every agent publishes agent.heartbeat'),
        missedHeartbeats: z.number().int().positive().default(3).describe('Heartbeats an agent may miss before it counts as down'),
        clock: z
          .enum(['wall', 'market'])
          .default('wall')
          .describe('wall: real time (live trading); market: a virtual clock that follows replayed or synthetic market data, so agents see market time'),
        shutdownDeadlineMs: z.number().int().positive().default(10_000).describe('Time agents get to stop on SIGINT/SIGTERM before the process exits with code 1'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level. In code, a system built without a logger logs at TRADEBUS_LOG_LEVEL instead (createSystem: warn when unset, on stderr)') })
      .strict()
      .prefault({}),
    transport: transportConfigSchema.default({ kind: 'local' }),
    data: z
      .object({
        dir: z.string().default('./data').describe('Data directory, relative to the config file'),
        fsync: z.enum(['always', 'batch', 'never']).default('batch').describe('When appends are fsynced: every write, batched every fsyncIntervalMs, or left to the OS'),
        fsyncIntervalMs: z.number().int().positive().default(50).describe('Batch window of fsync: batch'),
        verifyOnOpen: z
          .enum(['tail', 'all'])
          .default('tail')
          .describe("Checksums checked on start: 'tail' the segments a crash can have torn, 'all' every segment (slower start on a large store)"),
        journal: z
          .object({
            enabled: z.boolean().default(true).describe('Record bus events in the event journal'),
            types: z.array(z.string()).default(['>']).describe("Event types or patterns to record ('order.*', 'trade.>', '>' for all)"),
            exclude: z
              .array(z.string())
              .default(['agent.heartbeat', 'price.tick', 'candle.updated'])
              .describe('Event types or patterns never recorded'),
            maxSegmentBytes: z.number().int().positive().default(64 * 1024 * 1024).describe('Size at which a journal segment is sealed and a new one started'),
            maxAgeDays: z.number().positive().optional().describe('Delete sealed journal segments whose newest event is older than this'),
            maxTotalBytes: z.number().int().positive().optional().describe('Delete the oldest sealed journal segments while the journal is larger than this'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        enabled: z.boolean().default(true).describe('Serve the REST API'),
        host: z.string().default('127.0.0.1').describe('Interface of the REST API; keep it on loopback unless it sits behind a proxy with TLS'),
        port: z.number().int().min(0).max(65535).default(7070).describe('REST API port (0 picks a free one)'),
        token: secret(z.string().min(16, 'use at least 16 characters'))
          .optional()
          .describe('Bearer token for mutating routes and GET /config (secret); prefer TRADEBUS_API_TOKEN'),
        bodyLimit: z.string().default('100kb').describe('Largest request body; larger ones get 413'),
        cors: z.union([z.literal(false), z.array(z.string())]).default(false).describe('Origins allowed by CORS; off by default'),
        perf: perfSettingsSchema.prefault({}).describe('Decision pipeline timings served at GET /perf, and when they raise PERF_SLOW'),
      })
      .strict()
      .prefault({}),
    providers: z
      .record(z.string(), z.looseObject({ kind: z.string() }))
      .default({})
      .describe('Named providers; each kind has its own settings, validated by @tradebus/providers'),
    agents: z.array(agentEntrySchema).default([]),
  })
  .strict();

export type SystemConfig = z.output<typeof systemConfigSchema>;
export type SystemConfigInput = z.input<typeof systemConfigSchema>;
export type AgentEntry = z.output<typeof agentEntrySchema>;
export type NatsTransportConfig = z.output<typeof natsTransportSchema>;
export type TransportConfig = z.output<typeof transportConfigSchema>;
