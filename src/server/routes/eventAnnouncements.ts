/**
 * What a write through the HTTP routes announces on `/v1/events`: the kind of thing its route changes and
 * the id of the changed thing (events carry ids, never values).
 */
import type { FastifyRequest } from 'fastify';
import type { ChangeKind } from '../events/hub.ts';

/** Kind of the thing a write route changes, from its route pattern; undefined for routes that change none. */
export function changeKindOf(method: string, url: string): ChangeKind | undefined {
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (url.startsWith('/v1/sessions')) return 'session';
  if (url.startsWith('/v1/ttl')) return 'ttl';
  if (url === '/v1/traces' || url.startsWith('/v1/agl/x/spans')) return 'span';
  if (!url.startsWith('/v1/agl/') || url.endsWith('/search') || url.startsWith('/v1/agl/waits')) {
    return undefined;
  }
  if (url.startsWith('/v1/agl/spans')) return 'span';
  if (url.includes('/attempts')) return 'attempt';
  if (url.startsWith('/v1/agl/resources')) return 'resource';
  if (url.startsWith('/v1/agl/workers')) return 'worker';
  return 'rollout';
}

/** The id of what a write request changed: a path parameter naming it, or a created session's body. */
export function idOf(request: FastifyRequest): string | undefined {
  for (const name of ['rollout_id', 'sessionId', 'resources_id', 'worker_id', 'key', 'name']) {
    const value = field(request.params, name);
    if (typeof value === 'string') return value;
  }
  // A created session is named in the body.
  const sessionId = field(request.body, 'sessionId');
  return typeof sessionId === 'string' ? sessionId : undefined;
}

// `part[name]` of a request part of any route (this runs for every route, whatever its schema).
const field = (part: unknown, name: string): unknown =>
  typeof part === 'object' && part !== null ? Reflect.get(part, name) : undefined;
