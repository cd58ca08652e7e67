import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real Open Inference Protocol server on 127.0.0.1 for tests: a logistic regression evaluated
 * in double precision, with faults a test can switch on (slow answers, HTTP errors, bodies that
 * break the protocol).
 */
export class TestOipServer {
  readonly requests: Array<{ method: string; path: string; body: unknown }> = [];
  /** Delay before every answer. */
  delayMs = 0;
  /** The next `failures` inference calls answer with this status. */
  failures = 0;
  failStatus = 503;
  /** Answer inference with this body instead (protocol violations). */
  badBody: unknown = undefined;
  ready = true;
  private server: Server | undefined;

  constructor(
    readonly model: string,
    readonly weights: readonly number[],
    readonly bias: number,
  ) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (address === undefined) throw new Error('server not started');
    return `http://127.0.0.1:${address.port}`;
  }

  inferCalls(): number {
    return this.requests.filter((r) => r.path.endsWith('/infer')).length;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '';
    // Counted on arrival: a client that gives up early still made the request.
    const entry: { method: string; path: string; body: unknown } = { method: req.method ?? '', path, body: undefined };
    this.requests.push(entry);
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    entry.body = raw === '' ? undefined : JSON.parse(raw);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (res.destroyed) return;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/v2/health/ready') return send(this.ready ? 200 : 503, {});
    if (req.method === 'GET' && path === `/v2/models/${this.model}`) {
      return send(200, {
        name: this.model,
        versions: ['1'],
        platform: 'test',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, this.weights.length] }],
        outputs: [{ name: 'probability', datatype: 'FP32', shape: [-1, 1] }],
      });
    }
    if (req.method === 'POST' && path === `/v2/models/${this.model}/infer`) {
      if (this.failures > 0) {
        this.failures--;
        return send(this.failStatus, { error: 'injected failure' });
      }
      if (this.badBody !== undefined) return send(200, this.badBody);
      const body = JSON.parse(raw) as { id?: string; inputs: Array<{ name: string; shape: number[]; data: number[] }> };
      const input = body.inputs.find((i) => i.name === 'features');
      if (input === undefined || input.shape[1] !== this.weights.length) return send(400, { error: 'expected input features [n, ' + this.weights.length + ']' });
      const rows = input.shape[0]!;
      const out: number[] = [];
      for (let r = 0; r < rows; r++) {
        let z = this.bias;
        for (let j = 0; j < this.weights.length; j++) z += this.weights[j]! * input.data[r * this.weights.length + j]!;
        out.push(1 / (1 + Math.exp(-z)));
      }
      return send(200, { model_name: this.model, model_version: '1', ...(body.id ? { id: body.id } : {}), outputs: [{ name: 'probability', shape: [rows, 1], datatype: 'FP32', data: out }] });
    }
    send(404, { error: `no route ${req.method} ${path}` });
  }
}
