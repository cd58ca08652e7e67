import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelSourceError } from './errors.js';
import { OnnxModelSource } from './onnx.js';
import { logisticRegressionOnnx } from './onnx-build.js';

const WEIGHTS = [0.8, -1.5, 0.25, 2.0, -0.6];
const BIAS = -0.3;

/** The model's definition evaluated by hand: sigmoid(x·w + b), in float32 the way the model stores its numbers. */
function byHand(x: readonly number[]): number {
  const f = Math.fround;
  let z = 0;
  for (let j = 0; j < WEIGHTS.length; j++) z += f(WEIGHTS[j]!) * f(x[j]!);
  z += f(BIAS);
  return 1 / (1 + Math.exp(-z));
}

/** Deterministic pseudo-random rows (a linear congruential generator), spread over typical feature ranges. */
function rows(count: number): number[][] {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 6 - 3;
  return Array.from({ length: count }, () => WEIGHTS.map(() => next()));
}

describe('in-process ONNX models', () => {
  it('evaluates a logistic regression written from known weights as the formula does, to 1e-6', async () => {
    const model = await OnnxModelSource.load('lr', logisticRegressionOnnx({ weights: WEIGHTS, bias: BIAS }));
    expect(model.inputNames).toEqual(['features']);
    expect(model.outputNames).toEqual(['probability']);
    const data = rows(500);
    let worst = 0;
    for (const x of data) {
      const p = (await model.predict(x)).probability;
      worst = Math.max(worst, Math.abs(p - byHand(x)));
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    // A batch gives the same numbers as one row at a time.
    const batch = await model.run(data.slice(0, 20));
    expect(batch.probability).toHaveLength(20);
    batch.probability!.forEach((p, i) => expect(Math.abs(p - byHand(data[i]!))).toBeLessThanOrEqual(1e-6));
    await model.close();
  });

  it('loads a model from a file and says which names it has when the config names a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-'));
    const file = join(dir, 'lr.onnx');
    writeFileSync(file, logisticRegressionOnnx({ weights: WEIGHTS, bias: BIAS, featureNames: ['a', 'b', 'c', 'd', 'e'] }));
    const model = await OnnxModelSource.load('lr', file);
    expect((await model.predict([1, 2, 3, 4, 5])).probability).toBeCloseTo(byHand([1, 2, 3, 4, 5]), 6);
    const wrong = await OnnxModelSource.load('lr', file, { output: 'prob' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ModelSourceError);
    expect((wrong as ModelSourceError).code).toBe('MODEL_LOAD_FAILED');
    expect((wrong as Error).message).toContain("no output named 'prob' (its outputs: probability)");
    const missing = await OnnxModelSource.load('lr', join(dir, 'nope.onnx')).catch((e: unknown) => e);
    expect((missing as ModelSourceError).code).toBe('MODEL_LOAD_FAILED');
    expect((missing as Error).message).toContain('nope.onnx');
  });

  it('refuses a feature vector of the wrong width with an error naming the model', async () => {
    const model = await OnnxModelSource.load('lr', logisticRegressionOnnx({ weights: WEIGHTS, bias: BIAS }));
    const err = await model.predict([1, 2, 3]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect((err as ModelSourceError).code).toBe('MODEL_INPUT_INVALID');
    expect((err as Error).message).toContain("ONNX model 'lr' refused 1×3 features");
  });
});
