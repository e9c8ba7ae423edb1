// Ids as long as a route accepts can be read back; the router's and the HTTP parser's own errors answer in
// the coded shape; `__proto__` keys are stored as plain data over HTTP as in the library.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_ID_LENGTH } from '../../src/drivers/shared/validate.ts';
import { MAX_ROLLOUT_ID_LENGTH } from '../../src/rollouts/normalize.ts';
import { createServer } from '../../src/server/createServer.ts';
import { useMemoryServer } from '../support/memoryServer.ts';

const server = useMemoryServer();
const { documents, rollouts, sessions } = server;

const enc = encodeURIComponent;
// Three UTF-8 bytes each, nine characters percent-encoded: the longest form an id can take in a path.
const longest = (length: number) => '€'.repeat(length);

function expectCoded(res: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: { code: string; message: string; details: object } };
  // /v1/agl answers also carry FastAPI's `detail` beside the coded error.
  expect(Object.keys(body).filter((key) => key !== 'detail')).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.error.details).toBe('object');
}

describe('id limits agree between bodies, paths and stores', () => {
  it('reads back a session created with the longest id a POST accepts (ids over 100 characters got 414)', async () => {
    for (const id of ['s'.repeat(150), longest(MAX_ID_LENGTH)]) {
      const created = await server.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        payload: { sessionId: id },
      });
      expect(created.statusCode).toBe(201);
      const read = await server.app.inject({ method: 'GET', url: `/v1/sessions/${enc(id)}` });
      expect(read.statusCode).toBe(200);
      expect(read.json().sessionId).toBe(id);
    }
    const tooLong = longest(MAX_ID_LENGTH + 1);
    expectCoded(
      await server.app.inject({ method: 'POST', url: '/v1/sessions', payload: { sessionId: tooLong } }),
      400,
      'INVALID_INPUT',
    );
    expectCoded(
      await server.app.inject({ method: 'GET', url: `/v1/sessions/${enc(tooLong)}` }),
      400,
      'INVALID_INPUT',
    );
  });

  it('stores and reads documents, TTL keys and workers at their longest ids', async () => {
    const docId = longest(MAX_ID_LENGTH);
    const put = await server.app.inject({
      method: 'PUT',
      url: `/v1/state/ns/${enc(docId)}`,
      payload: { value: 1 },
    });
    expect(put.statusCode).toBe(201);
    expect((await server.app.inject({ method: 'GET', url: `/v1/state/ns/${enc(docId)}` })).json().id).toBe(
      docId,
    );
    const key = longest(1024);
    await server.app.inject({ method: 'PUT', url: `/v1/ttl/keys/${enc(key)}`, payload: { value: 2 } });
    expect((await server.app.inject({ method: 'GET', url: `/v1/ttl/keys/${enc(key)}` })).json().value).toBe(
      2,
    );
    const worker = longest(MAX_ROLLOUT_ID_LENGTH);
    const updated = await server.app.inject({
      method: 'POST',
      url: `/v1/agl/workers/${enc(worker)}`,
      payload: {},
    });
    expect(updated.statusCode).toBe(200);
    expect(
      (await server.app.inject({ method: 'GET', url: `/v1/agl/workers/${enc(worker)}` })).json().worker_id,
    ).toBe(worker);
    const tooLong = await server.app.inject({
      method: 'GET',
      url: `/v1/agl/workers/${enc(longest(MAX_ROLLOUT_ID_LENGTH + 1))}`,
    });
    expectCoded(tooLong, 422, 'INVALID_INPUT');
    expect(tooLong.json().error.details.field).toBe('workerId');
  });

  it('refuses NUL in ids with 400 naming the field, on every route family', async () => {
    const cases: Array<[string, string, object | undefined, string]> = [
      ['PUT', '/v1/state/ns/a%00b', { value: 1 }, 'id'],
      ['POST', '/v1/sessions', { sessionId: 'a\u0000b' }, 'sessionId'],
      ['GET', '/v1/agl/rollouts/ro-%00', undefined, 'rolloutId'],
      ['POST', '/v1/agl/workers/w%00', {}, 'workerId'],
      // A lone surrogate would come back from SQLite and PostgreSQL as U+FFFD: another id.
      ['POST', '/v1/agl/rollouts', { input: 1, worker_id: 'w\ud800' }, 'workerId'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await server.app.inject({ method: method as 'GET', url, ...(payload ? { payload } : {}) });
      expectCoded(res, url.startsWith('/v1/agl/') ? 422 : 400, 'INVALID_INPUT');
      expect(res.json().error.details.field, url).toBe(field);
    }
    expect(sessions.listSessions().some((s) => s.sessionId.includes('\u0000'))).toBe(false);
  });
});

describe('errors of the router and the HTTP parser', () => {
  it('answers a path that is not valid UTF-8 and an over-long path parameter in the coded shape', async () => {
    for (const url of ['/v1/state/ns/%ED%A0%80', '/v1/state/ns/%zz', '/v1/agl/rollouts/%C0']) {
      const res = await server.app.inject({ method: 'GET', url });
      expectCoded(res, 400, 'INVALID_INPUT');
      expect(res.json().error.details).toMatchObject({ field: 'url', fastifyCode: 'FST_ERR_BAD_URL' });
    }
    const huge = await server.app.inject({ method: 'GET', url: `/v1/state/ns/${'a'.repeat(20_000)}` });
    expectCoded(huge, 414, 'INVALID_INPUT');
    expect(huge.body.length).toBeLessThan(1000);
  });

  it('answers oversized headers (431) and bytes that are not HTTP (400) in the coded shape', async () => {
    const server = await createServer({ documents });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.server.address() as { port: number };
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk;
        });
        socket.on('close', () => resolve(data));
        // The server closes the socket while a large request is still being sent: a reset after its answer.
        socket.on('error', () => resolve(data));
      });
    try {
      for (const [request, status, code] of [
        [
          `GET /health HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
          431,
          'CAPACITY_EXCEEDED',
        ],
        [`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 431, 'CAPACITY_EXCEEDED'],
        ['NONSENSE\r\n\r\n', 400, 'INVALID_INPUT'],
      ] as const) {
        const answer = await raw(request);
        expect(answer.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
        expect(body.error).toMatchObject({ code, details: expect.any(Object) });
      }
      // The server is still there.
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('__proto__ and constructor keys over HTTP', () => {
  const tricky = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"ok":true}';
  const asJson = { 'content-type': 'application/json' };

  it('stores them as plain keys and reads them back, polluting nothing', async () => {
    const put = await server.app.inject({
      method: 'PUT',
      url: '/v1/state/ns/proto',
      headers: asJson,
      payload: `{"value":${tricky}}`,
    });
    expect(put.statusCode).toBe(201);
    const read = await server.app.inject({ method: 'GET', url: '/v1/state/ns/proto' });
    expect(read.body).toContain('"__proto__":{"polluted":1}');
    expect(Object.hasOwn(read.json().value, '__proto__')).toBe(true);

    await server.app.inject({
      method: 'PUT',
      url: '/v1/ttl/keys/proto',
      headers: asJson,
      payload: `{"value":${tricky}}`,
    });
    expect((await server.app.inject({ method: 'GET', url: '/v1/ttl/keys/proto' })).body).toContain(
      '"__proto__"',
    );

    await server.app.inject({ method: 'POST', url: '/v1/sessions', payload: { sessionId: 'proto' } });
    const message = await server.app.inject({
      method: 'POST',
      url: '/v1/sessions/proto/messages',
      headers: asJson,
      payload: `{"message":${tricky}}`,
    });
    expect(message.statusCode).toBe(201);
    expect(message.body).toContain('"__proto__"');

    const rollout = await server.app.inject({
      method: 'POST',
      url: '/v1/agl/rollouts',
      headers: asJson,
      payload: `{"input":${tricky},"metadata":${tricky}}`,
    });
    expect(rollout.statusCode).toBe(201);
    const stored = await rollouts.getRolloutById(rollout.json().rollout_id);
    expect(Object.hasOwn(stored!.input as object, '__proto__')).toBe(true);
    expect(Object.hasOwn(stored!.metadata ?? {}, '__proto__')).toBe(true);

    const { rollout_id, attempt } = rollout.json();
    const span = await server.app.inject({
      method: 'POST',
      url: '/v1/agl/spans',
      headers: asJson,
      payload: `{"rollout_id":"${rollout_id}","attempt_id":"${attempt.attempt_id}","trace_id":"t","span_id":"s","name":"n","attributes":{"__proto__":"x","constructor":"y"},"__proto__":{"polluted":3}}`,
    });
    expect(span.statusCode, span.body).toBe(201);
    expect(Object.getPrototypeOf(span.json())).toBe(Object.prototype);
    expect(span.body).toContain('"__proto__":{"polluted":3}');
    expect(span.json().attributes).toEqual(JSON.parse('{"__proto__":"x","constructor":"y"}'));

    const otlp = await server.app.inject({
      method: 'POST',
      url: '/v1/traces',
      payload: {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: 'aa',
                    spanId: 'otlp-proto',
                    name: 'n',
                    attributes: [
                      { key: 'agentlightning.rollout_id', value: { stringValue: rollout_id } },
                      { key: 'agentlightning.attempt_id', value: { stringValue: attempt.attempt_id } },
                      {
                        key: 'map',
                        value: {
                          kvlistValue: { values: [{ key: '__proto__', value: { stringValue: 'x' } }] },
                        },
                      },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
    });
    expect(otlp.json()).toEqual({});
    const spans = await rollouts.querySpans(rollout_id, { spanId: 'otlp-proto' });
    expect(spans.items[0]!.attributes.map).toBe('{"__proto__":"x"}');

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
