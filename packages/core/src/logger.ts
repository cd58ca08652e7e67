import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { REDACTED, hasSecrets, scrubSecrets } from './config/secrets.js';
import { ConfigError } from './errors.js';

export type { Logger } from 'pino';
export { REDACTED } from './config/secrets.js';

/**
 * Key names whose values are hidden in data that no schema describes (event payloads, free-form
 * log fields): a safety net only. Config secrets are marked in their schemas (`secret()`) and
 * redacted by them (`redactConfig`); secret values known to the process are scrubbed everywhere.
 */
export const SECRET_KEYS = [
  'apiKey',
  'apiSecret',
  'secret',
  'password',
  'passphrase',
  'token',
  'privateKey',
  'authorization',
  'nkey',
  'seed',
  'creds',
] as const;

const SECRET_KEY_PATTERN = /(secret|password|passphrase|token|apikey|privatekey|authorization|nkey|seed|creds)/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key);
}

/**
 * A deep copy of free-form data (an event payload, say) fit to store or show: values under
 * secret-looking keys become `[REDACTED]`, and every string loses URL user-info and any secret
 * value known to this process.
 */
export function redactSecrets<T>(value: T): T {
  return scrub(value, new WeakSet()) as T;
}

function scrub(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[scrubSecrets(k)] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : scrub(v, seen);
  }
  return out;
}

/**
 * The last step of every log line: a line that holds a secret is parsed and its strings scrubbed,
 * so the line stays valid JSON. Most lines hold none and pass after one scan.
 */
export function scrubLogLine(line: string): string {
  if (!hasSecrets(line)) return line;
  try {
    return `${JSON.stringify(redactSecrets(JSON.parse(line) as unknown))}\n`;
  } catch {
    return scrubSecrets(line);
  }
}

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) paths.push(key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`);
  paths.push('req.headers.authorization', 'headers.authorization');
  return paths;
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  name?: string;
  destination?: DestinationStream;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];

/**
 * The level `TRADEBUS_LOG_LEVEL` asks for, or `fallback` when it is unset or empty. A value that is
 * not a level is an error naming the variable, rather than a logger that fails on its first line.
 */
export function logLevelFromEnv(fallback: LevelWithSilent, env: Record<string, string | undefined> = process.env): LevelWithSilent {
  const raw = env.TRADEBUS_LOG_LEVEL?.trim();
  if (raw === undefined || raw === '') return fallback;
  const level = raw.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    const message = `TRADEBUS_LOG_LEVEL is '${raw}', which is not a log level: use one of ${LOG_LEVELS.join(', ')} (or unset it for ${fallback}).`;
    throw new ConfigError(message, [{ path: 'TRADEBUS_LOG_LEVEL', message }]);
  }
  return level as LevelWithSilent;
}

/** The root logger of a process; agents get children of it (`logger.child({ agent })`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? logLevelFromEnv('info');
  const base = {
    name: options.name ?? 'tradebus',
    level,
    // Secret values known to the process are scrubbed from every line on its way out; the key
    // paths are a net for a secret logged under an obvious name before anything knew its value.
    redact: { paths: redactPaths(), censor: REDACTED },
    hooks: { streamWrite: scrubLogLine },
  };
  return options.destination ? pino(base, options.destination) : pino(base);
}

/** Level of `libraryLogger` when TRADEBUS_LOG_LEVEL does not set one. */
export const LIBRARY_LOG_LEVEL: LevelWithSilent = 'warn';

/**
 * The logger of a system built in code without one (`createSystem`): JSON lines on stderr, so the
 * bot's own output on stdout stays its own, at `TRADEBUS_LOG_LEVEL` or `warn`. Quiet while all is
 * well, it prints what goes wrong: an agent that fails or cannot start, a handler that throws, a
 * stale feed, a lost bus connection. `TRADEBUS_LOG_LEVEL=info` also shows agents starting and stopping.
 */
export function libraryLogger(options: { name?: string; env?: Record<string, string | undefined> } = {}): Logger {
  // Synchronous: a line written just before the process exits (a failed start) is not lost.
  return createLogger({ name: options.name, level: logLevelFromEnv(LIBRARY_LOG_LEVEL, options.env), destination: pino.destination({ dest: 2, sync: true }) });
}

/** A logger that writes nothing: for tests, and for code that reports through other means. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
