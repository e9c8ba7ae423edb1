/**
 * Request hooks shared by every route: authentication and scope checks, and request metrics.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentStateError } from '../errors.ts';
import {
  bearerToken,
  type Principal,
  scopeAllows,
  type TokenAuthenticator,
  type TokenScope,
} from './auth.ts';
import type { ServerMetrics } from './metrics.ts';

/** Per-route settings read by the hooks (Fastify route `config`). */
export interface RouteAccess {
  /** Scope the route needs; default `read` for GET/HEAD and `write` otherwise. */
  scope?: TokenScope;
  /** Open to everyone even when tokens are configured (health checks). */
  public?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Access rules of the route. */
    access?: RouteAccess;
    /** Response schemas shown in /openapi.json without being used to serialize (status -> schema). */
    documentedResponses?: Record<number, unknown>;
  }
  interface FastifyRequest {
    /** The authenticated caller, when tokens are configured. */
    agentstatePrincipal?: Principal;
  }
}

/** Rejects requests without a valid token, or whose token lacks the route's scope. */
export function registerAuth(app: FastifyInstance, authenticator: TokenAuthenticator): void {
  if (!authenticator.enabled) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const access = request.routeOptions.config.access;
    if (access?.public) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) {
      throw new AgentStateError(
        'UNAUTHORIZED',
        'this server needs a bearer token: send Authorization: Bearer <token>',
      );
    }
    const principal = authenticator.authenticate(token);
    if (!principal) throw new AgentStateError('UNAUTHORIZED', 'the bearer token is not valid');
    const needed =
      access?.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
    if (!scopeAllows(principal.scope, needed)) {
      throw new AgentStateError('FORBIDDEN', `this request needs the '${needed}' scope`, {
        needed,
        granted: principal.scope,
      });
    }
    request.agentstatePrincipal = principal;
  });
}

/** Counts requests and records their latency per route pattern. */
export function registerRequestMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route };
    metrics.requests.inc({ ...labels, status: String(reply.statusCode) });
    metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
    done();
  });
}
