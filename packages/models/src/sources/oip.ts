import { formatZodIssues } from '@tradebus/core';
import pRetry, { AbortError } from 'p-retry';
import { z } from 'zod';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { ModelSourceError } from './errors.js';
import { probabilityOf, type ModelOutput, type ModelSource } from './types.js';

/**
 * Open Inference Protocol (KServe v2) over HTTP/JSON: `POST /v2/models/{name}/infer`,
 * `GET /v2/health/ready`, `GET /v2/models/{name}`. Served by KServe, Triton, Seldon MLServer,
 * TorchServe and the example server in examples/model-server.
 */

const flatNumbers = z.preprocess(
  // The protocol allows the data of a tensor nested by its shape or flat, row-major.
  (v) => (Array.isArray(v) ? v.flat(Number.POSITIVE_INFINITY) : v),
  z.array(z.number({ error: 'must hold numbers only' })),
);

const tensorSchema = z.object({
  name: z.string({ error: 'must be the output name (a string)' }),
  shape: z.array(z.number().int().nonnegative(), { error: 'must be a list of dimension sizes' }),
  datatype: z.string({ error: "must be the tensor's datatype, e.g. 'FP32'" }),
  data: flatNumbers,
});

export const oipInferResponseSchema = z.object({
  model_name: z.string({ error: 'must name the model that answered' }),
  model_version: z.string().optional(),
  id: z.string().optional(),
  outputs: z.array(tensorSchema, { error: 'must be a list of output tensors' }).min(1, { error: 'must hold at least one output tensor' }),
});

const tensorMetadataSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int({ error: 'must be whole numbers (-1 for a variable size)' })),
});

export const oipModelMetadataSchema = z.object({
  name: z.string({ error: 'must name the model' }),
  versions: z.array(z.string()).optional(),
  platform: z.string().optional(),
  inputs: z.array(tensorMetadataSchema, { error: 'must list the input tensors' }),
  outputs: z.array(tensorMetadataSchema, { error: 'must list the output tensors' }),
});

export type OipInferResponse = z.output<typeof oipInferResponseSchema>;
export type OipModelMetadata = z.output<typeof oipModelMetadataSchema>;

export interface OipInput {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'FP64';
  data: number[];
}

export const oipOptionsSchema = z.strictObject({
  url: z.url({ error: "must be the server's base URL, e.g. http://127.0.0.1:8080" }),
  model: z.string().min(1, { error: "must name the model on the server (the {name} in /v2/models/{name}/infer)" }),
  version: z.string().min(1).optional().describe('Ask this model version (/v2/models/{name}/versions/{version}/infer); the server\'s default when left out'),
  input: z.string().min(1).default('features').describe('Name of the input tensor the features go into'),
  output: z.string().min(1).optional().describe('Output tensor holding the probability; the first output when left out'),
  outputIndex: z.number().int().nonnegative().optional().describe("Element of that output that is p(up); the last one by default (a classifier's [p(down), p(up)])"),
  timeoutMs: z.number().int().positive().default(1_000).describe('Per attempt: a slower answer counts as a failure and is tried again'),
  retries: z.number().int().nonnegative().max(10).default(2).describe('Attempts after the first on a timeout, a network error or a 5xx/408/429'),
  retryDelayMs: z.number().int().nonnegative().default(50).describe('First backoff; doubles per retry (with jitter)'),
  failureThreshold: z.number().int().positive().default(5).describe('Consecutive failed calls that open the circuit breaker'),
  cooldownMs: z.number().int().positive().default(10_000).describe('How long an open breaker fails calls at once before one trial call'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra HTTP headers, e.g. an Authorization header from ${ENV}'),
});

export type OipOptionsInput = z.input<typeof oipOptionsSchema>;
export type OipOptions = z.output<typeof oipOptionsSchema>;

/** A change in what a client knows about its server's health. */
export interface OipHealth {
  model: string;
  url: string;
  breaker: BreakerState;
  consecutiveFailures: number;
  /** Answer of the last readiness probe, when one was made. */
  ready: boolean | undefined;
  lastError: string | undefined;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * A client for one model on an Open Inference Protocol server, with a timeout per attempt,
 * retries with exponential backoff and jitter (p-retry: its backoff, jitter and "do not retry
 * this" error are what a hand-written loop gets subtly wrong) and a circuit breaker, so a dead
 * server costs one fast failure per bar rather than timeouts × retries. Every answer is checked
 * with zod; a bad one is a MODEL_RESPONSE_INVALID error naming the field.
 */
export class OipClient {
  readonly options: OipOptions;
  readonly breaker: CircuitBreaker;
  private readonly listeners = new Set<(health: OipHealth) => void>();
  private lastReady: boolean | undefined;
  private lastError: string | undefined;
  private readonly base: string;

  constructor(options: OipOptionsInput, deps: { now?: () => number; fetch?: typeof fetch } = {}) {
    const parsed = oipOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = formatZodIssues(parsed.error.issues)[0]!;
      throw new ModelSourceError('MODEL_INPUT_INVALID', String((options as { model?: unknown }).model ?? '?'), `Invalid model server options: ${issue.path} ${issue.message}.`, { cause: parsed.error });
    }
    this.options = parsed.data;
    this.base = this.options.url.replace(/\/+$/, '');
    this.fetchImpl = deps.fetch ?? fetch;
    this.breaker = new CircuitBreaker({ failureThreshold: this.options.failureThreshold, cooldownMs: this.options.cooldownMs, ...(deps.now ? { now: deps.now } : {}) });
    this.breaker.onChange(() => this.emit());
  }

  private readonly fetchImpl: typeof fetch;

  /** Called on every breaker change and readiness answer. */
  onHealth(listener: (health: OipHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  health(): OipHealth {
    return {
      model: this.options.model,
      url: this.base,
      breaker: this.breaker.state,
      consecutiveFailures: this.breaker.consecutiveFailures,
      ready: this.lastReady,
      lastError: this.lastError,
    };
  }

  /** `GET /v2/health/ready`: true on 200. Never throws; a probe does not go through the breaker. */
  async ready(): Promise<boolean> {
    let ok: boolean;
    try {
      const res = await this.fetchImpl(`${this.base}/v2/health/ready`, { signal: AbortSignal.timeout(this.options.timeoutMs), headers: this.options.headers });
      await res.body?.cancel();
      ok = res.ok;
      if (!ok) this.lastError = `GET /v2/health/ready answered ${res.status}`;
    } catch (err) {
      ok = false;
      this.lastError = describe(err);
    }
    this.lastReady = ok;
    this.emit();
    return ok;
  }

  /** `GET /v2/models/{name}`: the model's inputs and outputs, checked. */
  async metadata(): Promise<OipModelMetadata> {
    const body = await this.call('GET', this.modelPath(), undefined);
    return this.check(oipModelMetadataSchema, body, 'model metadata');
  }

  /** `POST /v2/models/{name}/infer` with these inputs; outputs checked against their shapes. */
  async infer(inputs: OipInput[], id?: string): Promise<OipInferResponse> {
    const body = await this.call('POST', `${this.modelPath()}/infer`, { ...(id === undefined ? {} : { id }), inputs });
    const response = this.check(oipInferResponseSchema, body, 'inference response');
    response.outputs.forEach((o, i) => {
      const size = o.shape.reduce((a, b) => a * b, 1);
      if (size !== o.data.length) {
        throw new ModelSourceError('MODEL_RESPONSE_INVALID', this.options.model, `Model server ${this.base} sent an invalid inference response: outputs[${i}].data holds ${o.data.length} values but its shape [${o.shape.join(', ')}] says ${size}. Check the server's model.`);
      }
    });
    return response;
  }

  private modelPath(): string {
    const name = encodeURIComponent(this.options.model);
    return this.options.version === undefined ? `/v2/models/${name}` : `/v2/models/${name}/versions/${encodeURIComponent(this.options.version)}`;
  }

  private check<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    const issue = formatZodIssues(parsed.error.issues)[0]!;
    const error = new ModelSourceError(
      'MODEL_RESPONSE_INVALID',
      this.options.model,
      `Model server ${this.base} sent an invalid ${what} for '${this.options.model}': ${issue.path || 'the body'} ${issue.message}. The server does not speak the Open Inference Protocol as expected; check its version and the model name.`,
      { cause: parsed.error },
    );
    this.lastError = error.message;
    // A server answering nonsense is as broken as one not answering.
    this.breaker.failure();
    throw error;
  }

  private async call(method: 'GET' | 'POST', path: string, payload: unknown): Promise<unknown> {
    if (!this.breaker.tryAcquire()) {
      throw new ModelSourceError(
        'MODEL_CIRCUIT_OPEN',
        this.options.model,
        `Model '${this.options.model}' at ${this.base} is not asked for ${Math.ceil(this.breaker.retryInMs / 1000)} s more: its circuit breaker opened after ${this.options.failureThreshold} failed calls (last: ${this.lastError ?? 'unknown'}).`,
      );
    }
    try {
      const body = await pRetry((attempt) => this.attempt(method, path, payload, attempt), {
        retries: this.options.retries,
        minTimeout: this.options.retryDelayMs,
        factor: 2,
        randomize: true,
      });
      this.breaker.success();
      return body;
    } catch (err) {
      this.lastError = describe(err);
      this.breaker.failure();
      throw err;
    }
  }

  private async attempt(method: 'GET' | 'POST', path: string, payload: unknown, attempt: number): Promise<unknown> {
    const url = `${this.base}${path}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...this.options.headers },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      if (isTimeout(err)) {
        throw new ModelSourceError('MODEL_TIMEOUT', this.options.model, `Model server ${this.base} did not answer ${method} ${path} within timeoutMs ${this.options.timeoutMs} (attempt ${attempt}). Raise timeoutMs or check the server's load.`, { cause: err });
      }
      throw new ModelSourceError('MODEL_UNREACHABLE', this.options.model, `Model server ${this.base} could not be reached for ${method} ${path}: ${describe(err)}. Check the url and that the server runs.`, { cause: err });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      const code = isTimeout(err) ? 'MODEL_TIMEOUT' : 'MODEL_UNREACHABLE';
      throw new ModelSourceError(code, this.options.model, `Model server ${this.base} broke off its answer to ${method} ${path}: ${describe(err)}.`, { cause: err });
    }
    if (!res.ok) {
      const error = new ModelSourceError(
        'MODEL_HTTP',
        this.options.model,
        `Model server ${this.base} answered ${method} ${path} with HTTP ${res.status}: ${text.slice(0, 200)}${res.status === 404 ? ' (is the model name right?)' : ''}`,
        { details: { status: res.status } },
      );
      // A request the server refuses (400, 404) fails the same way however often it is sent.
      if (!RETRYABLE_STATUS.has(res.status)) throw new AbortError(error);
      throw error;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new AbortError(new ModelSourceError('MODEL_RESPONSE_INVALID', this.options.model, `Model server ${this.base} answered ${method} ${path} with a body that is not JSON: ${text.slice(0, 80)}`, { cause: err }));
    }
  }

  private emit(): void {
    if (this.listeners.size === 0) return;
    const health = this.health();
    for (const l of this.listeners) l(health);
  }
}

/** A model on an Open Inference Protocol server, as the model runner asks it: one row of FP32 features. */
export class OipModelSource implements ModelSource {
  readonly kind = 'oip' as const;
  readonly client: OipClient;
  private sequence = 0;

  constructor(
    readonly name: string,
    options: OipOptionsInput,
    deps: { now?: () => number; fetch?: typeof fetch } = {},
  ) {
    this.client = new OipClient(options, deps);
  }

  async predict(features: readonly number[]): Promise<ModelOutput> {
    const { input, output, outputIndex } = this.client.options;
    const response = await this.client.infer([{ name: input, shape: [1, features.length], datatype: 'FP32', data: [...features] }], `${this.name}-${++this.sequence}`);
    const outputs: Record<string, number[]> = {};
    for (const o of response.outputs) outputs[o.name] = o.data;
    const chosen = output === undefined ? response.outputs[0]! : response.outputs.find((o) => o.name === output);
    if (chosen === undefined) {
      throw new ModelSourceError('MODEL_RESPONSE_INVALID', this.name, `Model server for '${this.name}' sent no output named '${output}' (it sent ${response.outputs.map((o) => o.name).join(', ')}): fix output in the model's config.`);
    }
    const probability = probabilityOf(chosen.data, outputIndex);
    if (probability === undefined) {
      throw new ModelSourceError('MODEL_RESPONSE_INVALID', this.name, `Model server for '${this.name}' sent outputs.${chosen.name}[${outputIndex ?? chosen.data.length - 1}] = ${String(chosen.data[outputIndex ?? chosen.data.length - 1])}, not a probability in 0..1: point output/outputIndex at the probability of a rise.`);
    }
    return { probability, outputs };
  }

  async close(): Promise<void> {}
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || (name === 'AbortError' && String((err as Error).message).includes('timeout'));
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
