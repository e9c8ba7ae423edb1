#!/usr/bin/env node
/** The `agentstate` command. */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage, isAgentStateError } from '../errors.ts';
import { RESTORE_HELP, restore } from './commands/backup.ts';
import { BACKUP_HELP, backup } from './commands/backups.ts';
import { CHECK_HELP, check } from './commands/check.ts';
import { ROLLOUTS_HELP, rollouts } from './commands/rollouts.ts';
import { SERVE_HELP, serve } from './commands/serve.ts';
import { SPANS_HELP, spans } from './commands/spans.ts';
import { STATUS_HELP, status } from './commands/status.ts';
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

const COMMANDS: Record<string, { run: Command; help: string }> = {
  serve: { run: serve, help: SERVE_HELP },
  status: { run: status, help: STATUS_HELP },
  rollouts: { run: rollouts, help: ROLLOUTS_HELP },
  spans: { run: spans, help: SPANS_HELP },
  backup: { run: backup, help: BACKUP_HELP },
  restore: { run: restore, help: RESTORE_HELP },
  check: { run: check, help: CHECK_HELP },
};

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
      const topic = rest[0] ? COMMANDS[rest[0]] : undefined;
      io.out(topic ? topic.help : HELP);
      return 0;
    }
  }
  const entry = COMMANDS[command];
  if (!entry) {
    io.err(`unknown command '${command}'\n`);
    io.err(HELP);
    return 2;
  }
  const json = rest.includes('--json');
  try {
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

/** Whether this module is the program being run (an npm bin link points here through a symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

// Run only as the entry point, so tests can import `main`.
if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
