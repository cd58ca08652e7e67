import type { BusUsage } from '../../bus/transport.js';
import { ConfigError } from '../../errors.js';
import { NATS_DEFAULTS } from './options.js';
import { consumerName, derivedConsumerName, durableParts, normalizePatterns, streamNameFor } from './subjects.js';

/** Events every Tradebus process publishes: its agents' heartbeats and state changes, and alerts. */
const EVERY_PROCESS_PUBLISHES = ['agent.heartbeat', 'agent.status', 'system.alert'];

/** One process of a distributed system, as a NATS user with its own credentials. */
export interface NatsProcessUser {
  /** NATS user name: `transport.user` of the process. */
  user: string;
  /**
   * Environment variable of nats-server that holds this user's password: the server config says
   * `password: $NAME`, so no password is written into it.
   */
  passwordEnv: string;
  /** `transport.inboxPrefix` of the process; the user may read only replies under it. Default `_INBOX_<user>`. */
  inboxPrefix?: string;
  /** The agents the process runs: what each publishes and subscribes, and its id (which names its durable consumers). */
  agents: ReadonlyArray<{ id: string; bus: BusUsage }>;
  /**
   * The process that serves the API and records history: it reads the whole bus (journal, health,
   * dead-letter check), reports dead letters, creates the streams and runs consumers named after
   * its data directory. Start it before the others, which may only read the streams.
   */
  recorder?: boolean;
  /** What the process itself uses besides its agents (the API publishes `risk.command` and `config.changed`). */
  extra?: BusUsage;
}

export interface NatsAuthorizationOptions {
  /** `transport.prefix` of the system. */
  prefix: string;
  /** `transport.streamName`; default from the prefix. */
  streamName?: string;
  /** `transport.durable`; default the transport's default. */
  durable?: readonly string[];
  users: readonly NatsProcessUser[];
}

export interface NatsUserPermissions {
  user: string;
  passwordEnv: string;
  inboxPrefix: string;
  publish: string[];
  subscribe: string[];
  /** Set for responders: they may answer on the reply subject of each request they receive. */
  allowResponses: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The subjects each process of a system may publish and subscribe to on NATS, so that a process
 * can do its job and nothing else: an agent that does not request orders cannot inject
 * `order.requested`, and nobody reads another process's replies.
 *
 * - events: `<prefix>.<type>` for what its agents publish (plus heartbeats, state changes and
 *   alerts, which every process sends) and subscribe to;
 * - requests: `<prefix>._req.<type>` to send, to answer (answers go back on the request's reply
 *   subject), and `<prefix>._dlq.>` to report an invalid request;
 * - replies, JetStream acks and deliveries: `<inboxPrefix>.>` only;
 * - JetStream: the API check, the stream's info, and for each durable consumer its agents use
 *   (`<agent id>-<pattern>`) the calls to look it up, create it and pull from it, and its acks.
 *   Only the recording process may create or change streams, and use consumers of any name.
 */
export function natsPermissions(options: NatsAuthorizationOptions): NatsUserPermissions[] {
  const prefix = options.prefix;
  const stream = options.streamName ?? streamNameFor(prefix);
  const durable = normalizePatterns([...(options.durable ?? NATS_DEFAULTS.durable)]);
  const users = new Set<string>();
  return options.users.map((spec) => {
    if (!USER_NAME.test(spec.user)) throw authError(`user name '${spec.user}'`, "use letters, digits, '-' and '_'");
    if (users.has(spec.user)) throw authError(`user '${spec.user}'`, 'appears twice: give each process its own user');
    users.add(spec.user);
    if (!ENV_NAME.test(spec.passwordEnv)) throw authError(`password variable '${spec.passwordEnv}' of user '${spec.user}'`, 'use an environment variable name (letters, digits, _)');
    const inboxPrefix = spec.inboxPrefix ?? `_INBOX_${spec.user}`;
    const usages = [...spec.agents.map((a) => a.bus), ...(spec.extra === undefined ? [] : [spec.extra])];
    const all = (key: keyof BusUsage): string[] => [...new Set(usages.flatMap((u) => u[key] ?? []))];
    const publish = new Set<string>();
    const subscribe = new Set<string>([`${inboxPrefix}.>`]);
    for (const type of [...EVERY_PROCESS_PUBLISHES, ...all('publishes')]) publish.add(`${prefix}.${type}`);
    for (const pattern of all('subscribes')) subscribe.add(`${prefix}.${pattern}`);
    for (const type of all('requests')) publish.add(`${prefix}._req.${type}`);
    const responds = all('responds');
    for (const type of responds) subscribe.add(`${prefix}._req.${type}`);
    if (responds.length > 0 || spec.recorder === true) publish.add(`${prefix}._dlq.>`);
    if (durable.length > 0 || spec.recorder === true) {
      publish.add('$JS.API.INFO');
      publish.add(`$JS.API.STREAM.INFO.${stream}`);
    }
    if (spec.recorder === true) {
      subscribe.add(`${prefix}.>`);
      for (const s of [stream, `${stream}_DLQ`]) {
        for (const op of ['INFO', 'CREATE', 'UPDATE']) publish.add(`$JS.API.STREAM.${op}.${s}`);
      }
      for (const subject of consumerSubjects(stream, '*')) publish.add(subject);
    } else {
      for (const agent of spec.agents) {
        for (const name of consumerNames(agent.id, agent.bus.subscribes ?? [], durable)) {
          for (const subject of consumerSubjects(stream, name)) publish.add(subject);
        }
      }
    }
    return { user: spec.user, passwordEnv: spec.passwordEnv, inboxPrefix, publish: [...publish], subscribe: [...subscribe], allowResponses: responds.length > 0 };
  });
}

/**
 * The `authorization` block of a nats-server config for `natsPermissions`: paste it into the
 * server's config file and export each user's password variable where nats-server runs.
 */
export function natsAuthorization(options: NatsAuthorizationOptions): string {
  const users = natsPermissions(options);
  const list = (items: string[]): string => items.map((s) => `            ${JSON.stringify(s)}`).join('\n');
  const blocks = users.map((u) =>
    [
      '    {',
      `      user: ${JSON.stringify(u.user)}`,
      `      password: $${u.passwordEnv}`,
      '      permissions: {',
      '        publish: {',
      '          allow: [',
      list(u.publish),
      '          ]',
      '        }',
      '        subscribe: {',
      '          allow: [',
      list(u.subscribe),
      '          ]',
      '        }',
      ...(u.allowResponses ? ['        allow_responses: true'] : []),
      '      }',
      '    }',
    ].join('\n'),
  );
  return `authorization {\n  users: [\n${blocks.join('\n')}\n  ]\n}\n`;
}

/** Names of the durable consumers an agent's subscriptions get (the transport derives the same). */
export function consumerNames(agentId: string, subscribes: readonly string[], durable: readonly string[]): string[] {
  const names: string[] = [];
  for (const pattern of subscribes) {
    for (const part of durableParts(pattern, durable)) {
      const base = derivedConsumerName(agentId, part);
      let name = base;
      // A second subscription to the same pattern gets `-2`, as in the transport.
      for (let n = 2; names.includes(name); n++) name = consumerName(`${base}-${n}`);
      names.push(name);
    }
  }
  return names;
}

function consumerSubjects(stream: string, name: string): string[] {
  return [
    `$JS.API.CONSUMER.INFO.${stream}.${name}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`,
    `$JS.ACK.${stream}.${name}.>`,
  ];
}

function authError(what: string, fix: string): ConfigError {
  return new ConfigError(`NATS authorization: ${what} ${fix}.`, [{ path: 'users', message: fix }]);
}
