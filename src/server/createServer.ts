/**
 * `createServer(options)`: the Fastify app of `agentstate serve`, built but not listening, so tests drive
 * it with `app.inject` and the CLI calls `listenServer`. Every store is optional; the routes of a store
 * that was not given are simply absent.
 */

import type { Server } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import type { DocumentStore } from '../drivers/index.ts';
import type { SessionManager } from '../modules/index.ts';
import type { PerformanceMonitor } from '../persistence/index.ts';
import type { RolloutStore } from '../rollouts/index.ts';
import type { TtlStoreLike } from '../ttl/index.ts';
import { TokenAuthenticator, type TokenSpec } from './auth.ts';
import { registerBodyDecoding } from './bodyDecoding.ts';
import {
  type ConnectionTimeoutOptions,
  connectionTimeouts,
  fastifyTimeoutOptions,
  guardConnections,
} from './connectionTimeouts.ts';
import { checkCorsNeedsTokens, normalizeCorsOrigins, registerCors } from './cors.ts';
import type { EventRelay } from './events/relay.ts';
import { registerAuth, registerRequestMetrics } from './hooks.ts';
import { clientErrorHandler, errorHandler, frameworkErrorHandler } from './httpErrors.ts';
import { registerIdempotency } from './idempotency.ts';
import type { SharedIdempotencyRecords } from './idempotencyRecords.ts';
import { MAX_PATH_PARAM_LENGTH } from './limits.ts';
import { createServerMetrics, type ServerMetrics } from './metrics.ts';
import { REDACT_PATHS, redactUrl, scrubSecrets } from './redact.ts';
import { registerRequestLog } from './requestLog.ts';
import { registerAglRoutes } from './routes/agl.ts';
import { registerAglExtensionRoutes } from './routes/aglExtensions.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import { registerDashboardDataRoutes } from './routes/dashboardData.ts';
import { registerEventRoutes } from './routes/events.ts';
import { type OperationsRouteOptions, registerOperationsRoutes } from './routes/operations.ts';
import { registerOtlpRoutes } from './routes/otlp.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import { registerStateRoutes } from './routes/state.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerTtlRoutes } from './routes/ttl.ts';
import { registerUnmatchedRoutes } from './unmatchedRoutes.ts';
import { registerValidation } from './validation.ts';

/** Options of `createServer` (the connection timeouts and cap: see `ConnectionTimeoutOptions`). */
export interface ServerOptions extends ConnectionTimeoutOptions {
  /** Rollout store behind /v1/agl and /v1/traces. */
  rollouts?: RolloutStore;
  /** Document store behind /v1/state. */
  documents?: DocumentStore;
  /** TTL store behind /v1/ttl (signals, locks, cooldowns). */
  ttl?: TtlStoreLike;
  /** Sessions behind /v1/sessions; give the manager a `store` so changes are saved. */
  sessions?: SessionManager;
  /** Persistence monitor: its metrics join /metrics and its report is GET /v1/persistence/report. */
  monitor?: PerformanceMonitor;
  /** Bearer tokens; none = open server (which `listenServer` binds to loopback only). */
  tokens?: readonly TokenSpec[];
  /** Pino logging: false (default in tests), true, or Fastify logger options (`{ level, stream }`). */
  logger?: FastifyServerOptions['logger'];
  /**
   * Requests taking this long or longer are logged at warn, ms (default 1000); the others at debug, failures
   * (5xx) at error. One line per request.
   */
  slowRequestMs?: number;
  /** Largest request body in bytes (default 16 MiB; gzip bodies are measured after inflating too). */
  bodyLimitBytes?: number;
  /** How long a POST with an Idempotency-Key replays its first response, ms (default 10 minutes). */
  idempotencyTtlMs?: number;
  /**
   * Origins whose browser pages may call the server (CORS), e.g. `https://dash.example.com`, or `*` for any;
   * none (the default): CORS stays off. Tokens still apply to every cross-origin call; without tokens CORS
   * is refused unless `insecure` is set.
   */
  corsOrigins?: readonly string[];
  /** Allow `corsOrigins` on a server without tokens (any allowed page could then use the store). */
  insecure?: boolean;
  /** Most responses kept for Idempotency-Key replay (default 20,000). */
  idempotencyMaxEntries?: number;
  /** Most bytes of responses kept for Idempotency-Key replay (default 64 MiB). */
  idempotencyMaxBytes?: number;
  /**
   * Idempotency records every server process sees (`PostgresIdempotencyRecords`, which `serve --postgres`
   * uses), so a retry on another process replays the first answer; default: this process's memory only.
   * Closed with the server.
   */
  idempotencyRecords?: SharedIdempotencyRecords;
  /** How long a claim in `idempotencyRecords` holds a key without renewal, ms (default 10 s). */
  idempotencyLeaseMs?: number;
  /** Long-poll waits open at once in this server (default 10,000); more are CAPACITY_EXCEEDED. */
  maxWaits?: number;
  /** Long-poll waits open at once per token (default 1,000; applies when tokens are configured). */
  maxWaitsPerToken?: number;
  /**
   * Backups and consistency for `/v1/operations` (the dashboard's Backups page): the backup directory's
   * manager (`serve --backup-dir`) and the consistency check run on request; each optional.
   */
  operations?: OperationsRouteOptions;
  /** How `/v1/events` reaches other server processes (`PostgresEventRelay`); default: this process only. */
  events?: EventRelay;
  /** Close the stores when the server closes (the CLI does; tests usually manage stores themselves). */
  closeStores?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's Prometheus metrics. */
    agentstateMetrics: ServerMetrics;
    /** Whether bearer tokens are configured (no tokens: bind to loopback only). */
    agentstateAuthEnabled: boolean;
  }
}

/** Default request body limit: 16 MiB, room for large span batches. */
export const DEFAULT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/** Builds the server (not listening yet). */
export async function createServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const authenticator = new TokenAuthenticator(options.tokens ?? []);
  // Checked before the server is built, so a refused configuration leaves nothing open.
  const corsOrigins = normalizeCorsOrigins(options.corsOrigins ?? []);
  checkCorsNeedsTokens(corsOrigins, authenticator.enabled, options.insecure === true);
  const timeouts = connectionTimeouts(options);
  const logger = options.logger ?? false;
  const fastifyOptions: FastifyHttpOptions<Server> = {
    logger: (logger === false
      ? false
      : {
          ...(typeof logger === 'object' ? logger : {}),
          redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
          serializers: secretSafeSerializers,
        }) as FastifyServerOptions['logger'],
    // Fastify logs two lines per request at info; ./requestLog.ts logs one, at a level that fits it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // Long enough for the longest id any route accepts, percent-encoded (Fastify's default of 100 made ids
    // of 101 characters impossible to read back).
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    frameworkErrors: frameworkErrorHandler(MAX_PATH_PARAM_LENGTH),
    clientErrorHandler,
    // In-flight requests finish on close; idle keep-alive sockets are closed so shutdown is not held up.
    forceCloseConnections: 'idle',
    // Slow or stalled clients (slowloris, trickled bodies, idle keep-alive) are cut off: connectionTimeouts.ts.
    ...fastifyTimeoutOptions(timeouts),
  };
  const app = Fastify(fastifyOptions);
  guardConnections(app, timeouts);
  app.decorate('agentstateAuthEnabled', authenticator.enabled);
  const metrics = createServerMetrics(
    async (m) => {
      if (!options.rollouts) return;
      const stats = await options.rollouts.statistics();
      m.queueDepth.set(stats.queueLength);
      m.rolloutsByStatus.reset();
      for (const [status, count] of Object.entries(stats.rolloutsByStatus))
        m.rolloutsByStatus.set({ status }, count ?? 0);
    },
    () => options.rollouts?.operationalStats?.(),
  );
  app.decorate('agentstateMetrics', metrics);

  registerBodyDecoding(app);
  registerValidation(app);
  app.setErrorHandler(errorHandler);
  registerUnmatchedRoutes(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'agentstate',
        version: '0.1.0',
        description:
          'The state layer for AI agent systems: documents, rollouts (Agent Lightning compatible), OTLP traces.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: authenticator.enabled ? [{ bearer: [] }] : [],
    },
    transform: ({ schema, url, route }) => {
      const documented = route.config?.documentedResponses;
      if (!documented || Object.keys(documented).length === 0) return { schema, url };
      return { schema: { ...schema, response: { ...documented, ...(schema?.response as object) } }, url };
    },
  });

  // Before auth: a preflight carries no token, and is answered here before the auth hook would refuse it.
  await registerCors(app, corsOrigins);
  registerAuth(app, authenticator);
  registerRequestMetrics(app, metrics);
  if (logger !== false) registerRequestLog(app, options.slowRequestMs);
  registerIdempotency(app, {
    ...(options.idempotencyTtlMs === undefined ? {} : { ttlMs: options.idempotencyTtlMs }),
    ...(options.idempotencyMaxEntries === undefined ? {} : { maxEntries: options.idempotencyMaxEntries }),
    ...(options.idempotencyMaxBytes === undefined ? {} : { maxBytes: options.idempotencyMaxBytes }),
    ...(options.idempotencyRecords === undefined ? {} : { shared: options.idempotencyRecords }),
    ...(options.idempotencyLeaseMs === undefined ? {} : { leaseMs: options.idempotencyLeaseMs }),
  });

  registerSystemRoutes(app, metrics, options.monitor, options.rollouts);
  registerEventRoutes(app, { documents: options.documents, ttl: options.ttl, relay: options.events });
  registerDashboardRoutes(app);
  registerDashboardDataRoutes(app, options, metrics);
  registerOperationsRoutes(app, options.operations ?? {});
  if (options.documents) registerStateRoutes(app, options.documents, metrics);
  if (options.ttl) registerTtlRoutes(app, options.ttl, metrics);
  if (options.sessions) registerSessionRoutes(app, options.sessions, metrics);
  if (options.rollouts) {
    registerAglRoutes(app, options.rollouts, metrics, {
      ...(options.maxWaits === undefined ? {} : { maxWaits: options.maxWaits }),
      ...(options.maxWaitsPerToken === undefined ? {} : { maxWaitsPerToken: options.maxWaitsPerToken }),
    });
    registerAglExtensionRoutes(app, options.rollouts, metrics);
    registerOtlpRoutes(app, options.rollouts, metrics);
  }

  // Fastify keeps idle keep-alive connections for 72 s; once closing starts, answers in flight tell the
  // client to close, so `close()` resolves as soon as the last of them is sent.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  if (options.closeStores) {
    app.addHook('onClose', async () => {
      options.sessions?.close();
      options.monitor?.stop();
      await Promise.allSettled([options.rollouts?.close(), options.documents?.close(), options.ttl?.close()]);
    });
  }
  return app;
}

/** Pino serializers that never print secrets found in logged objects. */
const secretSafeSerializers = {
  // Fastify's request serializer, with secret-looking query parameters redacted from the URL.
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
  err(error: unknown) {
    if (!(error instanceof Error)) return scrubSecrets(error);
    const details = (error as { details?: unknown }).details;
    return {
      type: error.name,
      message: error.message,
      stack: error.stack,
      ...(details === undefined ? {} : { details: scrubSecrets(details) }),
    };
  },
  body: (value: unknown) => scrubSecrets(value),
};
