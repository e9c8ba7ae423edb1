/** Runs a Node child process with tests/support/recordModules.ts preloaded and sorts what it loaded. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECORDER = pathToFileURL(join(ROOT, 'tests/support/recordModules.ts')).href;

/** What a child process printed and loaded. */
export interface RecordedRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Third-party packages loaded (names as in node_modules, e.g. `pg`, `@fastify/swagger`). */
  packages: string[];
  /** Files of this repository's src/ that were loaded, relative to src/ (e.g. `client/transport.ts`). */
  sources: string[];
  /** Native addons (.node files) loaded. */
  native: string[];
  /** Node builtins imported by name (`node:crypto`, ...). */
  builtins: string[];
}

function packageOf(path: string): string | undefined {
  const at = path.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const parts = path.slice(at + '/node_modules/'.length).split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Runs `node [preloads] ...args` in the repository root and records the modules it loaded. */
export function runRecorded(
  args: string[],
  options: { env?: Record<string, string>; preload?: string[] } = {},
): RecordedRun {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-modules-'));
  const file = join(dir, 'modules.json');
  try {
    const preloads = [...(options.preload ?? []), RECORDER].flatMap((url) => ['--import', url]);
    const child = spawnSync(process.execPath, [...preloads, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...options.env, RECORD_MODULES_FILE: file },
      timeout: 60_000,
    });
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as { modules: string[]; native: string[] };
    const paths = recorded.modules.filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url));
    const src = join(ROOT, 'src/');
    return {
      status: child.status,
      stdout: child.stdout,
      stderr: child.stderr,
      packages: [...new Set(paths.map(packageOf).filter((p): p is string => p !== undefined))].sort(),
      sources: paths.filter((p) => p.startsWith(src)).map((p) => p.slice(src.length)),
      native: recorded.native,
      builtins: [...new Set(recorded.modules.filter((url) => url.startsWith('node:')))].sort(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Args that import a module of this repository in a child and exit. */
export function importArgs(relativePath: string): string[] {
  const url = pathToFileURL(join(ROOT, relativePath)).href;
  return ['--input-type=module', '-e', `await import(${JSON.stringify(url)});`];
}
