export {
  BayesianModelAveraging,
  createEnsemble,
  ensembleConfigSchema,
  PROBABILITY_FLOOR,
  probabilityUp,
  WeightedVoteEnsemble,
  type BmaConfig,
  type Ensemble,
  type EnsembleConfig,
  type EnsembleConfigInput,
  type EnsembleDecision,
  type EnsembleState,
  type MemberVote,
  type ModelPrediction,
  type Side,
  type WeightedVoteConfig,
} from './ensemble.js';
export { EnsembleError } from './errors.js';
