import { parentPort } from 'node:worker_threads';
import { errorMessage } from '@tradebus/core';
import { runBacktest } from './engine.js';
import type { WorkerRequest, WorkerResponse } from './sweep.js';

/** One backtest per message, in this thread; the sweep keeps a pool of these busy. */
if (parentPort === null) throw new Error('sweep-worker runs as a worker thread of a parameter sweep');
const port = parentPort;

port.on('message', (request: WorkerRequest) => {
  void (async () => {
    let response: WorkerResponse;
    try {
      const { report } = await runBacktest(request.configPath, {
        overrides: request.overrides,
        from: request.from,
        to: request.to,
        riskFreeRate: request.riskFreeRate,
        periodsPerYear: request.periodsPerYear,
        benchmark: request.benchmark,
        logLevel: request.logLevel,
        env: request.env,
      });
      response = {
        id: request.id,
        ok: true,
        result: { metrics: report.metrics, tradeLogSha256: report.tradeLogSha256, candles: report.run.candles, wallMs: report.run.wallMs, warnings: report.warnings },
      };
    } catch (err) {
      response = { id: request.id, ok: false, error: errorMessage(err) };
    }
    port.postMessage(response);
  })();
});
