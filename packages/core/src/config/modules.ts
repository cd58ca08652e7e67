import { createRequire } from 'node:module';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Imports a module a config file names (an agent's `use:`, a provider's `kind`): a path, relative
 * to the config's folder, or a package, looked up from the config's folder first (a bot author's
 * own packages) and then from `fallbackUrl` (the caller's own location, so Tradebus's packages are
 * found). A package that `require` cannot resolve (ESM only) is left to `import()`. Rejects with
 * `import()`'s own error, whose `code` says whether the module was missing.
 */
export async function importConfigModule(specifier: string, baseDir: string, fallbackUrl: string): Promise<Record<string, unknown>> {
  let target = specifier;
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    target = pathToFileURL(resolvePath(baseDir, specifier)).href;
  } else {
    for (const from of [resolvePath(baseDir, 'noop.js'), fallbackUrl]) {
      try {
        target = pathToFileURL(createRequire(from).resolve(specifier)).href;
        break;
      } catch {
        // the next place
      }
    }
  }
  return (await import(target)) as Record<string, unknown>;
}
