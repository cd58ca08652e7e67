export * from './errors.js';
export * from './clock.js';
export { IdGenerator, newId, eventId } from './ids.js';
export { CurrencyConverter } from './market/currencies.js';
export * from './events/catalogue.js';
export * from './events/builtin.js';
export { PublishedEnvelope, toPlainEnvelope, type Envelope, type EnvelopeOf } from './bus/envelope.js';
export * from './bus/transport.js';
export { compilePattern, isPattern, type MatchingKeys, type SubscriptionPattern } from './bus/subjects.js';
export { LocalTransport } from './bus/local-transport.js';
export * from './bus/event-bus.js';
export * from './agent/state.js';
export * from './agent/store.js';
export * from './agent/base-agent.js';
export * from './agent/supervisor.js';
export * from './agent/health-monitor.js';
export * from './config/schema.js';
export { importConfigModule } from './config/modules.js';
export { loadConfigFile, parseConfig, validateConfig, validateSection, formatMessage, resolveEnvReferences, hasEnvReferences, type LoadConfigOptions } from './config/loader.js';
export {
  secret,
  redactConfig,
  secretValuesOf,
  isSecretPath,
  registerSecretValues,
  scrubSecrets,
  MIN_SCRUBBED_SECRET_LENGTH,
  type SecretMeta,
} from './config/secrets.js';
export { formatPath, formatZodIssues, type FormatIssuesOptions } from './validation.js';
export { compileAcceptor, fastSafeParse, type Acceptor, type AcceptorOptions } from './fast-check.js';
export * from './logger.js';
export * from './di.js';
export * from './system.js';
export * from './main.js';
export { NatsTransport, type NatsTransportStats } from './transports/nats/nats-transport.js';
export { NATS_DEFAULTS, type NatsTransportOptions, type NatsTlsOptions } from './transports/nats/options.js';
export { deadLetterSchema, wireEnvelopeSchema, type DeadLetter, type DeadLetterCode } from './transports/nats/codec.js';
export {
  natsAuthorization,
  natsPermissions,
  consumerNames,
  type NatsAuthorizationOptions,
  type NatsProcessUser,
  type NatsUserPermissions,
} from './transports/nats/authorization.js';
export { createTransport, type CreateTransportOptions } from './transports/create-transport.js';
export { runAgentProcess, type AgentProcess, type RunAgentProcessOptions, type TransportSettings } from './agent-process.js';
export * from './data/index.js';
export * from './sharding/index.js';
export {
  changedSettingPaths,
  coldSettingKey,
  formatSettingPath,
  hotSettingsOf,
  isHotSetting,
  mergeSettings,
  refuseColdChanges,
  touchedSettingPaths,
  type SettingPath,
} from './agent/hot-settings.js';
export { resolveFileSettings } from './agent/file-settings.js';
