import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, fmtRatio, type BenchModule, type BenchResult } from './types.js';

/**
 * Runs every benchmark in one process, one after another, prints our rate against the peer's
 * with the ratio, and rewrites docs/benchmarks.md with the numbers of this run.
 */
const MODULES = ['bus', 'indicators', 'features', 'smc', 'journal', 'latency', 'memory', 'nats', 'nats-latency', 'nats-scale', 'pipeline', 'screen', 'decisions', 'watchdog', 'strategies', 'models'];
const here = dirname(fileURLToPath(import.meta.url));
const docPath = join(here, '..', '..', 'docs', 'benchmarks.md');
const only = process.argv.slice(2);

interface Section {
  module: BenchModule;
  results: BenchResult[];
  error?: string;
}

async function main(): Promise<void> {
  const sections: Section[] = [];
  for (const name of MODULES) {
    if (only.length > 0 && !only.includes(name)) continue;
    if (!existsSync(join(here, `${name}.js`))) continue;
    const mod = (await import(`./${name}.js`)) as { default?: BenchModule };
    if (mod.default === undefined) continue;
    process.stdout.write(`\n## ${mod.default.title}\n`);
    try {
      const results = await mod.default.run();
      for (const r of results) {
        process.stdout.write(`${r.name.padEnd(52)} ours ${fmt(r.ours).padStart(9)} ${r.unit}  ${r.peerName}: ${fmt(r.peer).padStart(9)}  ratio ${fmtRatio(r.ratio)}×\n`);
      }
      sections.push({ module: mod.default, results });
    } catch (err) {
      process.stdout.write(`failed: ${(err as Error).stack ?? String(err)}\n`);
      sections.push({ module: mod.default, results: [], error: (err as Error).message });
    }
  }
  if (only.length === 0) writeDoc(sections);
  if (sections.some((s) => s.error !== undefined)) process.exitCode = 1;
}

function writeDoc(sections: Section[]): void {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines: string[] = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` from its last run; every number below is from that one run, ours and the peer measured side by side.',
    'Ratios above 1 mean Tradebus is faster (for latencies the ratio is peer ÷ ours).',
    '',
    `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}. Run on ${new Date().toISOString().slice(0, 10)}.`,
    '',
  ];
  for (const s of sections) {
    lines.push(`## ${s.module.title}`, '');
    if (s.module.description) lines.push(s.module.description, '');
    if (s.module.target) lines.push(`Target: ${s.module.target}.`, '');
    if (s.error !== undefined) {
      lines.push(`This benchmark failed in the last run: ${s.error}`, '');
      continue;
    }
    lines.push('| measurement | Tradebus | peer | peer value | ratio |', '|---|---:|---|---:|---:|');
    for (const r of s.results) {
      lines.push(`| ${r.name} | ${fmt(r.ours)} ${r.unit} | ${r.peerName} | ${fmt(r.peer)} ${r.unit} | ${fmtRatio(r.ratio)}× |`);
    }
    const notes = s.results.filter((r) => r.notes).map((r) => `- ${r.name}: ${r.notes}`);
    if (notes.length > 0) lines.push('', ...notes);
    const extra = s.module.markdown?.();
    if (extra) lines.push('', extra);
    lines.push('');
  }
  const previous = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  const next = lines.join('\n');
  if (previous !== next) writeFileSync(docPath, next);
  process.stdout.write(`\nwrote ${docPath}\n`);
}

await main();
