import { ConfigError, TradebusError, errorMessage } from './errors.js';

/** Exit codes used by every Tradebus program. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  CONFIG: 2,
  USAGE: 64,
} as const;

/**
 * Runs a program's main function with Tradebus's error contract: a configuration error prints its
 * message (naming the bad keys) and exits with code 2; any other error prints its message and
 * code and exits with 1; no stack trace unless TRADEBUS_DEBUG is set.
 */
export function runMain(main: () => Promise<number | void> | number | void): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        if (typeof code === 'number') process.exitCode = code;
      },
      (err: unknown) => {
        const debug = process.env.TRADEBUS_DEBUG !== undefined && process.env.TRADEBUS_DEBUG !== '';
        if (err instanceof ConfigError) {
          process.stderr.write(`${err.message}\n`);
          process.exitCode = EXIT.CONFIG;
        } else {
          const code = err instanceof TradebusError ? ` [${err.code}]` : '';
          process.stderr.write(`Error${code}: ${errorMessage(err)}\n`);
          process.exitCode = EXIT.FAILURE;
        }
        if (debug && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
      },
    );
}
