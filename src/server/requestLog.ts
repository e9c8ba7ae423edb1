/**
 * One log line per request, at a level that keeps a healthy server quiet: debug normally, warn when the
 * request took `slowMs` or longer, error for a 5xx answer. Health checks and metrics scrapes (the
 * dashboard, load balancers and Prometheus poll them) and the `/v1/events` stream stay at debug even when
 * slow, so a poller or an open dashboard never fills the log. Fastify's own two lines per request (incoming, completed) are switched off in createServer.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '../errors.ts';
import { redactUrl } from './redact.ts';

/** Default threshold above which a request is logged at warn, ms. */
export const DEFAULT_SLOW_REQUEST_MS = 1000;

// Routes polled by machines, and the event stream, which is open for as long as a dashboard is (so always
// "slow"): their lines never rise above debug unless they fail.
const QUIET_ROUTES = new Set(['/health', '/v1/agl/health', '/metrics', '/v1/events']);

/** Logs each finished request once (see the file comment for the level). */
export function registerRequestLog(app: FastifyInstance, slowMs: number = DEFAULT_SLOW_REQUEST_MS): void {
  if (typeof slowMs !== 'number' || !(slowMs >= 0)) {
    throw new InvalidInputError('slowRequestMs must be a number >= 0', {
      field: 'slowRequestMs',
      value: slowMs,
    });
  }
  // A callback hook (no promise per request); the line is built only when its level is logged, which at
  // the default level (info) is only for slow or failed requests.
  app.addHook('onResponse', (request, reply, done) => {
    done();
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const route = request.routeOptions.url;
    const slow = ms >= slowMs && !(route !== undefined && QUIET_ROUTES.has(route));
    const level = status >= 500 ? 'error' : slow ? 'warn' : 'debug';
    if (!levelEnabled(request.log, level)) return;
    const rounded = Math.round(ms * 10) / 10;
    // Secret-looking query parameters (token=..., api_key=...) never reach the log.
    const url = redactUrl(request.url);
    request.log[level](
      { method: request.method, url, status, ms: rounded },
      `${request.method} ${url} ${status} ${rounded} ms${slow ? ' (slow)' : ''}`,
    );
  });
}

// pino's isLevelEnabled, which Fastify's logger type does not declare; a logger without it logs everything.
function levelEnabled(log: object, level: string): boolean {
  const check = (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  return check === undefined || check.call(log, level);
}
