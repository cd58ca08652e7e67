import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BaseAgent, VirtualClock, defineAgent } from '@tradebus/core';
import { launchSystem, prepareSystem, runBacktest, type PreparedSystem } from '@tradebus/agent-main';
import type { ModelEvents } from '@tradebus/agent-model-runner';
import { logisticRegressionOnnx } from '@tradebus/models';
import { EXAMPLE_MODEL } from '../model-server/src/model.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const configFile = join(here, 'backtest.yaml');
const cli = join(root, 'packages', 'agents', 'main', 'dist', 'cli.js');
const env = { ...process.env, TRADEBUS_LOG_LEVEL: 'error' };

type Prediction = ModelEvents['model.prediction'];

/** Adds an agent that keeps every model.prediction and signal.generated of the run. */
function withRecorder(prepared: PreparedSystem) {
  const predictions: Prediction[] = [];
  const signals: Array<{ strategyId: string; side: string }> = [];
  class Recorder extends BaseAgent<Record<string, never>> {
    protected run(): void {
      this.subscribe('signal.generated', (e) => void signals.push({ strategyId: e.payload.strategyId, side: e.payload.side }));
      (this.bus as unknown as { subscribe(type: string, handler: (e: { payload: unknown }) => void): unknown }).subscribe('model.prediction', (e) => void predictions.push(e.payload as Prediction));
    }
  }
  const definition = defineAgent({ kind: 'recorder', configSchema: z.strictObject({}), create: (context) => new Recorder(context) });
  prepared.agents.push({
    entry: { id: 'recorder', use: 'recorder', enabled: true, dependsOn: [], config: {} },
    definition: definition as PreparedSystem['agents'][number]['definition'],
    config: {},
    path: `agents[${prepared.agents.length}]`,
  });
  return { predictions, signals };
}

describe('examples/model-bot', () => {
  it('ships the example model as written from its weights', () => {
    const shipped = readFileSync(join(here, 'reversal.onnx'));
    const built = Buffer.from(logisticRegressionOnnx({ weights: EXAMPLE_MODEL.weights, bias: EXAMPLE_MODEL.bias, featureNames: EXAMPLE_MODEL.featureNames }));
    expect(shipped.equals(built)).toBe(true);
  });

  it('backtests the model with the rule strategy; features are the same bar for bar in the backtest, a replay at speed and the exported dataset', async () => {
    // 1. The backtest.
    const prepared = await prepareSystem(configFile, { env });
    const backtest = withRecorder(prepared);
    const { report } = await runBacktest(prepared, { logLevel: 'error', env });
    expect(report.metrics.trades).toBeGreaterThan(10);
    const strategies = new Set(backtest.signals.map((s) => s.strategyId));
    expect(strategies).toEqual(new Set(['model', 'ema-cross']));
    // 2000 bars, 100 of them history: every live bar is predicted (the features are warm from history).
    expect(backtest.predictions).toHaveLength(1_900);
    expect(backtest.predictions.every((p) => p.votes.length === 1 && p.votes[0]!.model === 'reversal')).toBe(true);

    // 2. The same config as a paper replay at speed, started by the launcher.
    const dataDir = mkdtempSync(join(tmpdir(), 'model-bot-'));
    const replayEnv = { ...env, REPLAY_SPEED: '100000', TRADEBUS_DATA_DIR: dataDir };
    const preparedReplay = await prepareSystem(configFile, { env: replayEnv });
    const replay = withRecorder(preparedReplay);
    const running = await launchSystem(preparedReplay, { env: replayEnv, clock: new VirtualClock(0), api: false });
    try {
      for (let waited = 0; replay.predictions.length < backtest.predictions.length && waited < 120_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await running.stop();
    }
    expect(replay.predictions.map((p) => p.barTime)).toEqual(backtest.predictions.map((p) => p.barTime));
    // A launched system keeps its model registry in the data directory, scores saved on stop.
    const registry = JSON.parse(readFileSync(join(dataDir, 'models.json'), 'utf8')) as { models: Array<{ name: string; version: string; status: string; features: string[]; metrics: { total: number } }> };
    expect(registry.models).toEqual([expect.objectContaining({ name: 'reversal', version: '1', status: 'active', features: [...EXAMPLE_MODEL.featureNames] })]);
    expect(registry.models[0]!.metrics.total).toBe(backtest.predictions.length - 1);
    replay.predictions.forEach((p, i) => {
      expect(p.features).toEqual(backtest.predictions[i]!.features);
      expect(p.votes[0]!.probability).toBe(backtest.predictions[i]!.votes[0]!.probability);
    });

    // 3. The exported dataset, from the same config.
    const out = join(dataDir, 'dataset.jsonl');
    const run = spawnSync(process.execPath, [cli, 'dataset', '--config', configFile, '--agent', 'model', '--horizons', '1', '--out', out], { encoding: 'utf8', env, timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const rows = new Map(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, number | string | null>)
        .map((row) => [row.timestamp as number, row]),
    );
    const names = EXAMPLE_MODEL.featureNames;
    for (const p of backtest.predictions) {
      const row = rows.get(p.barTime);
      expect(row, `dataset row of bar ${p.barTime}`).toBeDefined();
      expect(Object.keys(p.features)).toEqual(names);
      for (const name of names) expect(row![name]).toBe(p.features[name]);
    }
  }, 240_000);
});
