export { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './breaker.js';
export { ModelSourceError } from './errors.js';
export {
  OipClient,
  OipModelSource,
  oipInferResponseSchema,
  oipModelMetadataSchema,
  oipOptionsSchema,
  type OipHealth,
  type OipInferResponse,
  type OipInput,
  type OipModelMetadata,
  type OipOptions,
  type OipOptionsInput,
} from './oip.js';
export { OnnxModelSource, type OnnxModelOptions } from './onnx.js';
export { logisticRegressionOnnx, type LogisticRegressionSpec } from './onnx-build.js';
export { probabilityOf, type ModelOutput, type ModelSource } from './types.js';
export { serveOip, type OipServerOptions, type RunningOipServer } from './oip-server.js';
