import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { TradebusError } from '../errors.js';

export interface NatsServerOptions {
  /** Path of the nats-server binary; default: $NATS_SERVER_BIN, then `nats-server` on PATH, /usr/sbin, /usr/local/bin. */
  binary?: string;
  /** Enable JetStream (default true), storing under `storeDir`. */
  jetstream?: boolean;
  /** JetStream store directory; a fresh temporary directory (removed by `dispose()`) when omitted. */
  storeDir?: string;
  /** Client port; a free loopback port when omitted. */
  port?: number;
  /** Contents of a server config file (auth, TLS, limits...). Command-line port, address and JetStream flags still apply. */
  config?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Extra environment of the server process, e.g. the passwords a `config` refers to as `$NAME`. */
  env?: Record<string, string>;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
}

export class NatsServerError extends TradebusError {}

/** Lines of server output kept for error messages. */
const LOG_TAIL_LINES = 40;

/**
 * A real nats-server for tests and benchmarks: on 127.0.0.1, on a free port picked by the OS,
 * JetStream on by default with its own store directory. It can be stopped (SIGTERM or SIGKILL)
 * and started again on the same port and store, as an operator restarting the server would.
 *
 * ```ts
 * const server = await NatsServer.start();
 * // ... new NatsTransport({ servers: server.url, catalogue })
 * await server.stop('SIGKILL'); await server.restart();
 * await server.dispose();
 * ```
 */
export class NatsServer {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly storeDir: string;
  private readonly binary: string;
  private readonly jetstream: boolean;
  private readonly workDir: string;
  private readonly configFile: string | undefined;
  private readonly extraArgs: string[];
  private readonly env: Record<string, string>;
  private readonly startTimeoutMs: number;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly logTail: string[] = [];
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  private constructor(options: NatsServerOptions, port: number) {
    this.binary = options.binary ?? findNatsServer();
    this.jetstream = options.jetstream ?? true;
    this.port = port;
    this.workDir = mkdtempSync(join(tmpdir(), 'tradebus-nats-'));
    this.storeDir = options.storeDir ?? join(this.workDir, 'jetstream');
    this.extraArgs = options.args ?? [];
    this.env = options.env ?? {};
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    if (options.config !== undefined) {
      this.configFile = join(this.workDir, 'nats-server.conf');
      writeFileSync(this.configFile, options.config);
    }
  }

  /** Starts a server and resolves once it accepts client connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options, options.port ?? (await freePort()));
    try {
      await server.launch();
    } catch (err) {
      await server.dispose();
      throw err;
    }
    return server;
  }

  /** `nats://127.0.0.1:<port>` */
  get url(): string {
    return `nats://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines the server printed (useful in failure messages). */
  get logs(): string {
    return this.logTail.join('\n');
  }

  /** A raw NATS client connection to this server (no Tradebus encoding or validation), e.g. to inject bad messages. */
  connect(options: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
    return connect({ servers: this.url, noAsyncTraces: true, ...options });
  }

  /** Stops the server and waits until the process has exited. SIGKILL simulates a crash. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT' = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    const exited = this.exited;
    // The deadline's timer is cleared once the server is gone, so that it does not keep the
    // caller's process alive for `timeoutMs` after its last server stopped.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(true), timeoutMs)))]);
    clearTimeout(deadline);
    if (timedOut) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Starts the server again on the same port with the same store directory. */
  async restart(): Promise<void> {
    if (this.child !== undefined) await this.stop();
    await this.launch();
  }

  /** Stops the server and removes the temporary files it created. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    // The store directory is inside workDir unless the caller chose one (and then keeps it).
    rmSync(this.workDir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const args = ['-a', this.host, '-p', String(this.port)];
    if (this.configFile !== undefined) args.unshift('-c', this.configFile);
    if (this.jetstream) args.push('-js', '-sd', this.storeDir);
    args.push(...this.extraArgs);
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.child = child;
    process.once('exit', this.killOnExit);
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.logTail.push(line);
        if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', () => resolve());
    }).then(() => {
      if (this.child === child) this.child = undefined;
      process.off('exit', this.killOnExit);
    });
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (this.child !== child) {
        throw new NatsServerError(
          'NATS_SERVER_EXITED',
          `nats-server (${this.binary}) exited before accepting connections on ${this.url}${spawnError ? `: ${spawnError.message}` : ''}. ` +
            `Install it (apt-get install nats-server) or set NATS_SERVER_BIN. Output:\n${this.logs}`,
          { cause: spawnError },
        );
      }
      const info = await readInfo(this.host, this.port).catch(() => undefined);
      if (info !== undefined && (!this.jetstream || info.jetstream === true)) return;
      if (Date.now() > deadline) {
        await this.stop('SIGKILL');
        throw new NatsServerError('NATS_SERVER_START_TIMEOUT', `nats-server did not accept connections on ${this.url} within ${this.startTimeoutMs} ms. Output:\n${this.logs}`);
      }
      await sleep(20);
    }
  }
}

/** Finds the nats-server binary, or throws saying how to install it. */
export function findNatsServer(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new NatsServerError('NATS_SERVER_MISSING', 'nats-server was not found on PATH, in /usr/sbin or /usr/local/bin. Install it (apt-get install nats-server, or a release from https://github.com/nats-io/nats-server) or set NATS_SERVER_BIN.');
}

/** A port the OS says is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/** Connects, reads the server's INFO line and hangs up: proof that a NATS server is serving the port. */
function readInfo(host: string, port: number): Promise<{ jetstream?: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no INFO from server'));
    }, 1000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const end = buffer.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      const line = buffer.slice(0, end);
      if (!line.startsWith('INFO ')) return reject(new Error(`unexpected greeting: ${line.slice(0, 80)}`));
      try {
        resolve(JSON.parse(line.slice(5)) as { jetstream?: boolean });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
