import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { formatZodIssues } from '@tradebus/core';
import type { OnnxModelSource } from './onnx.js';

const inferRequestSchema = z.object({
  id: z.string().optional(),
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int().nonnegative()).length(2, { error: 'must be [rows, features]' }),
        datatype: z.enum(['FP32', 'FP64'], { error: "must be 'FP32' or 'FP64'" }),
        data: z.preprocess((v) => (Array.isArray(v) ? v.flat(Number.POSITIVE_INFINITY) : v), z.array(z.number())),
      }),
    )
    .min(1, { error: 'must hold one input tensor' }),
});

export interface OipServerOptions {
  /** 127.0.0.1 by default: a model server is for the bot's own processes, not the world. */
  host?: string;
  /** 0 (a free port) by default. */
  port?: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

export interface RunningOipServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Serves ONNX models over the Open Inference Protocol (the KServe v2 REST API): inference,
 * readiness and model metadata. Enough to serve a model to the model runners of several
 * processes, and what the examples and benchmarks use as a real server.
 */
export async function serveOip(models: readonly OnnxModelSource[], options: OipServerOptions = {}): Promise<RunningOipServer> {
  const byName = new Map(models.map((m) => [m.name, m]));
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: (err as Error).message }));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && (path === '/v2/health/ready' || path === '/v2/health/live')) return send(res, 200, { ready: true });
    if (req.method === 'GET' && path === '/v2') return send(res, 200, { name: '@tradebus/models', version: '1', extensions: [] });
    const match = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(\/infer|\/ready)?$/.exec(path);
    const model = match === null ? undefined : byName.get(decodeURIComponent(match[1]!));
    if (match === null || model === undefined) return send(res, 404, { error: `no model at ${path}; models: ${[...byName.keys()].join(', ')}` });
    if (req.method === 'GET' && match[2] === '/ready') return send(res, 200, { name: model.name, ready: true });
    if (req.method === 'GET' && match[2] === undefined) {
      return send(res, 200, {
        name: model.name,
        versions: ['1'],
        platform: 'onnxruntime',
        inputs: model.inputNames.map((name) => ({ name, datatype: 'FP32', shape: [-1, -1] })),
        outputs: model.outputNames.map((name) => ({ name, datatype: 'FP32', shape: [-1, -1] })),
      });
    }
    if (req.method !== 'POST' || match[2] !== '/infer') return send(res, 405, { error: `${req.method} ${path} is not served` });
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBody) return send(res, 413, { error: `request body over ${maxBody} bytes` });
      chunks.push(chunk as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, { error: 'the body is not JSON' });
    }
    const parsed = inferRequestSchema.safeParse(body);
    if (!parsed.success) {
      const issue = formatZodIssues(parsed.error.issues)[0]!;
      return send(res, 400, { error: `${issue.path} ${issue.message}` });
    }
    const input = parsed.data.inputs.find((i) => i.name === model.input) ?? parsed.data.inputs[0]!;
    const [rows, width] = input.shape as [number, number];
    if (rows * width !== input.data.length) return send(res, 400, { error: `inputs[0].data holds ${input.data.length} values, shape says ${rows * width}` });
    const matrix = Array.from({ length: rows }, (_, r) => input.data.slice(r * width, (r + 1) * width));
    let outputs: Record<string, number[]>;
    try {
      outputs = await model.run(matrix);
    } catch (err) {
      return send(res, 400, { error: (err as Error).message });
    }
    send(res, 200, {
      model_name: model.name,
      model_version: '1',
      ...(parsed.data.id === undefined ? {} : { id: parsed.data.id }),
      outputs: Object.entries(outputs).map(([name, data]) => ({ name, datatype: 'FP32', shape: [rows, data.length / Math.max(rows, 1)], data })),
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
