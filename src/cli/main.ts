#!/usr/bin/env node
/** The `agentstate` command. */
import { readFileSync } from 'node:fs';

const HELP = `agentstate: the state layer for AI agent systems

Usage: agentstate <command> [options]

Commands:
  serve        Start the HTTP server (data in ./.agentstate by default)
  help         Show this help
  version      Print the version

Run 'agentstate <command> --help' for the options of a command.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI with the given arguments; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command = 'help'] = argv;
  switch (command) {
    case 'version':
    case '--version':
    case '-v':
      console.log(version());
      return 0;
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return 0;
    default:
      console.error(`unknown command '${command}'\n`);
      console.error(HELP);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
