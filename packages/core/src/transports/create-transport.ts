import type { Logger } from 'pino';
import { LocalTransport } from '../bus/local-transport.js';
import type { Transport } from '../bus/transport.js';
import type { TransportConfig } from '../config/schema.js';
import type { EventCatalogue } from '../events/catalogue.js';
import { NatsTransport } from './nats/nats-transport.js';
import { natsOptionsFromConfig } from './nats/options.js';

export interface CreateTransportOptions {
  /** The catalogue of the process (built-in plus custom events): a networked transport checks every inbound event against it. */
  catalogue: EventCatalogue;
  logger?: Logger;
  /** Connection name when the config sets none, e.g. `tradebus-<agent id>`; shown by the server's monitoring. */
  name?: string;
  /** Whether this process reports dead letters when the config does not say (`transport.reportDeadLetters`). */
  reportDeadLetters?: boolean;
}

/** The transport the `transport:` section of a validated config asks for (not yet connected). */
export function createTransport(config: TransportConfig, options: CreateTransportOptions): Transport {
  if (config.kind === 'local') return new LocalTransport();
  const natsOptions = natsOptionsFromConfig(config, options.catalogue, options.logger);
  if (natsOptions.name === undefined && options.name !== undefined) natsOptions.name = options.name;
  if (natsOptions.reportDeadLetters === undefined && options.reportDeadLetters !== undefined) natsOptions.reportDeadLetters = options.reportDeadLetters;
  return new NatsTransport(natsOptions);
}
