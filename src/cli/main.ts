/** The `agentstate` command as a function; the executable is ./bin.ts. */
import { readFileSync } from 'node:fs';
import { errorMessage, isAgentStateError } from '../errors.ts';
import { type Io, processIo } from './output.ts';

const HELP = `agentstate: the state layer for AI agent systems

Usage: agentstate <command> [options]

Commands:
  serve              Start the HTTP server (data in ./.agentstate by default)
  status             Show whether a server answers and what it holds
  rollouts list      List rollouts
  rollouts show <id> Show a rollout with its attempts
  spans tail <id>    Print (and follow) the spans of a rollout
  backup create|list|verify|restore|delete
                     Verified backups of documents and rollouts (SQLite or --postgres)
  backup create --raw <file>
                     Page copy of the SQLite file (restore it with 'restore <file>')
  restore <file>     Replace the SQLite data with a raw page copy
  check              Check stored state for consistency (--repair fixes what is safe)
  help               Show this help
  version            Print the version

Run 'agentstate <command> --help' for the options of a command.
Client commands read AGENTSTATE_URL and AGENTSTATE_TOKEN from the environment.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

type Command = (argv: string[], io: Io, signal?: AbortSignal) => Promise<number>;

type CommandEntry = { run: Command; help: string };

// Each command's module is imported when that command runs: `agentstate status` loads neither Fastify
// nor a database driver, and `--version` loads nothing at all.
const COMMANDS: Record<string, () => Promise<CommandEntry>> = {
  serve: () => import('./commands/serve.ts').then((m) => ({ run: m.serve, help: m.SERVE_HELP })),
  status: () => import('./commands/status.ts').then((m) => ({ run: m.status, help: m.STATUS_HELP })),
  rollouts: () => import('./commands/rollouts.ts').then((m) => ({ run: m.rollouts, help: m.ROLLOUTS_HELP })),
  spans: () => import('./commands/spans.ts').then((m) => ({ run: m.spans, help: m.SPANS_HELP })),
  backup: () => import('./commands/backups.ts').then((m) => ({ run: m.backup, help: m.BACKUP_HELP })),
  restore: () => import('./commands/backup.ts').then((m) => ({ run: m.restore, help: m.RESTORE_HELP })),
  check: () => import('./commands/check.ts').then((m) => ({ run: m.check, help: m.CHECK_HELP })),
};

function commandNamed(name: string | undefined): (() => Promise<CommandEntry>) | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** Runs the CLI with the given arguments; resolves to the process exit code. */
export async function main(argv: string[], io: Io = processIo, signal?: AbortSignal): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'version':
    case '--version':
    case '-v':
      io.out(version());
      return 0;
    case 'help':
    case '--help':
    case '-h': {
      const topic = commandNamed(rest[0]);
      io.out(topic ? (await topic()).help : HELP);
      return 0;
    }
  }
  const load = commandNamed(command);
  if (!load) {
    io.err(`unknown command '${command}'\n`);
    io.err(HELP);
    return 2;
  }
  const json = rest.includes('--json');
  try {
    const entry = await load();
    return await entry.run(rest, io, signal);
  } catch (error) {
    if (isAgentStateError(error)) {
      if (json) io.err(JSON.stringify({ error: error.toJSON() }));
      else io.err(`error (${error.code}): ${error.message}`);
      return error.code === 'INVALID_INPUT' ? 2 : 1;
    }
    io.err(`error: ${errorMessage(error)}`);
    return 1;
  }
}
