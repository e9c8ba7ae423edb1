import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.ts';
import {
  AgentStateClient,
  createPostgresStore,
  createSqliteStore,
  openPersistenceRouter,
  PostgresRolloutStore,
  SqliteRolloutStore,
  ThreadStateRepository,
} from '../../src/index.ts';
import {
  dropSchema,
  POSTGRES_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  uniqueName,
} from '../support/services.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentstate-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), interactive: false },
    out,
    err,
  };
}

async function run(argv: string[]) {
  const { io, out, err } = captureIo();
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Starts `serve` in this process on a free port; returns its URL and a stop function. */
async function startServe(data: string, extra: string[] = []) {
  const { io, out, err } = captureIo();
  const controller = new AbortController();
  const done = main(
    ['serve', '--port', '0', '--data', data, '--log-level', 'warn', ...extra],
    io,
    controller.signal,
  );
  for (let i = 0; i < 200 && !out.some((l) => l.includes('listening on')); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const url = /listening on (\S+)/.exec(out.join('\n'))?.[1];
  if (!url) throw new Error(`serve did not start: ${err.join('\n')}`);
  return {
    url,
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}

describe('agentstate CLI', () => {
  it('prints help for every command', async () => {
    for (const command of ['serve', 'status', 'rollouts', 'spans', 'backup', 'restore']) {
      const result = await run([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.out).toContain(`Usage: agentstate ${command}`);
    }
    expect((await run(['help', 'backup'])).out).toContain('Usage: agentstate backup');
    const top = await run(['--help']);
    expect(top.out).toContain('Commands:');
    expect((await run(['nope'])).code).toBe(2);
  });

  it('refuses a non-loopback host without tokens', async () => {
    const result = await run([
      'serve',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--data',
      tempDir(),
      '--log-level',
      'warn',
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('FORBIDDEN');
  });

  it('refuses to start with a token scope it does not know, naming it and the valid ones', async () => {
    const data = tempDir();
    const typo = await run(['serve', '--port', '0', '--data', data, '--token', 's3cretpass:reader']);
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("unknown token scope 'reader'");
    expect(typo.err).toContain('read, write, admin');
    const file = join(data, 'tokens.txt');
    writeFileSync(file, '# tokens\nlong-enough-token read ci\nanother-long-token writer ops\n');
    const fromFile = await run(['serve', '--port', '0', '--data', data, '--tokens-file', file]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.err).toContain("unknown token scope 'writer'");
    expect(fromFile.err).toContain('read, write, admin');
  });

  it('applies the caps given as serve flags, documents them in --help and refuses bad values', async () => {
    const flags = [
      '--max-dequeue',
      '--statement-timeout-ms',
      '--max-waits',
      '--max-waits-per-token',
      '--idempotency-max-entries',
      '--idempotency-max-bytes',
      '--idempotency-ttl-ms',
      '--postgres-commits',
    ];
    const help = (await run(['serve', '--help'])).out;
    for (const flag of flags) expect(help).toContain(flag);
    const data = tempDir();
    const zero = await run(['serve', '--port', '0', '--data', data, '--max-dequeue', '0']);
    expect(zero.code).toBe(2);
    expect(zero.err).toContain("--max-dequeue must be a whole number >= 1, got '0'");
    const noCommits = await run(['serve', '--port', '0', '--data', data, '--postgres-commits', '0']);
    expect(noCommits.code).toBe(2);
    expect(noCommits.err).toContain("--postgres-commits must be a whole number >= 1, got '0'");
    const notNumber = await run(['serve', '--port', '0', '--data', data, '--idempotency-max-bytes', '1e3x']);
    expect(notNumber.code).toBe(2);
    expect(notNumber.err).toContain('--idempotency-max-bytes');
    const sqliteTimeout = await run([
      'serve',
      '--port',
      '0',
      '--data',
      data,
      '--statement-timeout-ms',
      '100',
    ]);
    expect(sqliteTimeout.code).toBe(2);
    expect(sqliteTimeout.err).toContain('--postgres');

    const server = await startServe(data, [
      '--max-dequeue',
      '2',
      '--max-waits',
      '1',
      '--max-waits-per-token',
      '1',
      '--idempotency-max-entries',
      '10',
      '--idempotency-max-bytes',
      '100000',
      '--idempotency-ttl-ms',
      '1000',
    ]);
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      const enqueued = await post('/v1/agl/queues/rollouts/enqueue', {
        rollouts: Array.from({ length: 5 }, (_, i) => ({ input: i })),
      });
      expect(enqueued.status).toBe(201);
      const [{ rollout_id: pending }] = (await enqueued.json()) as [{ rollout_id: string }];
      const dequeued = await post('/v1/agl/queues/rollouts/dequeue', { limit: 10, worker_id: 'w' });
      expect(((await dequeued.json()) as unknown[]).length).toBe(2);
      // One wait open at once: a second is refused while the first is held.
      // Held for a second, then answered (the rollout does not finish).
      const first = post('/v1/agl/waits/rollouts', { rollout_ids: [pending], timeout: 1.5 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await post('/v1/agl/waits/rollouts', { rollout_ids: [pending] });
      expect(second.status).toBe(429);
      expect(await second.json()).toMatchObject({
        error: { code: 'RATE_LIMITED', details: { limit: 'maxWaits' } },
      });
      expect((await first)?.status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serves CORS for the --cors-origin origins only, and refuses an origin that is not one before opening stores', async () => {
    const data = tempDir();
    const server = await startServe(data, [
      '--cors-origin',
      'https://dash.example.com',
      '--cors-origin',
      'http://localhost:5173',
      '--token',
      'reader-token-123:read',
    ]);
    try {
      const preflight = (origin: string) =>
        fetch(`${server.url}/v1/agl/rollouts/search`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization',
          },
        });
      const allowed = await preflight('http://localhost:5173');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
      expect(
        (await preflight('https://other.example.com')).headers.get('access-control-allow-origin'),
      ).toBeNull();
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const bad = await run([
      'serve',
      '--port',
      '0',
      '--data',
      join(data, 'never'),
      '--cors-origin',
      'dash.example.com',
    ]);
    expect(bad.code).toBe(2); // a usage error
    expect(bad.err).toContain("CORS origin 'dash.example.com' is not an origin");
    expect(existsSync(join(data, 'never'))).toBe(false);
  });

  it('refuses --cors-origin on a server without tokens unless --insecure, before opening stores', async () => {
    const data = tempDir();
    const refused = await run(['serve', '--port', '0', '--data', join(data, 'never'), '--cors-origin', '*']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('refusing CORS for * without authentication');
    expect(refused.err).toContain('--insecure');
    expect(existsSync(join(data, 'never'))).toBe(false);

    const server = await startServe(data, ['--cors-origin', 'http://localhost:5173', '--insecure']);
    try {
      const read = await fetch(`${server.url}/v1/agl/statistics`, {
        headers: { origin: 'http://localhost:5173' },
      });
      expect(read.status).toBe(200);
      expect(read.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serves, reports status, lists and shows rollouts, tails spans, backs up and restores', async () => {
    const data = tempDir();
    const server = await startServe(data);
    const client = new AgentStateClient({ url: server.url });
    const [queued] = await client.enqueueManyRollouts([{ input: 'cli' }, { input: 'other' }]);
    const taken = (await client.dequeueRollout({ workerId: 'w-cli' }))!;
    await client.addSpan({
      rolloutId: taken.rolloutId,
      attemptId: taken.attempt.attemptId,
      traceId: 't',
      spanId: 's1',
      name: 'first',
    });
    await client.addSpan({
      rolloutId: taken.rolloutId,
      attemptId: taken.attempt.attemptId,
      traceId: 't',
      spanId: 's2',
      name: 'second',
    });
    await client.close();

    const status = await run(['status', '--url', server.url, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out).statistics).toMatchObject({
      totalRollouts: 2,
      totalSpans: 2,
      backend: 'sqlite',
    });
    expect((await run(['status', '--url', server.url])).out).toContain('rollouts   2 (queue 1)');

    const list = await run(['rollouts', 'list', '--url', server.url, '--status', 'queuing', '--json']);
    expect(JSON.parse(list.out).items).toHaveLength(1);
    const table = await run(['rollouts', 'list', '--url', server.url]);
    expect(table.out).toContain(queued!.rolloutId);
    expect(table.out).toContain('2 of 2');
    const show = await run(['rollouts', 'show', taken.rolloutId, '--url', server.url, '--json']);
    expect(JSON.parse(show.out)).toMatchObject({ spanCount: 2, attempts: [{ workerId: 'w-cli' }] });
    const missing = await run(['rollouts', 'show', 'ro-missing', '--url', server.url]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('NOT_FOUND');

    const tail = await run(['spans', 'tail', taken.rolloutId, '-n', '1', '--url', server.url, '--json']);
    expect(tail.out.split('\n').map((l) => JSON.parse(l).name)).toEqual(['second']);

    const file = join(tempDir(), 'backup.db');
    const backup = await run(['backup', file, '--data', data, '--json']);
    expect(backup.code, backup.err).toBe(0);
    expect(JSON.parse(backup.out).bytes).toBeGreaterThan(0);
    expect((await run(['backup', file, '--data', data])).err).toContain('ALREADY_EXISTS');

    expect(await server.stop()).toBe(0);

    const fresh = tempDir();
    const restored = await run(['restore', file, '--data', fresh, '--json']);
    expect(restored.code, restored.err).toBe(0);
    const store = new SqliteRolloutStore({ path: join(fresh, 'agentstate.db'), healthCheckIntervalMs: 0 });
    expect((await store.statistics()).totalSpans).toBe(2);
    await store.close();

    // Restoring over existing data keeps the old database aside.
    const again = await run(['restore', file, '--data', fresh, '--json']);
    const previous = JSON.parse(again.out).previous as string;
    expect(existsSync(previous)).toBe(true);
  });

  it('refuses to restore a file that is not a backup', async () => {
    const data = tempDir();
    const bogus = join(data, 'bogus.db');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bogus, 'not sqlite at all, just text'.repeat(100));
    const result = await run(['restore', bogus, '--data', data]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('CORRUPT_STATE');
  });

  it('npm start: a fresh data directory, curl /v1/agl/health, graceful SIGTERM', async () => {
    const data = tempDir();
    const child = spawn(process.execPath, ['src/cli/bin.ts', 'serve', '--port', '0', '--data', data], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 400 && !/listening on (\S+)/.test(stdout); i++)
      await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (\S+)/.exec(stdout)?.[1];
    expect(url, stderr).toBeDefined();
    const response = await fetch(`${url}/v1/agl/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('stopped');
    expect(existsSync(join(data, 'agentstate.db'))).toBe(true);
  }, 20_000);
});

const pgOk = await postgresAvailable();
const redisOk = await redisAvailable();
describe.skipIf(!pgOk || !redisOk)('agentstate serve --postgres --redis', () => {
  it('keeps documents and rollouts in PostgreSQL and TTL values in Redis', async () => {
    const schema = uniqueName('cli_serve');
    const prefix = `${uniqueName('cli')}:`;
    const { io, out } = captureIo();
    const controller = new AbortController();
    const done = main(
      [
        'serve',
        '--port',
        '0',
        '--data',
        tempDir(),
        '--postgres',
        POSTGRES_URL,
        '--postgres-schema',
        schema,
        '--redis',
        REDIS_URL,
        '--statement-timeout-ms',
        '30000',
        '--max-dequeue',
        '50',
        '--log-level',
        'warn',
        '--json',
      ],
      io,
      controller.signal,
    );
    try {
      for (let i = 0; i < 400 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const started = JSON.parse(out[0]!) as { listening: string; stores: string };
      expect(started.stores).toContain('PostgreSQL');
      expect(started.stores).toContain('Redis');
      const client = new AgentStateClient({ url: started.listening });
      await client.putDocument('agents', 'pg-1', { where: 'postgres' });
      const started2 = await client.startRollout({ input: 'in postgres' });
      await client.ttl.set(`${prefix}k`, 1, { ttlMs: 60_000 });
      expect(await client.ttl.get(`${prefix}k`)).toMatchObject({ value: 1 });
      await client.ttl.delete(`${prefix}k`);
      await client.close();
      const direct = createPostgresStore({ connectionString: POSTGRES_URL, schema });
      expect((await direct.get('agents', 'pg-1'))?.value).toEqual({ where: 'postgres' });
      await direct.close();
      const rollouts = new PostgresRolloutStore({
        connectionString: POSTGRES_URL,
        schema,
        healthCheckIntervalMs: 0,
      });
      expect((await rollouts.getRolloutById(started2.rolloutId))?.input).toBe('in postgres');
      await rollouts.close();
    } finally {
      controller.abort();
      await done;
      await dropSchema(schema);
    }
  }, 20_000);
});

describe('agentstate spans tail --follow', () => {
  it('prints spans added after it started', async () => {
    const data = tempDir();
    const server = await startServe(data);
    const client = new AgentStateClient({ url: server.url });
    const rollout = await client.startRollout({ input: 'tail' });
    const span = (id: string) => ({
      rolloutId: rollout.rolloutId,
      attemptId: rollout.attempt.attemptId,
      traceId: 't',
      spanId: id,
      name: id,
    });
    await client.addSpan(span('before'));
    const { io, out } = captureIo();
    const controller = new AbortController();
    const tailing = main(
      ['spans', 'tail', rollout.rolloutId, '--follow', '--interval', '20', '--json', '--url', server.url],
      io,
      controller.signal,
    );
    for (let i = 0; i < 100 && out.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await client.addSpan(span('after-1'));
    await client.addSpan(span('after-2'));
    for (let i = 0; i < 200 && out.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await tailing).toBe(0);
    expect(out.map((line) => JSON.parse(line).name)).toEqual(['before', 'after-1', 'after-2']);
    await client.close();
    await server.stop();
  });
});

describe('agentstate serve --config', () => {
  it('stores documents and sessions through the config routes and reports persistence in status', async () => {
    const data = tempDir();
    const config = join(data, 'agentstate.yaml');
    writeFileSync(
      config,
      `defaultBackend: disk
backends:
  disk:
    type: sqlite
    path: ${join(data, 'documents.db')}
    compression: gzip
  fast:
    type: memory
    cache: { maxEntries: 100 }
  threads:
    type: sqlite
    path: ${join(data, 'threads.db')}
rules:
  - pattern: "cache:*"
    backend: fast
    ttlMs: 60000
  # A thread's head, values and history namespaces together: a thread save is one batch.
  - pattern: "agentstate.threads*"
    backend: threads
`,
    );
    // The server has no routes that write threads (the library's ThreadStateRepository and LangGraph
    // saver do); its dashboard reads them through the same router.
    const writer = await openPersistenceRouter(config);
    try {
      await new ThreadStateRepository(writer).save(
        't1',
        { revision: 2, extensions: { step: 'plan' } },
        { expectedRevision: 0 },
      );
    } finally {
      await writer.close();
    }
    const server = await startServe(data, ['--config', config]);
    const client = new AgentStateClient({ url: server.url });
    try {
      const thread = await fetch(`${server.url}/v1/dashboard/threads/agentstate.threads/t1`);
      expect(thread.status).toBe(200);
      expect(((await thread.json()) as { value: unknown }).value).toMatchObject({
        revision: 2,
        extensions: { step: 'plan' },
      });
      await client.putDocument('cache', 'c1', { hot: true });
      await client.putDocument('notes', 'n1', { text: 'x'.repeat(4000) });
      expect((await client.getDocument('cache', 'c1'))?.expiresAt).toBeDefined();
      const created = await fetch(`${server.url}/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessionId: 's1', participants: ['p'] }),
      });
      expect(created.status).toBe(201);
      const metrics = await client.metrics();
      expect(metrics).toContain(
        'agentstate_persistence_operation_duration_seconds_count{backend="fast",operation="put"} 1',
      );
      expect(metrics).toContain('agentstate_persistence_compression_ratio{backend="disk"}');
      const status = await run(['status', '--url', server.url]);
      expect(status.out).toMatch(/persistence\n {2}disk {9}.*put/);
      expect(status.out).toMatch(/ {2}fast .*cache hit rate/);
      const json = JSON.parse((await run(['status', '--url', server.url, '--json'])).out);
      expect(json.persistence.backends.map((b: { backend: string }) => b.backend).sort()).toEqual([
        'disk',
        'fast',
        'threads',
      ]);
    } finally {
      await client.close();
      expect(await server.stop()).toBe(0);
    }
    // Written where the rules said: sessions and notes in the config's SQLite file, compressed when large.
    const disk = createSqliteStore({ path: join(data, 'documents.db') });
    try {
      expect((await disk.get('sessions', 's1'))?.value).toMatchObject({ type: 'agentstate.session' });
      expect((await disk.get('notes', 'n1'))?.storage?.compression).toBe('gzip');
      expect(await disk.get('cache', 'c1')).toBeUndefined();
      expect(await disk.get('agentstate.threads', 't1')).toBeUndefined();
    } finally {
      await disk.close();
    }
    const threads = createSqliteStore({ path: join(data, 'threads.db') });
    try {
      expect(await threads.get('agentstate.threads', 't1')).toBeDefined();
    } finally {
      await threads.close();
    }
  });

  it('refuses a broken config naming file, line and field', async () => {
    const data = tempDir();
    const config = join(data, 'agentstate.yaml');
    writeFileSync(config, 'defaultBackend: main\nbackends:\n  main:\n    type: memory\n    size: 3\n');
    const result = await run(['serve', '--port', '0', '--data', data, '--config', config]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(`${config}:5: backends.main.size: unknown option`);
  });
});
