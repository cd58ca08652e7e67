import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixture = join(here, 'fixtures', 'agent.mjs');

/** A line a fixture process printed (JSON, marked `fx`). */
export interface FixtureEvent {
  event: string;
  at: number;
  pid: number;
  [key: string]: unknown;
}

/**
 * Fixture processes import the built `@tradebus/core` (dist), as a deployed agent would. Builds
 * it when a source file is newer than the build, so the processes never run stale code.
 */
export function ensureCoreBuilt(): void {
  const built = join(root, 'packages', 'core', 'dist', 'index.js');
  const builtAt = safeMtime(built);
  if (builtAt > 0 && newestSource(join(root, 'packages', 'core', 'src')) <= builtAt) return;
  const result = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'packages/core'], { cwd: root, encoding: 'utf8' });
  if (safeMtime(built) === 0) throw new Error(`building @tradebus/core failed:\n${result.stdout}\n${result.stderr}`);
}

function safeMtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** One agent (or observer) process started from tests/nats/fixtures/agent.mjs. */
export class FixtureProcess {
  readonly events: FixtureEvent[] = [];
  private readonly child: ChildProcess;
  private stderr = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly role: 'publisher' | 'subscriber' | 'sink' | 'observer',
    readonly agentId: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [fixture, role, agentId], {
      cwd: root,
      env: { ...process.env, TRADEBUS_LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{"fx":1')) continue;
        this.events.push(JSON.parse(line) as FixtureEvent);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-8000);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  all(event: string, filter: (e: FixtureEvent) => boolean = () => true): FixtureEvent[] {
    return this.events.filter((e) => e.event === event && filter(e));
  }

  /** Resolves with the first event (already seen or future) that matches; rejects after `timeoutMs`. */
  async waitFor(event: string, filter: (e: FixtureEvent) => boolean = () => true, timeoutMs = 15_000): Promise<FixtureEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.event === event && filter(e));
      if (found !== undefined) return found;
      if (!this.running) throw new Error(`${this.role} ${this.agentId} exited (${JSON.stringify(this.exit)}) before '${event}'. stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.role} ${this.agentId}: no '${event}' within ${timeoutMs} ms. Last events: ${JSON.stringify(this.events.slice(-5))}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits until at least `count` events of a kind have arrived. */
  async waitForCount(event: string, count: number, timeoutMs = 15_000): Promise<FixtureEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all(event);
      if (found.length >= count) return found;
      if (!this.running) throw new Error(`${this.role} ${this.agentId} exited (${JSON.stringify(this.exit)}) with ${found.length}/${count} '${event}'. stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.role} ${this.agentId}: ${found.length}/${count} '${event}' after ${timeoutMs} ms.\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends a signal and waits for the process to end. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function eventually(check: () => void | Promise<void>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
