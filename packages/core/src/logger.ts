import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { REDACTED, hasSecrets, scrubSecrets } from './config/secrets.js';

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

/** The root logger of a process; agents get children of it (`logger.child({ agent })`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? ((process.env.TRADEBUS_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
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

/** A logger that writes nothing: the default for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
