export {
  featureConfigSchema,
  featureNames,
  INDICATOR_FIELDS,
  parseFeatureConfig,
  type FeatureConfig,
  type FeatureConfigInput,
  type ParseFeatureOptions,
} from './config.js';
export { FeatureConfigError, FeatureInputError } from './errors.js';
export { createFeaturePipeline, FeaturePipeline, type FeatureBar } from './pipeline.js';
export { checkHorizons, csvHeader, csvLine, datasetColumns, datasetRows, jsonLine, labelName, type DatasetRow, type DatasetSeries } from './dataset.js';
