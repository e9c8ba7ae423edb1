/**
 * Throwaway database servers for fault tests, never the shared ones on 5432/6379: a private PostgreSQL
 * cluster (initdb into a temporary directory, its own port; run as the `postgres` user when the tests run
 * as root, since PostgreSQL refuses root) and a second redis-server on its own port. Each can be stopped
 * and started again on the same port and data.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback port (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The newest PostgreSQL server binaries directory, or undefined. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const bin = versions.map((v) => join(root, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
  return bin;
}

const asRoot = process.getuid?.() === 0;

// Runs a PostgreSQL tool as the current user, or as `postgres` under root.
function runPg(bin: string, tool: string, args: readonly string[]): void {
  const quoted = [join(bin, tool), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  if (asRoot) execFileSync('su', ['postgres', '-c', quoted], { stdio: 'pipe' });
  else execFileSync('sh', ['-c', quoted], { stdio: 'pipe' });
}

/** Whether a private PostgreSQL cluster can be made here. */
export function privatePostgresPossible(): boolean {
  if (postgresBin() === undefined) return false;
  if (!asRoot) return true;
  try {
    execFileSync('id', ['postgres'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** A private PostgreSQL cluster. */
export interface PrivatePostgres {
  url: string;
  /** Immediate shutdown (as a crash: no checkpoint, connections cut). */
  stop(): void;
  start(): void;
  /** Stops it and deletes its directory. */
  destroy(): void;
}

/** initdb into a temporary directory and start it on a free port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-pg-'));
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  const port = await freePort();
  runPg(bin, 'initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  const start = () =>
    runPg(bin, 'pg_ctl', ['-D', data, '-o', options, '-w', '-t', '60', '-l', join(dir, 'log'), 'start']);
  const stop = () => runPg(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    destroy() {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether redis-server can be started here. */
export function privateRedisPossible(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** A second redis-server on its own port. */
export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts redis-server (no persistence) on a free port and waits until it answers. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'pipe' });
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`redis-server on port ${port} did not answer`);
  };
  const stop = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, stop, start };
}
