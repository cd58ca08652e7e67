import { pathToFileURL } from 'node:url';
import { OnnxModelSource, serveOip, type RunningOipServer } from '@tradebus/models';
import { EXAMPLE_MODEL, exampleModelOnnx } from './model.js';

/**
 * An Open Inference Protocol (KServe v2) server for the example model on 127.0.0.1:
 *
 *   npm run build && node examples/model-server/dist/server.js [port]
 *
 *   curl -s localhost:8080/v2/health/ready
 *   curl -s localhost:8080/v2/models/reversal
 *   curl -s -XPOST localhost:8080/v2/models/reversal/infer -H 'content-type: application/json' \
 *     -d '{"inputs":[{"name":"features","shape":[1,5],"datatype":"FP32","data":[0.002,0.004,-0.01,0.003,1.5]}]}'
 *
 * A model runner asks it with `source: { kind: oip, url: http://127.0.0.1:8080, model: reversal }`.
 */
export async function startExampleServer(port = 0): Promise<RunningOipServer> {
  const model = await OnnxModelSource.load(EXAMPLE_MODEL.name, exampleModelOnnx());
  return serveOip([model], { port });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const server = await startExampleServer(port);
  process.stdout.write(`model '${EXAMPLE_MODEL.name}' served at ${server.url}/v2/models/${EXAMPLE_MODEL.name}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
