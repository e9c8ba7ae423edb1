/**
 * `/v1/operations`: the backups of the server's backup directory, listed a page at a time with their
 * creation time, size and counts, and the consistency check run on request, one at a time, its latest
 * report kept with its time. Admin scope; documented in /openapi.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.ts';
import {
  BackupManager,
  ConsistencyChecker,
  type ConsistencyReport,
  documentStoreSource,
  LatestConsistencyCheck,
} from '../../src/operations/index.ts';
import { createServer } from '../../src/server/createServer.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const ADMIN = 'admin-token-0123456789';
const READER = 'reader-token-0123456789';

async function server(options: Parameters<typeof createServer>[0] = {}) {
  const app = await createServer({
    tokens: [
      { token: ADMIN, scope: 'admin', name: 'operator' },
      { token: READER, scope: 'read', name: 'viewer' },
    ],
    ...options,
  });
  cleanups.push(() => app.close());
  const call = async (method: 'GET' | 'POST', url: string, token = ADMIN) => {
    const res = await app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, body: res.json() };
  };
  return { app, call };
}

describe('/v1/operations', () => {
  it('lists the backup directory newest name first, a page at a time, with counts and sizes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentstate-backups-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const documents = createMemoryStore();
    cleanups.push(() => documents.close());
    await documents.put('agents', 'a1', { status: 'idle' });
    const manager = new BackupManager({
      dir,
      sources: [documentStoreSource({ store: documents, namespaces: ['agents'] })],
    });
    for (const name of ['b-1', 'b-2', 'b-3']) {
      await manager.create({ name });
      await documents.put('agents', `x-${name}`, { n: name });
    }
    writeFileSync(join(dir, 'b-4.agsb'), 'not a backup');
    const { call } = await server({ operations: { backups: manager } });

    const first = await call('GET', '/v1/operations/backups?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(4);
    expect(first.body.unreadable.map((b: { name: string }) => b.name)).toEqual(['b-4']);
    expect(first.body.backups).toMatchObject([{ name: 'b-3', records: 3 }]);
    const listed = first.body.backups[0];
    expect(listed.bytes).toBeGreaterThan(0);
    expect(Date.parse(listed.createdAt)).not.toBeNaN();
    expect(listed.sections).toEqual([{ name: 'documents/agents', count: 3 }]);
    expect(listed).not.toHaveProperty('file');
    const second = await call('GET', `/v1/operations/backups?limit=2&cursor=${first.body.cursor}`);
    expect(second.body.backups.map((b: { name: string }) => b.name)).toEqual(['b-2', 'b-1']);
    expect(second.body).not.toHaveProperty('cursor');

    expect((await call('GET', '/v1/operations/backups?limit=101')).status).toBe(400);
    expect((await call('GET', '/v1/operations/backups', READER)).status).toBe(403);
  });

  it('runs the consistency check on request, one at a time, and keeps the latest report with its time', async () => {
    const documents = createMemoryStore();
    cleanups.push(() => documents.close());
    await documents.put('sessions', 's1', { state: { participants: ['ghost'] } });
    await documents.put('agents', 'a1', { status: 'idle' });
    const checker = new ConsistencyChecker({ store: documents, namespaces: ['agents', 'sessions'] });
    let runs = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const check = new LatestConsistencyCheck(async (): Promise<ConsistencyReport> => {
      runs += 1;
      await gate;
      return checker.check();
    });
    const { call } = await server({ operations: { consistency: check } });

    expect((await call('GET', '/v1/operations/consistency')).body).toEqual({ running: false, latest: null });
    const started = await call('POST', '/v1/operations/consistency/runs');
    expect(started.status).toBe(202);
    expect(started.body.running).toBe(true);
    // A second request while the first runs joins it instead of starting another scan.
    expect((await call('POST', '/v1/operations/consistency/runs')).body.runningSince).toBe(
      started.body.runningSince,
    );
    release();
    await expect.poll(async () => (await call('GET', '/v1/operations/consistency')).body.running).toBe(false);
    expect(runs).toBe(1);
    const { body } = await call('GET', '/v1/operations/consistency');
    expect(body.latest.startedAt).toBe(started.body.runningSince);
    expect(body.latest.durationMs).toBeGreaterThanOrEqual(0);
    expect(body.latest.report.counts.documents).toBe(2);
    expect(body.latest.report.warnings).toMatchObject([{ kind: 'participant-not-agent' }]);

    await call('POST', '/v1/operations/consistency/runs');
    await expect.poll(() => runs).toBe(2);
    expect((await call('POST', '/v1/operations/consistency/runs', READER)).status).toBe(403);
  });

  it('answers 404 naming the missing option when the server has no backup directory or check', async () => {
    const { call } = await server();
    const backups = await call('GET', '/v1/operations/backups');
    expect(backups.status).toBe(404);
    expect(backups.body.error.message).toContain('--backup-dir');
    expect((await call('GET', '/v1/operations/consistency')).status).toBe(404);
  });

  it('are documented in /openapi.json and need a token', async () => {
    const { app } = await server();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    for (const path of ['/v1/operations/backups', '/v1/operations/consistency']) {
      expect(doc.paths, path).toHaveProperty([path]);
      expect((await app.inject({ method: 'GET', url: path })).statusCode, path).toBe(401);
    }
    expect(doc.paths).toHaveProperty(['/v1/operations/consistency/runs']);
  });
});
