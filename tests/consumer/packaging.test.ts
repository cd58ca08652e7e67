import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOOLING_VERSIONS } from '@tradebus/create';
import { npmPack, publishablePackages, root, type PackResult, type WorkspacePackage } from './workspace.js';

// What each published package declares, checked against what its tarball really contains and
// imports (the built dist: run `npm run build` first; `npm test` does). A dependency nobody
// imports costs every user an install (ccxt is 60 MB); an import nobody declares breaks on a
// strict installer; a type nobody can resolve breaks a consumer's `skipLibCheck: false`.

const packages = publishablePackages();
const builtins = new Set(builtinModules);
const nodeGlobals = new Set(['Buffer', 'NodeJS', 'process', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'global', '__dirname']);

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('node:') && !builtins.has(packageNameOf(specifier));
}

/** Module specifiers a file imports: static, re-exports, dynamic `import()`, import types, and `require.resolve`. */
function importsOf(text: string): string[] {
  const found = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  for (const m of text.matchAll(/(?:require|createRequire\([^)]*\))\.resolve\(\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  return found;
}

/** True when a declaration file needs Node's types: a `node:` or built-in import, or a Node global in a type position. */
function needsNodeTypes(text: string): boolean {
  if (importsOf(text).some((s) => s.startsWith('node:') || builtins.has(packageNameOf(s)))) return true;
  const source = ts.createSourceFile('x.d.ts', text, ts.ScriptTarget.Latest, false);
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node) || ts.isTypeQueryNode(node)) {
      const name = ts.isTypeReferenceNode(node) ? node.typeName : ts.isTypeQueryNode(node) ? node.exprName : node.expression;
      const first = name.getText(source).split('.')[0]!;
      if (nodeGlobals.has(first)) found = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Whether an installed package ships its own type declarations. */
function shipsTypes(fromDir: string, name: string): boolean {
  let manifestPath: string | undefined;
  for (let dir = join(root, fromDir); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) {
      manifestPath = candidate;
      break;
    }
    if (dir === dirname(dir)) break;
  }
  if (manifestPath === undefined) throw new Error(`${name} is not installed (run npm ci)`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { types?: string; typings?: string; exports?: unknown };
  return manifest.types !== undefined || manifest.typings !== undefined || JSON.stringify(manifest.exports ?? {}).includes('"types"') || existsSync(join(dirname(manifestPath), 'index.d.ts'));
}

interface Usage {
  /** Bare package names the shipped code or types import, with one file that does. */
  imported: Map<string, string>;
  /** Bare package names the shipped declaration files import. */
  importedByTypes: Set<string>;
  /** A declaration file that needs Node's types, if any. */
  nodeTypesIn: string | undefined;
}

function usageOf(pkg: WorkspacePackage, packed: PackResult): Usage {
  const usage: Usage = { imported: new Map(), importedByTypes: new Set(), nodeTypesIn: undefined };
  for (const { path } of packed.files) {
    const isTypes = path.endsWith('.d.ts');
    if (!isTypes && !/\.(m?js)$/.test(path)) continue;
    const text = readFileSync(join(root, pkg.dir, path), 'utf8');
    for (const specifier of importsOf(text)) {
      if (!isBare(specifier)) continue;
      const name = packageNameOf(specifier);
      if (!usage.imported.has(name)) usage.imported.set(name, path);
      if (isTypes) usage.importedByTypes.add(name);
    }
    if (isTypes && usage.nodeTypesIn === undefined && needsNodeTypes(text)) usage.nodeTypesIn = path;
  }
  return usage;
}

describe('published packages', () => {
  let packs: Map<string, PackResult>;
  beforeAll(() => {
    for (const pkg of packages) {
      if (!existsSync(join(root, pkg.dir, 'dist'))) throw new Error(`${pkg.dir}/dist is missing: run \`npm run build\` first`);
    }
    packs = new Map(npmPack(packages).map((p) => [p.name, p]));
  }, 60_000);

  it('are all the workspace packages lerna publishes', () => {
    const lerna = JSON.parse(readFileSync(join(root, 'lerna.json'), 'utf8')) as { packages: string[]; version: string };
    const covered = (dir: string): boolean => lerna.packages.some((p) => p === dir || (p.endsWith('/*') && dirname(dir) === p.slice(0, -2)));
    expect(packages.map((p) => p.dir).filter((dir) => !covered(dir))).toEqual([]);
    expect(packages.filter((p) => p.manifest.version !== lerna.version).map((p) => p.manifest.name)).toEqual([]);
    expect(packages.length).toBeGreaterThanOrEqual(13);
  });

  it.each(packages.map((p) => [p.manifest.name, p] as const))('%s declares exactly what its dist imports', (name, pkg) => {
    const usage = usageOf(pkg, packs.get(name)!);
    const deps = { ...pkg.manifest.dependencies };
    const peers = { ...pkg.manifest.peerDependencies };
    const declared = new Set([...Object.keys(deps), ...Object.keys(peers)]);

    const undeclared = [...usage.imported].filter(([dep]) => dep !== name && !declared.has(dep)).map(([dep, file]) => `${dep} (imported by ${file})`);
    expect(undeclared, 'imported but not a dependency or peer dependency').toEqual([]);

    const typesNeeded = [...usage.importedByTypes].filter((dep) => dep !== name && !dep.startsWith('@types/') && !shipsTypes(pkg.dir, dep)).map((dep) => `@types/${dep}`);
    if (usage.nodeTypesIn !== undefined) typesNeeded.push('@types/node');
    expect(typesNeeded.filter((t) => !declared.has(t)), `public types need these (first Node type use: ${usage.nodeTypesIn ?? 'none'})`).toEqual([]);

    const unused = [...declared].filter((dep) => (dep.startsWith('@types/') ? !typesNeeded.includes(dep) : !usage.imported.has(dep)));
    expect(unused, 'declared but imported nowhere in the tarball').toEqual([]);

    // Tarballs of one release depend on each other at exactly that release.
    const siblings = Object.entries(deps).filter(([dep]) => dep.startsWith('@tradebus/'));
    expect(siblings.filter(([, range]) => range !== pkg.manifest.version)).toEqual([]);
  });

  it.each(packages.map((p) => [p.manifest.name, p] as const))('%s has what a registry page and an installer need', (name, pkg) => {
    const m = pkg.manifest;
    const files = new Set(packs.get(name)!.files.map((f) => f.path));
    expect(files.has('README.md'), 'README.md in the tarball').toBe(true);
    expect(files.has('LICENSE'), 'LICENSE in the tarball').toBe(true);
    expect(m.license).toBe('MIT');
    expect(m.description?.length ?? 0).toBeGreaterThan(20);
    expect(m.publishConfig?.access).toBe('public');
    expect(m.repository).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\//), directory: pkg.dir });
    expect(m.homepage).toMatch(/^https:\/\//);
    expect(typeof m.bugs === 'string' ? m.bugs : m.bugs?.url).toMatch(/^https:\/\//);
    const readme = readFileSync(join(root, pkg.dir, 'README.md'), 'utf8');
    expect(readme).toContain(`npm install ${name}`);
    expect(readFileSync(join(root, pkg.dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    // The starter's template is the one place a test file ships: it becomes the new project's test.
    expect([...files].filter((f) => !f.startsWith('template/') && /(^|\/)test-support\/|\.test(-d)?\.(ts|js|d\.ts)$|\.fixture\./.test(f)), 'test code in the tarball').toEqual([]);
  });

  it.each(packages.map((p) => [p.manifest.name, p] as const))('%s ships every file its source maps point at', (name, pkg) => {
    const files = new Set(packs.get(name)!.files.map((f) => f.path));
    const missing: string[] = [];
    let maps = 0;
    for (const path of files) {
      if (!path.endsWith('.map')) continue;
      maps++;
      const map = JSON.parse(readFileSync(join(root, pkg.dir, path), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      map.sources.forEach((source, i) => {
        const target = posix.normalize(posix.join(posix.dirname(path), source));
        if (!files.has(target) && typeof map.sourcesContent?.[i] !== 'string') missing.push(`${path} → ${target}`);
      });
    }
    expect(missing.slice(0, 5), `${missing.length} source map entries name files that are not shipped`).toEqual([]);
    // A package ships maps when it ships code: stack traces then name the TypeScript lines.
    expect(maps).toBeGreaterThan(0);
  });

  it("start new projects on the dependency ranges the packages are built and tested with", () => {
    const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const core = packages.find((p) => p.manifest.name === '@tradebus/core')!.manifest;
    expect(TOOLING_VERSIONS).toEqual({ zod: core.dependencies!['zod'], typescript: rootManifest.devDependencies['typescript'], '@types/node': rootManifest.devDependencies['@types/node'] });
  });

  it('exports entry points that exist in the tarball', () => {
    const broken: string[] = [];
    for (const pkg of packages) {
      const manifest = JSON.parse(readFileSync(join(root, pkg.dir, 'package.json'), 'utf8')) as { exports?: Record<string, Record<string, string>>; bin?: Record<string, string> };
      const files = new Set(packs.get(pkg.manifest.name)!.files.map((f) => f.path));
      const targets = [...Object.values(manifest.exports ?? {}).flatMap((conditions) => Object.entries(conditions).filter(([c]) => c !== '@tradebus/source').map(([, t]) => t)), ...Object.values(manifest.bin ?? {})];
      for (const target of targets) if (!files.has(posix.normalize(target))) broken.push(`${pkg.manifest.name}: ${target}`);
    }
    expect(broken).toEqual([]);
  });
});
