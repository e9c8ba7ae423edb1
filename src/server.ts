/**
 * `agentstate/server`: the Fastify HTTP server (Agent Lightning store API, OTLP ingest, state, TTL,
 * sessions, metrics, dashboard) as a library, for embedding in a program of your own. `agentstate serve`
 * is the same server from the command line. Loads Fastify; database drivers load when a store needs them.
 */
import './server/nodeCheck.ts';

export {
  type Principal,
  parseTokenArgument,
  readTokensFile,
  TokenAuthenticator,
  type TokenScope,
  type TokenSpec,
} from './server/auth.ts';
export { logBackgroundErrors } from './server/backgroundLog.ts';
export { createServer, DEFAULT_BODY_LIMIT_BYTES, type ServerOptions } from './server/createServer.ts';
export {
  CHANGE_KINDS,
  type ChangeEventMessage,
  type ChangeKind,
} from './server/events/hub.ts';
export { type EventRelay, PostgresEventRelay } from './server/events/relay.ts';
export { type ErrorBody, STATUS_BY_CODE } from './server/httpErrors.ts';
export { DURABLE_KEY_HEADER, IDEMPOTENCY_HEADER, REPLAYED_HEADER } from './server/idempotency.ts';
export { type PostgresIdempotencyOptions, PostgresIdempotencyRecords } from './server/idempotencyPostgres.ts';
export type { ClaimOutcome, SharedIdempotencyRecords, StoredResponse } from './server/idempotencyRecords.ts';
export { DEFAULT_PORT, type ListenOptions, listenServer } from './server/listen.ts';
export { createServerMetrics, type ServerMetrics } from './server/metrics.ts';
export {
  ATTEMPT_ID_ATTRIBUTE,
  type OtlpExportRequest,
  otlpToSpans,
  ROLLOUT_ID_ATTRIBUTE,
  SEQUENCE_ID_ATTRIBUTE,
} from './server/otlp/toSpans.ts';
export { ingestOtlp, type OtlpIngestResult } from './server/routes/otlp.ts';
