import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AgentDefinition, BaseAgent } from './agent/base-agent.js';
import type { StateStore } from './agent/store.js';
import type { RestartPolicy } from './agent/supervisor.js';
import type { Transport } from './bus/transport.js';
import type { Clock } from './clock.js';
import { transportConfigSchema } from './config/schema.js';
import { validateSection } from './config/loader.js';
import { builtinEvents } from './events/builtin.js';
import { EventCatalogue, type EventSchemas } from './events/catalogue.js';
import { createLogger } from './logger.js';
import { createSystem, type TradebusSystem } from './system.js';
import { createTransport } from './transports/create-transport.js';

export interface RunAgentProcessOptions {
  /** The agent to run, its id, and its settings (validated against the definition's schema). */
  definition: AgentDefinition<any, any>;
  id: string;
  config?: unknown;
  /**
   * A transport, or settings as in the `transport:` section of a config file, defaults left out
   * (`{ kind: 'nats', servers: 'nats://127.0.0.1:4222', prefix: 'tradebus.prod' }`): they are
   * validated, and a NatsTransport is built from them with the catalogue of this process. A
   * transport object brings its own catalogue: it must hold every event type the agent receives.
   */
  transport: Transport | TransportSettings;
  /**
   * Custom event sets the agent uses beside the built-in catalogue and the definition's own
   * `events` (which are always registered).
   */
  events?: EventSchemas[];
  /** Default: a pino logger on stdout named after the agent, level from TRADEBUS_LOG_LEVEL (info). */
  logger?: Logger;
  clock?: Clock;
  heartbeatIntervalMs?: number;
  missedHeartbeats?: number;
  restart?: Partial<RestartPolicy>;
  services?: Record<string, unknown>;
  stateStore?: (agentId: string) => StateStore;
  /** Also run a HealthMonitor in this process (default false: one observer per system is enough). */
  monitorHealth?: boolean;
  /** Stop gracefully on SIGINT/SIGTERM and then exit (default true). */
  handleSignals?: boolean;
  shutdownDeadlineMs?: number;
  /** Receives the exit code after a signal-triggered stop; default `process.exit`. */
  onExit?: (code: number) => void;
}

/** The `transport:` settings as written (defaults may be left out), before validation. */
export type TransportSettings = z.input<typeof transportConfigSchema>;

export interface AgentProcess {
  system: TradebusSystem;
  agent: BaseAgent<any, any>;
  /** Stops the agent (within the deadline), then closes the transport. Safe to call twice. */
  stop(deadlineMs?: number): Promise<{ timedOut: string[] }>;
}

/**
 * Runs one agent in this process, on a shared bus: the building block of a distributed system,
 * where each agent is its own process and they meet over NATS.
 *
 * ```ts
 * await runAgentProcess({
 *   definition: priceWatchdog, id: 'prices', config: { symbols: ['BTC/USDT'] },
 *   transport: { kind: 'nats', servers: 'nats://127.0.0.1:4222', prefix: 'tradebus.prod' },
 * });
 * ```
 *
 * The agent runs under a supervisor (restarted with back-off when it fails), publishes heartbeats
 * that a HealthMonitor in any other process sees, and stops gracefully on SIGINT/SIGTERM. Its
 * subscriptions to durable events are durable under its id, so it receives what was published
 * while its process was down. The process records no history and reports no dead letters: one
 * other process of the system does (transport.reportDeadLetters turns reporting on here).
 */
export async function runAgentProcess(options: RunAgentProcessOptions): Promise<AgentProcess> {
  const logger = options.logger ?? createLogger({ name: `tradebus-${options.id}` });
  // One catalogue for the transport and the system: a networked transport checks every inbound
  // event against it, so the agent's own event types must be in it before anything arrives.
  const catalogue = new EventCatalogue(builtinEvents, ...(options.events ?? []));
  if (options.definition.events !== undefined) catalogue.register(options.definition.events);
  const transport = isTransport(options.transport)
    ? options.transport
    : createTransport(validateSection(transportConfigSchema, options.transport, 'transport'), { catalogue, logger, name: `tradebus-${options.id}` });
  const system = createSystem({
    transport,
    catalogue,
    logger,
    clock: options.clock,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    missedHeartbeats: options.missedHeartbeats,
    services: options.services,
    stateStore: options.stateStore,
    monitorHealth: options.monitorHealth ?? false,
  });
  const agent = system.addAgent({ id: options.id, definition: options.definition, config: options.config, restart: options.restart });
  const deadline = options.shutdownDeadlineMs ?? 10_000;
  let stopping: Promise<{ timedOut: string[] }> | undefined;
  let removeSignals = (): void => undefined;
  const stop = (deadlineMs = deadline): Promise<{ timedOut: string[] }> => {
    stopping ??= system.stop(deadlineMs).finally(() => removeSignals());
    return stopping;
  };
  try {
    await system.start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  if (options.handleSignals ?? true) {
    const onExit = options.onExit ?? ((code: number) => process.exit(code));
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping !== undefined) {
        logger.warn({ signal }, 'second signal: exiting now');
        onExit(130);
        return;
      }
      logger.info({ signal, agent: options.id }, 'stopping');
      stop().then(
        (result) => onExit(result.timedOut.length > 0 ? 1 : 0),
        () => onExit(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    removeSignals = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  }
  logger.info({ agent: options.id, kind: options.definition.kind, transport: transport.name }, 'agent process running');
  return { system, agent, stop };
}

function isTransport(value: Transport | TransportSettings): value is Transport {
  return typeof (value as Transport).publish === 'function';
}
