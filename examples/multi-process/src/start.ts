/**
 * Starts the multi-process example: a nats-server (unless NATS_URL names one), the main process
 * with the REST API, then the signal logger and the strategies, and the prices last, so that
 * every bar the replay plays reaches agents that are already listening. Ctrl-C (or SIGTERM)
 * stops them in the opposite order.
 *
 *   npm run build && node examples/multi-process/dist/start.js
 *
 * Environment: NATS_URL (use this server, start none), NATS_PORT (port of the server started
 * here, default 4222), TRADEBUS_API_PORT (default 7070, 0 picks a free port), TRADEBUS_PREFIX,
 * TRADEBUS_DATA_DIR, REPLAY_SPEED (multiple of real time, or max), TRADEBUS_LOG_LEVEL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const exampleDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(exampleDir, '..', '..', 'packages', 'agents', 'main', 'dist', 'cli.js');
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

interface Running {
  name: string;
  child: ChildProcess;
  /** The signal that stops it cleanly (nats-server exits with code 1 on SIGTERM, 0 on SIGINT). */
  stopSignal: NodeJS.Signals;
  exited: Promise<number | null>;
  output(): string;
}

interface AgentStatus {
  agentId: string;
  status: string;
  pid: number;
}

const running: Running[] = [];
let stopping = false;
/** Every process is up and the summary printed. */
let started = false;
/** Processes that exited on their own: the script then ends with exit code 1. */
const lost: string[] = [];
let natsStore: string | undefined;

class StartError extends Error {}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Starts a child in its own process group, so a Ctrl-C reaches this script alone and the stop
 * order is ours. Its output is shown line by line behind its name, unless `quiet` (then it is
 * kept for an error message). When an `essential` process (the bus, the main process) exits,
 * everything stops.
 */
function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, options: { quiet?: boolean; stopSignal?: NodeJS.Signals; essential?: boolean } = {}): Running {
  const child = spawn(command, args, { cwd: exampleDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  const forward = (target: NodeJS.WriteStream) => {
    let partial = '';
    return (chunk: Buffer): void => {
      text += chunk.toString();
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (!options.quiet) for (const line of lines) target.write(`[${name}] ${line}\n`);
    };
  };
  child.stdout!.on('data', forward(process.stdout));
  child.stderr!.on('data', forward(process.stderr));
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(
        err.code === 'ENOENT'
          ? `[${name}] cannot run '${command}': not installed or not on PATH.${name === 'nats' ? ' Install nats-server (apt-get install nats-server, or https://nats.io), or set NATS_URL to a running server.' : ''}\n`
          : `[${name}] ${err.message}\n`,
      );
      resolveExit(null);
    });
    child.once('exit', (code, signal) => resolveExit(code ?? (signal === null ? null : 128)));
  });
  const entry: Running = { name, child, stopSignal: options.stopSignal ?? 'SIGTERM', exited, output: () => text };
  running.push(entry);
  void exited.then((code) => {
    if (stopping) return;
    const said = options.quiet ? `:\n${text.trim().split('\n').slice(-10).join('\n')}` : '';
    lost.push(name);
    // Once everything is up, a lost agent process is what the health view is for: the others go on.
    if (started && options.essential !== true) {
      process.stderr.write(`${name} exited (code ${code})${said}\nThe other processes keep running; /agents/status shows '${name}' down once it misses its heartbeats. Ctrl-C stops the rest.\n`);
      return;
    }
    process.stderr.write(`${name} exited (code ${code})${said}\nStopping the others.\n`);
    void stopAll(1);
  });
  return entry;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STARTUP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (stopping) throw new StartError(`stopped while waiting for ${what}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new StartError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.once('error', () => resolveOpen(false));
  });
}

/** nats-server from NATS_SERVER_BIN, PATH, or where Debian and Homebrew put it (/usr/sbin is often not on a user's PATH). */
function natsServerBinary(env: NodeJS.ProcessEnv): string {
  if (env.NATS_SERVER_BIN) return env.NATS_SERVER_BIN;
  for (const dir of [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/opt/homebrew/bin']) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, 'nats-server'), constants.X_OK);
      return join(dir, 'nats-server');
    } catch {
      // not here
    }
  }
  return 'nats-server';
}

async function startNats(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.NATS_URL) return env.NATS_URL;
  const port = Number(env.NATS_PORT ?? 4222);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new StartError(`NATS_PORT must be a port number, got '${env.NATS_PORT}'`);
  if (await portOpen(port)) {
    throw new StartError(`port ${port} is already in use: if a nats-server with JetStream runs there, set NATS_URL=nats://127.0.0.1:${port}; otherwise choose another NATS_PORT.`);
  }
  natsStore = mkdtempSync(join(tmpdir(), 'tradebus-example-nats-'));
  const nats = start('nats', natsServerBinary(env), ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', natsStore], env, {
    quiet: true,
    stopSignal: 'SIGINT',
    essential: true,
  });
  await until('nats-server to accept connections', async () => {
    if (nats.child.exitCode !== null || nats.child.pid === undefined) throw new StartError(`nats-server did not start:\n${nats.output()}`);
    return (await portOpen(port)) ? true : undefined;
  }, 10_000);
  return `nats://127.0.0.1:${port}`;
}

async function agentsOf(apiUrl: string): Promise<AgentStatus[]> {
  const res = await fetch(`${apiUrl}/agents/status`, { signal: AbortSignal.timeout(2_000) });
  return ((await res.json()) as { agents: AgentStatus[] }).agents;
}

function waitForAgents(apiUrl: string, ids: string[]): Promise<AgentStatus[]> {
  return until(`agent(s) ${ids.join(', ')} to report ok at ${apiUrl}/agents/status`, async () => {
    const agents = await agentsOf(apiUrl);
    const ok = ids.map((id) => agents.find((a) => a.agentId === id && a.status === 'ok'));
    return ok.every((a) => a !== undefined) ? (ok as AgentStatus[]) : undefined;
  });
}

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Newest first: the market data stops before the agents that consume it, the bus goes last.
  for (const entry of [...running].reverse()) {
    if (entry.child.exitCode !== null || entry.child.signalCode !== null || entry.child.pid === undefined) continue;
    entry.child.kill(entry.stopSignal);
    const timer = setTimeout(() => entry.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const exit = await entry.exited;
    clearTimeout(timer);
    if (exit !== 0) {
      process.stderr.write(`${entry.name} stopped with exit code ${exit}\n`);
      code = 1;
    }
  }
  if (natsStore !== undefined) rmSync(natsStore, { recursive: true, force: true });
  if (lost.length > 0) {
    process.stderr.write(`exited on their own while running: ${lost.join(', ')}\n`);
    code = 1;
  }
  process.exit(code);
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new StartError(`${cli} is missing: build first with 'npm run build' at the repository root.`);
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  // Children live in their own process groups: never leave one behind when this script ends.
  process.on('exit', () => {
    for (const entry of running) if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
  });

  const env: NodeJS.ProcessEnv = { ...process.env };
  env.NATS_URL = await startNats(env);
  const tradebus = (name: string, args: string[], essential = false): Running => start(name, process.execPath, [cli, ...args], env, { essential });

  const main = tradebus('main', ['run', '--config', 'main.yaml'], true);
  const apiUrl = await until('the REST API address of the main process', async () => /REST API\s+(http:\/\/\S+)/.exec(main.output())?.[1]);
  const signals = tradebus('signals', ['agent', 'signals', '--config', 'signals.yaml']);
  const strategies = tradebus('strategies', ['agent', 'strategies', '--config', 'strategies.yaml']);
  await waitForAgents(apiUrl, ['signals', 'strategies']);
  const prices = tradebus('prices', ['agent', 'prices', '--config', 'prices.yaml']);
  await waitForAgents(apiUrl, ['prices']);

  say(
    [
      `Multi-process example running over NATS at ${env.NATS_URL} (prefix ${env.TRADEBUS_PREFIX ?? 'tradebus.example'}):`,
      `  main        pid ${main.child.pid}  REST API ${apiUrl}`,
      `  signals     pid ${signals.child.pid}  signal-logger (examples/multi-process/src/signal-logger.ts)`,
      `  strategies  pid ${strategies.child.pid}  strategy-runner`,
      `  prices      pid ${prices.child.pid}  price-watchdog on the replay`,
      `Try ${apiUrl}/agents/status and ${apiUrl}/events/history?type=signal.generated`,
      'Stop with Ctrl-C.',
    ].join('\n'),
  );
  started = true;
}

main().catch((err: unknown) => {
  if (stopping) return;
  process.stderr.write(`${err instanceof StartError ? err.message : (err as Error).stack ?? String(err)}\n`);
  void stopAll(1);
});
