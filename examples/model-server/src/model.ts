import { logisticRegressionOnnx } from '@tradebus/models';

/**
 * The example model: a logistic regression on five features, p(up over the next bar) =
 * sigmoid(w·x + b). The weights are set by hand, not fitted: they bet on short-term mean
 * reversion (a bar that rose is followed by one that falls, which 5-minute crypto bars show
 * often), less so in volatile markets. A model you train elsewhere replaces this file with its
 * .onnx and the same feature names.
 */
export const EXAMPLE_MODEL = {
  name: 'reversal',
  /** The model runner's features, in the order of its pipeline (see examples/model-bot/backtest.yaml). */
  featureNames: ['return_1', 'return_3', 'return_12', 'volatility_20', 'volume_z_20'],
  weights: [-250, -80, 20, -40, 0.04],
  bias: 0,
} as const;

/** The example model as ONNX bytes. */
export function exampleModelOnnx(): Uint8Array {
  return logisticRegressionOnnx({ weights: EXAMPLE_MODEL.weights, bias: EXAMPLE_MODEL.bias, featureNames: EXAMPLE_MODEL.featureNames });
}
