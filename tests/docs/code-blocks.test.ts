import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCodeBlocks, sourceOf, type CodeBlock } from './code-blocks.js';

// Every TypeScript block of the README, docs/ and the package READMEs is compiled as a user's
// strict NodeNext project would compile it, against the built packages (`npm run build` first;
// `npm test` builds), so an example that stops compiling fails here instead of failing a reader.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the repository, so that `@tradebus/*` and their dependencies resolve from its
// node_modules; one directory per run, so that runs side by side do not meet.
mkdirSync(join(root, '.tmp'), { recursive: true });
const work = mkdtempSync(join(root, '.tmp', 'doc-blocks-'));
const blocks = allCodeBlocks(root);
const checked = blocks.filter((b) => b.mode !== 'fragment');

const slug = (b: CodeBlock): string => `${b.file.replace(/[^A-Za-z0-9]+/g, '_')}_${b.line}`;
const label = (b: CodeBlock): string => `${b.file}:${b.line}`;

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  strict: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  rootDir: work,
  outDir: join(work, 'out'),
  noEmitOnError: false,
};

const problems = new Map<string, string[]>();
let scratch: string;

beforeAll(() => {
  // ESM like a user's project, whatever the repository's root says.
  writeFileSync(join(work, 'package.json'), '{ "type": "module" }\n');
  const files = checked.map((b) => {
    const path = join(work, `${slug(b)}.ts`);
    writeFileSync(path, sourceOf(b).text);
    return path;
  });
  const program = ts.createProgram(files, options);
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  const byFile = new Map(checked.map((b) => [join(work, `${slug(b)}.ts`), b]));
  for (const d of diagnostics) {
    const block = d.file === undefined ? undefined : byFile.get(d.file.fileName);
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (block === undefined) {
      problems.set('(outside the blocks)', [...(problems.get('(outside the blocks)') ?? []), `${d.file?.fileName ?? ''}: ${message}`]);
      continue;
    }
    const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line;
    const first = sourceOf(block).firstLine;
    const inBlock = line >= first && line < first + block.code.split('\n').length;
    const where = inBlock ? `${block.file}:${block.line + line - first}` : `${block.file}:${block.line} (its ts-context: ${d.file!.text.split('\n')[line]?.trim()})`;
    problems.set(label(block), [...(problems.get(label(block)) ?? []), `${where}: TS${d.code} ${message}`]);
  }
  scratch = mkdtempSync(join(tmpdir(), 'tradebus-doc-run-'));
}, 120_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('TypeScript in the documentation', () => {
  it('finds the blocks, and only a few are left unchecked as fragments', () => {
    expect(checked.length).toBeGreaterThan(30);
    expect(blocks.filter((b) => b.mode === 'run').length).toBeGreaterThanOrEqual(3);
    // A fragment is shown without any check: keep them the exception.
    expect(blocks.filter((b) => b.mode === 'fragment').length).toBeLessThanOrEqual(Math.ceil(blocks.length / 6));
    expect(problems.get('(outside the blocks)') ?? []).toEqual([]);
  });

  it.each(checked.map((b) => [label(b), b] as const))('%s compiles', (name) => {
    expect(problems.get(name) ?? []).toEqual([]);
  });

  it.each(checked.filter((b) => b.mode === 'run').map((b) => [label(b), b] as const))(
    '%s runs to completion',
    (_name, block) => {
      const result = spawnSync(process.execPath, [join(work, 'out', `${slug(block)}.js`)], {
        cwd: scratch,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, TRADEBUS_LOG_LEVEL: 'warn' },
      });
      expect(result.error).toBeUndefined();
      expect(result.status, `stderr:\n${result.stderr}`).toBe(0);
      // Every runnable example shows something; silence means it did nothing.
      expect(result.stdout.trim()).not.toBe('');
    },
    90_000,
  );
});
