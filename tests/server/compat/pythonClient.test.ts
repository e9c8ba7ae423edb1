/**
 * Agent Lightning's Python `LightningStoreClient` (aiohttp) against `agentstate serve`'s default backend
 * (SQLite): every request below is built as the client builds it (see aiohttp.ts), and the answers are
 * the reference server's, status and `detail` text included.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRolloutStore } from '../../../src/index.ts';
import { createServer } from '../../../src/server/createServer.ts';
import { listenServer } from '../../../src/server/listen.ts';
import { type AiohttpResponse, aiohttp } from './aiohttp.ts';

type Json = Record<string, unknown>;

describe('Agent Lightning LightningStoreClient (aiohttp) against agentstate', () => {
  let dir: string;
  let store: SqliteRolloutStore;
  let app: FastifyInstance;
  let base: string;
  const get = (path: string, params?: Array<[string, string | number]>) =>
    aiohttp(base, 'GET', `/v1/agl${path}`, params ? { params } : {});
  const post = (path: string, json?: unknown) => aiohttp(base, 'POST', `/v1/agl${path}`, { json });
  const ok = (response: AiohttpResponse, status = 200) => {
    expect(response.status, JSON.stringify(response.json)).toBe(status);
    return response.json as Json;
  };
  /** A refused request: the reference's status and `detail`, with agentstate's coded error beside it. */
  const refused = (response: AiohttpResponse, status: number, detail: string) => {
    expect(response.status, JSON.stringify(response.json)).toBe(status);
    expect(response.json).toMatchObject({ detail, error: { code: 'INVALID_INPUT' } });
  };
  const enqueue = async (input: unknown, extra: Json = {}) => {
    const [rollout] = ok(
      await post('/queues/rollouts/enqueue', { rollouts: [{ input, ...extra }] }),
      201,
    ) as never as Json[];
    return rollout!;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentstate-aiohttp-'));
    store = new SqliteRolloutStore({ path: join(dir, 'agentstate.db'), healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    base = await listenServer(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('bodiless POSTs (post(url), post(url, json=None)): an empty octet-stream is no body', () => {
    it('dequeues with a bare POST, on an empty queue and on a full one', async () => {
      expect(ok(await post('/queues/rollouts/dequeue'))).toEqual([]);
      const rollout = await enqueue({ task: 'bare dequeue' });
      const [claimed] = ok(await post('/queues/rollouts/dequeue')) as never as Json[];
      expect(claimed).toMatchObject({ rollout_id: rollout.rollout_id, status: 'preparing' });
      expect(claimed!.attempt).toMatchObject({ sequence_id: 1, worker_id: null });
    });

    it('starts an attempt without a worker (start_attempt(rollout_id))', async () => {
      const rollout = await enqueue('retry me');
      const started = ok(await post(`/rollouts/${rollout.rollout_id}/attempts`), 201);
      expect(started).toMatchObject({
        rollout_id: rollout.rollout_id,
        attempt: { sequence_id: 1, worker_id: null },
      });
    });

    it('records a worker heartbeat without stats (update_worker(worker_id))', async () => {
      const worker = ok(await post('/workers/w-bare', null));
      expect(worker).toMatchObject({ worker_id: 'w-bare', heartbeat_stats: null });
      expect(worker.last_heartbeat_time).toEqual(expect.any(Number));
      const withStats = ok(await post('/workers/w-bare', { heartbeat_stats: { gpu: 0.5 } }));
      expect(withStats.heartbeat_stats).toEqual({ gpu: 0.5 });
      // Omitted keeps the stats; only a body that names the field changes it.
      expect(ok(await post('/workers/w-bare')).heartbeat_stats).toEqual({ gpu: 0.5 });
    });

    it('still refuses an empty body where the reference requires one (422), and a non-empty unknown type (415)', async () => {
      const rollout = await enqueue('needs a body');
      const empty = await post(`/rollouts/${rollout.rollout_id}`);
      expect(empty.status).toBe(422);
      expect((empty.json as Json).error).toMatchObject({ code: 'INVALID_INPUT' });
      const bytes = await fetch(`${base}/v1/agl/queues/rollouts/dequeue`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([1, 2, 3]),
      });
      expect(bytes.status).toBe(415);
    });
  });

  describe('explicit nulls: omitted is unchanged, null is refused or clears, as the reference decides', () => {
    it('update_rollout: null status or config is 400 with the reference detail; null clears the others', async () => {
      const rollout = await enqueue('nulls', {
        mode: 'train',
        resources_id: 'rs-mine',
        metadata: { k: 1 },
        config: { max_attempts: 2 },
      });
      const id = rollout.rollout_id as string;
      refused(
        await post(`/rollouts/${id}`, { status: null }),
        400,
        'status is invalid; it cannot be a null value.',
      );
      refused(
        await post(`/rollouts/${id}`, { config: null }),
        400,
        'config is invalid; it cannot be a null value.',
      );
      expect(ok(await post(`/rollouts/${id}`, {}))).toMatchObject({
        input: 'nulls',
        mode: 'train',
        resources_id: 'rs-mine',
        metadata: { k: 1 },
        config: { max_attempts: 2 },
      });
      const cleared = ok(
        await post(`/rollouts/${id}`, { input: null, mode: null, resources_id: null, metadata: null }),
      );
      expect(cleared).toMatchObject({
        input: null,
        mode: null,
        resources_id: null,
        metadata: null,
        status: 'queuing',
      });
      expect((cleared.config as Json).max_attempts).toBe(2);
    });

    it('update_attempt: null status, worker_id, last_heartbeat_time or metadata is 400, nothing changed', async () => {
      const rollout = ok(await post('/rollouts', { input: 'attempt nulls' }), 201);
      const path = `/rollouts/${rollout.rollout_id}/attempts/${(rollout.attempt as Json).attempt_id}`;
      ok(await post(path, { worker_id: 'w-null' }));
      for (const field of ['status', 'worker_id', 'last_heartbeat_time', 'metadata']) {
        refused(await post(path, { [field]: null }), 400, `${field} is invalid; it cannot be a null value.`);
      }
      const attempt = ok(await post(path, { status: 'running' }));
      expect(attempt).toMatchObject({ status: 'running', worker_id: 'w-null' });
    });

    it('update_worker: null heartbeat_stats is 400', async () => {
      refused(
        await post('/workers/w-null', { heartbeat_stats: null }),
        400,
        'heartbeat_stats is invalid; it cannot be a null value.',
      );
    });
  });

  describe('queries as the client sends them (limit=-1 for all) and the reference paging errors', () => {
    it('answers query_rollouts, query_attempts, query_spans, query_workers and query_resources with everything', async () => {
      const rollout = await enqueue('listed');
      const rollouts = ok(
        await get('/rollouts', [
          ['filter_logic', 'and'],
          ['limit', -1],
          ['offset', 0],
        ]),
      );
      expect(rollouts).toMatchObject({ limit: -1, offset: 0 });
      expect(rollouts.items).toHaveLength(rollouts.total as number);
      const attempts = ok(
        await get(`/rollouts/${rollout.rollout_id}/attempts`, [
          ['limit', -1],
          ['offset', 0],
          ['sort_by', 'sequence_id'],
          ['sort_order', 'asc'],
        ]),
      );
      expect(attempts).toMatchObject({ items: [], limit: -1, total: 0 });
      const spans = ok(
        await get('/spans', [
          ['rollout_id', rollout.rollout_id as string],
          ['filter_logic', 'and'],
          ['sort_by', 'sequence_id'],
          ['sort_order', 'asc'],
          ['limit', -1],
          ['offset', 0],
        ]),
      );
      expect(spans).toMatchObject({ items: [], limit: -1, offset: 0, total: 0 });
      const workers = ok(
        await get('/workers', [
          ['limit', -1],
          ['offset', 0],
          ['filter_logic', 'and'],
        ]),
      );
      expect(workers.items).toHaveLength(workers.total as number);
      expect(
        ok(
          await get('/resources', [
            ['limit', -1],
            ['offset', 0],
          ]),
        ),
      ).toMatchObject({ limit: -1, offset: 0 });
    });

    it('answers bad paging with 400 and the reference detail text', async () => {
      const params = (extra: Array<[string, string | number]>): Array<[string, string | number]> => [
        ['filter_logic', 'and'],
        ...extra,
      ];
      const limitText = 'Limit must be greater than 0 or -1 for no limit';
      refused(await get('/rollouts', params([['limit', 0]])), 400, limitText);
      refused(await get('/rollouts', params([['limit', -2]])), 400, limitText);
      refused(await get('/workers', [['offset', -1]]), 400, 'Offset must be greater than or equal to 0');
      refused(
        await get(
          '/rollouts',
          params([
            ['sort_by', 'startTime'],
            ['sort_order', 'asc'],
          ]),
        ),
        400,
        'Invalid sort_by: startTime, allowed fields are: rollout_id, input, start_time, end_time, mode, resources_id, status, config, metadata',
      );
      const byInput = await get(
        '/rollouts',
        params([
          ['sort_by', 'input'],
          ['sort_order', 'asc'],
        ]),
      );
      expect(byInput.status).toBe(400);
      expect((byInput.json as Json).detail).toMatch(/^Failed to sort items by input: /);
      expect(
        ok(
          await get(
            '/rollouts',
            params([
              ['sort_by', 'start_time'],
              ['sort_order', 'desc'],
            ]),
          ),
        ).items,
      ).not.toHaveLength(0);
    });
  });

  it('keeps a resources_id that names no stored resources, on enqueue, start_rollout and update_rollout', async () => {
    const queued = await enqueue('pinned', { resources_id: 'rs-added-later' });
    expect(queued.resources_id).toBe('rs-added-later');
    const started = ok(
      await post('/rollouts', {
        input: 'started',
        mode: null,
        resources_id: 'rs-own',
        config: null,
        metadata: null,
      }),
      201,
    );
    expect(started.resources_id).toBe('rs-own');
    expect(ok(await post(`/rollouts/${queued.rollout_id}`, { resources_id: 'rs-other' })).resources_id).toBe(
      'rs-other',
    );
    expect(ok(await get('/resources/rs-other'))).toBeNull();
  });

  it('answers statistics with the reference keys and uptime in float seconds', async () => {
    const stats = ok(await get('/statistics'));
    expect(stats).toMatchObject({
      name: expect.any(String),
      total_rollouts: expect.any(Number),
      total_attempts: expect.any(Number),
      total_spans: expect.any(Number),
      total_resources: expect.any(Number),
      total_workers: expect.any(Number),
    });
    expect(stats.uptime).toEqual(expect.any(Number));
    expect(stats.uptime as number).toBeLessThan(600);
  });

  it('issues a span sequence id for a rollout this server does not hold yet, then stores spans with it (add_otel_span)', async () => {
    expect(ok(await post('/spans/next', { rollout_id: 'ro-not-here', attempt_id: 'at-x' }))).toEqual({
      sequence_id: 1,
    });
    // Created by another writer of the same database file (another process's store), not through this
    // server: the server has never seen it when the client asks for a sequence id.
    const other = new SqliteRolloutStore({ path: join(dir, 'agentstate.db'), healthCheckIntervalMs: 0 });
    const started = await other.startRollout({ input: 'spans' });
    const rollout: Json = { rollout_id: started.rolloutId };
    const attemptId = started.attempt.attemptId;
    const { sequence_id } = ok(
      await post('/spans/next', { rollout_id: rollout.rollout_id, attempt_id: attemptId }),
    ) as {
      sequence_id: number;
    };
    const span = {
      rollout_id: rollout.rollout_id,
      attempt_id: attemptId,
      sequence_id,
      trace_id: 'a'.repeat(32),
      span_id: 'b'.repeat(16),
      parent_id: null,
      name: 'openai.chat',
      status: { status_code: 'OK', description: null },
      attributes: { 'gen_ai.request.model': 'm' },
      events: [],
      links: [],
      start_time: 1.5,
      end_time: 2.5,
      context: { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16), is_remote: false, trace_state: {} },
      parent: null,
      resource: { attributes: {}, schema_url: '' },
    };
    expect(ok(await post('/spans', span), 201)).toMatchObject({ sequence_id, name: 'openai.chat' });
    // A span numbered 0 (a root span from a runner that counts from 0) keeps its number and sorts first.
    const root = { ...span, sequence_id: 0, span_id: 'c'.repeat(16), name: 'agentlightning.rollout' };
    expect(ok(await post('/spans', root), 201)).toMatchObject({ sequence_id: 0 });
    const stored = ok(
      await get('/spans', [
        ['rollout_id', rollout.rollout_id as string],
        ['limit', -1],
      ]),
    );
    expect((stored.items as Json[]).map((s) => s.sequence_id)).toEqual([0, sequence_id]);
    // And the other writer reads what this server stored.
    const seenByOther = await other.querySpans(started.rolloutId);
    expect(seenByOther.items.map((s) => s.sequenceId)).toEqual([0, sequence_id]);
    await other.close();
  });

  it('answers a method not allowed on a known path with 405 and Allow', async () => {
    const response = await get('/queues/rollouts/enqueue');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.json).toMatchObject({ detail: 'Method Not Allowed' });
    const unknown = await get('/no/such/route');
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ detail: 'Not Found', error: { code: 'NOT_FOUND' } });
  });
});
