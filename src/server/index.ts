// The HTTP server: Fastify app factory, listening with safety checks, auth, metrics, OTLP ingest.

export * from './agl/wire.ts';
export * from './auth.ts';
export { logBackgroundErrors } from './backgroundLog.ts';
export * from './connectionTimeouts.ts';
export { checkCorsNeedsTokens, normalizeCorsOrigins } from './cors.ts';
export * from './createServer.ts';
export * from './events/hub.ts';
export * from './events/relay.ts';
export * from './httpErrors.ts';
export * from './idempotency.ts';
export * from './idempotencyPostgres.ts';
export * from './idempotencyRecords.ts';
export * from './listen.ts';
export * from './metrics.ts';
export * from './otlp/toSpans.ts';
export * from './redact.ts';
export { DEFAULT_SLOW_REQUEST_MS } from './requestLog.ts';
export { ingestOtlp, type OtlpIngestResult } from './routes/otlp.ts';
