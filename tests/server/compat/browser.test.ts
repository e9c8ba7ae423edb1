/**
 * A browser page on another origin (a dashboard) calling the Agent Lightning routes: the CORS preflight and
 * the request as Chrome sends them. CORS is off unless `corsOrigins` names the page's origin (or `*`).
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../../src/index.ts';
import { normalizeCorsOrigins } from '../../../src/server/cors.ts';
import { createServer, type ServerOptions } from '../../../src/server/createServer.ts';

const DASHBOARD = 'https://dash.example.com';
const CHROME = {
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  accept: '*/*',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'sec-fetch-mode': 'cors',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-dest': 'empty',
};

describe('browser pages on another origin (CORS)', () => {
  let app: FastifyInstance | undefined;
  let store: InMemoryRolloutStore | undefined;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  async function server(options: Partial<ServerOptions>): Promise<FastifyInstance> {
    store = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
    app = await createServer({ rollouts: store, ...options });
    return app;
  }

  const preflight = (target: FastifyInstance, origin: string) =>
    target.inject({
      method: 'OPTIONS',
      url: '/v1/agl/queues/rollouts/enqueue',
      headers: {
        ...CHROME,
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,idempotency-key',
      },
    });

  it('is off by default: no CORS headers, and the preflight finds no OPTIONS route (405)', async () => {
    const target = await server({});
    const response = await preflight(target, DASHBOARD);
    expect(response.statusCode).toBe(405);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const read = await target.inject({
      method: 'GET',
      url: '/v1/agl/statistics',
      headers: { ...CHROME, origin: DASHBOARD },
    });
    expect(read.statusCode).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers the preflight of an allowed origin, allowing the authorization and idempotency-key headers', async () => {
    const target = await server({
      corsOrigins: [DASHBOARD, 'http://localhost:5173'],
      tokens: [{ token: 'writer-token-123', scope: 'write' }],
    });
    const response = await preflight(target, DASHBOARD);
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(DASHBOARD);
    const allowedHeaders = String(response.headers['access-control-allow-headers']).split(/,\s*/);
    expect(allowedHeaders).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'idempotency-key']),
    );
    expect(String(response.headers['access-control-allow-methods'])).toContain('POST');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(response.headers.vary).toContain('Origin');

    const enqueue = await target.inject({
      method: 'POST',
      url: '/v1/agl/queues/rollouts/enqueue',
      headers: {
        ...CHROME,
        origin: DASHBOARD,
        authorization: 'Bearer writer-token-123',
        'idempotency-key': 'dash-1',
      },
      payload: { rollouts: [{ input: 'from the dashboard' }] },
    });
    expect(enqueue.statusCode, enqueue.body).toBe(201);
    expect(enqueue.headers['access-control-allow-origin']).toBe(DASHBOARD);

    // The token is still needed; the page can read why it was refused.
    const anonymous = await target.inject({
      method: 'GET',
      url: '/v1/agl/statistics',
      headers: { ...CHROME, origin: DASHBOARD },
    });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['access-control-allow-origin']).toBe(DASHBOARD);
  });

  it('gives other origins no CORS headers, so their pages cannot read the answers', async () => {
    const target = await server({
      corsOrigins: [DASHBOARD],
      tokens: [{ token: 'reader-token-123', scope: 'read' }],
    });
    const response = await preflight(target, 'https://evil.example.net');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const read = await target.inject({
      method: 'GET',
      url: '/v1/agl/statistics',
      headers: { ...CHROME, origin: 'https://evil.example.net' },
    });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows every origin with *', async () => {
    const target = await server({
      corsOrigins: ['*'],
      tokens: [{ token: 'reader-token-123', scope: 'read' }],
    });
    const response = await preflight(target, 'https://any.example.org');
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });

  it('refuses CORS on a server without tokens unless insecure is set', async () => {
    await expect(server({ corsOrigins: ['*'] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const open = await server({ corsOrigins: [DASHBOARD], insecure: true });
    const response = await preflight(open, DASHBOARD);
    expect(response.headers['access-control-allow-origin']).toBe(DASHBOARD);
  });

  it('refuses a configured origin that is not an origin, naming it', () => {
    expect(normalizeCorsOrigins([' * ', DASHBOARD])).toEqual(['*']);
    expect(normalizeCorsOrigins([DASHBOARD, DASHBOARD])).toEqual([DASHBOARD]);
    for (const bad of ['dash.example.com', 'https://dash.example.com/', 'https://dash.example.com/app']) {
      expect(() => normalizeCorsOrigins([bad])).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });
});
