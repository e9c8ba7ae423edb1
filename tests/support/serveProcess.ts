/**
 * `agentstate serve` as a child process on a loopback port (any free one): resolves once it printed its
 * listening line. `stop()` ends it with SIGTERM (graceful), `kill()` with SIGKILL (no goodbye).
 */
import { type ChildProcess, spawn } from 'node:child_process';

const CLI = new URL('../../src/cli/bin.ts', import.meta.url).pathname;

/** A running server process. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `agentstate serve --port 0 --json` with `args`; rejects if it exits before listening. */
export function startServe(args: readonly string[]): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--json', '--log-level', 'error', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) return;
      const { listening } = JSON.parse(line) as { listening: string };
      resolve({ url: listening, child, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') });
    });
    child.once('exit', (code) => reject(new Error(`agentstate serve exited with ${code}: ${stderr}`)));
  });
}

/** `list` rotated left by `by` (runner i starts at server i mod n and fails over through the rest). */
export function rotate<T>(list: readonly T[], by: number): T[] {
  const n = by % list.length;
  return [...list.slice(n), ...list.slice(0, n)];
}
