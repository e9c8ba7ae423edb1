// The bad-input catalogue: several hundred malformed requests over every route family, on SQLite and on
// PostgreSQL. Each must be answered below 500, every error in the coded shape `{ error: { code, message,
// details } }`; afterwards the server still answers and the data stored before is unchanged.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AttemptedRollout,
  createPostgresStore,
  createSqliteStore,
  type DocumentStore,
  PostgresRolloutStore,
  type RolloutStore,
  SessionManager,
  SqliteRolloutStore,
  TtlStore,
} from '../../src/index.ts';
import { referenceOperations } from '../../src/server/agl/reference.ts';
import { createServer } from '../../src/server/createServer.ts';
import { dropSchema, POSTGRES_URL, postgresAvailable, uniqueName } from '../support/services.ts';

interface Backend {
  documents: DocumentStore;
  rollouts: RolloutStore;
  cleanup(): Promise<void>;
}

const backends: Array<{ name: string; available: () => Promise<boolean>; open(): Promise<Backend> }> = [
  {
    name: 'sqlite',
    available: async () => true,
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'agentstate-catalogue-'));
      const path = join(dir, 'agentstate.db');
      const documents = createSqliteStore({ path });
      const rollouts = new SqliteRolloutStore({ path, healthCheckIntervalMs: 0 });
      return {
        documents,
        rollouts,
        async cleanup() {
          await rollouts.close();
          await documents.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    available: postgresAvailable,
    async open() {
      const schema = uniqueName('catalogue');
      const documents = createPostgresStore({ connectionString: POSTGRES_URL, schema });
      const rollouts = new PostgresRolloutStore({
        connectionString: POSTGRES_URL,
        schema: `${schema}_agl`,
        poolSize: 4,
        healthCheckIntervalMs: 0,
      });
      return {
        documents,
        rollouts,
        async cleanup() {
          await rollouts.close();
          await documents.close();
          await dropSchema(schema);
          await dropSchema(`${schema}_agl`);
        },
      };
    },
  },
];

// Values put in place of each field of a valid body. JSON.parse keeps `__proto__` as a plain key.
const deep = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
const BAD_VALUES: readonly unknown[] = [
  null,
  true,
  -1,
  1.5,
  2 ** 53 + 2,
  1e308,
  '',
  'nul\u0000byte',
  'lone\ud800surrogate',
  'x'.repeat(20_000),
  [],
  [null, 'x\u0000'],
  {},
  JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}'),
  deep(64),
];

// Whole bodies: not JSON, JSON of the wrong type, prototype keys, broken encodings.
const RAW_BODIES: ReadonlyArray<{ payload: string | Buffer; headers: Record<string, string> }> = [
  ...['', 'null', '[]', '"text"', '42', '{', '{"a":1}{', '\u0000', '{"a":"\\ud800"}', '{"a":1e999}'].map(
    (payload) => ({ payload, headers: { 'content-type': 'application/json' } }),
  ),
  { payload: '{"__proto__":{"polluted":1}}', headers: { 'content-type': 'application/json' } },
  { payload: Buffer.from([0xff, 0xfe, 0x7b, 0x22]), headers: { 'content-type': 'application/json' } },
  { payload: 'hello', headers: { 'content-type': 'text/plain' } },
  { payload: '{}', headers: { 'content-type': 'application/xml' } },
  {
    payload: Buffer.from('not gzip'),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
  },
  { payload: gzipSync('{"a":'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } },
  { payload: '{}', headers: { 'content-type': 'application/json', 'content-encoding': 'br' } },
];

// Path parameters: NUL, broken percent-encoding, lone surrogates, over-long ids, prototype names.
const BAD_IDS: readonly string[] = [
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%zz',
  '%C0%AF',
  'x'.repeat(300),
  encodeURIComponent('€'.repeat(1025)),
  'x'.repeat(12_000),
  '__proto__',
  'constructor',
  '%2E%2E%2F%2E%2E',
  '%20',
];

// Query strings of list routes.
const BAD_QUERIES: readonly string[] = [
  'limit=-2',
  'limit=abc',
  'limit=1e309',
  'limit=99999999999999999999',
  'offset=-1',
  'offset=1.5',
  'sort_by=__proto__',
  'sort_order=sideways',
  'status_in=nope',
  'filter_logic=xor',
  'prefix=%00',
  'cursor=garbage',
  'cursor=%00',
  'rollout_id=%00',
  'name=%00&name=%00',
  'unknown_field=1',
  'limit=1&limit=2',
];

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path with `{param}` placeholders. */
  path: string;
  params: Record<string, string>;
  body?: Record<string, unknown>;
  query?: boolean;
  /** A valid request never ends (a server-sent event stream): only its malformed queries are sent. */
  streams?: boolean;
}

interface Ids {
  rolloutId: string;
  attemptId: string;
  resourcesId: string;
}

/** Every route family with a valid request to start the mutations from; nothing here touches the seeds. */
function routes(ids: Ids): Route[] {
  const own: Route[] = [
    { method: 'PUT', path: '/v1/state/ns/{id}', params: { id: 'target' }, body: { value: 1, ttlMs: 60_000 } },
    { method: 'GET', path: '/v1/state/ns/{id}', params: { id: 'target' } },
    { method: 'DELETE', path: '/v1/state/ns/{id}', params: { id: 'gone' } },
    { method: 'GET', path: '/v1/state/{namespace}', params: { namespace: 'ns' }, query: true },
    {
      method: 'PUT',
      path: '/v1/ttl/keys/{key}',
      params: { key: 'target' },
      body: { value: 1, ttlMs: 60_000 },
    },
    { method: 'GET', path: '/v1/ttl/keys/{key}', params: { key: 'target' } },
    { method: 'DELETE', path: '/v1/ttl/keys/{key}', params: { key: 'gone' } },
    { method: 'GET', path: '/v1/ttl/keys', params: {}, query: true },
    { method: 'POST', path: '/v1/ttl/keys/{key}/increment', params: { key: 'counter' }, body: { by: 1 } },
    { method: 'POST', path: '/v1/ttl/keys/{key}/expire', params: { key: 'target' }, body: { ttlMs: 60_000 } },
    {
      method: 'POST',
      path: '/v1/ttl/locks/{name}',
      params: { name: 'lock' },
      body: { ttlMs: 100, waitMs: 0 },
    },
    { method: 'POST', path: '/v1/ttl/locks/{name}/release', params: { name: 'lock' }, body: { token: 't' } },
    {
      method: 'POST',
      path: '/v1/ttl/locks/{name}/extend',
      params: { name: 'lock' },
      body: { token: 't', ttlMs: 100 },
    },
    { method: 'POST', path: '/v1/ttl/cooldowns/{name}', params: { name: 'cool' }, body: { ttlMs: 100 } },
    { method: 'POST', path: '/v1/sessions', params: {}, body: { sessionId: 'new', participants: ['u'] } },
    { method: 'GET', path: '/v1/sessions', params: {}, query: true },
    { method: 'GET', path: '/v1/sessions/{sessionId}', params: { sessionId: 'target' } },
    { method: 'DELETE', path: '/v1/sessions/{sessionId}', params: { sessionId: 'gone' } },
    {
      method: 'POST',
      path: '/v1/sessions/{sessionId}/messages',
      params: { sessionId: 'target' },
      body: { message: { text: 'hi' }, senderId: 'u' },
    },
    {
      method: 'GET',
      path: '/v1/sessions/{sessionId}/messages',
      params: { sessionId: 'target' },
      query: true,
    },
    {
      method: 'POST',
      path: '/v1/sessions/{sessionId}/participants',
      params: { sessionId: 'target' },
      body: { participantId: 'p' },
    },
    {
      method: 'PUT',
      path: '/v1/sessions/{sessionId}/context/{key}',
      params: { sessionId: 'target', key: 'k' },
      body: { value: 1 },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{sessionId}/{action}',
      params: { sessionId: 'target', action: 'pause' },
      body: { reason: 'r' },
    },
    {
      method: 'POST',
      path: '/v1/agl/x/spans/batch',
      params: {},
      body: {
        spans: [
          { rollout_id: ids.rolloutId, attempt_id: ids.attemptId, trace_id: 't', span_id: 'b', name: 'n' },
        ],
      },
    },
    { method: 'POST', path: '/v1/agl/x/prune', params: {}, body: { older_than_ms: 3_600_000 } },
    { method: 'POST', path: '/v1/agl/x/health-check', params: {}, body: {} },
    { method: 'GET', path: '/v1/ttl/locks', params: {}, query: true },
    { method: 'GET', path: '/v1/dashboard/figures', params: {}, query: true },
    { method: 'GET', path: '/v1/dashboard/rollouts-per-minute', params: {}, query: true },
    { method: 'GET', path: '/v1/dashboard/rewards', params: {}, query: true },
    { method: 'GET', path: '/v1/dashboard/documents/{namespace}', params: { namespace: 'ns' }, query: true },
    {
      method: 'GET',
      path: '/v1/dashboard/documents/{namespace}/{id}',
      params: { namespace: 'ns', id: 'target' },
    },
    { method: 'GET', path: '/v1/dashboard/ttl-entries', params: {}, query: true },
    { method: 'GET', path: '/v1/events', params: {}, query: true, streams: true },
  ];
  const bodies: Record<string, Record<string, unknown>> = {
    'POST /v1/agl/queues/rollouts/enqueue': { rollouts: [{ input: 1 }] },
    'POST /v1/agl/queues/rollouts/dequeue': { limit: 1, worker_id: 'w' },
    'POST /v1/agl/rollouts': { input: 1, mode: 'train', metadata: {} },
    'POST /v1/agl/rollouts/search': { limit: 5, offset: 0, status_in: ['running'] },
    'POST /v1/agl/rollouts/{rollout_id}': { metadata: { a: 1 }, mode: 'val' },
    'POST /v1/agl/rollouts/{rollout_id}/attempts/search': { limit: 5 },
    'POST /v1/agl/rollouts/{rollout_id}/attempts/{attempt_id}': { worker_id: 'w', metadata: {} },
    'POST /v1/agl/workers/search': { limit: 5, worker_id_contains: 'w' },
    'POST /v1/agl/workers/{worker_id}': { heartbeat_stats: { a: 1 } },
    'POST /v1/agl/resources': {
      main: { resource_type: 'prompt_template', template: 't', engine: 'f-string' },
    },
    'POST /v1/agl/resources/{resources_id}': {
      main: { resource_type: 'prompt_template', template: 't', engine: 'f-string' },
    },
    'POST /v1/agl/spans': {
      rollout_id: ids.rolloutId,
      attempt_id: ids.attemptId,
      trace_id: 't',
      span_id: 's',
      name: 'n',
      attributes: { a: 1 },
    },
    'POST /v1/agl/spans/search': { rollout_id: ids.rolloutId, name_contains: 'n', limit: 5 },
    'POST /v1/agl/spans/next': { rollout_id: ids.rolloutId, attempt_id: ids.attemptId },
    // A wait that can only end at once: no ids, no time.
    'POST /v1/agl/waits/rollouts': { rollout_ids: [], timeout: 0 },
    'POST /v1/traces': {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'aa',
                  spanId: 'otlp',
                  name: 'n',
                  attributes: [
                    { key: 'agentlightning.rollout_id', value: { stringValue: ids.rolloutId } },
                    { key: 'agentlightning.attempt_id', value: { stringValue: ids.attemptId } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    },
  };
  const params: Record<string, string> = {
    rollout_id: ids.rolloutId,
    attempt_id: ids.attemptId,
    worker_id: 'target-worker',
    resources_id: ids.resourcesId,
  };
  const reference: Route[] = referenceOperations().map((op) => {
    const key = `${op.method} ${op.path}`;
    const needed = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    return {
      method: op.method,
      path: op.path,
      params: Object.fromEntries(needed.map((name) => [name, params[name]!])),
      ...(op.method === 'POST' ? { body: bodies[key] ?? {} } : {}),
      ...(op.querystring ? { query: true } : {}),
    };
  });
  return [...own, ...reference];
}

const fill = (path: string, params: Record<string, string>) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? encodeURIComponent(name));

/** The malformed requests derived from one route. */
function mutations(route: Route): InjectOptions[] {
  const base = fill(
    route.path,
    Object.fromEntries(Object.entries(route.params).map(([k, v]) => [k, encodeURIComponent(v)])),
  );
  const out: InjectOptions[] = [];
  if (route.streams) return BAD_QUERIES.map((query) => ({ method: route.method, url: `${base}?${query}` }));
  for (const name of Object.keys(route.params)) {
    for (const bad of BAD_IDS) {
      out.push({
        method: route.method,
        url: fill(route.path, { ...route.params, [name]: bad }),
        ...(route.body ? { payload: route.body } : {}),
      });
    }
  }
  if (route.body) {
    for (const field of Object.keys(route.body)) {
      for (const bad of BAD_VALUES)
        out.push({ method: route.method, url: base, payload: { ...route.body, [field]: bad } });
      const { [field]: _dropped, ...rest } = route.body;
      out.push({ method: route.method, url: base, payload: rest });
    }
    out.push({
      method: route.method,
      url: base,
      payload: { ...route.body, expected_revision: 1, ttl_ms: 5 },
    });
    for (const raw of RAW_BODIES) out.push({ method: route.method, url: base, ...raw });
  }
  if (route.query)
    for (const query of BAD_QUERIES) out.push({ method: route.method, url: `${base}?${query}` });
  out.push({ method: route.method, url: base, headers: { 'idempotency-key': 'k'.repeat(4000) } });
  return out;
}

/** What is wrong with an answer, or undefined when it is a proper answer. */
function problemOf(response: { statusCode: number; body: string }, url: string): string | undefined {
  if (response.statusCode >= 500) return `status ${response.statusCode}: ${response.body.slice(0, 300)}`;
  if (response.statusCode < 400) return undefined;
  let body: { error?: { code?: unknown; message?: unknown; details?: unknown } };
  try {
    body = JSON.parse(response.body);
  } catch {
    return `status ${response.statusCode} without a JSON body: ${response.body.slice(0, 200)}`;
  }
  const error = body.error;
  const coded =
    typeof error === 'object' &&
    error !== null &&
    typeof error.code === 'string' &&
    /^[A-Z_]+$/.test(error.code) &&
    typeof error.message === 'string' &&
    typeof error.details === 'object' &&
    error.details !== null;
  if (!coded) return `status ${response.statusCode} not in the coded shape: ${response.body.slice(0, 200)}`;
  // Only /v1/agl adds FastAPI's `detail`, and only /v1/traces the OTLP Status fields; nothing else.
  const allowed = url.startsWith('/v1/traces')
    ? ['error', 'code', 'message', 'details']
    : url.startsWith('/v1/agl/')
      ? ['error', 'detail']
      : ['error'];
  const extra = Object.keys(body).filter((key) => !allowed.includes(key));
  return extra.length > 0 ? `unexpected keys ${extra.join(', ')}` : undefined;
}

for (const backend of backends) {
  const available = await backend.available();
  describe.skipIf(!available)(`bad-input catalogue: ${backend.name}`, () => {
    let stores: Backend;
    let app: FastifyInstance;
    let ttl: TtlStore;
    let sessions: SessionManager;
    let seed: AttemptedRollout;
    let target: AttemptedRollout;
    let resourcesId: string;
    let targetResourcesId: string;
    let before: unknown;
    let total = 0;

    /** Everything stored before the catalogue runs, as read through the stores. */
    const snapshot = async () => ({
      document: await stores.documents.get('seed', 'doc'),
      ttl: await ttl.get('seed'),
      // durationMs grows with the clock; everything else of the summary must stay.
      session: { ...sessions.getSession('seed')?.summary(), durationMs: 0 },
      messages: sessions.getSession('seed')?.getMessages({}),
      rollout: await stores.rollouts.getRolloutById(seed.rolloutId),
      spans: (await stores.rollouts.querySpans(seed.rolloutId)).items,
      resources: await stores.rollouts.getResourcesById(resourcesId),
    });

    beforeAll(async () => {
      stores = await backend.open();
      ttl = new TtlStore({ sweepIntervalMs: 0 });
      sessions = new SessionManager({ store: stores.documents });
      app = await createServer({ documents: stores.documents, rollouts: stores.rollouts, ttl, sessions });
      await stores.documents.put('seed', 'doc', { kept: true, list: [1, 2, 3] });
      await ttl.set('seed', { kept: true });
      sessions.createSession('seed', { participants: ['alice'] }).addMessage({ text: 'kept' }, 'alice');
      sessions.createSession('target');
      await sessions.saveAll();
      seed = await stores.rollouts.startRollout({ input: { kept: true }, metadata: { m: 1 } });
      await stores.rollouts.addSpan({
        rolloutId: seed.rolloutId,
        attemptId: seed.attempt.attemptId,
        traceId: 'seed-trace',
        spanId: 'seed-span',
        name: 'kept',
      });
      target = await stores.rollouts.startRollout({ input: 'target' });
      resourcesId = (
        await stores.rollouts.addResources({
          main: { resourceType: 'prompt_template', template: 'kept', engine: 'f-string' },
        })
      ).resourcesId;
      targetResourcesId = (
        await stores.rollouts.addResources({
          main: { resourceType: 'prompt_template', template: 'target', engine: 'f-string' },
        })
      ).resourcesId;
      before = await snapshot();
    });
    afterAll(async () => {
      await app?.close();
      sessions?.close();
      await ttl?.close();
      await stores?.cleanup();
    });

    const families = [
      '/v1/state',
      '/v1/ttl',
      '/v1/sessions',
      '/v1/agl/x/',
      '/v1/agl/',
      '/v1/traces',
      '/v1/dashboard',
      '/v1/events',
    ];
    const familyOf = (path: string) =>
      families.filter((prefix) => path.startsWith(prefix)).sort((a, b) => b.length - a.length)[0] ?? 'other';

    for (const family of [...families, 'other']) {
      it(`answers malformed requests to ${family} below 500 in the coded shape`, async () => {
        const ids = {
          rolloutId: target.rolloutId,
          attemptId: target.attempt.attemptId,
          resourcesId: targetResourcesId,
        };
        const failures: string[] = [];
        let count = 0;
        for (const route of routes(ids).filter((r) => familyOf(r.path) === family)) {
          for (const request of mutations(route)) {
            const response = await app.inject(request);
            count++;
            const problem = problemOf(response, String(request.url));
            if (problem) {
              const payload =
                typeof request.payload === 'object' && !Buffer.isBuffer(request.payload)
                  ? JSON.stringify(request.payload).slice(0, 120)
                  : String(request.payload ?? '').slice(0, 60);
              failures.push(
                `${request.method} ${String(request.url).slice(0, 100)} ${payload} -> ${problem}`,
              );
            }
          }
        }
        total += count;
        console.log(`${backend.name} ${family}: ${count} malformed requests`);
        expect(failures, failures.slice(0, 20).join('\n')).toEqual([]);
      });
    }

    it('is still serving, with everything stored before unchanged', async () => {
      expect(total).toBeGreaterThan(500);
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      expect(await snapshot()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const read = await app.inject({ method: 'GET', url: '/v1/state/seed/doc' });
      expect(read.json().value).toEqual({ kept: true, list: [1, 2, 3] });
    });
  });
}
