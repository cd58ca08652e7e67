import { open, rename, unlink, readdir, mkdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** How hard a write tries to reach the disk before it is acknowledged. */
export type FsyncPolicy = 'always' | 'batch' | 'never';

export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'batch', 'never'];

/**
 * Makes a directory entry durable (a created, renamed or deleted file). Without it a power loss
 * can forget a rename even though the file's own data was synced. Platforms that cannot open a
 * directory (Windows) do not need it.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw err;
  } finally {
    await handle?.close();
  }
}

/** Writes the whole buffer, looping over short writes. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number | null = null): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position === null ? null : position + offset);
    if (bytesWritten <= 0) throw new Error(`short write: 0 of ${data.length - offset} bytes written`);
    offset += bytesWritten;
  }
}

export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp`);
}

/**
 * Replaces `file` with `content` atomically: readers (and a restart after a crash) see either the
 * old file or the new one, never a mix. With `sync` the new content and the rename are on disk
 * before this resolves, so it also survives a power loss.
 */
export async function atomicWriteFile(file: string, content: string | Uint8Array, sync: boolean): Promise<void> {
  const temp = tempPathFor(file);
  const handle = await open(temp, 'w');
  try {
    await writeFully(handle, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    if (sync) await handle.datasync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  if (sync) await fsyncDir(dirname(file));
}

/** Leftover temp files of writes a crash interrupted: the target file still holds the previous version. */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw err;
  }
  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      await unlink(join(dir, name)).catch(() => undefined);
      removed.push(name);
    }
  }
  return removed;
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * A file name for an arbitrary key (agent id, symbol, timeframe): letters, digits, '-' and '_'
 * stay, everything else becomes `~xx` (hex of its UTF-8 bytes), so the mapping is reversible and
 * never produces '.', '..' or a path separator. Case is kept: on a case-insensitive file system
 * (macOS and Windows defaults) two keys that differ only by case share a file.
 */
export function encodeFileKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(ch) ? ch : `~${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function decodeFileKey(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '~') {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(name.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
