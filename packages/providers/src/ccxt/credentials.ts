import { registerSecretValues, TradebusError } from '@tradebus/core';

/**
 * Credentials of a ccxt provider, kept apart from the provider itself so that reading the config
 * and naming the environment variables never loads ccxt.
 */
export interface CcxtCredentials {
  apiKey: string;
  secret: string;
  password?: string | undefined;
}

/** Environment variable names of a provider's credentials, most specific first. */
export function credentialEnvNames(providerId: string, exchangeId: string): { apiKey: string[]; secret: string[]; password: string[] } {
  const names = [...new Set([providerId, exchangeId].map((n) => n.toUpperCase().replace(/[^A-Z0-9]/g, '_')))];
  return {
    apiKey: names.map((n) => `TRADEBUS_${n}_API_KEY`),
    secret: names.map((n) => `TRADEBUS_${n}_SECRET`),
    password: names.map((n) => `TRADEBUS_${n}_PASSWORD`),
  };
}

/**
 * Credentials from `TRADEBUS_<PROVIDER>_API_KEY` / `_SECRET` / `_PASSWORD`, falling back to
 * `TRADEBUS_<EXCHANGE>_...`. Never from the config file: a config gets copied and committed.
 * What is found is remembered as secret, so no log line or error message can show it.
 */
export function credentialsFromEnv(providerId: string, exchangeId: string, env: Record<string, string | undefined> = process.env): CcxtCredentials | undefined {
  const names = credentialEnvNames(providerId, exchangeId);
  const pick = (list: string[]): string | undefined => list.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const apiKey = pick(names.apiKey);
  const secret = pick(names.secret);
  if (apiKey === undefined && secret === undefined) return undefined;
  if (apiKey === undefined || secret === undefined) {
    throw new TradebusError(
      'PROVIDER_CREDENTIALS_INCOMPLETE',
      `${providerId}: only one of ${names.apiKey[0]} and ${names.secret[0]} is set. Set both (or neither, for public market data only).`,
    );
  }
  const password = pick(names.password);
  registerSecretValues([apiKey, secret, password]);
  return { apiKey, secret, password };
}
