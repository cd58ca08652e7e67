import { TradebusError, errorMessage } from '@tradebus/core';

/** A change the system API refused or could not be asked for; the setting is as it was. */
export class AutoTuneError extends TradebusError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('WATCHDOG_AUTOTUNE_FAILED', message, options);
  }
}

/** How the watchdog changes another agent's setting: the operator's way, PATCH /config. */
export interface SettingApplier {
  apply(agent: string, path: string, value: number): Promise<void>;
}

/** `a.b` = 1 → `{ a: { b: 1 } }`, the shape PATCH /config merges key by key. */
export function nestedPatch(path: string, value: unknown): Record<string, unknown> {
  return path
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

/**
 * Sends the change through the system API's PATCH /config, so it takes the path an operator's
 * does: checked against the agent's live settings and its config schema, applied all or nothing,
 * kept in config-overrides.json for the next start, and recorded as `config.changed`.
 */
export class ApiSettingApplier implements SettingApplier {
  constructor(private readonly options: { url: string; token: string; timeoutMs: number }) {}

  async apply(agent: string, path: string, value: number): Promise<void> {
    const url = `${this.options.url.replace(/\/+$/, '')}/config`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify({ agents: { [agent]: { config: nestedPatch(path, value) } } }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      throw new AutoTuneError(`Could not reach the system API at ${url} to set agents.${agent}.config.${path}: ${errorMessage(err)}. Check autoTune.apiUrl and that the API runs.`, { cause: err });
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '');
      throw new AutoTuneError(
        `The system API refused agents.${agent}.config.${path} = ${value} (HTTP ${res.status}): ${body.slice(0, 500)}. Check autoTune.apiToken and that the setting is live for '${agent}' (GET /config/hot).`,
        { details: { status: res.status } },
      );
    }
  }
}

/** One step from `current` toward `target`, at most `maxStep` away and never outside [min, max]. */
export function stepToward(current: number, target: number, maxStep: number, bounds: { min: number; max: number }): number {
  const moved = current + Math.max(-maxStep, Math.min(maxStep, target - current));
  return Number(Math.min(bounds.max, Math.max(bounds.min, moved)).toFixed(6));
}
