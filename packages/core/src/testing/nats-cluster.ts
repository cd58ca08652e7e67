import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsServer, NatsServerError, freePort } from './nats-server.js';

export interface NatsClusterOptions {
  /** Number of servers (default 3: the smallest cluster that keeps a JetStream quorum when one dies). */
  size?: number;
  /** Cluster name (default `tradebus`). */
  name?: string;
  /** Path of the nats-server binary (see NatsServerOptions.binary). */
  binary?: string;
  /** Extra lines for every server's config file (limits such as `max_pending`, auth...). */
  extraConfig?: string;
  /** How long to wait for the cluster to elect a JetStream leader. */
  readyTimeoutMs?: number;
}

/**
 * A real NATS cluster on loopback for tests and benchmarks: `size` nats-server processes joined by
 * routes, JetStream clustered, each node with its own store directory. Any node can be killed
 * (SIGKILL, a crash) and started again on the same ports and store, as in production.
 *
 * ```ts
 * const cluster = await NatsCluster.start();
 * // ... new NatsTransport({ servers: cluster.urls, replicas: 3, catalogue })
 * await cluster.nodes[1]!.stop('SIGKILL'); await cluster.nodes[1]!.restart();
 * await cluster.dispose();
 * ```
 */
export class NatsCluster {
  private constructor(
    readonly nodes: NatsServer[],
    private readonly workDir: string,
  ) {}

  static async start(options: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = options.size ?? 3;
    const name = options.name ?? 'tradebus';
    const workDir = mkdtempSync(join(tmpdir(), 'tradebus-nats-cluster-'));
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    // Ports are picked one at a time and checked for repeats: the OS may hand back a port it has just freed.
    while (clientPorts.length + routePorts.length < size * 2) {
      const port = await freePort();
      if (clientPorts.includes(port) || routePorts.includes(port)) continue;
      if (clientPorts.length < size) clientPorts.push(port);
      else routePorts.push(port);
    }
    const nodes: NatsServer[] = [];
    const cluster = new NatsCluster(nodes, workDir);
    try {
      for (let i = 0; i < size; i++) {
        const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
        const config = [
          `server_name: n${i + 1}`,
          `cluster {`,
          `  name: ${name}`,
          `  listen: 127.0.0.1:${routePorts[i]}`,
          `  routes: [${routes.join(', ')}]`,
          `}`,
          options.extraConfig ?? '',
        ].join('\n');
        const server = await NatsServer.start({
          binary: options.binary,
          port: clientPorts[i],
          storeDir: join(workDir, `n${i + 1}`),
          config,
        });
        nodes.push(server);
      }
      await cluster.waitReady(options.readyTimeoutMs ?? 20_000);
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  /** Every node's client URL, for `transport.servers`. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** A raw client connection that may use any node. */
  connect(options: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
    return connect({ servers: this.urls, noAsyncTraces: true, ...options });
  }

  /**
   * Resolves once JetStream answers through every running node (a meta leader is elected and the
   * node has joined it): before that, creating a stream fails.
   */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      if (!node.running) continue;
      let lastError: unknown;
      for (;;) {
        const ok = await probeJetStream(node.url).catch((err: unknown) => {
          lastError = err;
          return false;
        });
        if (ok) break;
        if (Date.now() > deadline) {
          throw new NatsServerError('NATS_CLUSTER_NOT_READY', `JetStream did not become available on ${node.url} within ${timeoutMs} ms (${String(lastError)}). Output:\n${node.logs}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Every node answering is not enough: the leader must also know all peers, or a stream
    // with one copy per running node cannot be placed yet.
    const running = this.nodes.filter((n) => n.running).length;
    let lastError: unknown;
    for (;;) {
      const placed = await probePlacement(this.urls, running).catch((err: unknown) => {
        lastError = err;
        return false;
      });
      if (placed) return;
      if (Date.now() > deadline) throw new NatsServerError('NATS_CLUSTER_NOT_READY', `The cluster could not place a stream on ${running} nodes within ${timeoutMs} ms (${String(lastError)}).`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

async function probePlacement(urls: string[], replicas: number): Promise<boolean> {
  const nc = await connect({ servers: urls, noAsyncTraces: true, reconnect: false, timeout: 1_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3_000 });
    const name = `TRADEBUS_CLUSTER_PROBE_${process.pid}`;
    await jsm.streams.add({ name, subjects: [`_tradebus_probe.${process.pid}`], num_replicas: replicas });
    await jsm.streams.delete(name);
    return true;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function probeJetStream(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, noAsyncTraces: true, reconnect: false, timeout: 1_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 1_000 });
    await jsm.getAccountInfo();
    return true;
  } finally {
    await nc.close().catch(() => undefined);
  }
}
