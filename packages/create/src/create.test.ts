import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from './cli.js';
import { CreateProjectError, createProject, packageNameFor, tradebusVersion } from './create.js';

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tradebus-create-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('createProject', () => {
  it('writes a project that depends on this release of Tradebus, with its test and a .gitignore', () => {
    const target = join(scratch(), 'My Bot');
    const project = createProject({ directory: target });
    expect(project.name).toBe('my-bot');
    expect(project.files).toEqual(['.gitignore', 'README.md', 'package.json', 'src/bot.ts', 'src/main.ts', 'test/bot.test.ts', 'tsconfig.json']);
    const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; scripts: Record<string, string> };
    expect(manifest.name).toBe('my-bot');
    expect(manifest.dependencies['@tradebus/core']).toBe(`^${tradebusVersion()}`);
    expect(manifest.scripts['test']).toContain('node --test');
    expect(readFileSync(join(target, 'README.md'), 'utf8')).toMatch(/^# my-bot\n/);
    expect(existsSync(join(target, 'gitignore'))).toBe(false);
  });

  it('refuses a directory that has files in it, and names no file of its own there', () => {
    const target = scratch();
    writeFileSync(join(target, 'notes.txt'), 'mine');
    const err = (() => {
      try {
        createProject({ directory: target });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CreateProjectError);
    expect((err as CreateProjectError).code).toBe('CREATE_TARGET_NOT_EMPTY');
    expect(existsSync(join(target, 'package.json'))).toBe(false);
  });

  it('derives a valid npm name from any directory name and rejects an invalid one given explicitly', () => {
    expect(packageNameFor('/tmp/Trading Bot (v2)')).toBe('trading-bot-v2');
    expect(packageNameFor('/tmp/___')).toBe('tradebus-bot');
    expect(() => createProject({ directory: join(scratch(), 'x'), name: 'Not Valid' })).toThrow(/not a valid npm package name/);
  });
});

describe('create-tradebus command', () => {
  it('creates the project without installing when asked, and says what to run next', async () => {
    const out: string[] = [];
    const target = join(scratch(), 'bot');
    const code = await run([target, '--skip-install'], (t) => out.push(t), (t) => out.push(t));
    expect(code).toBe(0);
    expect(existsSync(join(target, 'src', 'bot.ts'))).toBe(true);
    expect(out.join('')).toMatch(/npm install\n {2}npm start/);
  });

  it('exits 2 with the usage on a wrong option', async () => {
    const err: string[] = [];
    expect(await run(['--colour'], () => undefined, (t) => err.push(t))).toBe(2);
    expect(err.join('')).toContain('Usage: npm create @tradebus');
  });
});
