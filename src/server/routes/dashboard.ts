/**
 * `/` and `/dashboard/<file>`: the dashboard's static files (server/dashboard/). The page holds no data, so
 * it is public; the API calls it makes carry the user's token and are checked like any other.
 *
 * The files are a fixed allow-list read once when the server is built: a request only ever selects one of
 * these buffers by exact name, so nothing taken from the request path reaches the file system.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** A JavaScript module of the dashboard (the page loads app.js, which imports the others by relative URL). */
const script = (name: string) => ({ path: `assets/${name}`, type: 'text/javascript; charset=utf-8' });

/**
 * The dashboard's files: public name -> path under server/dashboard/ and content type. Flat names, since
 * `/dashboard/:file` matches one path segment; every module app.js imports must be listed here.
 */
const DASHBOARD_FILES: Readonly<Record<string, { path: string; type: string }>> = {
  'index.html': { path: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': script('app.js'),
  'api.js': script('api.js'),
  'dom.js': script('dom.js'),
  'format.js': script('format.js'),
  'page.js': script('page.js'),
  'paged-list.js': script('paged-list.js'),
  'spans.js': script('spans.js'),
  'view-state.js': script('view-state.js'),
  'view-rollouts.js': script('view-rollouts.js'),
  'view-rollout.js': script('view-rollout.js'),
  'view-traces.js': script('view-traces.js'),
  'view-resources.js': script('view-resources.js'),
  'view-runners.js': script('view-runners.js'),
  'view-overview.js': script('view-overview.js'),
  'view-sessions.js': script('view-sessions.js'),
  'view-agents.js': script('view-agents.js'),
  'view-threads.js': script('view-threads.js'),
  'view-documents.js': script('view-documents.js'),
  'view-ttl.js': script('view-ttl.js'),
  'thread-history.js': script('thread-history.js'),
  'view-operations.js': script('view-operations.js'),
  'live.js': script('live.js'),
  'charts.js': script('charts.js'),
  'value-view.js': script('value-view.js'),
  'virtual-table.js': script('virtual-table.js'),
  'style.css': { path: 'assets/style.css', type: 'text/css; charset=utf-8' },
  'icon.svg': { path: 'assets/icon.svg', type: 'image/svg+xml' },
};

/**
 * Files of the uPlot charting library, served from its npm package as published (see docs/dashboard.md for
 * why uPlot): the minified browser build, which defines the global `uPlot`, and its style sheet.
 */
const VENDOR_FILES: Readonly<Record<string, { module: string; type: string }>> = {
  'uplot.js': { module: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uplot.css': { module: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/**
 * Content-Security-Policy of every dashboard response: only this origin's own files and API, no inline
 * scripts or styles, no plugins, no framing. Data shown by the page is untrusted (rollout inputs, span
 * attributes); the page never turns it into markup, and this policy is the second line of defence.
 */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface LoadedFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** Where the files are: next to this module's directory both in src/ and in dist/ (the build copies them). */
const DASHBOARD_DIR = new URL('../dashboard/', import.meta.url);

const loaded = (body: Buffer, type: string): LoadedFile => ({
  body,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
});

function loadFiles(): Map<string, LoadedFile> {
  const files = new Map<string, LoadedFile>();
  for (const [name, spec] of Object.entries(DASHBOARD_FILES)) {
    files.set(name, loaded(readFileSync(new URL(spec.path, DASHBOARD_DIR)), spec.type));
  }
  const require = createRequire(import.meta.url);
  for (const [name, spec] of Object.entries(VENDOR_FILES)) {
    files.set(name, loaded(readFileSync(require.resolve(spec.module)), spec.type));
  }
  return files;
}

/** Registers the dashboard routes (absent, with a warning, when the files were not packaged). */
export function registerDashboardRoutes(app: FastifyInstance): void {
  let files: Map<string, LoadedFile>;
  try {
    files = loadFiles();
  } catch (error) {
    // A build without the copied files must not take the API down with it.
    app.log.warn({ err: error }, 'dashboard files not found; the dashboard at / is disabled');
    return;
  }

  const send = (request: FastifyRequest, reply: FastifyReply, file: LoadedFile) => {
    // `no-cache` means "revalidate every time": after a server upgrade the page and its script never mix
    // versions, and an unchanged file costs only a 304 thanks to the ETag.
    void reply
      .header('cache-control', 'no-cache')
      .header('etag', file.etag)
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
    if (request.headers['if-none-match'] === file.etag) return reply.status(304).send();
    return reply.type(file.type).send(file.body);
  };
  const routeOptions = { config: { access: { public: true } }, schema: { hide: true } };

  app.get('/', routeOptions, async (request, reply) => send(request, reply, files.get('index.html')!));
  app.get<{ Params: { file: string } }>('/dashboard/:file', routeOptions, async (request, reply) => {
    const file = files.get(request.params.file);
    // index.html is served at / only, so the page has one address.
    if (!file || request.params.file === 'index.html') return reply.callNotFound();
    return send(request, reply, file);
  });
}
