/**
 * The dashboard: how its files are served (content types, CSP, caching, no path traversal, public even
 * with tokens), that every API path its script calls exists, and its pure formatting helpers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../src/index.ts';
import { createServer } from '../../src/server/createServer.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof createServer>[0] = {}) {
  const rollouts = new InMemoryRolloutStore({ healthCheckIntervalMs: 0 });
  const app = await createServer({ rollouts, ...options });
  cleanups.push(
    () => rollouts.close(),
    () => app.close(),
  );
  return app;
}

const ASSETS_DIR = new URL('../../src/server/dashboard/assets/', import.meta.url);
const source = (name: string) => readFileSync(new URL(name, ASSETS_DIR), 'utf8');
const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
/** Every script module of the dashboard, read from the directory so a new file cannot escape the checks. */
const SCRIPTS = readdirSync(ASSETS_DIR)
  .filter((name) => name.endsWith('.js'))
  .sort();

describe('dashboard files', () => {
  it('serves the page at / as HTML with a strict Content-Security-Policy', async () => {
    const app = await server();
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<script type="module" src="/dashboard/app.js"></script>');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('keeps the page free of inline scripts, inline styles and remote URLs', async () => {
    const app = await server();
    const html = (await app.inject({ method: 'GET', url: '/' })).body;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it.each([
    ...SCRIPTS.map((name) => [name, 'text/javascript; charset=utf-8']),
    ['style.css', 'text/css; charset=utf-8'],
    ['icon.svg', 'image/svg+xml'],
  ])('serves /dashboard/%s as %s, revalidated by ETag', async (name, type) => {
    const app = await server();
    const res = await app.inject({ method: 'GET', url: `/dashboard/${name}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.body).toBe(source(name));
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    const etag = String(res.headers.etag);
    const again = await app.inject({
      method: 'GET',
      url: `/dashboard/${name}`,
      headers: { 'if-none-match': etag },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it.each([
    '/dashboard/nope.js',
    '/dashboard/index.html',
    '/dashboard/',
    '/dashboard/..%2fpackage.json',
    '/dashboard/..%2f..%2f..%2fpackage.json',
    '/dashboard/../../package.json',
    '/dashboard/%2e%2e/%2e%2e/package.json',
    '/dashboard/assets/app.js',
    '/dashboard/app.js%00.json',
  ])('answers %s with a 404 and never file contents', async (url) => {
    const app = await server();
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
    expect(res.body).not.toContain('"devDependencies"');
    expect(res.body).not.toContain(PACKAGE_JSON.slice(0, 40));
  });

  it('is read-only: other methods are not allowed (405, Allow: GET, HEAD)', async () => {
    const app = await server();
    for (const url of ['/', '/dashboard/app.js']) {
      for (const method of ['POST', 'PUT', 'DELETE'] as const) {
        const response = await app.inject({ method, url });
        expect(response.statusCode).toBe(405);
        expect(response.headers.allow).toBe('GET, HEAD');
      }
    }
  });

  it('stays public when tokens are configured, while the API still needs a token', async () => {
    const app = await server({ tokens: [{ token: 'reader-token-123', scope: 'read' }] });
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/dashboard/app.js' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/agl/rollouts' })).statusCode).toBe(401);
    const withToken = await app.inject({
      method: 'GET',
      url: '/v1/agl/rollouts',
      headers: { authorization: 'Bearer reader-token-123' },
    });
    expect(withToken.statusCode).toBe(200);
  });

  it('is not listed in /openapi.json', async () => {
    const app = await server();
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/dashboard'))).toEqual([]);
  });
});

describe('dashboard script', () => {
  const script = SCRIPTS.map(source).join('\n');

  it('is split into the modules the page needs', () => {
    expect(SCRIPTS).toEqual(expect.arrayContaining(['app.js', 'format.js', 'api.js', 'dom.js']));
  });

  it('imports only modules the server serves, by relative URL', async () => {
    const app = await server();
    for (const name of SCRIPTS) {
      // Static imports, side-effect imports and `import('...')` (also in JSDoc types) all name a file.
      const specifiers = [...source(name).matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]*)['"]/g)].map(
        (match) => match[1]!,
      );
      if (name === 'app.js') expect(specifiers.length).toBeGreaterThan(5);
      for (const specifier of specifiers) {
        // index.html loads /dashboard/app.js, so `./x.js` resolves to /dashboard/x.js.
        expect(specifier, `${name} imports ${specifier}`).toMatch(/^\.\/[\w-]+\.js$/);
        const res = await app.inject({ method: 'GET', url: `/dashboard/${specifier.slice(2)}` });
        expect(res.statusCode, `${name} imports ${specifier}`).toBe(200);
        expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
      }
    }
  });

  /** `/v1/agl/...` string and template literals of the script, `${...}` parts as `{}`. */
  function calledPaths(): string[] {
    const found = new Set<string>();
    for (const match of script.matchAll(/['`](\/v1\/agl(?:\/(?:[\w-]+|\$\{[^}]*\}))+)['`]/g)) {
      found.add(match[1]!.replace(/\$\{[^}]*\}/g, '{}'));
    }
    return [...found].sort();
  }

  it('calls only GET routes of the Agent Lightning reference', async () => {
    const reference = JSON.parse(
      readFileSync(new URL('../../src/server/agl/agentLightningOpenapi.json', import.meta.url), 'utf8'),
    ) as { paths: Record<string, Record<string, unknown>> };
    const gets = new Set(
      Object.entries(reference.paths)
        .filter(([, ops]) => 'get' in ops)
        .map(([path]) => path.replace(/\{[^}]*\}/g, '{}')),
    );
    const paths = calledPaths();
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/agl/health',
        '/v1/agl/rollouts',
        '/v1/agl/rollouts/{}',
        '/v1/agl/rollouts/{}/attempts',
        '/v1/agl/spans',
        '/v1/agl/resources',
        '/v1/agl/workers',
      ]),
    );
    for (const path of paths) expect(gets, path).toContain(path);
    // The script's only network calls are GETs (fetch without a method).
    expect(script).not.toMatch(/method\s*:/);
  });

  it('calls paths the server routes', async () => {
    const app = await server();
    for (const path of calledPaths()) {
      const res = await app.inject({ method: 'GET', url: path.replaceAll('{}', 'some-id') });
      const body = res.json() as { error?: { message?: string } } | null;
      expect(body?.error?.message ?? '', path).not.toMatch(/^no route/);
      expect(res.statusCode, path).not.toBe(404);
    }
  });

  it('never writes data as markup', () => {
    for (const name of SCRIPTS) {
      expect(source(name), name).not.toMatch(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(/,
      );
    }
  });

  it('fetches nothing from other origins', () => {
    for (const name of [...SCRIPTS, 'style.css']) expect(source(name), name).not.toMatch(/https?:\/\//);
  });
});

interface Route {
  view: string;
  params: Record<string, string>;
}

/** The helpers' signatures (the module is plain JavaScript served to browsers, loaded here by URL). */
interface FormatModule {
  ROLLOUT_STATUSES: readonly string[];
  statusBadgeClass(status: unknown): string;
  statusLabel(status: unknown): string;
  formatTime(seconds: unknown, options?: { millis?: boolean; utc?: boolean }): string;
  formatDuration(start: unknown, end: unknown): string;
  previewValue(value: unknown, max?: number): string;
  prettyJson(value: unknown): string;
  buildQuery(params: Record<string, unknown>): string;
  pageLabel(offset: number, count: number, total: number): string;
  attributeRows(attributes: unknown): Array<[string, string]>;
  waterfallLayout(
    spans: ReadonlyArray<Record<string, unknown>>,
  ): Array<{ index: number; depth: number; leftPct: number; widthPct: number }>;
  parseRoute(hash: string): Route;
  routeHash(view: string, params?: Record<string, string | undefined>): string;
  describeApiError(status: number, body: unknown): { needsToken: boolean; message: string };
}

const format = (await import(new URL('format.js', ASSETS_DIR).href)) as FormatModule;

describe('dashboard formatting helpers', () => {
  it('maps statuses to badge tones, unknown ones to neutral', () => {
    expect(format.statusBadgeClass('succeeded')).toBe('badge badge-ok');
    expect(format.statusBadgeClass('RUNNING')).toBe('badge badge-info');
    expect(format.statusBadgeClass('failed')).toBe('badge badge-error');
    expect(format.statusBadgeClass('ERROR')).toBe('badge badge-error');
    expect(format.statusBadgeClass('cancelled')).toBe('badge badge-muted');
    expect(format.statusBadgeClass('queuing')).toBe('badge badge-neutral');
    expect(format.statusBadgeClass('constructor')).toBe('badge badge-neutral');
    expect(format.statusBadgeClass('x" onload="y')).toBe('badge badge-neutral');
    expect(format.statusBadgeClass(undefined)).toBe('badge badge-neutral');
    expect(format.statusLabel('running')).toBe('RUNNING');
    expect(format.statusLabel(null)).toBe('-');
    expect(format.ROLLOUT_STATUSES).toContain('requeuing');
  });

  it('formats store timestamps (seconds) and durations', () => {
    expect(format.formatTime(1_765_977_152.5, { utc: true })).toBe('2025-12-17 13:12:32');
    expect(format.formatTime(1_765_977_152.448, { utc: true, millis: true })).toBe('2025-12-17 13:12:32.448');
    expect(format.formatTime(null)).toBe('-');
    expect(format.formatTime(Number.NaN)).toBe('-');
    expect(format.formatDuration(10, 10.25)).toBe('250 ms');
    expect(format.formatDuration(10, 13.421)).toBe('3.42 s');
    expect(format.formatDuration(0, 125)).toBe('2m 05s');
    expect(format.formatDuration(0, 3720)).toBe('1h 02m');
    expect(format.formatDuration(10, null)).toBe('-');
    expect(format.formatDuration(10, 5)).toBe('0 ms');
  });

  it('previews any input on one line, cut with an ellipsis', () => {
    expect(format.previewValue({ id: 'a', question: 'two\nlines' })).toBe(
      '{"id":"a","question":"two\\nlines"}',
    );
    expect(format.previewValue('plain\n  text')).toBe('plain text');
    expect(format.previewValue('x'.repeat(200), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(format.previewValue(undefined)).toBe('');
    expect(format.previewValue(10n)).toBe('10');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(format.previewValue(cyclic)).toBe('[object Object]');
    expect(format.prettyJson({ a: 1 })).toBe('{\n  "a": 1\n}');
  });

  it('builds query strings with repeated array keys and without empty values', () => {
    expect(
      format.buildQuery({
        status_in: ['running', 'failed'],
        rollout_id_contains: '',
        attempt_id: undefined,
        offset: 0,
        q: 'a&b=c',
      }),
    ).toBe('?status_in=running&status_in=failed&offset=0&q=a%26b%3Dc');
    expect(format.buildQuery({ a: null })).toBe('');
    expect(format.pageLabel(20, 20, 57)).toBe('21–40 of 57');
    expect(format.pageLabel(0, 0, 0)).toBe('0 of 0');
  });

  it('lists attributes sorted by key, non-strings as JSON', () => {
    expect(format.attributeRows({ b: 2, a: 'x', c: { d: true } })).toEqual([
      ['a', 'x'],
      ['b', '2'],
      ['c', '{\n  "d": true\n}'],
    ]);
    expect(format.attributeRows(null)).toEqual([]);
    expect(format.attributeRows(['x'])).toEqual([]);
  });

  it('lays out a waterfall by time and nesting, surviving cycles and missing times', () => {
    const rows = format.waterfallLayout([
      { span_id: 'root', parent_id: null, start_time: 100, end_time: 110 },
      { span_id: 'child', parent_id: 'root', start_time: 102, end_time: 107 },
      { span_id: 'grandchild', parent_id: 'child', start_time: 105, end_time: null },
      { span_id: 'orphan', parent_id: 'gone', start_time: null, end_time: null },
      { span_id: 'c1', parent_id: 'c2', start_time: 101, end_time: 101 },
      { span_id: 'c2', parent_id: 'c1', start_time: 101, end_time: 101 },
    ]);
    expect(rows[0]).toEqual({ index: 0, depth: 0, leftPct: 0, widthPct: 100 });
    expect(rows[1]).toEqual({ index: 1, depth: 1, leftPct: 20, widthPct: 50 });
    expect(rows[2]).toEqual({ index: 2, depth: 2, leftPct: 50, widthPct: 50 });
    expect(rows[3]).toMatchObject({ depth: 0, leftPct: 0, widthPct: 100 });
    expect(rows[4]?.depth).toBe(2);
    expect(format.waterfallLayout([])).toEqual([]);
  });

  it('round-trips routes through the location hash', () => {
    expect(format.parseRoute('')).toEqual({ view: 'rollouts', params: {} });
    expect(format.parseRoute('#/unknown')).toEqual({ view: 'rollouts', params: {} });
    expect(format.parseRoute('#/runners')).toEqual({ view: 'runners', params: {} });
    const traces = format.routeHash('traces', { rollout: 'ro-1', attempt: 'at 2', mode: undefined });
    expect(format.parseRoute(traces)).toEqual({
      view: 'traces',
      params: { rollout: 'ro-1', attempt: 'at 2' },
    });
    const rollout = format.routeHash('rollout', { id: 'ro/with?odd#chars' });
    expect(format.parseRoute(rollout)).toEqual({ view: 'rollout', params: { id: 'ro/with?odd#chars' } });
    expect(format.parseRoute('#/rollouts/%E0%A4%A')).toEqual({ view: 'rollout', params: { id: '%E0%A4%A' } });
  });

  it('asks for a token on 401 and 403, else shows the server message', () => {
    expect(format.describeApiError(401, { error: { message: 'needs a token' } })).toEqual({
      needsToken: true,
      message: expect.stringContaining('needs an access token'),
    });
    expect(format.describeApiError(403, null).needsToken).toBe(true);
    expect(format.describeApiError(400, { error: { message: 'limit must be an integer' } })).toEqual({
      needsToken: false,
      message: 'limit must be an integer',
    });
    expect(format.describeApiError(502, 'gateway').message).toBe('The server answered HTTP 502.');
  });
});
