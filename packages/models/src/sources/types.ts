/** What one model said about one feature vector. */
export interface ModelOutput {
  /** Probability (0..1) the model gives the positive class: the price rising over its horizon. */
  probability: number;
  /** Every output tensor, flattened, by name: for explanations and debugging. */
  outputs: Record<string, number[]>;
}

/**
 * A model the model runner can ask: in-process (ONNX) or a server (Open Inference Protocol).
 * `predict` takes the features in the order the model was trained on.
 */
export interface ModelSource {
  readonly name: string;
  readonly kind: 'onnx' | 'oip';
  predict(features: readonly number[]): Promise<ModelOutput>;
  close(): Promise<void>;
}

/** Takes the probability of the positive class out of a model's output tensor. */
export function probabilityOf(data: readonly number[], index: number | undefined): number | undefined {
  // A single value is p(up); a classifier's [p(down), p(up)] has the positive class last.
  const i = index ?? data.length - 1;
  const p = data[i];
  return p !== undefined && Number.isFinite(p) && p >= 0 && p <= 1 ? p : undefined;
}
