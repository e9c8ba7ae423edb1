import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryStore, type DocumentStore, InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

let rollouts: InMemoryRolloutStore;
let documents: DocumentStore;
let app: FastifyInstance;
beforeEach(async () => {
  rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  documents = createMemoryStore();
  app = await createServer({ rollouts, documents });
});
afterEach(async () => {
  await app.close();
  await rollouts.close();
  await documents.close();
});

describe('idempotency keys', () => {
  it('replays the first response of a retried POST instead of creating a duplicate', async () => {
    const request = {
      method: 'POST' as const,
      url: '/v1/agl/queues/rollouts/enqueue',
      headers: { 'idempotency-key': 'enqueue-1' },
      payload: { rollouts: [{ input: 'once' }] },
    };
    const first = await app.inject(request);
    const retry = await app.inject(request);
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    expect((await rollouts.queryRollouts()).total).toBe(1);
  });

  it('never dequeues twice for one key, even when the retry overlaps the first request', async () => {
    await rollouts.enqueueManyRollouts([{ input: 1 }, { input: 2 }]);
    const request = {
      method: 'POST' as const,
      url: '/v1/agl/queues/rollouts/dequeue',
      headers: { 'idempotency-key': 'dq-1' },
      payload: { limit: 1 },
    };
    const [a, b] = await Promise.all([app.inject(request), app.inject(request)]);
    expect(a.json()).toEqual(b.json());
    expect((await rollouts.statistics()).queueLength).toBe(1);
  });

  it('treats different keys as different requests', async () => {
    for (const key of ['k1', 'k2']) {
      await app.inject({
        method: 'POST',
        url: '/v1/agl/rollouts',
        headers: { 'idempotency-key': key },
        payload: { input: key },
      });
    }
    expect((await rollouts.queryRollouts()).total).toBe(2);
  });
});

describe('/metrics', () => {
  it('reports requests per route, rollouts by status, queue depth and store latency', async () => {
    await rollouts.enqueueManyRollouts([{ input: 1 }, { input: 2 }, { input: 3 }]);
    await app.inject({ method: 'POST', url: '/v1/agl/queues/rollouts/dequeue', payload: { limit: 1 } });
    await app.inject({ method: 'GET', url: '/v1/agl/rollouts/ro-unknown' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/plain/);
    const text = response.body;
    expect(text).toContain(
      'agentstate_http_requests_total{method="POST",route="/v1/agl/queues/rollouts/dequeue",status="200"} 1',
    );
    expect(text).toContain('route="/v1/agl/rollouts/:rollout_id"');
    expect(text).not.toContain('ro-unknown');
    expect(text).toContain('agentstate_queue_depth 2');
    expect(text).toContain('agentstate_rollouts{status="queuing"} 2');
    expect(text).toContain('agentstate_rollouts{status="preparing"} 1');
    expect(text).toMatch(
      /agentstate_store_operation_duration_seconds_count\{store="rollouts",operation="dequeueManyRollouts"\} 1/,
    );
  });

  it('keeps a separate registry per server', async () => {
    const other = await createServer({});
    await app.inject({ method: 'GET', url: '/health' });
    const text = (await other.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).not.toContain('route="/health"');
    await other.close();
  });
});

describe('/openapi.json and /health', () => {
  it('documents every route from the route schemas', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { operationId?: string; requestBody?: unknown }>>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/health',
        '/metrics',
        '/v1/state/{namespace}/{id}',
        '/v1/agl/rollouts/{rollout_id}/attempts/{attempt_id}',
        '/v1/agl/queues/rollouts/enqueue',
        '/v1/traces',
      ]),
    );
    expect(doc.paths['/v1/agl/queues/rollouts/enqueue']?.post?.operationId).toBe(
      'enqueue_rollouts_v1_agl_queues_rollouts_enqueue_post',
    );
    expect(doc.paths['/v1/state/{namespace}/{id}']?.put?.requestBody).toBeDefined();
    // Agent Lightning routes document the reference's response schemas.
    const dequeue = doc.paths['/v1/agl/queues/rollouts/dequeue']?.post as {
      responses?: Record<string, unknown>;
    };
    expect(JSON.stringify(dequeue.responses?.['200'])).toContain('rollout_id');
  });

  it('answers /health', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect(response.json()).toMatchObject({ status: 'ok' });
  });
});
