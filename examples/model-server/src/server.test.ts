import { describe, expect, it } from 'vitest';
import { OipModelSource, OnnxModelSource } from '@tradebus/models';
import { EXAMPLE_MODEL, exampleModelOnnx } from './model.js';
import { startExampleServer } from './server.js';

/** The model's definition, by hand, with the float32 numbers its file holds. */
function byHand(x: readonly number[]): number {
  const f = Math.fround;
  const z = x.reduce((a, v, j) => a + f(EXAMPLE_MODEL.weights[j]!) * f(v), f(EXAMPLE_MODEL.bias));
  return 1 / (1 + Math.exp(-z));
}

describe('examples/model-server', () => {
  it('serves the example model over the Open Inference Protocol: answers equal the formula and the in-process model', async () => {
    const server = await startExampleServer();
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const remote = new OipModelSource('reversal', { url: server.url, model: 'reversal' });
      const local = await OnnxModelSource.load('reversal', exampleModelOnnx());
      expect(await remote.client.ready()).toBe(true);
      expect((await remote.client.metadata()).inputs[0]?.name).toBe('features');
      // Typical 5-minute feature values: returns of a few tenths of a percent, volume z-scores of a few units.
      const rows = [
        [0.002, 0.004, -0.01, 0.003, 1.5],
        [-0.004, -0.001, 0.02, 0.006, -0.7],
        [0, 0, 0, 0, 0],
      ];
      for (const x of rows) {
        const p = (await remote.predict(x)).probability;
        expect(Math.abs(p - byHand(x))).toBeLessThanOrEqual(1e-6);
        expect(p).toBe((await local.predict(x)).probability);
      }
      // A falling bar makes the model lean up: it bets on reversal.
      expect((await remote.predict([-0.004, 0, 0, 0.003, 0])).probability).toBeGreaterThan(0.5);
      const res = await fetch(`${server.url}/v2/models/reversal/infer`, { method: 'POST', body: '{"inputs":[]}' });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('inputs');
    } finally {
      await server.close();
    }
  });
});
