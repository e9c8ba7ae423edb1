/**
 * Contract test: walks every route of the Agent Lightning reference document, calls it on the server,
 * checks the success status and validates the response body against the reference's own schemas.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

const SHARED = '/work/shared/reference/agent-lightning-store-openapi.json';
const BUNDLED = new URL('../../src/server/agl/agentLightningOpenapi.json', import.meta.url);
const reference = JSON.parse(readFileSync(existsSync(SHARED) ? SHARED : BUNDLED, 'utf8')) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: { schemas: Record<string, unknown> };
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'agl', components: reference.components });
let schemaCount = 0;
function validator(schema: unknown) {
  const text = JSON.stringify(schema).replaceAll('"#/components/', '"agl#/components/');
  schemaCount += 1;
  return ajv.compile({ $id: `response-${schemaCount}`, ...(JSON.parse(text) as object) });
}

interface Fixture {
  rolloutId: string;
  attemptId: string;
  finishedRolloutId: string;
  resourcesId: string;
  workerId: string;
}

type Call = (f: Fixture) => { query?: string; body?: unknown; path?: Record<string, string> };

const span = (f: Fixture, spanId: string) => ({
  rollout_id: f.rolloutId,
  attempt_id: f.attemptId,
  sequence_id: 100,
  trace_id: 'a'.repeat(32),
  span_id: spanId,
  parent_id: null,
  name: 'llm.call',
  status: { status_code: 'OK', description: null },
  attributes: { 'gen_ai.model': 'm', tokens: 3 },
  events: [{ name: 'e', attributes: {}, timestamp: 1.5 }],
  links: [],
  start_time: 1,
  end_time: 2,
  context: { trace_id: 'a'.repeat(32), span_id: spanId, is_remote: false, trace_state: {} },
  parent: null,
  resource: { attributes: { 'service.name': 'x' }, schema_url: '' },
  custom_extra: 'kept',
});

const llm = {
  resource_type: 'llm',
  endpoint: 'http://llm',
  model: 'm',
  api_key: null,
  sampling_parameters: { t: 1 },
};

const CALLS: Record<string, Call> = {
  'GET /v1/agl/health': () => ({}),
  'POST /v1/agl/queues/rollouts/enqueue': () => ({
    body: { rollouts: [{ input: { task: 1 }, mode: 'train' }] },
  }),
  'POST /v1/agl/queues/rollouts/dequeue': () => ({ body: { limit: 1, worker_id: 'w-contract' } }),
  'POST /v1/agl/rollouts': () => ({ body: { input: 'direct', config: { max_attempts: 2 } } }),
  'GET /v1/agl/rollouts': () => ({
    query: 'status_in=running&status_in=preparing&limit=10&sort_by=start_time',
  }),
  'POST /v1/agl/rollouts/search': () => ({ body: { rollout_id_contains: 'ro-', limit: 5 } }),
  'GET /v1/agl/rollouts/{rollout_id}': (f) => ({ path: { rollout_id: f.rolloutId } }),
  'POST /v1/agl/rollouts/{rollout_id}': (f) => ({
    path: { rollout_id: f.rolloutId },
    body: { metadata: { k: 1 } },
  }),
  'POST /v1/agl/rollouts/{rollout_id}/attempts': (f) => ({
    path: { rollout_id: f.finishedRolloutId },
    body: { worker_id: 'w2' },
  }),
  'GET /v1/agl/rollouts/{rollout_id}/attempts': (f) => ({
    path: { rollout_id: f.rolloutId },
    query: 'limit=5',
  }),
  'POST /v1/agl/rollouts/{rollout_id}/attempts/search': (f) => ({
    path: { rollout_id: f.rolloutId },
    body: {},
  }),
  'POST /v1/agl/rollouts/{rollout_id}/attempts/{attempt_id}': (f) => ({
    path: { rollout_id: f.rolloutId, attempt_id: f.attemptId },
    body: { status: 'running', metadata: { m: true } },
  }),
  'GET /v1/agl/workers': () => ({ query: 'status_in=busy&status_in=idle' }),
  'POST /v1/agl/workers/search': () => ({ body: { worker_id_contains: 'w' } }),
  'GET /v1/agl/workers/{worker_id}': (f) => ({ path: { worker_id: f.workerId } }),
  'POST /v1/agl/workers/{worker_id}': (f) => ({
    path: { worker_id: f.workerId },
    body: { heartbeat_stats: { gpu: 0.5 } },
  }),
  'GET /v1/agl/statistics': () => ({}),
  'GET /v1/agl/rollouts/{rollout_id}/attempts/latest': (f) => ({ path: { rollout_id: f.rolloutId } }),
  'GET /v1/agl/resources': () => ({ query: 'limit=10&sort_by=version&sort_order=desc' }),
  'POST /v1/agl/resources': () => ({ body: { main_llm: llm } }),
  'GET /v1/agl/resources/latest': () => ({}),
  'POST /v1/agl/resources/{resources_id}': (f) => ({
    path: { resources_id: f.resourcesId },
    body: { prompt: { resource_type: 'prompt_template', template: 'Hi {name}', engine: 'f-string' } },
  }),
  'GET /v1/agl/resources/{resources_id}': (f) => ({ path: { resources_id: f.resourcesId } }),
  'POST /v1/agl/spans': (f) => ({ body: span(f, 'b'.repeat(16)) }),
  'GET /v1/agl/spans': (f) => ({ query: `rollout_id=${f.rolloutId}&name_contains=llm` }),
  'POST /v1/agl/spans/search': (f) => ({ body: { rollout_id: f.rolloutId, attempt_id: f.attemptId } }),
  'POST /v1/agl/spans/next': (f) => ({ body: { rollout_id: f.rolloutId, attempt_id: f.attemptId } }),
  'POST /v1/agl/waits/rollouts': (f) => ({ body: { rollout_ids: [f.finishedRolloutId], timeout: 0 } }),
  'POST /v1/traces': () => ({ body: { resourceSpans: [] } }),
  'POST /v1/metrics': () => ({ body: {} }),
  'POST /v1/logs': () => ({ body: {} }),
  'POST /v1/development/profiles': () => ({ body: {} }),
};

describe('Agent Lightning reference contract', () => {
  let store: InMemoryRolloutStore;
  let app: FastifyInstance;
  let fixture: Fixture;

  beforeAll(async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    const resources = await store.addResources({
      main: { resourceType: 'llm', endpoint: 'http://llm', model: 'm' },
    });
    await store.enqueueRollout({ input: 'finished' });
    const finished = (await store.dequeueRollout({ workerId: 'w-fixture' }))!;
    await store.updateAttempt(finished.rolloutId, finished.attempt.attemptId, { status: 'succeeded' });
    await store.enqueueRollout({ input: 'running' });
    const running = (await store.dequeueRollout({ workerId: 'w-fixture' }))!;
    await store.addSpan({
      rolloutId: running.rolloutId,
      attemptId: running.attempt.attemptId,
      traceId: 't',
      spanId: 's0',
      name: 'llm.first',
    });
    await store.updateWorker('w-fixture', { heartbeatStats: { ok: true } });
    fixture = {
      rolloutId: running.rolloutId,
      attemptId: running.attempt.attemptId,
      finishedRolloutId: finished.rolloutId,
      resourcesId: resources.resourcesId,
      workerId: 'w-fixture',
    };
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const operations = Object.entries(reference.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      key: `${method.toUpperCase()} ${path}`,
      path,
      method: method.toUpperCase(),
      op,
    })),
  );

  it('covers every route of the reference and nothing it lacks', () => {
    expect(operations.map((o) => o.key).sort()).toEqual(Object.keys(CALLS).sort());
  });

  for (const { key, path, method, op } of operations) {
    it(`${key} answers with the reference status and schema`, async () => {
      const call = CALLS[key]!(fixture);
      let url = path;
      for (const [name, value] of Object.entries(call.path ?? {}))
        url = url.replace(`{${name}}`, encodeURIComponent(value));
      if (call.query) url += `?${call.query}`;
      const response = await app.inject({
        method: method as 'GET' | 'POST',
        url,
        ...(call.body === undefined ? {} : { payload: call.body as object }),
      });
      const [successCode, success] = Object.entries(op.responses).find(([code]) => code.startsWith('2'))!;
      expect(response.statusCode, response.body).toBe(Number(successCode));
      const schema = success.content?.['application/json']?.schema;
      if (schema !== undefined) {
        const validate = validator(schema);
        const body = response.json() as unknown;
        expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
      }
    });
  }

  it('answers an invalid body with 422 and an HTTPValidationError', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/agl/spans/next',
      payload: { rollout_id: 'ro-x' },
    });
    expect(response.statusCode).toBe(422);
    const validate = validator({ $ref: '#/components/schemas/HTTPValidationError' });
    expect(validate(response.json())).toBe(true);
    expect(response.json().detail[0].loc).toEqual(['body', 'attempt_id']);
    expect(response.json().error.code).toBe('INVALID_INPUT');
  });

  describe('error answers: the reference status and detail text, with the coded error beside it', () => {
    /** The reference's "allowed fields are" list: the properties of its schema, in its order. */
    const fieldsOf = (schema: string) =>
      Object.keys((reference.components.schemas[schema] as { properties: object }).properties).join(', ');
    const nullDetail = (field: string) => `${field} is invalid; it cannot be a null value.`;
    const limitDetail = 'Limit must be greater than 0 or -1 for no limit';
    type Case = [
      string,
      (f: Fixture) => { method: 'GET' | 'POST'; url: string; payload?: object },
      number,
      string,
    ];
    const cases: Case[] = [
      ...(['status', 'config'] as const).map(
        (field): Case => [
          `update_rollout ${field}: null`,
          (f) => ({ method: 'POST', url: `/v1/agl/rollouts/${f.rolloutId}`, payload: { [field]: null } }),
          400,
          nullDetail(field),
        ],
      ),
      ...(['status', 'worker_id', 'last_heartbeat_time', 'metadata'] as const).map(
        (field): Case => [
          `update_attempt ${field}: null`,
          (f) => ({
            method: 'POST',
            url: `/v1/agl/rollouts/${f.rolloutId}/attempts/${f.attemptId}`,
            payload: { [field]: null },
          }),
          400,
          nullDetail(field),
        ],
      ),
      [
        'update_worker heartbeat_stats: null',
        (f) => ({ method: 'POST', url: `/v1/agl/workers/${f.workerId}`, payload: { heartbeat_stats: null } }),
        400,
        nullDetail('heartbeat_stats'),
      ],
      [
        'query_rollouts limit=0',
        () => ({ method: 'GET', url: '/v1/agl/rollouts?limit=0' }),
        400,
        limitDetail,
      ],
      [
        'query_workers limit=-2',
        () => ({ method: 'GET', url: '/v1/agl/workers?limit=-2' }),
        400,
        limitDetail,
      ],
      [
        'search_spans limit: 0',
        (f) => ({
          method: 'POST',
          url: '/v1/agl/spans/search',
          payload: { rollout_id: f.rolloutId, limit: 0 },
        }),
        400,
        limitDetail,
      ],
      [
        'query_resources offset=-1',
        () => ({ method: 'GET', url: '/v1/agl/resources?offset=-1' }),
        400,
        'Offset must be greater than or equal to 0',
      ],
      [
        'query_rollouts sort_by=rolloutId',
        () => ({ method: 'GET', url: '/v1/agl/rollouts?sort_by=rolloutId' }),
        400,
        `Invalid sort_by: rolloutId, allowed fields are: ${fieldsOf('Rollout')}`,
      ],
      [
        'query_attempts sort_by=nope',
        (f) => ({ method: 'GET', url: `/v1/agl/rollouts/${f.rolloutId}/attempts?sort_by=nope` }),
        400,
        `Invalid sort_by: nope, allowed fields are: ${fieldsOf('Attempt')}`,
      ],
      [
        'search_workers sort_by: nope',
        () => ({ method: 'POST', url: '/v1/agl/workers/search', payload: { sort_by: 'nope' } }),
        400,
        `Invalid sort_by: nope, allowed fields are: ${fieldsOf('Worker')}`,
      ],
      [
        'query_resources sort_by=nope',
        () => ({ method: 'GET', url: '/v1/agl/resources?sort_by=nope' }),
        400,
        `Invalid sort_by: nope, allowed fields are: ${fieldsOf('ResourcesUpdate')}`,
      ],
      [
        'query_spans sort_by=nope',
        (f) => ({ method: 'GET', url: `/v1/agl/spans?rollout_id=${f.rolloutId}&sort_by=nope` }),
        400,
        `Invalid sort_by: nope, allowed fields are: ${fieldsOf('Span-Output')}`,
      ],
      [
        'a method not allowed on a known path',
        () => ({ method: 'GET', url: '/v1/agl/spans/next' }),
        405,
        'Method Not Allowed',
      ],
      ['an unknown path', () => ({ method: 'GET', url: '/v1/agl/nothing/here' }), 404, 'Not Found'],
    ];
    for (const [name, build, status, detail] of cases) {
      it(`${name}: ${status} ${detail}`, async () => {
        const response = await app.inject(build(fixture));
        expect(response.statusCode, response.body).toBe(status);
        expect(response.json().detail).toBe(detail);
        expect(response.json().error.code).toMatch(/^(INVALID_INPUT|NOT_FOUND)$/);
      });
    }

    it('answers values outside the schema (sort_order, filter_logic) with 422 and an HTTPValidationError', async () => {
      const validate = validator({ $ref: '#/components/schemas/HTTPValidationError' });
      for (const url of ['/v1/agl/rollouts?sort_order=up', '/v1/agl/workers?filter_logic=xor']) {
        const response = await app.inject({ method: 'GET', url });
        expect(response.statusCode, url).toBe(422);
        expect(validate(response.json()), JSON.stringify(validate.errors)).toBe(true);
      }
    });

    it('answers GET /v1/agl/statistics with uptime in seconds', async () => {
      const stats = (await app.inject({ method: 'GET', url: '/v1/agl/statistics' })).json();
      expect(Number.isFinite(stats.uptime)).toBe(true);
      expect(stats.uptime).toBeLessThan(600);
      expect(stats).not.toHaveProperty('uptime_ms');
    });
  });

  it('takes an empty body as no body whatever its content type, announced or chunked', async () => {
    const types = [
      undefined,
      'application/octet-stream',
      'application/json',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ];
    const before = (await store.getWorkerById(fixture.workerId))?.heartbeatStats;
    expect(before).not.toBeNull();
    for (const type of types) {
      for (const framing of [{ 'content-length': '0' }, { 'transfer-encoding': 'chunked' }]) {
        const headers = { ...framing, ...(type ? { 'content-type': type } : {}) };
        const response = await app.inject({
          method: 'POST',
          url: `/v1/agl/workers/${fixture.workerId}`,
          headers,
          payload: '',
        });
        expect(response.statusCode, `${type} ${JSON.stringify(framing)}: ${response.body}`).toBe(200);
        // No body: the stats stay as they were.
        expect(response.json().heartbeat_stats).toEqual(before);
      }
    }
    const bytes = await app.inject({
      method: 'POST',
      url: `/v1/agl/workers/${fixture.workerId}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from([1]),
    });
    expect(bytes.statusCode).toBe(415);
    expect(bytes.json()).toMatchObject({ error: { code: 'INVALID_INPUT' }, detail: expect.any(String) });
  });

  it('keeps span extras and user keys as given', async () => {
    const page = await app.inject({
      method: 'POST',
      url: '/v1/agl/spans/search',
      payload: { rollout_id: fixture.rolloutId, span_id: 'b'.repeat(16) },
    });
    const [stored] = page.json().items;
    expect(stored.custom_extra).toBe('kept');
    expect(stored.attributes).toEqual({ 'gen_ai.model': 'm', tokens: 3 });
  });
});

describe('POST /v1/agl/x/spans/batch', () => {
  let store: InMemoryRolloutStore;
  let app: FastifyInstance;
  let ids: { rollout_id: string; attempt_id: string };

  beforeAll(async () => {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store });
    await store.enqueueRollout({ input: 'batch' });
    const claimed = (await store.dequeueRollout({ workerId: 'w' }))!;
    ids = { rollout_id: claimed.rolloutId, attempt_id: claimed.attempt.attemptId };
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });

  it('refuses the malformed spans the single-span route refuses, naming the field, and stores none', async () => {
    const good = { ...ids, trace_id: 't', span_id: 'ok', name: 'fine' };
    const bad = { ...ids, trace_id: 't', span_id: 'bad', name: 'nested', attributes: { deep: { x: 1 } } };
    const single = await post('/v1/agl/spans', bad);
    expect(single.statusCode).toBeGreaterThanOrEqual(400);
    expect(single.statusCode).toBeLessThan(500);
    const batch = await post('/v1/agl/x/spans/batch', { spans: [good, bad] });
    // The same refusal in the route family's own status: 422 on the reference's route, 400 on the extension.
    expect(single.statusCode).toBe(422);
    expect(batch.statusCode, batch.body).toBe(400);
    expect(batch.json().error.code).toBe('INVALID_INPUT');
    expect(batch.body).toContain('attributes');
    expect(await store.querySpans(ids.rollout_id)).toMatchObject({ items: [] });
  });

  it('stores spans that carry only ids and a name, issuing their sequence ids', async () => {
    const spans = ['a', 'b'].map((id) => ({ ...ids, trace_id: 't', span_id: id, name: `s-${id}` }));
    const response = await post('/v1/agl/x/spans/batch', { spans });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ inserted: 2, duplicates: 0 });
    const page = await store.querySpans(ids.rollout_id);
    expect(page.items.map((s) => s.sequenceId)).toEqual([1, 2]);
  });
});
