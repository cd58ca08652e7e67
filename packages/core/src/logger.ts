import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line, an API response or the journal. */
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

const SECRET_KEY_SET = new Set<string>(SECRET_KEYS.map((k) => k.toLowerCase()));
const SECRET_KEY_PATTERN = /(secret|password|passphrase|token|apikey|privatekey|authorization|nkey|seed|creds)/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_SET.has(key.toLowerCase()) || SECRET_KEY_PATTERN.test(key);
}

export const REDACTED = '[REDACTED]';

/** A deep copy of `value` with every secret-named key's value replaced by `[REDACTED]`. */
export function redactSecrets<T>(value: T): T {
  return redact(value, new WeakSet()) as T;
}

function redact(value: unknown, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, seen);
  }
  return out;
}

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) {
    paths.push(key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`);
  }
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
  const base = { name: options.name ?? 'tradebus', level, redact: { paths: redactPaths(), censor: REDACTED } };
  return options.destination ? pino(base, options.destination) : pino(base);
}

/** A logger that writes nothing: the default for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
