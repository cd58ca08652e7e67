import { readFile } from 'node:fs/promises';
import { Low, type Adapter } from 'lowdb';
import { DataCorruptedError } from './errors.js';
import { atomicWriteFile, isNotFound, type FsyncPolicy } from './fs-utils.js';

export interface DurableJsonFileOptions {
  fsync?: FsyncPolicy;
  /** With `batch`, at most one write per interval; writes in between are coalesced. */
  fsyncIntervalMs?: number;
  /** Pretty-print (2-space indent): these files are small and people read them. */
  pretty?: boolean;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A lowdb adapter for small JSON documents that survives crashes and power loss.
 *
 * lowdb's own `JSONFile` writes through steno: a temp file renamed over the target, which is
 * atomic against a process crash but calls no fsync, so after a power loss the rename can reach
 * the disk before the data and leave an empty or partial file. This adapter syncs the temp file
 * before the rename and the directory after it (unless the policy is `never`).
 *
 * `write` resolves once the content passed to it (or a newer one) is durable. Writes issued while
 * one is in flight are coalesced: only the latest content is written next, and everyone waiting
 * is acknowledged by that write.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  readonly path: string;
  private readonly policy: FsyncPolicy;
  private readonly intervalMs: number;
  private readonly pretty: boolean;
  private nextContent: string | undefined;
  private nextWaiters: Waiter[] = [];
  private running = false;
  private lastWriteStart = 0;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(path: string, options: DurableJsonFileOptions = {}) {
    this.path = path;
    this.policy = options.fsync ?? 'batch';
    this.intervalMs = options.fsyncIntervalMs ?? 50;
    this.pretty = options.pretty ?? true;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      // Writes are atomic, so a document that does not parse was damaged from outside: refuse
      // to start from an empty one (that would silently drop positions or risk state).
      throw new DataCorruptedError(this.path, `not valid JSON: ${(err as Error).message}`, err);
    }
  }

  write(data: T): Promise<void> {
    // Serialised now: the caller may keep mutating the object after this returns.
    this.nextContent = this.pretty ? `${JSON.stringify(data, null, 2)}\n` : JSON.stringify(data);
    return new Promise<void>((resolve, reject) => {
      this.nextWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Resolves when no write is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.nextContent === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts a queued write now instead of at the end of the batch interval. */
  flushNow(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.run();
    }
    return this.idle();
  }

  private kick(): void {
    if (this.running || this.timer !== undefined) return;
    const wait = this.policy === 'batch' ? this.lastWriteStart + this.intervalMs - Date.now() : 0;
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.run();
      }, wait);
    } else {
      void this.run();
    }
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.nextContent !== undefined) {
        if (this.policy === 'batch') {
          const wait = this.lastWriteStart + this.intervalMs - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const content = this.nextContent;
        const waiters = this.nextWaiters;
        this.nextContent = undefined;
        this.nextWaiters = [];
        this.lastWriteStart = Date.now();
        try {
          await atomicWriteFile(this.path, content, this.policy !== 'never');
          for (const w of waiters) w.resolve();
        } catch (err) {
          // The previous version is still intact (atomic rename), so a later write may succeed.
          for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      this.running = false;
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }
}

/** Opens a lowdb document on a DurableJsonFile and reads it (or starts from `defaults`). */
export async function openDocument<T>(path: string, defaults: T, options: DurableJsonFileOptions = {}): Promise<{ db: Low<T>; file: DurableJsonFile<T> }> {
  const file = new DurableJsonFile<T>(path, options);
  const db = new Low<T>(file, defaults);
  await db.read();
  return { db, file };
}
