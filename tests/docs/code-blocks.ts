import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A TypeScript block of a Markdown page. Its fence says how it is checked:
 *
 * - ```` ```ts ```` is compiled (strict, NodeNext, against the built packages);
 * - ```` ```ts run ```` is compiled and run as a whole program, which must exit 0;
 * - ```` ```ts fragment ```` is shown only: a piece of a class or a sketch of an interface.
 *
 * An HTML comment right above the fence, `<!-- ts-context ... -->`, holds declarations the block
 * is compiled with (invisible on the rendered page): what the surrounding prose says exists,
 * such as `declare const store: DataStore;`. A line `{{block}}` in it places the block inside
 * the context (a method body in a class, say); otherwise the block follows it.
 */
export interface CodeBlock {
  /** Page, relative to the repository root. */
  file: string;
  /** 1-based line of the block's first code line in the page. */
  line: number;
  mode: 'compile' | 'run' | 'fragment';
  code: string;
  context: string;
}

/** The source a block is compiled as, and the line of that source where the block starts (0-based). */
export function sourceOf(block: CodeBlock): { text: string; firstLine: number } {
  const [before, after] = block.context.includes('{{block}}') ? block.context.split(/^[ \t]*\{\{block\}\}[ \t]*$/m) : [block.context, ''];
  const head = before === undefined || before === '' ? '' : before.endsWith('\n') ? before : `${before}\n`;
  // `export {}` makes every block a module, so top-level await and same-named declarations work.
  const text = `${head}${block.code}\n${after ?? ''}\nexport {};\n`;
  return { text, firstLine: head === '' ? 0 : head.split('\n').length - 1 };
}

const TS_LANGUAGES = new Set(['ts', 'typescript', 'tsx']);

export function codeBlocksOf(file: string, text: string): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    const words = info.trim().split(/\s+/);
    if (TS_LANGUAGES.has(words[0] ?? '')) {
      const mode = words.includes('fragment') ? 'fragment' : words.includes('run') ? 'run' : 'compile';
      const code = lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join('\n');
      blocks.push({ file, line: i + 2, mode, code, context: contextAbove(lines, i) });
    }
    i = end;
  }
  return blocks;
}

/** The `<!-- ts-context ... -->` comment ending on the line above `fenceLine`, if any. */
function contextAbove(lines: string[], fenceLine: number): string {
  const above = fenceLine - 1;
  if (above < 0 || !lines[above]!.trim().endsWith('-->')) return '';
  let start = above;
  while (start >= 0 && !lines[start]!.includes('<!--')) start--;
  if (start < 0) return '';
  const comment = lines.slice(start, above + 1).join('\n');
  const match = /<!--\s*ts-context\s*([\s\S]*?)-->/.exec(comment);
  return match ? match[1]!.trim() : '';
}

/** README.md, docs/*.md and every package's README. */
export function documentationPages(root: string): string[] {
  const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'README.md') pages.push(path);
    }
  };
  walk('packages');
  return pages.map((p) => relative(root, join(root, p))).sort();
}

export function allCodeBlocks(root: string): CodeBlock[] {
  return documentationPages(root).flatMap((page) => codeBlocksOf(page, readFileSync(join(root, page), 'utf8')));
}
