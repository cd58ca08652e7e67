import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DataLockedError } from './errors.js';

export const LOCK_FILE = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per data directory: two writers appending to the same segment would interleave
 * their lines. The lock file holds the owner's pid; a lock left by a process that no longer runs
 * (a crash, a SIGKILL) is taken over.
 */
export async function acquireDirLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
      } finally {
        await fh.close();
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: { pid?: unknown; host?: unknown } | undefined;
    for (let read = 0; read < 3 && owner === undefined; read++) {
      try {
        owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
      } catch {
        // Empty or partial: another process may be writing it right now; look again shortly.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    // Still unreadable: a crash between creating and writing it. Treat as stale.
    owner ??= {};
    const pid = typeof owner.pid === 'number' ? owner.pid : undefined;
    const sameHost = owner.host === undefined || owner.host === hostname();
    if (pid !== undefined && (!sameHost || alive(pid))) throw new DataLockedError(dir, pid);
    await unlink(path).catch(() => undefined);
  }
  let pid = -1;
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown };
    if (typeof owner.pid === 'number') pid = owner.pid;
  } catch {
    // keep -1: the owner could not be read
  }
  throw new DataLockedError(dir, pid);
}
