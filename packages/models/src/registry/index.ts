export { PageHinkley, pageHinkleySchema, type PageHinkleyOptions } from './drift.js';
export { ModelRegistryError } from './errors.js';
export { promotionDecision, promotionSchema, type PromotionDecision, type PromotionOptions } from './gate.js';
export {
  ModelRegistry,
  modelRecordSchema,
  modelStatusSchema,
  type ModelMetrics,
  type ModelRecord,
  type ModelStatus,
  type RegisterInput,
} from './registry.js';
export { TrackRecord, type TrackSummary } from './track.js';
