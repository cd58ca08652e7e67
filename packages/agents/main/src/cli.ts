#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, runMain, TradebusError } from '@tradebus/core';
import { addBacktestCommand } from './backtest/command.js';
import { addDatasetCommand } from './dataset.js';
import { launchSystem, VERSION } from './launcher.js';
import { addNatsConfigCommand } from './nats-config.js';
import { prepareSystem } from './prepare.js';
import { formatStatusTable } from './status.js';

/**
 * `tradebus`: run a whole system, one agent per process, check a config, or look at a running
 * system. Exit codes: 0 success, 1 runtime failure (or an agent missed the shutdown deadline),
 * 2 invalid configuration, 64 wrong command-line usage.
 */
export function buildCli(): Command {
  const program = new Command('tradebus')
    .description('Trading bots built from agents on a typed event bus')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('run every enabled agent of the config in this process, with the REST API')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .addOption(new Option('-p, --port <port>', 'REST API port (overrides api.port; 0 picks a free one)').argParser(parsePort))
    .option('--no-record', 'do not journal events or record trading history here (another process does)')
    .action(async (opts: { config: string; port?: number; record: boolean }) => {
      const prepared = await prepareSystem(opts.config);
      await runUntilSignal(prepared, { apiPort: opts.port, record: opts.record });
    });

  program
    .command('agent <id>')
    .description('run one agent of the config in its own process; agents meet over NATS (transport.kind: nats)')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--api', 'also serve the REST API from this process', false)
    .addOption(new Option('-p, --port <port>', 'REST API port when --api is given').argParser(parsePort))
    .option('--record', 'journal events and record trading history in this process (default: only with --api)')
    .option('--no-record', 'do not, even with --api')
    .action(async (id: string, opts: { config: string; api: boolean; port?: number; record?: boolean }) => {
      const prepared = await prepareSystem(opts.config, { only: [id] });
      if (prepared.config.transport.kind !== 'nats') {
        throw new TradebusError(
          'TRANSPORT_NOT_SHARED',
          `'tradebus agent' runs one agent per process, and agents in different processes meet only over NATS: set transport.kind: nats in ${prepared.source} (see docs/nats.md), or use 'tradebus run' for one process.`,
        );
      }
      // Each agent process keeps its own data files: two processes never write one store.
      await runUntilSignal(prepared, { api: opts.api, apiPort: opts.port, dataSubdir: join('agents', id), record: opts.record ?? opts.api });
    });

  addBacktestCommand(program);
  addDatasetCommand(program);
  addNatsConfigCommand(program);

  program
    .command('validate-config')
    .description('check a config file and every agent setting in it, then exit')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .action(async (opts: { config: string }) => {
      const prepared = await prepareSystem(opts.config);
      process.stdout.write(`${prepared.source} is valid: ${prepared.agents.length} agent(s): ${prepared.agents.map((a) => `${a.entry.id} (${a.definition.kind})`).join(', ')}\n`);
    });

  program
    .command('status')
    .description('print the agents of a running system as a table (GET /agents/status)')
    .option('-u, --url <url>', 'base URL of the REST API', 'http://127.0.0.1:7070')
    .option('--json', 'print the raw JSON', false)
    .action(async (opts: { url: string; json: boolean }) => {
      let res: Response;
      try {
        res = await fetch(new URL('/agents/status', opts.url), { signal: AbortSignal.timeout(5_000) });
      } catch (err) {
        throw new TradebusError('API_UNREACHABLE', `Cannot reach ${opts.url}: ${(err as Error).message}. Is the system running (tradebus run), and is --url right?`);
      }
      if (!res.ok) throw new TradebusError('API_ERROR', `${opts.url} answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as Parameters<typeof formatStatusTable>[0];
      process.stdout.write(opts.json ? `${JSON.stringify(body, null, 2)}\n` : formatStatusTable(body));
      if (body.status === 'down') process.exitCode = EXIT.FAILURE;
    });

  return program;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`use a whole number from 0 to 65535, got '${value}'`);
  return n;
}

async function runUntilSignal(
  prepared: Awaited<ReturnType<typeof prepareSystem>>,
  options: { api?: boolean; apiPort?: number; dataSubdir?: string; record?: boolean },
): Promise<void> {
  const running = await launchSystem(prepared, options);
  const lines = [
    `Tradebus '${prepared.config.system.name}' is running ${prepared.agents.length} agent(s) on the ${running.system.transport.name} bus.`,
  ];
  if (running.apiUrl) {
    lines.push(`  REST API     ${running.apiUrl}  (try ${running.apiUrl}/agents/status)`);
    lines.push(`  Metrics      ${running.apiUrl}/metrics`);
  }
  for (const agent of prepared.agents) {
    for (const link of running.system.agent(agent.entry.id).links()) lines.push(`  ${link.name.padEnd(12)} ${link.url}`);
  }
  if (running.tokenFile) lines.push(`  API token    in ${running.tokenFile} (set TRADEBUS_API_TOKEN to choose your own)`);
  lines.push('  Stop with Ctrl-C.');
  process.stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting without waiting\n`);
        process.exit(130);
      }
      stopping = true;
      process.stdout.write(`${signal}: stopping agents (deadline ${prepared.config.system.shutdownDeadlineMs} ms)\n`);
      void running.stop().then(
        (result) => {
          if (result.timedOut.length > 0) {
            process.stderr.write(`agents that missed the shutdown deadline: ${result.timedOut.join(', ')}\n`);
            process.exitCode = EXIT.FAILURE;
          }
          resolve();
        },
        (err: unknown) => {
          process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
          process.exitCode = EXIT.FAILURE;
          resolve();
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function main(argv: string[] = process.argv): Promise<number | void> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    throw err;
  }
  return process.exitCode as number | undefined;
}

/** Runs the CLI as a command: exit code, error report and signal handling included. */
export function run(argv: string[] = process.argv): void {
  runMain(() => main(argv));
}

// `node dist/cli.js ...`; the installed `tradebus` command goes through bin/tradebus.js.
if (isMainModule()) run();

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // Compared as real paths: a symlinked checkout or a space in a folder name must not matter.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
