import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentStateError, createMemoryStore, InMemoryRolloutStore } from '../../src/index.ts';
import {
  parseTokenArgument,
  readTokensFile,
  TokenAuthenticator,
  type TokenScope,
} from '../../src/server/auth.ts';
import { createServer } from '../../src/server/createServer.ts';
import { isLoopbackHost, listenServer } from '../../src/server/listen.ts';
import { redactUrl, scrubSecrets } from '../../src/server/redact.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof createServer>[0] = {}) {
  const documents = createMemoryStore();
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const app = await createServer({ documents, rollouts, ...options });
  cleanups.push(
    () => rollouts.close(),
    () => documents.close(),
    () => app.close(),
  );
  return { app, documents, rollouts };
}

const TOKENS = [
  { token: 'reader-token-123', scope: 'read' as const, name: 'reader' },
  { token: 'writer-token-123', scope: 'write' as const, name: 'writer' },
  { token: 'admin-token-1234', scope: 'admin' as const, name: 'admin' },
];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('bearer tokens and scopes', () => {
  it('refuses requests without a valid token with 401 UNAUTHORIZED', async () => {
    const { app } = await server({ tokens: TOKENS });
    const missing = await app.inject({ method: 'GET', url: '/v1/agl/rollouts' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('UNAUTHORIZED');
    const wrong = await app.inject({
      method: 'GET',
      url: '/v1/agl/rollouts',
      headers: bearer('reader-token-124'),
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('lets a read token read but not write (403 FORBIDDEN), and a write token write', async () => {
    const { app } = await server({ tokens: TOKENS });
    expect(
      (await app.inject({ method: 'GET', url: '/v1/agl/rollouts', headers: bearer('reader-token-123') }))
        .statusCode,
    ).toBe(200);
    const search = await app.inject({
      method: 'POST',
      url: '/v1/agl/rollouts/search',
      headers: bearer('reader-token-123'),
      payload: {},
    });
    expect(search.statusCode).toBe(200);
    const denied = await app.inject({
      method: 'POST',
      url: '/v1/agl/rollouts',
      headers: bearer('reader-token-123'),
      payload: { input: 1 },
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error).toMatchObject({
      code: 'FORBIDDEN',
      details: { needed: 'write', granted: 'read' },
    });
    const allowed = await app.inject({
      method: 'POST',
      url: '/v1/agl/rollouts',
      headers: bearer('writer-token-123'),
      payload: { input: 1 },
    });
    expect(allowed.statusCode).toBe(201);
  });

  it('keeps admin routes for admin tokens', async () => {
    const { app } = await server({ tokens: TOKENS });
    const denied = await app.inject({
      method: 'POST',
      url: '/v1/agl/x/health-check',
      headers: bearer('writer-token-123'),
    });
    expect(denied.statusCode).toBe(403);
    const allowed = await app.inject({
      method: 'POST',
      url: '/v1/agl/x/health-check',
      headers: bearer('admin-token-1234'),
    });
    expect(allowed.statusCode).toBe(200);
  });

  it('leaves the health checks open', async () => {
    const { app } = await server({ tokens: TOKENS });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/agl/health' })).statusCode).toBe(200);
  });

  it('matches tokens by digest and refuses short tokens', () => {
    const auth = new TokenAuthenticator(TOKENS);
    expect(auth.authenticate('admin-token-1234')).toEqual({ name: 'admin', scope: 'admin' });
    expect(auth.authenticate('admin-token-123')).toBeUndefined();
    expect(auth.authenticate('')).toBeUndefined();
    expect(() => new TokenAuthenticator([{ token: 'short' }])).toThrow(/at least 8/);
  });

  it('refuses a scope that is not read, write or admin, inherited object keys included', () => {
    for (const scope of ['owner', 'toString', 'constructor', '__proto__']) {
      expect(
        () => new TokenAuthenticator([{ token: 'long-enough-token', scope: scope as TokenScope }]),
      ).toThrow(/unknown token scope/);
    }
  });
});

describe('token specs', () => {
  it('refuses a mistyped --token scope instead of granting admin to the whole text', () => {
    expect(parseTokenArgument('s3cretpass')).toEqual({ token: 's3cretpass', scope: 'admin' });
    expect(parseTokenArgument('s3cretpass:read')).toEqual({ token: 's3cretpass', scope: 'read' });
    expect(parseTokenArgument('a:b:c:write')).toEqual({ token: 'a:b:c', scope: 'write' });
    for (const spec of ['s3cretpass:reader', 's3cretpass:ADMIN', 's3cretpass:', 'x:toString']) {
      expect(() => parseTokenArgument(spec), spec).toThrow(/unknown token scope .*read, write, admin/);
    }
  });

  it('names the line or entry of a tokens file with an unknown scope', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentstate-tokens-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const lines = join(dir, 'tokens.txt');
    await writeFile(lines, 'reader-token-123 read ci\n\nwriter-token-123 wirte ops\n');
    await expect(readTokensFile(lines)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { line: 3, scope: 'wirte', validScopes: ['read', 'write', 'admin'] },
    });
    const json = join(dir, 'tokens.json');
    await writeFile(json, JSON.stringify([{ token: 'reader-token-123', scope: 'reader' }]));
    await expect(readTokensFile(json)).rejects.toMatchObject({ details: { index: 0, scope: 'reader' } });
    await writeFile(lines, 'reader-token-123 read ci\nadmin-token-1234\n');
    expect(await readTokensFile(lines)).toEqual([
      { token: 'reader-token-123', scope: 'read', name: 'ci' },
      { token: 'admin-token-1234', scope: 'admin' },
    ]);
  });
});

describe('binding', () => {
  it('refuses a non-loopback address without tokens unless insecure', async () => {
    const { app } = await server();
    await expect(listenServer(app, { host: '0.0.0.0', port: 0 })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const address = await listenServer(app, { host: '0.0.0.0', port: 0, insecure: true });
    expect(address).toMatch(/^http:/);
  });

  it('binds a non-loopback address when tokens are configured', async () => {
    const { app } = await server({ tokens: TOKENS });
    await expect(listenServer(app, { host: '0.0.0.0', port: 0 })).resolves.toMatch(/^http:/);
  });

  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]'])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('limits and errors', () => {
  it('refuses bodies over the limit with 413 CAPACITY_EXCEEDED', async () => {
    const { app } = await server({ bodyLimitBytes: 1024 });
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/state/ns/big',
      payload: { value: 'x'.repeat(5000) },
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('CAPACITY_EXCEEDED');
  });

  it('measures gzip bodies after inflating them (a small gzip bomb is refused)', async () => {
    const { app } = await server({ bodyLimitBytes: 10_000 });
    const bomb = gzipSync(JSON.stringify({ value: 'x'.repeat(1_000_000) }));
    expect(bomb.length).toBeLessThan(10_000);
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const refused = await app.inject({ method: 'PUT', url: '/v1/state/ns/bomb', headers, payload: bomb });
    expect(refused.statusCode).toBe(413);
    const small = await app.inject({
      method: 'PUT',
      url: '/v1/state/ns/ok',
      headers,
      payload: gzipSync('{"value":1}'),
    });
    expect(small.statusCode).toBe(201);
    const broken = await app.inject({
      method: 'PUT',
      url: '/v1/state/ns/x',
      headers,
      payload: Buffer.from('not gzip'),
    });
    expect(broken.statusCode).toBe(400);
    const unknown = await app.inject({
      method: 'PUT',
      url: '/v1/state/ns/x',
      headers: { ...headers, 'content-encoding': 'br' },
      payload: '{"value":1}',
    });
    expect(unknown.json().error).toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'headers.content-encoding' },
    });
  });

  it('never sends a stack trace: unexpected errors become INTERNAL', async () => {
    const { app, documents } = await server();
    documents.get = async () => {
      throw new Error('disk on fire at /secret/path');
    };
    const response = await app.inject({ method: 'GET', url: '/v1/state/ns/x' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: { code: 'INTERNAL', message: 'internal server error; see the server log', details: {} },
    });
    expect(response.body).not.toContain('disk on fire');
    expect(response.body).not.toContain('at ');
  });
});

describe('internal errors', () => {
  it("never sends a database's own text: INTERNAL errors answer with the generic message", async () => {
    const { app, documents } = await server();
    documents.get = async () => {
      throw new AgentStateError('INTERNAL', 'postgres store (schema s): invalid byte sequence for encoding', {
        pgCode: '22021',
      });
    };
    const response = await app.inject({ method: 'GET', url: '/v1/state/ns/x' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      error: { code: 'INTERNAL', message: 'internal server error; see the server log', details: {} },
    });
  });
});

/** A log stream that keeps every line written to it. */
function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { lines, stream };
}

describe('logging', () => {
  it('never logs bearer tokens or api keys', async () => {
    const { lines, stream } = logCapture();
    const { app, rollouts } = await server({ tokens: TOKENS, logger: { level: 'trace', stream } });
    await app.inject({
      method: 'POST',
      url: '/v1/agl/resources',
      headers: bearer('admin-token-1234'),
      payload: {
        main: { resource_type: 'llm', endpoint: 'http://llm', model: 'm', api_key: 'sk-live-SECRET-1' },
      },
    });
    // An error whose details carry a secret is logged with the secret scrubbed.
    rollouts.statistics = async () => {
      throw Object.assign(new Error('boom'), {
        details: { apiKey: 'sk-live-SECRET-2', nested: { password: 'hunter22' } },
      });
    };
    const failed = await app.inject({
      method: 'GET',
      url: '/v1/agl/statistics',
      headers: bearer('admin-token-1234'),
    });
    expect(failed.statusCode).toBe(500);
    const log = lines.join('');
    expect(log).toContain('request failed');
    expect(log).not.toContain('admin-token-1234');
    expect(log).not.toContain('SECRET');
    expect(log).not.toContain('hunter22');
  });

  it('redacts secret-looking query parameters from logged URLs', async () => {
    const { lines, stream } = logCapture();
    // Requests are logged at debug (at info a healthy server logs none of them).
    const { app } = await server({ logger: { level: 'debug', stream } });
    await app.inject({
      method: 'GET',
      url: '/v1/agl/rollouts?api_key=sk-live-SECRET-3&limit=5&token=tok-SECRET-4&Password=SECRET-5&key=SECRET-6',
    });
    await app.inject({ method: 'GET', url: '/no/such/route?access_token=SECRET-7' });
    const log = lines.join('');
    expect(log).toContain('/v1/agl/rollouts?api_key=[redacted]&limit=5&token=[redacted]');
    expect(log).not.toContain('SECRET');
  });

  it('redacts only the values of secret-looking query parameters', () => {
    expect(redactUrl('/a?b=1&client_secret=x&sig=y&c&d=%20')).toBe(
      '/a?b=1&client_secret=[redacted]&sig=[redacted]&c&d=%20',
    );
    expect(redactUrl('/a?api%5Fkey=x')).toBe('/a?api%5Fkey=[redacted]');
    expect(redactUrl('/a?%zz=1')).toBe('/a?%zz=1');
    expect(redactUrl('/plain/path')).toBe('/plain/path');
  });

  it('redacts the signature of signed URLs, whatever its prefix', () => {
    expect(
      redactUrl(
        '/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=c&X-Amz-Signature=s1&X-Goog-Signature=s2&hmac_sig=s3&config=1',
      ),
    ).toBe(
      '/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Goog-Signature=[redacted]&hmac_sig=[redacted]&config=1',
    );
  });

  it('logs what lies deeper than it searches as [truncated], never as is', () => {
    let deep: unknown = { api_key: 'sk-deep', note: 'n' };
    for (let i = 0; i < 12; i++) deep = { level: deep };
    const scrubbed = JSON.stringify(scrubSecrets(deep));
    expect(scrubbed).not.toContain('sk-deep');
    expect(scrubbed).toContain('[truncated]');
    expect(scrubSecrets({ a: { b: 1 } })).toEqual({ a: { b: 1 } });
  });

  it('scrubs secret-looking keys at any depth', () => {
    expect(
      scrubSecrets({ a: { api_key: 'k', apiKey: 'k', token: 't', list: [{ password: 'p' }], model: 'm' } }),
    ).toEqual({
      a: {
        api_key: '[redacted]',
        apiKey: '[redacted]',
        token: '[redacted]',
        list: [{ password: '[redacted]' }],
        model: 'm',
      },
    });
  });
});
