import { defineAgent } from '@tradebus/core';
import { modelRunnerConfigSchema, type ModelRunnerConfig } from './config.js';
import { modelEvents, type ModelRunnerEvents } from './events.js';
import { ModelRunnerAgent } from './model-runner.js';

export { modelRunnerConfigSchema, modelSourceSchema, type ModelConfig, type ModelRunnerConfig, type ModelRunnerConfigInput } from './config.js';
export { modelEvents, type ModelEvents, type ModelRunnerEvents } from './events.js';
export { ModelRunnerAgent, type ModelSeriesReport, type ModelVersionReport } from './model-runner.js';

export const agent = defineAgent<ModelRunnerConfig, ModelRunnerEvents>({
  kind: 'model-runner',
  description: 'Features per symbol, ONNX and Open Inference Protocol models, ensembles; publishes explained model signals, runs shadow versions and promotes or demotes them',
  configSchema: modelRunnerConfigSchema,
  events: modelEvents,
  bus: { publishes: ['signal.generated', 'model.prediction', 'model.health'], subscribes: ['candle.closed'] },
  filePaths: ['models[].source.file', 'registry.file'],
  create: (context) => new ModelRunnerAgent(context),
});
export default agent;
