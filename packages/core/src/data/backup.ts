import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { DataArgumentError, DataCorruptedError } from './errors.js';
import { atomicWriteFile, fsyncDir, isNotFound } from './fs-utils.js';
import { acquireDirLock, LOCK_FILE } from './lock.js';
import { syncFile } from './segment-log.js';

export const BACKUP_MANIFEST = 'backup.json';

export const backupManifestSchema = z.object({
  version: z.literal(1),
  createdAt: z.string(),
  /** The data directory the backup was taken from. */
  source: z.string(),
  files: z.array(z.object({ path: z.string(), bytes: z.number().int().nonnegative() })),
});
export type BackupManifest = z.output<typeof backupManifestSchema>;

/** A directory that does not exist yet, or exists and is empty. */
export async function assertEmptyTarget(dir: string, what: string): Promise<void> {
  try {
    const entries = await readdir(dir);
    if (entries.length > 0) throw new DataArgumentError(`${what} ${dir} is not empty: pick a new directory.`, { dir });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

export async function copyDocument(source: string, target: string): Promise<number | undefined> {
  try {
    await mkdir(dirname(target), { recursive: true });
    await copyFile(source, target);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  await syncFile(target);
  return (await stat(target)).size;
}

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  await atomicWriteFile(join(dir, BACKUP_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, true);
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, BACKUP_MANIFEST), 'utf8');
  } catch (err) {
    if (isNotFound(err)) throw new DataArgumentError(`${dir} is not a Tradebus backup (no ${BACKUP_MANIFEST}): point to a directory written by backup().`, { dir });
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataCorruptedError(join(dir, BACKUP_MANIFEST), 'not valid JSON', err);
  }
  const parsed = backupManifestSchema.safeParse(json);
  if (!parsed.success) throw new DataCorruptedError(join(dir, BACKUP_MANIFEST), 'not a backup manifest');
  return parsed.data;
}

/**
 * Restores a backup into `targetDir`. The backup is checked first (every file present with the
 * recorded size). An existing non-empty target is refused unless `overwrite`, in which case it is
 * moved aside to `<targetDir>.before-restore-<time>` (never deleted). No process may be using
 * the target: stop it first.
 */
export async function restoreBackup(backupDir: string, targetDir: string, options: { overwrite?: boolean } = {}): Promise<BackupManifest> {
  const from = resolve(backupDir);
  const to = resolve(targetDir);
  if (isInside(to, from) || isInside(from, to)) {
    throw new DataArgumentError('restoreBackup: the backup and the target must be separate directories.', { backupDir: from, targetDir: to });
  }
  const manifest = await readManifest(from);
  for (const f of manifest.files) {
    const path = join(from, f.path);
    if (!isInside(path, from)) throw new DataCorruptedError(join(from, BACKUP_MANIFEST), `file path '${f.path}' leaves the backup directory`);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (isNotFound(err)) throw new DataCorruptedError(path, 'listed in the backup manifest but missing');
      throw err;
    }
    if (size !== f.bytes) throw new DataCorruptedError(path, `has ${size} bytes, the backup manifest says ${f.bytes}`);
  }

  const staging = `${to}.restoring`;
  await rm(staging, { recursive: true, force: true });
  for (const f of manifest.files) {
    const target = join(staging, f.path);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(join(from, f.path), target);
    await syncFile(target);
  }
  // Segment indexes are copied when present; they are rebuilt on open when they are not.
  await copyIndexes(from, staging, manifest);
  await mkdir(staging, { recursive: true });
  await fsyncTree(staging);

  let existing: string[] = [];
  try {
    existing = await readdir(to);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (existing.length > 0) {
    if (!options.overwrite) {
      await rm(staging, { recursive: true, force: true });
      throw new DataArgumentError(`${to} is not empty: pass { overwrite: true } to move it aside and restore over it.`, { targetDir: to });
    }
    // Taking the lock proves no live process uses the directory; the lock moves aside with it.
    await acquireDirLock(to);
    const aside = `${to}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(to, aside);
    await unlink(join(aside, LOCK_FILE)).catch(() => undefined);
  } else {
    await rm(to, { recursive: true, force: true });
  }
  await rename(staging, to);
  await fsyncDir(dirname(to));
  return manifest;
}

async function copyIndexes(from: string, staging: string, manifest: BackupManifest): Promise<void> {
  for (const f of manifest.files) {
    if (!f.path.endsWith('.jsonl')) continue;
    const idx = f.path.replace(/\.jsonl$/, '.idx.json');
    try {
      await copyFile(join(from, idx), join(staging, idx));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await fsyncTree(join(dir, entry.name));
  }
  await fsyncDir(dir);
}
