/**
 * Answers for requests no route matches. Fastify answers all of them 404; a method not allowed on a known
 * path is 405 here, with `Allow`, as from the reference's FastAPI server: a client that calls
 * `GET /v1/agl/queues/rollouts/enqueue` learns that the path exists and which methods it takes, instead of a
 * 404 that reads like a wrong address. /v1/agl paths also get the reference's `detail` text.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from './httpErrors.ts';
import { isReferenceRoute } from './validation.ts';

/** A route pattern (`/v1/agl/rollouts/:rollout_id`) as a regular expression over request paths. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * Installs the not-found handler, recording every route registered after this call to tell a wrong method
 * from a wrong path. Wildcard routes (CORS preflight's `OPTIONS *`) are left out: they would make every
 * path look known.
 */
export function registerUnmatchedRoutes(app: FastifyInstance): void {
  const routes: Array<{ pattern: RegExp; methods: string[] }> = [];
  app.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    routes.push({ pattern: patternOf(route.url), methods: methods.map(String) });
  });
  const allowedFor = (path: string): string[] => {
    const allowed = new Set<string>();
    for (const route of routes) {
      if (route.pattern.test(path)) for (const method of route.methods) allowed.add(method);
    }
    return [...allowed].sort();
  };

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = allowedFor(path);
    const agl = isReferenceRoute(path);
    // A route of this method that found nothing to serve (reply.callNotFound) is a plain 404 too.
    if (allowed.length === 0 || allowed.includes(request.method)) {
      const body: ErrorBody = {
        error: { code: 'NOT_FOUND', message: `no route ${request.method} ${path}`, details: {} },
      };
      if (agl) body.detail = 'Not Found';
      void reply.status(404).send(body);
      return;
    }
    const body: ErrorBody = {
      error: {
        code: 'INVALID_INPUT',
        message: `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
        details: { method: request.method, allowed },
      },
    };
    if (agl) body.detail = 'Method Not Allowed';
    void reply.status(405).header('allow', allowed.join(', ')).send(body);
  });
}
