import { afterEach, describe, expect, it } from 'vitest';
import { TestOipServer } from '../test-support/oip-server.js';
import type { BreakerState } from './breaker.js';
import { ModelSourceError } from './errors.js';
import { OipClient, OipModelSource, type OipHealth } from './oip.js';
import { OnnxModelSource } from './onnx.js';
import { logisticRegressionOnnx } from './onnx-build.js';
import { serveOip } from './oip-server.js';

const WEIGHTS = [0.8, -1.5, 0.25];
const BIAS = 0.1;
const byHand = (x: readonly number[]) => 1 / (1 + Math.exp(-(BIAS + x.reduce((a, v, j) => a + v * WEIGHTS[j]!, 0))));

const servers: TestOipServer[] = [];
async function serve(): Promise<TestOipServer> {
  const server = await new TestOipServer('lr', WEIGHTS, BIAS).start();
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

/** A clock the test moves: the breaker's cool-down is checked without waiting for it. */
function manualClock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function failure(p: Promise<unknown>): Promise<ModelSourceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelSourceError);
  return err as ModelSourceError;
}

describe('Open Inference Protocol client against a loopback server', () => {
  it('sends the features as an FP32 row and reads the probability the server computed', async () => {
    const server = await serve();
    const source = new OipModelSource('lr', { url: server.url, model: 'lr' });
    const x = [0.5, -1, 2];
    const prediction = await source.predict(x);
    expect(prediction.probability).toBeCloseTo(byHand(x), 12);
    expect(server.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v2/models/lr/infer', body: { inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: x }] } });
    expect(await source.client.ready()).toBe(true);
    const meta = await source.client.metadata();
    expect(meta.inputs[0]).toEqual({ name: 'features', datatype: 'FP32', shape: [-1, 3] });
  });

  it('retries a 503 and succeeds; a 400 is not retried', async () => {
    const server = await serve();
    const client = new OipClient({ url: server.url, model: 'lr', retries: 2, retryDelayMs: 1 });
    server.failures = 2;
    const ok = await client.infer([{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] }]);
    expect(ok.outputs[0]!.data[0]).toBeCloseTo(byHand([1, 1, 1]), 12);
    expect(server.inferCalls()).toBe(3);
    const before = server.inferCalls();
    const bad = await failure(client.infer([{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 1] }]));
    expect(bad.code).toBe('MODEL_HTTP');
    expect(bad.message).toContain('HTTP 400');
    expect(server.inferCalls() - before).toBe(1);
  });

  it('gives up on a slow server after timeoutMs per attempt, as a timeout', async () => {
    const server = await serve();
    server.delayMs = 3_000;
    const client = new OipClient({ url: server.url, model: 'lr', timeoutMs: 250, retries: 1, retryDelayMs: 1 });
    const err = await failure(client.infer([{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [0, 0, 0] }]));
    expect(err.code).toBe('MODEL_TIMEOUT');
    expect(err.message).toContain('timeoutMs 250');
    expect(server.inferCalls()).toBe(2);
  });

  it('names the bad field of an answer that breaks the protocol', async () => {
    const server = await serve();
    const client = new OipClient({ url: server.url, model: 'lr', retries: 0 });
    const input = [{ name: 'features', shape: [1, 3], datatype: 'FP32' as const, data: [0, 0, 0] }];
    server.badBody = { model_name: 'lr', outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: ['x'] }] };
    const wrongType = await failure(client.infer(input));
    expect(wrongType.code).toBe('MODEL_RESPONSE_INVALID');
    expect(wrongType.message).toContain('outputs[0].data[0]');
    server.badBody = { model_name: 'lr' };
    expect((await failure(client.infer(input))).message).toContain('outputs');
    server.badBody = { model_name: 'lr', outputs: [{ name: 'probability', shape: [1, 2], datatype: 'FP32', data: [0.5] }] };
    expect((await failure(client.infer(input))).message).toContain('outputs[0].data holds 1 values but its shape [1, 2] says 2');
    server.badBody = { model_name: 'lr', outputs: [{ name: 'probability', shape: [1, 1], datatype: 'FP32', data: [1.7] }] };
    const source = new OipModelSource('lr', { url: server.url, model: 'lr', retries: 0 });
    expect((await failure(source.predict([0, 0, 0]))).message).toContain('not a probability in 0..1');
  });

  it('opens the breaker after failureThreshold failed calls, fails fast while open, half-opens after the cool-down and closes on a success', async () => {
    const server = await serve();
    const clock = manualClock();
    const source = new OipModelSource('lr', { url: server.url, model: 'lr', retries: 0, failureThreshold: 3, cooldownMs: 5_000 }, { now: clock.now });
    const changes: Array<[BreakerState, BreakerState]> = [];
    const health: OipHealth[] = [];
    source.client.breaker.onChange((to, from) => changes.push([from, to]));
    source.client.onHealth((h) => health.push(h));
    server.failures = 100;
    for (let i = 0; i < 3; i++) expect((await failure(source.predict([1, 2, 3]))).code).toBe('MODEL_HTTP');
    expect(source.client.breaker.state).toBe('open');
    expect(health.at(-1)).toMatchObject({ model: 'lr', breaker: 'open', consecutiveFailures: 3 });
    expect(health.at(-1)!.lastError).toContain('HTTP 503');
    // Open: no request reaches the server.
    const calls = server.inferCalls();
    const fast = await failure(source.predict([1, 2, 3]));
    expect(fast.code).toBe('MODEL_CIRCUIT_OPEN');
    expect(fast.message).toContain('opened after 3 failed calls');
    expect(server.inferCalls()).toBe(calls);
    // After the cool-down one trial goes out; it fails, so the breaker opens again.
    clock.advance(5_000);
    expect(source.client.breaker.state).toBe('half-open');
    expect((await failure(source.predict([1, 2, 3]))).code).toBe('MODEL_HTTP');
    expect(server.inferCalls()).toBe(calls + 1);
    expect(source.client.breaker.state).toBe('open');
    // The server recovers: the next trial succeeds and closes the breaker.
    server.failures = 0;
    clock.advance(4_999);
    expect((await failure(source.predict([1, 2, 3]))).code).toBe('MODEL_CIRCUIT_OPEN');
    clock.advance(1);
    expect((await source.predict([1, 2, 3])).probability).toBeCloseTo(byHand([1, 2, 3]), 12);
    expect(source.client.breaker.state).toBe('closed');
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
    expect(health.at(-1)).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
  });

  it('reports readiness, and a stopped server as unreachable', async () => {
    const server = await serve();
    const client = new OipClient({ url: server.url, model: 'lr', retries: 0 });
    const health: OipHealth[] = [];
    client.onHealth((h) => health.push(h));
    server.ready = false;
    expect(await client.ready()).toBe(false);
    expect(health.at(-1)).toMatchObject({ ready: false });
    server.ready = true;
    expect(await client.ready()).toBe(true);
    const url = server.url;
    await server.stop();
    expect(await client.ready()).toBe(false);
    const err = await failure(client.infer([{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [0, 0, 0] }]));
    expect(err.code).toBe('MODEL_UNREACHABLE');
    expect(err.message).toContain(url);
  });

  it('refuses options without a url, naming the key', () => {
    expect(() => new OipClient({ url: 'not a url', model: 'lr' })).toThrow(/url/);
  });

  it('serves an ONNX model over the protocol: the client gets exactly what the model gives in-process', async () => {
    const model = await OnnxModelSource.load('lr', logisticRegressionOnnx({ weights: WEIGHTS, bias: BIAS }));
    const server = await serveOip([model]);
    try {
      const source = new OipModelSource('lr', { url: server.url, model: 'lr', output: 'probability' });
      for (const x of [[0.5, -1, 2], [3, 2, 1], [-2, 0.1, 0]]) {
        expect((await source.predict(x)).probability).toBe((await model.predict(x)).probability);
      }
      expect(await source.client.ready()).toBe(true);
      expect((await source.client.metadata()).outputs.map((o) => o.name)).toEqual(['probability']);
      const unknown = await failure(new OipModelSource('nope', { url: server.url, model: 'nope', retries: 0 }).predict([1, 2, 3]));
      expect(unknown.message).toContain('HTTP 404');
      const wide = await failure(new OipModelSource('lr', { url: server.url, model: 'lr', retries: 0 }).predict([1, 2]));
      expect(wide.message).toContain('HTTP 400');
    } finally {
      await server.close();
    }
  });
});
