import { relative } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, NATS_DEFAULTS, natsAuthorization, type AgentDefinition, type BusUsage, type NatsProcessUser } from '@tradebus/core';
import { prepareSystem, type PreparedSystem } from './prepare.js';

/**
 * What the built-in agents publish and subscribe to (beside heartbeats, state changes and alerts,
 * which every process sends). An agent of your own declares it in its definition (`bus`).
 * tests/nats/least-privilege.test.ts checks these lists against what the agents really do.
 */
export const BUILTIN_BUS_USAGE: Record<string, BusUsage> = {
  'price-watchdog': { publishes: ['price.tick', 'candle.closed', 'candle.updated'] },
  'market-watchdog': { publishes: ['market.snapshot'] },
  'strategy-runner': { publishes: ['signal.generated', 'indicator.updated'], subscribes: ['candle.closed', 'candle.updated', 'price.tick', 'market.snapshot'] },
  'trade-manager': {
    publishes: ['order.requested', 'order.cancel_requested', 'signal.decided', 'trade.opened', 'trade.closed', 'position.updated', 'risk.state'],
    subscribes: ['signal.generated', 'order.updated', 'candle.closed', 'price.tick', 'account.updated', 'risk.command', 'position.reconcile', 'market.snapshot'],
  },
  'trade-executor': { publishes: ['order.updated'], subscribes: ['order.requested', 'order.cancel_requested', 'candle.closed', 'price.tick', 'risk.command'] },
  'account-sync': {
    publishes: ['account.updated', 'order.updated', 'position.reconcile'],
    subscribes: ['position.updated', 'order.requested', 'order.updated', 'candle.closed', 'price.tick'],
  },
  'trade-monitor': { subscribes: ['>'] },
  notifier: { publishes: ['risk.command'], subscribes: ['system.alert', 'trade.opened', 'trade.closed', 'risk.state', 'agent.status', 'position.updated'] },
};

/** What the process serving the REST API publishes itself: the kill switch and config changes. */
export const API_PROCESS_BUS_USAGE: BusUsage = { publishes: ['risk.command', 'config.changed'] };

/** An agent's bus use: its definition's declaration, else the built-in list for its kind. */
export function busUsageOf(definition: AgentDefinition<unknown, any>, id: string): BusUsage {
  const usage = definition.bus ?? BUILTIN_BUS_USAGE[definition.kind];
  if (usage === undefined) {
    throw new ConfigError(
      `Agent '${id}' (${definition.kind}) does not say what it publishes and subscribes to: add bus: { publishes: [...], subscribes: [...] } to its defineAgent({...}), so its NATS user can be given exactly those subjects.`,
      [{ path: `agents.${id}`, message: 'no bus usage declared' }],
    );
  }
  return usage;
}

/** The nats-server password variable of a user: `executor` → `TRADEBUS_NATS_PASS_EXECUTOR`. */
export function passwordEnvOf(user: string): string {
  return `TRADEBUS_NATS_PASS_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export interface NatsConfigOptions {
  /** Configs of `tradebus agent <id>` processes: each enabled agent in them runs in its own process, as its own user. */
  agentFiles: string[];
  /** Config of the `tradebus run` process that serves the API and records; its agents run in it. */
  mainFile?: string;
  /** User name of that process (default `main`). */
  mainUser?: string;
}

/**
 * The nats-server `authorization` block for a system laid out as in docs/nats.md: one process
 * (user) per agent of `agentFiles`, and one recording process serving the API. Preceded by a
 * comment saying how to start each process with its credentials.
 */
export async function natsConfigFor(options: NatsConfigOptions): Promise<string> {
  const mainUser = options.mainUser ?? 'main';
  const prepared = await Promise.all([...(options.mainFile === undefined ? [] : [options.mainFile]), ...options.agentFiles].map((f) => prepareSystem(f)));
  const first = prepared[0];
  if (first === undefined) throw new ConfigError('nats-config needs at least one config file (--config).', [{ path: 'config', message: 'missing' }]);
  const transport = transportOf(first);
  for (const p of prepared.slice(1)) {
    const other = transportOf(p);
    if (other.prefix !== transport.prefix || other.streamName !== transport.streamName || other.durable.join() !== transport.durable.join()) {
      throw new ConfigError(
        `${p.source} and ${first.source} describe different buses (transport.prefix, streamName or durable differ): every process of one system must use the same.`,
        [{ path: 'transport', message: 'differs between files' }],
      );
    }
  }
  const main = options.mainFile === undefined ? undefined : prepared[0];
  const users: NatsProcessUser[] = [
    {
      user: mainUser,
      passwordEnv: passwordEnvOf(mainUser),
      recorder: true,
      extra: API_PROCESS_BUS_USAGE,
      agents: (main?.agents ?? []).map((a) => ({ id: a.entry.id, bus: busUsageOf(a.definition, a.entry.id) })),
    },
  ];
  const commands = [`#   ${mainUser}: ${credentials(mainUser)} tradebus run --config ${shown(main?.source ?? '<main config>')}`];
  for (const p of main === undefined ? prepared : prepared.slice(1)) {
    for (const agent of p.agents) {
      const id = agent.entry.id;
      if (users.some((u) => u.user === id)) {
        throw new ConfigError(`Agent id '${id}' appears in more than one process (or is the main user's name): each process needs its own NATS user.`, [
          { path: `agents.${id}`, message: 'duplicate' },
        ]);
      }
      users.push({ user: id, passwordEnv: passwordEnvOf(id), agents: [{ id, bus: busUsageOf(agent.definition, id) }] });
      commands.push(`#   ${id}: ${credentials(id)} tradebus agent ${id} --config ${shown(p.source)}`);
    }
  }
  const header = [
    `# NATS users of the Tradebus system on prefix '${transport.prefix}', generated by tradebus nats-config.`,
    '# Each process may publish and subscribe to its own subjects only. Put the block below in the',
    '# nats-server config and start nats-server with every password variable set (nats-server reads',
    '# each value as config: use letters and digits, starting with a letter):',
    `#   ${users.map((u) => `${u.passwordEnv}=<secret>`).join(' ')}`,
    `# Start the ${mainUser} process first (it creates the streams), each process with its own credentials:`,
    ...commands,
    '',
  ];
  return `${header.join('\n')}${natsAuthorization({ prefix: transport.prefix, streamName: transport.streamName, durable: transport.durable, users })}`;
}

function credentials(user: string): string {
  return `TRADEBUS__TRANSPORT__USER=${user} TRADEBUS__TRANSPORT__PASS=$${passwordEnvOf(user)} TRADEBUS__TRANSPORT__INBOX_PREFIX=_INBOX_${user}`;
}

function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function transportOf(p: PreparedSystem): { prefix: string; streamName: string | undefined; durable: string[] } {
  const t = p.config.transport;
  if (t.kind !== 'nats') {
    throw new ConfigError(`${p.source}: transport.kind is '${t.kind}'; NATS permissions are for systems on NATS (transport.kind: nats).`, [
      { path: 'transport.kind', message: "must be 'nats'" },
    ]);
  }
  return { prefix: t.prefix, streamName: t.streamName, durable: t.durable ?? [...NATS_DEFAULTS.durable] };
}

export function addNatsConfigCommand(program: Command): void {
  program
    .command('nats-config')
    .description('print the nats-server authorization block that lets each process publish and subscribe to its own subjects only')
    .requiredOption('-c, --config <files...>', 'config files of the agent processes (tradebus agent <id>): one NATS user per agent')
    .option('--main <file>', 'config file of the process that serves the API and records (tradebus run); its agents run in it')
    .option('--main-user <name>', 'NATS user of that process', 'main')
    .action(async (opts: { config: string[]; main?: string; mainUser: string }) => {
      process.stdout.write(await natsConfigFor({ agentFiles: opts.config, mainFile: opts.main, mainUser: opts.mainUser }));
    });
}
