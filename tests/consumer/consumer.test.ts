import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServer } from '@tradebus/core/testing';
import { syntheticCandles } from '@tradebus/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARKET, THRESHOLD, type BigBar } from './fixtures/bot.js';
import { npmPack, publishablePackages, root } from './workspace.js';

// A new user's first ten minutes, on the packages as npm would deliver them: every package is
// packed, the tarballs are installed into a project outside the repository (created by the
// starter, as `npm create @tradebus` does), and a bot written from the docs is compiled strictly
// with skipLibCheck: false and run in one process and across a real nats-server.

const BARS = 300;
const packages = publishablePackages();
let work: string;
let project: string;

function run(command: string, args: string[], cwd: string, timeoutMs = 180_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, TRADEBUS_LOG_LEVEL: 'warn', npm_config_update_notifier: 'false' } });
  if (result.error) throw result.error;
  return result;
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** The big bars of the synthetic market, computed directly from its candles: no agents, no bus. */
function expectedBigBars(): BigBar[] {
  const candles = syntheticCandles(MARKET);
  const out: BigBar[] = [];
  for (let i = 0; i < BARS; i++) {
    for (const bar of candles.next().value!) {
      const change = bar.close / bar.open - 1;
      if (Math.abs(change) >= THRESHOLD) out.push({ symbol: bar.symbol, change, timestamp: bar.timestamp });
    }
  }
  return out;
}

beforeAll(() => {
  for (const pkg of packages) {
    if (!existsSync(join(root, pkg.dir, 'dist'))) throw new Error(`${pkg.dir}/dist is missing: run \`npm run build\` first`);
  }
  work = mkdtempSync(join(tmpdir(), 'tradebus-consumer-'));
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const packed = npmPack(packages, tarballs);
  const create = packed.find((p) => p.name === '@tradebus/create')!;

  // `npm create @tradebus bot`, from the packed starter. Dependencies come next, from the tarballs.
  ok(run('npm', ['exec', '--yes', '--prefer-offline', `--package=${join(tarballs, create.filename)}`, '--', 'create-tradebus', 'bot', '--skip-install'], work), 'npm create');
  project = join(work, 'bot');

  // The docs' bot beside the starter's, compiled by the starter's own `npm test`, strictly.
  cpSync(join(root, 'tests', 'consumer', 'fixtures'), join(project, 'src', 'consumer'), { recursive: true });
  const tsconfigPath = join(project, 'tsconfig.json');
  const tsconfig = JSON.parse(readFileSync(tsconfigPath, 'utf8')) as { compilerOptions: Record<string, unknown> };
  writeFileSync(tsconfigPath, JSON.stringify({ ...tsconfig, compilerOptions: { ...tsconfig.compilerOptions, skipLibCheck: false } }, null, 2));

  ok(run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...packed.map((p) => join(tarballs, p.filename))], project, 300_000), 'npm install');
}, 400_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packages, installed from their tarballs into a new project', () => {
  it('are installed once each, as files rather than links into the repository, and without vitest', () => {
    const scope = join(project, 'node_modules', '@tradebus');
    expect(readdirSync(scope).sort()).toEqual(packages.map((p) => p.manifest.name.slice('@tradebus/'.length)).sort());
    for (const name of readdirSync(scope)) {
      expect(lstatSync(join(scope, name)).isSymbolicLink(), name).toBe(false);
      expect(existsSync(join(scope, name, 'node_modules', '@tradebus')), `${name} has its own copy of a sibling`).toBe(false);
    }
    expect(existsSync(join(project, 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', '@types', 'node'))).toBe(true);
  });

  it("compile strictly with skipLibCheck: false (the docs' bot and its type expectations included), and the starter's own test passes", () => {
    const out = ok(run('npm', ['test'], project), 'npm test in the new project');
    expect(out).toMatch(/# pass 1\n# fail 0/);
    expect(existsSync(join(project, 'dist', 'src', 'consumer', 'types.js'))).toBe(true);
  }, 180_000);

  it('run the starter: a day of bars through its agent', () => {
    const out = ok(run(process.execPath, [join(project, 'dist', 'src', 'main.js')], project), 'the starter bot');
    expect(out).toMatch(/^1440 bars, [1-9]\d* moves$/m);
  });

  it('load @tradebus/core/testing without vitest', () => {
    const out = ok(run(process.execPath, ['--input-type=module', '-e', "const t = await import('@tradebus/core/testing'); console.log(typeof t.NatsServer, typeof t.freePort);"], project), 'importing @tradebus/core/testing');
    expect(out.trim()).toBe('function function');
  });

  it('run a bot in one process: exactly the big bars the market computed directly has', () => {
    const expected = expectedBigBars();
    expect(expected.length).toBeGreaterThan(5);
    const out = ok(run(process.execPath, [join(project, 'dist', 'src', 'consumer', 'local.js'), String(BARS)], project), 'the one-process bot');
    expect(JSON.parse(out) as BigBar[]).toEqual(expected);
  });

  describe('across a real nats-server', () => {
    let server: NatsServer;
    beforeAll(async () => {
      server = await NatsServer.start();
    });
    afterAll(async () => {
      await server?.dispose();
    });

    it('the detector in its own process reports the same big bars', async () => {
      const expected = expectedBigBars();
      const script = join(project, 'dist', 'src', 'consumer', 'nats.js');
      const detector = spawn(process.execPath, [script, 'detector', server.url], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TRADEBUS_LOG_LEVEL: 'warn' } });
      let detectorLog = '';
      detector.stdout.on('data', (c: Buffer) => (detectorLog += c.toString()));
      detector.stderr.on('data', (c: Buffer) => (detectorLog += c.toString()));
      const exited = new Promise<number | null>((resolve) => detector.once('exit', (code) => resolve(code)));
      try {
        const market = spawn(process.execPath, [script, 'market', server.url, String(BARS), String(expected.length)], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TRADEBUS_LOG_LEVEL: 'warn' } });
        let out = '';
        let err = '';
        market.stdout.on('data', (c: Buffer) => (out += c.toString()));
        market.stderr.on('data', (c: Buffer) => (err += c.toString()));
        const code = await new Promise<number | null>((resolve) => market.once('exit', (c) => resolve(c)));
        expect(code, `market process:\n${err}\ndetector process:\n${detectorLog}`).toBe(0);
        expect(JSON.parse(out) as BigBar[]).toEqual(expected);
      } finally {
        detector.kill('SIGTERM');
      }
      // The agent process stops gracefully on SIGTERM.
      expect(await exited).toBe(0);
    }, 60_000);
  });
});
