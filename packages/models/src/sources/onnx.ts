import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-web';
import { ModelSourceError } from './errors.js';
import { probabilityOf, type ModelOutput, type ModelSource } from './types.js';

export interface OnnxModelOptions {
  /** Input tensor the features go into; the model's first input when left out. */
  input?: string;
  /** Output tensor holding the probability; the model's last output when left out (a classifier's probabilities). */
  output?: string;
  /** Element of that output that is p(up); the last one by default. */
  outputIndex?: number;
}

type Ort = typeof import('onnxruntime-web');
let ortModule: Promise<Ort> | undefined;

/**
 * onnxruntime-web (WASM) rather than onnxruntime-node: the native package's install script
 * fetches GPU libraries from nuget.org and fails the install where that is out of reach, while
 * the WASM build installs from the npm registry alone and runs the same graphs on the CPU.
 * Loaded on first use, so a system without ONNX models never pays for it.
 */
function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-web').then((mod) => {
    // One thread: the runner asks one model at a time per bar, and threads need worker files
    // the Node build does not ship.
    mod.env.wasm.numThreads = 1;
    return mod;
  });
  return ortModule;
}

/** An ONNX model run in this process. */
export class OnnxModelSource implements ModelSource {
  readonly kind = 'onnx' as const;

  private constructor(
    readonly name: string,
    private readonly ortLib: Ort,
    private readonly session: InferenceSession,
    readonly input: string,
    readonly output: string,
    private readonly outputIndex: number | undefined,
  ) {}

  /** Loads a model from an .onnx file or its bytes. */
  static async load(name: string, model: string | Uint8Array, options: OnnxModelOptions = {}): Promise<OnnxModelSource> {
    const lib = await ort();
    let session: InferenceSession;
    try {
      const bytes = typeof model === 'string' ? new Uint8Array(await readFile(model)) : model;
      session = await lib.InferenceSession.create(bytes);
    } catch (err) {
      const where = typeof model === 'string' ? `file ${model}` : 'the given bytes';
      throw new ModelSourceError('MODEL_LOAD_FAILED', name, `ONNX model '${name}' could not be loaded from ${where}: ${(err as Error).message}. Check the path and that it is an ONNX model.`, { cause: err });
    }
    const input = options.input ?? session.inputNames[0];
    const output = options.output ?? session.outputNames.at(-1);
    if (input === undefined || !session.inputNames.includes(input)) {
      throw new ModelSourceError('MODEL_LOAD_FAILED', name, `ONNX model '${name}' has no input named '${String(input)}' (its inputs: ${session.inputNames.join(', ')}): fix input in the model's config.`);
    }
    if (output === undefined || !session.outputNames.includes(output)) {
      throw new ModelSourceError('MODEL_LOAD_FAILED', name, `ONNX model '${name}' has no output named '${String(output)}' (its outputs: ${session.outputNames.join(', ')}): fix output in the model's config.`);
    }
    return new OnnxModelSource(name, lib, session, input, output, options.outputIndex);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs a batch of rows (each the same length) and returns every output, flattened. */
  async run(rows: ReadonlyArray<readonly number[]>): Promise<Record<string, number[]>> {
    const width = rows[0]?.length ?? 0;
    const data = new Float32Array(rows.length * width);
    rows.forEach((row, r) => {
      if (row.length !== width) throw new ModelSourceError('MODEL_INPUT_INVALID', this.name, `Row ${r} has ${row.length} features, row 0 has ${width}: every row needs the same features.`);
      data.set(row, r * width);
    });
    let result: InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({ [this.input]: new this.ortLib.Tensor('float32', data, [rows.length, width]) });
    } catch (err) {
      throw new ModelSourceError('MODEL_INPUT_INVALID', this.name, `ONNX model '${this.name}' refused ${rows.length}×${width} features: ${(err as Error).message}. Check that the features are the ones it was trained on.`, { cause: err });
    }
    const outputs: Record<string, number[]> = {};
    for (const [key, tensor] of Object.entries(result)) {
      const values = (tensor as { data: unknown }).data;
      if (ArrayBuffer.isView(values) && !(values instanceof DataView)) outputs[key] = Array.from(values as Float32Array, Number);
    }
    return outputs;
  }

  async predict(features: readonly number[]): Promise<ModelOutput> {
    const outputs = await this.run([features]);
    const data = outputs[this.output] ?? [];
    const probability = probabilityOf(data, this.outputIndex);
    if (probability === undefined) {
      throw new ModelSourceError('MODEL_RESPONSE_INVALID', this.name, `ONNX model '${this.name}' gave ${this.output}[${this.outputIndex ?? data.length - 1}] = ${String(data[this.outputIndex ?? data.length - 1])}, not a probability in 0..1: point output/outputIndex at the probability of a rise.`);
    }
    return { probability, outputs };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
