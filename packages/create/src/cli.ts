import { spawnSync } from 'node:child_process';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateProjectError, createProject } from './create.js';

const USAGE = `Usage: npm create @tradebus [directory] [-- --name <package-name>] [--skip-install]

Creates a Tradebus bot project in <directory> (default: tradebus-bot): an agent and an event of
your own on a synthetic market, with a test, then installs its dependencies.

  --name <name>     npm package name (default: from the directory name)
  --skip-install    write the files only; run \`npm install\` yourself
  -h, --help        this text
`;

/** The package manager that ran us (`pnpm create`, `yarn create`...), npm otherwise. */
function packageManager(): string {
  const agent = process.env['npm_config_user_agent'] ?? '';
  const name = agent.split('/')[0];
  return name === 'pnpm' || name === 'yarn' || name === 'bun' ? name : 'npm';
}

/** Runs the command line; resolves to the exit code. */
export async function run(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t), err: (text: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, 'skip-install': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (cause) {
    err(`${(cause as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    out(USAGE);
    return 0;
  }
  if (args.positionals.length > 1) {
    err(`Give one directory, not ${args.positionals.length}.\n\n${USAGE}`);
    return 2;
  }
  const directory = args.positionals[0] ?? 'tradebus-bot';
  try {
    const project = createProject({ directory, ...(args.values.name === undefined ? {} : { name: args.values.name }) });
    const where = relative(process.cwd(), project.directory) || '.';
    out(`Created ${project.name} in ${project.directory}\n`);
    const pm = packageManager();
    if (!args.values['skip-install']) {
      out(`Installing dependencies with ${pm}...\n`);
      const result = spawnSync(pm, ['install'], { cwd: project.directory, stdio: 'inherit', shell: process.platform === 'win32' });
      if (result.status !== 0) {
        throw new CreateProjectError('CREATE_INSTALL_FAILED', `\`${pm} install\` failed in ${project.directory} (${result.error?.message ?? `exit code ${result.status}`}): the files are written; run it again there once the problem is fixed.`, { cause: result.error });
      }
    }
    out(`\nNext:\n  cd ${where}\n${args.values['skip-install'] ? `  ${pm} install\n` : ''}  ${pm} start    plays a day of a synthetic market through your agent\n  ${pm} test     checks the bot against the same market computed directly\n`);
    return 0;
  } catch (cause) {
    if (cause instanceof CreateProjectError) {
      err(`${cause.message}\n`);
      return cause.code === 'CREATE_INSTALL_FAILED' ? 1 : 2;
    }
    throw cause;
  }
}
