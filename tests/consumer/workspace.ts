import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  repository?: { type?: string; url?: string; directory?: string } | string;
  homepage?: string;
  bugs?: { url?: string } | string;
  publishConfig?: { access?: string };
  bin?: Record<string, string> | string;
  files?: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

export interface WorkspacePackage {
  /** Directory relative to the repository root, e.g. `packages/agents/main`. */
  dir: string;
  manifest: Manifest;
}

/** Every workspace package that is published (not `private`), in the root manifest's order. */
export function publishablePackages(): WorkspacePackage[] {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  const dirs: string[] = [];
  for (const pattern of rootManifest.workspaces) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, parent), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        if (entry.isDirectory() && existsSync(join(root, parent, entry.name, 'package.json'))) dirs.push(`${parent}/${entry.name}`);
      }
    } else {
      dirs.push(pattern);
    }
  }
  return dirs
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest }))
    .filter((p) => p.manifest.private !== true);
}

export interface PackResult {
  name: string;
  filename: string;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

/**
 * What `npm pack` puts in each package's tarball (one npm process for all of them). With
 * `destination`, writes the tarballs there; without, lists them only (`--dry-run`).
 */
export function npmPack(packages: WorkspacePackage[], destination?: string): PackResult[] {
  const args = ['pack', '--json', '--ignore-scripts', ...packages.flatMap((p) => ['-w', p.dir])];
  if (destination === undefined) args.push('--dry-run');
  else args.push('--pack-destination', destination);
  const out = execFileSync('npm', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out) as PackResult[];
}
