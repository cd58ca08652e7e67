import onnxProto from 'onnx-proto';
import { ModelSourceError } from './errors.js';

const { onnx } = onnxProto;

export interface LogisticRegressionSpec {
  /** One weight per feature, in the feature order. */
  weights: readonly number[];
  bias: number;
  /** Input tensor name: a [batch, features] FP32 matrix. */
  input?: string;
  /** Output tensor name: [batch, 1] probabilities sigmoid(x·w + b). */
  output?: string;
  /** Stored in the model's metadata, so a registry or server can show which features it wants. */
  featureNames?: readonly string[];
}

/**
 * Writes a logistic regression as an ONNX model (MatMul, Add, Sigmoid at opset 13): the
 * smallest real model, for examples and tests, and for weights fitted outside Tradebus and
 * pasted into config.
 */
export function logisticRegressionOnnx(spec: LogisticRegressionSpec): Uint8Array {
  const n = spec.weights.length;
  if (n === 0 || !spec.weights.every(Number.isFinite) || !Number.isFinite(spec.bias)) {
    throw new ModelSourceError('MODEL_INPUT_INVALID', 'logistic-regression', 'A logistic regression needs at least one finite weight and a finite bias.');
  }
  if (spec.featureNames !== undefined && spec.featureNames.length !== n) {
    throw new ModelSourceError('MODEL_INPUT_INVALID', 'logistic-regression', `featureNames has ${spec.featureNames.length} names for ${n} weights: give one name per weight.`);
  }
  const input = spec.input ?? 'features';
  const output = spec.output ?? 'probability';
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: '@tradebus/models',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: spec.featureNames === undefined ? [] : [{ key: 'feature_names', value: JSON.stringify(spec.featureNames) }],
    graph: {
      name: 'logistic_regression',
      node: [
        { opType: 'MatMul', input: [input, 'weights'], output: ['logit_raw'], name: 'matmul' },
        { opType: 'Add', input: ['logit_raw', 'bias'], output: ['logit'], name: 'add' },
        { opType: 'Sigmoid', input: ['logit'], output: [output], name: 'sigmoid' },
      ],
      initializer: [
        { name: 'weights', dims: [n, 1], dataType: FLOAT, floatData: [...spec.weights] },
        { name: 'bias', dims: [1], dataType: FLOAT, floatData: [spec.bias] },
      ],
      input: [{ name: input, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: n }] } } } }],
      output: [{ name: output, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 1 }] } } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
