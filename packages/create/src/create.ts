import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The files a new project starts from, shipped in this package. */
export const TEMPLATE_DIR = fileURLToPath(new URL('../template', import.meta.url));

/**
 * What goes wrong creating a project, with a stable `code` and a message that says what to do.
 * (Not a TradebusError: this package depends on nothing, so `npm create` downloads it in a blink.)
 */
export class CreateProjectError extends Error {
  readonly code: 'CREATE_TARGET_NOT_EMPTY' | 'CREATE_INVALID_NAME' | 'CREATE_USAGE' | 'CREATE_INSTALL_FAILED';
  constructor(code: CreateProjectError['code'], message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CreateProjectError';
    this.code = code;
  }
}

/**
 * Ranges of the project's other dependencies: the ones the Tradebus packages of this release are
 * built and tested with (a test in the Tradebus repository keeps them equal).
 */
export const TOOLING_VERSIONS = {
  zod: '^4.6.7',
  typescript: '~5.9.3',
  '@types/node': '^20.19.0',
} as const;

/** This package's version: the Tradebus release the new project depends on. */
export function tradebusVersion(): string {
  const manifest = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
  return manifest.version;
}

export interface CreateProjectOptions {
  /** Where to create the project; created when missing, must be empty when present. */
  directory: string;
  /** npm package name; by default derived from the directory's name. */
  name?: string;
  /** Tradebus release to depend on (`^version`); this package's own by default. */
  version?: string;
}

export interface CreatedProject {
  directory: string;
  name: string;
  /** Files written, relative to `directory`. */
  files: string[];
}

const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** A valid npm package name from a directory name: `My Bot` → `my-bot`. */
export function packageNameFor(directory: string): string {
  const name = basename(resolve(directory))
    .toLowerCase()
    .replace(/[^a-z0-9-._~]+/g, '-')
    .replace(/^[-._]+|-+$/g, '');
  return name === '' ? 'tradebus-bot' : name;
}

/** Writes a new bot project: `src/bot.ts` (an agent and an event on a synthetic market), a test, and the build set-up. */
export function createProject(options: CreateProjectOptions): CreatedProject {
  const directory = resolve(options.directory);
  const name = options.name ?? packageNameFor(directory);
  if (!NPM_NAME.test(name) || name.length > 214) {
    throw new CreateProjectError('CREATE_INVALID_NAME', `'${name}' is not a valid npm package name: use lowercase letters, digits, '-', '.' and '_' (pass --name to choose one).`);
  }
  if (existsSync(directory) && readdirSync(directory).length > 0) {
    throw new CreateProjectError('CREATE_TARGET_NOT_EMPTY', `${directory} is not empty: choose a new directory name, or empty this one first.`);
  }
  mkdirSync(directory, { recursive: true });
  cpSync(TEMPLATE_DIR, directory, { recursive: true });
  // npm leaves `.gitignore` out of published packages, so the template carries it without the dot.
  renameSync(join(directory, 'gitignore'), join(directory, '.gitignore'));
  const readme = join(directory, 'README.md');
  writeFileSync(readme, readFileSync(readme, 'utf8').replaceAll('{{name}}', name));

  const version = `^${options.version ?? tradebusVersion()}`;
  const manifest = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20' },
    scripts: {
      build: 'tsc',
      start: 'tsc && node dist/src/main.js',
      test: 'tsc && node --test dist/test/*.test.js',
    },
    dependencies: {
      '@tradebus/agent-price-watchdog': version,
      '@tradebus/core': version,
      '@tradebus/providers': version,
      zod: TOOLING_VERSIONS.zod,
    },
    devDependencies: {
      '@types/node': TOOLING_VERSIONS['@types/node'],
      typescript: TOOLING_VERSIONS.typescript,
    },
  };
  writeFileSync(join(directory, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { directory, name, files: listFiles(directory).map((f) => relative(directory, f)).sort() };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]));
}
