/**
 * `agentstate serve` logs quietly: at the default level a healthy server prints only its start-up lines
 * (where the data lives, the dashboard URL); `--slow-ms` makes slow requests show, one line each, while
 * health checks and metrics scrapes stay at debug.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function serve(extra: string[]): Promise<{ url: string; child: ChildProcess; stdout: () => string }> {
  const data = mkdtempSync(join(tmpdir(), 'agentstate-log-'));
  dirs.push(data);
  const child = spawn(
    process.execPath,
    ['src/cli/bin.ts', 'serve', '--port', '0', '--data', data, ...extra],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  child.stdout?.on('data', (chunk) => {
    stdout += String(chunk);
  });
  for (let i = 0; i < 400 && !/dashboard: /.test(stdout); i++) await new Promise((r) => setTimeout(r, 25));
  const url = /listening on (\S+)/.exec(stdout)?.[1];
  if (!url) throw new Error(`server did not start: ${stdout}`);
  expect(stdout).toContain(`data: SQLite ${join(data, 'agentstate.db')}`);
  expect(stdout).toContain(`dashboard: ${url}/`);
  return { url, child, stdout: () => stdout };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function traffic(url: string): Promise<void> {
  for (let i = 0; i < 3; i++) expect((await fetch(`${url}/health`)).status).toBe(200);
  expect((await fetch(`${url}/v1/agl/health`)).status).toBe(200);
  expect((await fetch(`${url}/metrics`)).status).toBe(200);
  const enqueued = await fetch(`${url}/v1/agl/queues/rollouts/enqueue`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rollouts: [{ input: { task: 'quiet' } }] }),
  });
  expect(enqueued.status).toBe(201);
  expect((await fetch(`${url}/no/such/route`)).status).toBe(404);
}

/** The JSON log lines about requests (they carry a url). */
function requestLines(stdout: string): Array<{ level: number; url: string; msg: string }> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; url?: string; msg: string })
    .filter((line): line is { level: number; url: string; msg: string } => typeof line.url === 'string');
}

describe('agentstate serve logging', () => {
  it('logs no request at the default level', async () => {
    const { url, child, stdout } = await serve([]);
    try {
      await traffic(url);
    } finally {
      await stop(child);
    }
    expect(requestLines(stdout())).toEqual([]);
  }, 30_000);

  it('--slow-ms 0 logs each request once at warn, except health checks and metrics scrapes', async () => {
    const { url, child, stdout } = await serve(['--slow-ms', '0']);
    try {
      await traffic(url);
    } finally {
      await stop(child);
    }
    const lines = requestLines(stdout());
    expect(lines.map((line) => line.url)).toEqual(['/v1/agl/queues/rollouts/enqueue', '/no/such/route']);
    expect(lines.every((line) => line.level === 40)).toBe(true);
    expect(lines[0]!.msg).toMatch(/^POST \/v1\/agl\/queues\/rollouts\/enqueue 201 [\d.]+ ms \(slow\)$/);
  }, 30_000);
});
