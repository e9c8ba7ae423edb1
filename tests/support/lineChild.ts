/**
 * A child process that speaks in lines: it prints "ready" when set up (awaited by `ready`), any other stdout
 * line is collected in `lines`, and `done` settles when it exits (rejecting with its stderr on a non-zero
 * exit code).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** A running line-speaking child. */
export interface LineChild {
  /** The process (write "go\n" to its stdin, kill it, ...). */
  child: ChildProcessWithoutNullStreams;
  /** Its stdout lines so far, "ready" excepted. */
  lines: string[];
  /** Resolves when it printed "ready". */
  ready: Promise<void>;
  /** Resolves with 0 on a clean exit; rejects with its stderr otherwise. */
  done: Promise<number>;
}

/** Runs `script` with `args` on this Node. */
export function startLineChild(script: string, args: string[]): LineChild {
  const child = spawn(process.execPath, [script, ...args]);
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let at = buffer.indexOf('\n');
    while (at >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line === 'ready') markReady();
      else lines.push(line);
      at = buffer.indexOf('\n');
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`child ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
  return { child, lines, ready, done };
}
