import { parentPort } from 'node:worker_threads';
import { errorMessage } from '@tradebus/core';
import { prepareSystem, type PreparedSystem } from '../../prepare.js';
import { applyOverrides } from '../overrides.js';
import { windowOverrides } from '../engine.js';
import { ScreenSession, summarize, type ScreenSummary } from './session.js';

/** What a screen worker receives for one combination. */
export interface ScreenRequest {
  id: number;
  configPath: string;
  overrides: Record<string, unknown>;
  from?: number | undefined;
  to?: number | undefined;
  riskFreeRate?: number | undefined;
  periodsPerYear?: number | undefined;
  env?: Record<string, string | undefined> | undefined;
}
export type ScreenResponse = { id: number; ok: true; result: ScreenSummary } | { id: number; ok: false; error: string };

/**
 * One screened combination per message, in this thread. The config is read once and the market
 * data and indicator columns stay loaded, so each further combination costs only its own signals
 * and trades.
 */
if (parentPort === null) throw new Error('the screen worker runs as a worker thread of a screened sweep');
const port = parentPort;
const session = new ScreenSession();
const configs = new Map<string, Promise<PreparedSystem>>();

port.on('message', (request: ScreenRequest) => {
  void (async () => {
    let response: ScreenResponse;
    const started = performance.now();
    try {
      let base = configs.get(request.configPath);
      if (base === undefined) configs.set(request.configPath, (base = prepareSystem(request.configPath, { env: request.env })));
      let prepared = applyOverrides(await base, request.overrides);
      prepared = applyOverrides(prepared, windowOverrides(prepared, { from: request.from, to: request.to }));
      const { result, warnings } = await session.run(prepared, { riskFreeRate: request.riskFreeRate, periodsPerYear: request.periodsPerYear });
      response = { id: request.id, ok: true, result: summarize(result, warnings, performance.now() - started) };
    } catch (err) {
      response = { id: request.id, ok: false, error: errorMessage(err) };
    }
    port.postMessage(response);
  })();
});
